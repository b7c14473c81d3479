"""Store simulator routes for ``/orders`` (CRUD, batch; trash then force delete)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_api import (
    API,
    base_url,
    batch_from,
    create_from,
    delete_request,
    found,
    links,
    read_body,
)
from storeflow_simulators.store_common import WooError
from storeflow_simulators.store_http import Params, authenticate, date_filters, page_response
from storeflow_simulators.store_render import order_json
from storeflow_simulators.store_state import ORDER_STATUSES, StoreState


def orders_router(state: StoreState) -> APIRouter:
    """Orders: listing filters, CRUD and batch; ids share the post id sequence with products."""
    router = APIRouter()

    base = partial(base_url, state)

    def order(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        b = base(request)
        up = f"customers/{rec['customer_id']}" if rec.get("customer_id") else None
        return {**order_json(state, rec), "_links": links(b, "orders", rec["id"], customer=up)}

    def get_order(oid: int, status: int = 404) -> dict[str, Any]:
        return found(state.orders, oid, status, "woocommerce_rest_shop_order_invalid_id")

    def delete_order(request: Request, rec: dict[str, Any], force: bool) -> dict[str, Any]:
        body = order(request, rec)  # rendered before the delete: without force, the pre-trash status
        with state.lock:
            state.bump()
            if force:
                state.orders.pop(rec["id"], None)
                state.emit("order", "deleted", rec)
                return body
            if rec["status"] == "trash":
                raise WooError(410, "woocommerce_rest_already_trashed", "The order has already been deleted.")
            rec["status"] = "trash"
            rec["date_modified"] = state.now()
            state.emit("order", "deleted", rec)
            return body

    @router.get(f"{API}/orders")
    async def list_orders(request: Request) -> JSONResponse:
        authenticate(state, request, "list")
        p = Params(request)
        statuses = p.enum_list("status", ("any", *ORDER_STATUSES), ["any"])
        include, exclude, parents = p.ids("include"), p.ids("exclude"), p.ids("parent")
        customer = p.integer("customer")
        product = p.integer("product")
        keep_date = date_filters(p, state)
        p.check()
        search = (p.text("search") or "").lower()
        def select() -> list[dict[str, Any]]:
            out = []
            for rec in state.orders.values():
                if "any" in statuses and rec["status"] == "trash" and "trash" not in statuses:
                    continue
                if "any" not in statuses and rec["status"] not in statuses:
                    continue
                if customer is not None and rec["customer_id"] != customer:
                    continue
                if product is not None and not any(product in (li["product_id"], li["variation_id"])
                                                   for li in rec["line_items"]):
                    continue
                if include is not None and rec["id"] not in include or exclude and rec["id"] in exclude:
                    continue
                if parents is not None and rec["parent_id"] not in parents:
                    continue
                if search and search not in json.dumps(rec["billing"]).lower():
                    continue
                if keep_date(rec):
                    out.append(rec)
            return out

        keys = {"date": lambda r: r["date_created"], "id": lambda r: r["id"], "include": lambda r: r["id"],
                "title": lambda r: r["date_created"], "slug": lambda r: r["id"],
                "modified": lambda r: r["date_modified"]}
        with state.lock:
            return page_response(state, request, p, select, lambda r: order(request, r), keys,
                                 default_orderby="date", default_order="desc")

    @router.post(f"{API}/orders")
    async def create_order(request: Request) -> JSONResponse:
        agent = request.headers.get("user-agent", "")
        exists = WooError(400, "woocommerce_rest_shop_order_exists", "Cannot create existing shop_order.")
        return await create_from(state, request, exists=exists,
                                 write=lambda payload: state.create_order(payload, user_agent=agent),
                                 render=lambda r: order(request, r), collection="orders")

    @router.api_route(f"{API}/orders/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_orders(request: Request) -> JSONResponse:
        agent = request.headers.get("user-agent", "")
        return await batch_from(
            state, request, lambda r: order(request, r), create=lambda item: state.create_order(item, user_agent=agent),
            update=lambda item: state.update_order(get_order(int(item.get("id") or 0), 400), item),
            delete=lambda oid: delete_order(request, get_order(oid), True))

    @router.get(f"{API}/orders/{{oid:int}}")
    async def read_order(oid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(order(request, get_order(oid)))

    @router.api_route(f"{API}/orders/{{oid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_order(oid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await read_body(request)
        return JSONResponse(order(request, state.update_order(get_order(oid, 400), payload)))

    @router.delete(f"{API}/orders/{{oid:int}}")
    async def remove_order(oid: int, request: Request) -> JSONResponse:
        force = delete_request(state, request)
        return JSONResponse(delete_order(request, get_order(oid), force))

    return router
