"""Store simulator routes for ``/customers`` (CRUD, batch; delete needs ``force``)."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_api import (
    API,
    base_url,
    batch_from,
    create_from,
    forced_delete,
    found,
    links,
    read_body,
)
from storeflow_simulators.store_common import WooError
from storeflow_simulators.store_http import Params, authenticate, page_response
from storeflow_simulators.store_render import customer_json
from storeflow_simulators.store_state import StoreState

ROLES = ("all", "administrator", "editor", "author", "contributor", "subscriber", "customer", "shop_manager")


def customers_router(state: StoreState) -> APIRouter:
    """Customers: ``role``/``email``/``search`` listings, CRUD and batch."""
    router = APIRouter()

    base = partial(base_url, state)

    def cust(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        return {**customer_json(state, rec), "_links": links(base(request), "customers", rec["id"])}

    def get_customer(cid: int, status: int = 404) -> dict[str, Any]:
        return found(state.customers, cid, status, "woocommerce_rest_invalid_id", "Invalid resource ID.")

    def delete_customer(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        body = cust(request, rec)
        with state.lock:
            state.customers.pop(rec["id"], None)
            state.bump()
            state.emit("customer", "deleted", rec)
        return body

    @router.get(f"{API}/customers")
    async def list_customers(request: Request) -> JSONResponse:
        authenticate(state, request, "list")
        p = Params(request)
        role = p.enum("role", ROLES, "customer")
        email = p.email("email")
        include, exclude = p.ids("include"), p.ids("exclude")
        p.check()
        search = (p.text("search") or "").strip("*").lower()
        def select() -> list[dict[str, Any]]:
            out = []
            for rec in state.customers.values():
                if role != "all" and rec["role"] != role:
                    continue
                if email is not None:
                    if rec["email"].rstrip().lower() != email.lower():  # MySQL PAD SPACE collation
                        continue
                elif search and not any(search in (rec.get(f) or "").lower() for f in ("email", "username")):
                    continue
                if include is not None and rec["id"] not in include or exclude and rec["id"] in exclude:
                    continue
                out.append(rec)
            return out

        keys = {"id": lambda r: r["id"], "include": lambda r: r["id"],
                "name": lambda r: r["username"].lower(), "registered_date": lambda r: r["date_created"]}
        with state.lock:
            return page_response(state, request, p, select, lambda r: cust(request, r), keys,
                                 default_orderby="name", default_order="asc", tiebreak_keys=(), found_rows=True)

    @router.post(f"{API}/customers")
    async def create_customer(request: Request) -> JSONResponse:
        exists = WooError(400, "woocommerce_rest_customer_exists", "Cannot create existing resource.")
        return await create_from(state, request, exists=exists, write=state.write_customer,
                                 render=lambda r: cust(request, r), collection="customers")

    @router.api_route(f"{API}/customers/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_customers(request: Request) -> JSONResponse:
        return await batch_from(
            state, request, lambda r: cust(request, r), create=lambda item: state.write_customer(item),
            update=lambda item: state.write_customer(item, get_customer(int(item.get("id") or 0), 400)),
            delete=lambda cid: delete_customer(request, get_customer(cid)))

    @router.get(f"{API}/customers/{{cid:int}}")
    async def read_customer(cid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(cust(request, get_customer(cid)))

    @router.api_route(f"{API}/customers/{{cid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_customer(cid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await read_body(request)
        return JSONResponse(cust(request, state.write_customer(payload, get_customer(cid, 400))))

    @router.delete(f"{API}/customers/{{cid:int}}")
    async def remove_customer(cid: int, request: Request) -> JSONResponse:
        return forced_delete(state, request, lambda: get_customer(cid), lambda rec: delete_customer(request, rec),
                             "Customers do not support trashing.")

    return router
