"""Store simulator routes for ``/products`` and their ``/variations`` (and the read-only ``/variations``)."""

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
    created,
    delete_request,
    forced_delete,
    found,
    links,
    read_body,
    run_batch,
)
from storeflow_simulators.store_common import WooError
from storeflow_simulators.store_http import Params, authenticate, date_filters, page_response
from storeflow_simulators.store_render import product_json, variation_json
from storeflow_simulators.store_state import StoreState


def products_router(state: StoreState) -> APIRouter:
    """Products (CRUD, batch, ``sku=`` lookups) and their variations (CRUD, batch)."""
    router = APIRouter()

    base = partial(base_url, state)

    def prod(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        b = base(request)
        if rec["type"] == "variation":
            return {**product_json(state, rec, b), "_links": links(b, f"products/{rec['parent_id']}/variations",
                                                                   rec["id"], up=f"products/{rec['parent_id']}")}
        return {**product_json(state, rec, b), "_links": links(b, "products", rec["id"])}

    def var(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        b = base(request)
        return {**variation_json(state, rec, b), "_links": links(b, f"products/{rec['parent_id']}/variations",
                                                                 rec["id"], up=f"products/{rec['parent_id']}")}

    # --- products --------------------------------------------------------------------------------
    def get_product(pid: int, status: int = 404) -> dict[str, Any]:
        return found(state.products, pid, status, "woocommerce_rest_product_invalid_id")

    def get_variation(parent_id: int, vid: int, status: int = 404) -> dict[str, Any]:
        rec = state.products.get(vid)
        if rec is None or rec["type"] != "variation" or rec["parent_id"] != parent_id:
            raise WooError(status, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        return rec

    def update_product(pid: int, payload: dict[str, Any]) -> dict[str, Any]:
        rec = get_product(pid, 400)
        if rec["type"] == "variation":
            raise WooError(404, "woocommerce_rest_invalid_product_id",
                           "To manipulate product variations you should use the "
                           "/products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.")
        return state.write_product(payload, rec)

    def product_keys() -> dict[str, Any]:
        def price(r: dict[str, Any]) -> int:
            value = r.get("sale_price") if r.get("sale_price") is not None else r.get("regular_price")
            return value or 0

        return {"date": lambda r: r["date_created"], "id": lambda r: r["id"], "include": lambda r: r["id"],
                "title": lambda r: r["name"].lower(), "slug": lambda r: r["slug"],
                "modified": lambda r: r["date_modified"], "price": price,
                "popularity": lambda r: r.get("total_sales", 0), "rating": lambda r: 0,
                "menu_order": lambda r: r.get("menu_order", 0)}

    @router.get(f"{API}/products")
    async def list_products(request: Request) -> JSONResponse:
        authenticate(state, request, "list")
        p = Params(request)
        status = p.enum("status", ("any", "future", "trash", "draft", "pending", "private", "publish"), "any")
        ptype = p.enum("type", ("simple", "grouped", "external", "variable"), "")
        include, exclude, parents = p.ids("include"), p.ids("exclude"), p.ids("parent")
        keep_date = date_filters(p, state)
        p.check()
        sku = p.text("sku")
        skus = None
        if sku:
            skus = {s.strip() for s in sku.split(",") if s.strip()} | {sku}
        search = (p.text("search") or "").lower()
        stock_status = p.text("stock_status")
        category = p.text("category")
        tests: list[Any] = []  # only the filters this request uses (the store can hold 100k products)
        if status == "any":
            tests.append(lambda r: r["status"] != "trash")
        else:
            tests.append(lambda r: r["status"] == status)
        if ptype:
            tests.append(lambda r: r["type"] == ptype)
        if include is not None:
            tests.append(lambda r: r["id"] in include)
        if exclude:
            tests.append(lambda r: r["id"] not in exclude)
        if parents is not None:
            tests.append(lambda r: r.get("parent_id") in parents)
        if search:
            tests.append(lambda r: search in r["name"].lower())
        if stock_status:
            tests.append(lambda r: state.stock_status(r) == stock_status)
        if category:
            cats = set(category.split(","))
            tests.append(lambda r: any(str(c) in cats for c in r.get("categories", [])))
        tests.append(keep_date)
        def select() -> list[dict[str, Any]]:
            if skus is not None:  # sku= covers products and variations
                pool = [state.products[i] for i in (state.sku_index.get(x) for x in skus) if i in state.products]
                pool = [r for r in pool if r["sku"] in skus]
            else:
                pool = [r for r in state.products.values() if r["type"] != "variation"]
            for test in tests:
                pool = [r for r in pool if test(r)]
            return pool

        with state.lock:
            return page_response(state, request, p, select, lambda r: prod(request, r),
                                 product_keys(), default_orderby="date", default_order="desc")

    @router.post(f"{API}/products")
    async def create_product(request: Request) -> JSONResponse:
        exists = WooError(400, "woocommerce_rest_product_exists", "Cannot create existing product.")
        return await create_from(state, request, exists=exists, write=state.write_product,
                                 render=lambda r: prod(request, r), collection="products")

    @router.api_route(f"{API}/products/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_products(request: Request) -> JSONResponse:
        render = lambda r: prod(request, r)  # noqa: E731
        return await batch_from(state, request, render, create=lambda item: state.write_product(item),
                                update=lambda item: update_product(int(item.get("id") or 0), item),
                                delete=lambda pid: _force_delete(get_product(pid), render))

    def _force_delete(rec: dict[str, Any], render) -> dict[str, Any]:
        body = render(rec)
        state.delete_product(rec, force=True)
        return body

    @router.get(f"{API}/products/{{pid:int}}")
    async def read_product(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(prod(request, get_product(pid)))

    @router.api_route(f"{API}/products/{{pid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_product(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await read_body(request)
        return JSONResponse(prod(request, update_product(pid, payload)))

    @router.delete(f"{API}/products/{{pid:int}}")
    async def delete_product(pid: int, request: Request) -> JSONResponse:
        force = delete_request(state, request)
        rec = get_product(pid)
        body = prod(request, rec)  # rendered before the delete: without force, the pre-trash status
        state.delete_product(rec, force)
        return JSONResponse(body)

    # --- variations ------------------------------------------------------------------------------
    def variable_parent(pid: int) -> dict[str, Any]:
        rec = state.products.get(pid)
        if rec is None or rec["type"] == "variation":
            raise WooError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return rec

    def variation_list(request: Request, records: list[dict[str, Any]], render=None) -> JSONResponse:
        p = Params(request)
        status = p.enum("status", ("any", "future", "trash", "draft", "pending", "private", "publish"), "any")
        include, exclude = p.ids("include"), p.ids("exclude")
        keep_date = date_filters(p, state)
        p.check()
        sku = p.text("sku")
        skus = {s.strip() for s in sku.split(",")} | {sku} if sku else None
        def select() -> list[dict[str, Any]]:
            return [r for r in records
                    if (status == "any" or r["status"] == status) and (skus is None or r["sku"] in skus)
                    and (include is None or r["id"] in include) and not (exclude and r["id"] in exclude)
                    and keep_date(r)]

        render = render or (lambda r: var(request, r))
        return page_response(state, request, p, select, render, product_keys(), default_orderby="date",
                             default_order="desc")

    @router.get(f"{API}/products/{{pid:int}}/variations")
    async def list_variations(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "list")
        with state.lock:
            parent = variable_parent(pid)
            kids = [state.products[v] for v in parent.get("variations", []) if v in state.products]
            return variation_list(request, kids)

    @router.get(f"{API}/variations")
    async def list_all_variations(request: Request) -> JSONResponse:
        if not state.options.version_at_least(10, 3):  # the route was added in WooCommerce 10.3
            raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")
        authenticate(state, request, "list")
        with state.lock:
            kids = [r for r in state.products.values() if r["type"] == "variation"]
            return variation_list(request, kids)

    @router.post(f"{API}/products/{{pid:int}}/variations")
    async def create_variation(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "create")
        payload = await read_body(request)
        rec = state.write_product(payload, parent=variable_parent(pid))
        return created(var(request, rec),
                        f"{base(request)}{API}/products/{pid}/variations/{rec['id']}")

    @router.api_route(f"{API}/products/{{pid:int}}/variations/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_variations(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "batch")
        payload = await read_body(request)
        parent = variable_parent(pid)
        render = lambda r: var(request, r)  # noqa: E731
        return run_batch(state, payload, render, create=lambda item: state.write_product(item, parent=parent),
                         update=lambda item: state.write_product(item, get_variation(pid, int(item.get("id") or 0),
                                                                                     400)),
                         delete=lambda vid: _force_delete(get_variation(pid, vid), render))

    @router.get(f"{API}/products/{{pid:int}}/variations/{{vid:int}}")
    async def read_variation(pid: int, vid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(var(request, get_variation(pid, vid)))

    @router.api_route(f"{API}/products/{{pid:int}}/variations/{{vid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_variation(pid: int, vid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await read_body(request)
        rec = state.write_product(payload, get_variation(pid, vid, 400))
        return JSONResponse(var(request, rec))

    @router.delete(f"{API}/products/{{pid:int}}/variations/{{vid:int}}")
    async def delete_variation(pid: int, vid: int, request: Request) -> JSONResponse:
        return forced_delete(state, request, lambda: get_variation(pid, vid),
                             lambda rec: _force_delete(rec, lambda r: var(request, r)),
                             "The product_variation does not support trashing.")

    return router
