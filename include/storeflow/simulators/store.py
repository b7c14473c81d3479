"""An online store following the WooCommerce REST API v3 contract (FastAPI), for demos and tests.

It behaves like a real WooCommerce 10.0.2 as measured in ``woocommerce-real-behaviour.md``. Routes under
``/wp-json/wc/v3``: products (CRUD, batch, ``sku=`` lookups that also return variations), variations under
``/products/{id}/variations`` (CRUD, batch; ``type: "variation"``, ``parent_id``, ``name`` = attribute
summary, attributes with ``id``/``name``/``slug``/``option``), the read-only ``/variations`` only when the
emulated version is 10.3 or later (else 404 ``rest_no_route``), orders (CRUD, batch; ids from the post id
sequence shared with products), customers (CRUD, batch; ``_`` meta protected; ``role=all`` includes the
administrator), webhooks (signed, asynchronous delivery; see :mod:`storeflow.simulators.store_webhooks`),
a small ``/system_status`` and the WP index ``/wp-json/`` (site time zone, GMT offset, routes).

Contract details: bare-array bodies with ``X-WP-Total``/``X-WP-TotalPages``/``Link`` (an ``offset`` past the
end reports 0/0 and no paging links); every response carries ``Link: <…/wp-json/>; rel="https://api.w.org/"``,
``Allow`` and ``Content-Type: application/json; charset=UTF-8``; money as strings (numbers are refused with
400 ``rest_invalid_param``); every date twice (site-local and ``_gmt``, both naive); the
``modified_after``/``dates_are_gmt`` time zone trap; ``date_modified`` moving on every product save and
order stock change; WP error shapes; unknown parameters silently ignored; ``_fields`` (``_links`` kept).
Authentication: OAuth 1.0a over HTTP; Basic and query-string keys only over HTTPS (serve with
:func:`store_tls_files` or set ``behind_tls_proxy``), see :mod:`storeflow.simulators.store_http`.
Listings are cached per filter set and invalidated by every write (``StoreState.version``); code that
edits records directly must call ``state.bump()``. Behaviour toggles and the consent convention are
described in :mod:`storeflow.simulators.store_state`.

Test-only admin routes (no auth) under ``/_sim/``:

* ``GET /_sim/state`` - counts and options; ``GET /_sim/export`` - the full state (``to_json``);
* ``PUT /_sim/timezone`` ``{"timezone": "Europe/London"}``; ``PUT /_sim/options`` (any toggle);
* ``GET|PUT /_sim/clock`` ``{"freeze": "<iso>"|"now"|null, "advance_seconds": n, "unfreeze": true}``;
* ``POST /_sim/orders`` - a shopper's checkout: ``{"customer_id"?, "email"?, "billing"?, "line_items":
  [{"sku", "quantity"}], "user_agent"?, "status"? ("processing"), "coupon"?, "acquisition_channel"?}``
  (paid, reduces stock once, ``created_via: "checkout"``);
* ``PUT /_sim/customers/{id}/email`` ``{"email"}``; ``PUT /_sim/customers/{id}/consent``
  ``{"channel": "email"|"sms", "optout": bool, "at"?: iso}``;
* ``POST /_sim/products/touch`` ``{"ids"|"skus"|"first": n|"all": true, "changes"?: {...}}`` - bump
  ``date_modified`` (page-drift tests); ``PUT /_sim/products/stock`` ``{"sku", "quantity"}`` - a stock edit
  by the shop (no ``date_modified`` bump only with ``legacy_stock_date_modified``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from storeflow.simulators.store_common import WooError, parse_gmt
from storeflow.simulators.store_http import Params, authenticate, date_filters, is_ssl, page_response
from storeflow.simulators.store_render import customer_json, order_json, product_json, variation_json
from storeflow.simulators.store_state import ATTRIBUTION_META, ORDER_STATUSES, StoreOptions, StoreState

API = "/wp-json/wc/v3"
PRODUCT_ORDERBY = ("date", "id", "include", "title", "slug", "modified", "price", "popularity", "rating",
                   "menu_order")
ORDER_ORDERBY = ("date", "id", "include", "title", "slug", "modified")
CUSTOMER_ORDERBY = ("id", "include", "name", "registered_date")
ROLES = ("all", "administrator", "editor", "author", "contributor", "subscriber", "customer", "shop_manager")

__all__ = ["StoreState", "StoreOptions", "create_store_app", "store_tls_files"]


def store_tls_files(directory: Path | None = None) -> tuple[Path, Path]:
    """The store simulator's self-signed ``(cert, key)`` in ``directory`` (default ``<data dir>/simulators/tls``).

    Created on first use; clients trust the store by passing the certificate path as CA bundle.
    """
    from storeflow.settings import get_settings
    from storeflow.simulators.serve import self_signed_certificate

    target = directory or get_settings().data_dir / "simulators" / "tls"
    return self_signed_certificate(target, "store")


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:  # PHP's json_last_error_msg() for every syntax error
        raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.", json_error_code=4,
                       json_error_message="Syntax error") from None
    if not isinstance(data, dict):
        raise WooError(400, "rest_invalid_json", "Invalid JSON body passed.")
    return data


def _created(body: dict[str, Any], location: str) -> JSONResponse:
    return JSONResponse(body, status_code=201, headers={"Location": location})


def create_store_app(state: StoreState) -> FastAPI:
    """The WooCommerce-contract store serving ``state``."""
    app = FastAPI(title="storeflow store simulator (WooCommerce v3 contract)", docs_url=None, redoc_url=None,
                  openapi_url=None)

    @app.middleware("http")
    async def _writes_invalidate_listings(request: Request, call_next):
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        if write:
            state.bump()
        response = await call_next(request)
        if write:
            state.bump()
        if request.url.path.startswith("/wp-json"):  # WP_REST_Server::serve_request() headers
            response.headers["Content-Type"] = "application/json; charset=UTF-8"
            response.headers["X-Robots-Tag"] = "noindex"
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Access-Control-Expose-Headers"] = "X-WP-Total, X-WP-TotalPages, Link"
            response.headers.append("Link", f'<{base(request)}/wp-json/>; rel="https://api.w.org/"')
            allow = _allow(request.url.path, state)
            if allow and response.status_code != 401:  # rest_send_allow_header(): only permitted methods
                response.headers["Allow"] = allow
        return response

    @app.exception_handler(WooError)
    async def _woo_error(request: Request, exc: WooError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    def base(request: Request) -> str:
        return f"{'https' if is_ssl(state, request) else 'http'}://{request.url.netloc}"

    def prod(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        b = base(request)
        if rec["type"] == "variation":
            return {**product_json(state, rec, b), "_links": _links(b, f"products/{rec['parent_id']}/variations",
                                                                   rec["id"], up=f"products/{rec['parent_id']}")}
        return {**product_json(state, rec, b), "_links": _links(b, "products", rec["id"])}

    def var(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        b = base(request)
        return {**variation_json(state, rec, b), "_links": _links(b, f"products/{rec['parent_id']}/variations",
                                                                 rec["id"], up=f"products/{rec['parent_id']}")}

    def order(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        b = base(request)
        up = f"customers/{rec['customer_id']}" if rec.get("customer_id") else None
        return {**order_json(state, rec), "_links": _links(b, "orders", rec["id"], customer=up)}

    def cust(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        return {**customer_json(state, rec), "_links": _links(base(request), "customers", rec["id"])}

    # --- products --------------------------------------------------------------------------------
    def get_product(pid: int, status: int = 404) -> dict[str, Any]:
        rec = state.products.get(pid)
        if rec is None:
            raise WooError(status, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return rec

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

    @app.get(f"{API}/products")
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

    @app.post(f"{API}/products")
    async def create_product(request: Request) -> JSONResponse:
        authenticate(state, request, "create")
        payload = await _body(request)
        if payload.get("id"):
            raise WooError(400, "woocommerce_rest_product_exists", "Cannot create existing product.")
        rec = state.write_product(payload)
        return _created(prod(request, rec), f"{base(request)}{API}/products/{rec['id']}")

    @app.api_route(f"{API}/products/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_products(request: Request) -> JSONResponse:
        authenticate(state, request, "batch")
        payload = await _body(request)
        render = lambda r: prod(request, r)  # noqa: E731
        return _batch(state, payload, render,
                      create=lambda item: state.write_product(item),
                      update=lambda item: update_product(int(item.get("id") or 0), item),
                      delete=lambda pid: _force_delete(get_product(pid), render))

    def _force_delete(rec: dict[str, Any], render) -> dict[str, Any]:
        body = render(rec)
        state.delete_product(rec, force=True)
        return body

    @app.get(f"{API}/products/{{pid:int}}")
    async def read_product(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(prod(request, get_product(pid)))

    @app.api_route(f"{API}/products/{{pid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_product(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await _body(request)
        return JSONResponse(prod(request, update_product(pid, payload)))

    @app.delete(f"{API}/products/{{pid:int}}")
    async def delete_product(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "delete")
        p = Params(request)
        force = p.boolean("force", False)
        p.check()
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

    @app.get(f"{API}/products/{{pid:int}}/variations")
    async def list_variations(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "list")
        with state.lock:
            parent = variable_parent(pid)
            kids = [state.products[v] for v in parent.get("variations", []) if v in state.products]
            return variation_list(request, kids)

    @app.get(f"{API}/variations")
    async def list_all_variations(request: Request) -> JSONResponse:
        if not state.options.version_at_least(10, 3):  # the route was added in WooCommerce 10.3
            raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")
        authenticate(state, request, "list")
        with state.lock:
            kids = [r for r in state.products.values() if r["type"] == "variation"]
            return variation_list(request, kids)

    @app.post(f"{API}/products/{{pid:int}}/variations")
    async def create_variation(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "create")
        payload = await _body(request)
        rec = state.write_product(payload, parent=variable_parent(pid))
        return _created(var(request, rec),
                        f"{base(request)}{API}/products/{pid}/variations/{rec['id']}")

    @app.api_route(f"{API}/products/{{pid:int}}/variations/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_variations(pid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "batch")
        payload = await _body(request)
        parent = variable_parent(pid)
        render = lambda r: var(request, r)  # noqa: E731
        return _batch(state, payload, render,
                      create=lambda item: state.write_product(item, parent=parent),
                      update=lambda item: state.write_product(item, get_variation(pid, int(item.get("id") or 0),
                                                                                  400)),
                      delete=lambda vid: _force_delete(get_variation(pid, vid), render))

    @app.get(f"{API}/products/{{pid:int}}/variations/{{vid:int}}")
    async def read_variation(pid: int, vid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(var(request, get_variation(pid, vid)))

    @app.api_route(f"{API}/products/{{pid:int}}/variations/{{vid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_variation(pid: int, vid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await _body(request)
        rec = state.write_product(payload, get_variation(pid, vid, 400))
        return JSONResponse(var(request, rec))

    @app.delete(f"{API}/products/{{pid:int}}/variations/{{vid:int}}")
    async def delete_variation(pid: int, vid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "delete")
        p = Params(request)
        force = p.boolean("force", False)
        p.check()
        rec = get_variation(pid, vid)
        if not force:
            raise WooError(501, "woocommerce_rest_trash_not_supported",
                           "The product_variation does not support trashing.")
        return JSONResponse(_force_delete(rec, lambda r: var(request, r)))

    # --- orders ----------------------------------------------------------------------------------
    def get_order(oid: int, status: int = 404) -> dict[str, Any]:
        rec = state.orders.get(oid)
        if rec is None:
            raise WooError(status, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return rec

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

    @app.get(f"{API}/orders")
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

    @app.post(f"{API}/orders")
    async def create_order(request: Request) -> JSONResponse:
        authenticate(state, request, "create")
        payload = await _body(request)
        if payload.get("id"):
            raise WooError(400, "woocommerce_rest_shop_order_exists", "Cannot create existing shop_order.")
        rec = state.create_order(payload, user_agent=request.headers.get("user-agent", ""))
        return _created(order(request, rec), f"{base(request)}{API}/orders/{rec['id']}")

    @app.api_route(f"{API}/orders/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_orders(request: Request) -> JSONResponse:
        authenticate(state, request, "batch")
        payload = await _body(request)
        agent = request.headers.get("user-agent", "")
        return _batch(state, payload, lambda r: order(request, r),
                      create=lambda item: state.create_order(item, user_agent=agent),
                      update=lambda item: state.update_order(get_order(int(item.get("id") or 0), 400), item),
                      delete=lambda oid: delete_order(request, get_order(oid), True))

    @app.get(f"{API}/orders/{{oid:int}}")
    async def read_order(oid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(order(request, get_order(oid)))

    @app.api_route(f"{API}/orders/{{oid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_order(oid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await _body(request)
        return JSONResponse(order(request, state.update_order(get_order(oid, 400), payload)))

    @app.delete(f"{API}/orders/{{oid:int}}")
    async def remove_order(oid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "delete")
        p = Params(request)
        force = p.boolean("force", False)
        p.check()
        return JSONResponse(delete_order(request, get_order(oid), force))

    # --- customers -------------------------------------------------------------------------------
    def get_customer(cid: int, status: int = 404) -> dict[str, Any]:
        rec = state.customers.get(cid)
        if rec is None:
            raise WooError(status, "woocommerce_rest_invalid_id", "Invalid resource ID.")
        return rec

    def delete_customer(request: Request, rec: dict[str, Any]) -> dict[str, Any]:
        body = cust(request, rec)
        with state.lock:
            state.customers.pop(rec["id"], None)
            state.bump()
            state.emit("customer", "deleted", rec)
        return body

    @app.get(f"{API}/customers")
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

    @app.post(f"{API}/customers")
    async def create_customer(request: Request) -> JSONResponse:
        authenticate(state, request, "create")
        payload = await _body(request)
        if payload.get("id"):
            raise WooError(400, "woocommerce_rest_customer_exists", "Cannot create existing resource.")
        rec = state.write_customer(payload)
        return _created(cust(request, rec), f"{base(request)}{API}/customers/{rec['id']}")

    @app.api_route(f"{API}/customers/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_customers(request: Request) -> JSONResponse:
        authenticate(state, request, "batch")
        payload = await _body(request)
        return _batch(state, payload, lambda r: cust(request, r),
                      create=lambda item: state.write_customer(item),
                      update=lambda item: state.write_customer(item, get_customer(int(item.get("id") or 0), 400)),
                      delete=lambda cid: delete_customer(request, get_customer(cid)))

    @app.get(f"{API}/customers/{{cid:int}}")
    async def read_customer(cid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(cust(request, get_customer(cid)))

    @app.api_route(f"{API}/customers/{{cid:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_customer(cid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        payload = await _body(request)
        return JSONResponse(cust(request, state.write_customer(payload, get_customer(cid, 400))))

    @app.delete(f"{API}/customers/{{cid:int}}")
    async def remove_customer(cid: int, request: Request) -> JSONResponse:
        authenticate(state, request, "delete")
        p = Params(request)
        force = p.boolean("force", False)
        p.check()
        rec = get_customer(cid)
        if not force:
            raise WooError(501, "woocommerce_rest_trash_not_supported", "Customers do not support trashing.")
        return JSONResponse(delete_customer(request, rec))

    _add_sim_routes(app, state)
    from storeflow.simulators.store_webhooks import install_webhooks

    app.state.webhooks = install_webhooks(app, state)

    @app.get("/wp-json")
    @app.get("/wp-json/")
    async def rest_index(request: Request) -> JSONResponse:
        """The WP REST index (no auth): site time zone, GMT offset and the routes this version has."""
        now = state.now().astimezone(state.tz)
        offset = now.utcoffset()
        hours = offset.total_seconds() / 3600 if offset is not None else 0.0
        routes = [f"/wc/v3/{r}" for r in ("products", "products/batch", "products/(?P<id>[\\d]+)",
                                           "products/(?P<product_id>[\\d]+)/variations", "orders", "customers",
                                           "webhooks", "system_status")]
        if state.options.version_at_least(10, 3):
            routes.append("/wc/v3/variations")
        return JSONResponse({
            "name": "storeflow store simulator", "description": "", "url": base(request), "home": base(request),
            "gmt_offset": int(hours) if hours == int(hours) else hours, "timezone_string": state.options.timezone,
            "namespaces": ["wp/v2", "wc/v3", "wc/store/v1"], "authentication": {},
            "routes": {r: {"namespace": "wc/v3", "methods": ["GET"]} for r in routes},
        })

    @app.get(f"{API}/system_status")
    async def system_status(request: Request) -> JSONResponse:
        """A small part of ``/system_status``: WooCommerce and WordPress versions, currency, HTTPS."""
        authenticate(state, request, "list")
        return JSONResponse({
            "environment": {"home_url": base(request), "site_url": base(request), "version": state.options.wc_version,
                            "wp_version": "6.8.3", "php_version": "8.2", "default_timezone": "UTC",
                            "language": "en_GB"},
            "database": {}, "active_plugins": [{"plugin": "woocommerce/woocommerce.php", "name": "WooCommerce",
                                                "version": state.options.wc_version}],
            "theme": {}, "settings": {"api_enabled": True, "currency": state.options.currency,
                                      "currency_symbol": "£" if state.options.currency == "GBP" else "",
                                      "woocommerce_manage_stock": "yes" if state.options.manage_stock else "no"},
            "security": {"secure_connection": is_ssl(state, request), "hide_errors": True}, "pages": [],
        })

    @app.api_route("/wp-json/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def no_route(rest: str) -> JSONResponse:
        raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")

    return app


def _links(base: str, collection: str, rid: int, *, up: str | None = None,
           customer: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The ``_links`` WordPress adds to every object (``self``, ``collection``, ``up``/``customer``)."""
    out = {"self": [{"href": f"{base}{API}/{collection}/{rid}"}], "collection": [{"href": f"{base}{API}/{collection}"}]}
    if up:
        out["up"] = [{"href": f"{base}{API}/{up}"}]
    if customer:
        out["customer"] = [{"href": f"{base}{API}/{customer}"}]
    return out


_ITEM = "GET, POST, PUT, PATCH, DELETE"


def _allow(path: str, state: StoreState) -> str | None:
    """The ``Allow`` header of the matched REST route (None when no route matches)."""
    if path.rstrip("/") == "/wp-json":
        return "GET"
    if not path.startswith(API + "/"):
        return None
    parts = [p for p in path[len(API):].split("/") if p]
    if parts == ["variations"]:
        return "GET" if state.options.version_at_least(10, 3) else None
    if parts == ["system_status"]:
        return "GET"
    if parts[0] not in ("products", "orders", "customers", "webhooks"):
        return None
    if len(parts) >= 3 and parts[0] == "products" and parts[1].isdigit() and parts[2] == "variations":
        parts = parts[2:]
    if len(parts) == 1:
        return "GET, POST"
    if len(parts) == 2 and parts[1] == "batch":
        return "POST, PUT, PATCH"
    if len(parts) == 2 and parts[1].isdigit():
        return _ITEM
    return None


def _batch(state: StoreState, payload: dict[str, Any], render, *, create, update, delete) -> JSONResponse:
    """``/…/batch``: ≤ limit items in total (else 413), sequential, per-item errors, delete = force."""
    sections = {k: payload.get(k) or [] for k in ("create", "update", "delete")}
    limit = state.options.batch_limit
    if sum(len(v) for v in sections.values()) > limit:
        raise WooError(413, "woocommerce_rest_request_entity_too_large",
                       f"Unable to accept more than {limit} items for this request.")
    out: dict[str, list[Any]] = {}
    for item in sections["create"]:
        try:
            out.setdefault("create", []).append(render(create(item)))
        except WooError as exc:
            out.setdefault("create", []).append({"id": 0, "error": exc.body()})
    for item in sections["update"]:
        try:
            out.setdefault("update", []).append(render(update(item)))
        except WooError as exc:
            out.setdefault("update", []).append({"id": item.get("id", 0), "error": exc.body()})
    for item in sections["delete"]:
        ident = int(item["id"] if isinstance(item, dict) else item)
        try:
            out.setdefault("delete", []).append(delete(ident))
        except WooError as exc:
            out.setdefault("delete", []).append({"id": ident, "error": exc.body()})
    return JSONResponse(out)


def _add_sim_routes(app: FastAPI, state: StoreState) -> None:
    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        return json.loads(raw) if raw.strip() else {}

    @app.get("/_sim/state")
    async def sim_state() -> dict[str, Any]:
        return state.summary()

    @app.get("/_sim/export")
    async def sim_export() -> dict[str, Any]:
        return state.to_json()

    @app.put("/_sim/timezone")
    async def sim_timezone(request: Request) -> dict[str, Any]:
        from zoneinfo import ZoneInfo

        tz = (await body(request))["timezone"]
        ZoneInfo(tz)  # validate
        state.options.timezone = tz
        return {"timezone": tz}

    @app.put("/_sim/options")
    async def sim_options(request: Request) -> dict[str, Any]:
        data = await body(request)
        if "stock_bumps_modified" in data:  # the old, inverse name
            data["legacy_stock_date_modified"] = not data.pop("stock_bumps_modified")
        for key, value in data.items():
            if not hasattr(state.options, key):
                return JSONResponse({"error": f"unknown option {key}"}, status_code=400)
            setattr(state.options, key, value)
        state.bump()
        return state.summary()["options"]

    @app.api_route("/_sim/clock", methods=["GET", "PUT"])
    async def sim_clock(request: Request) -> dict[str, Any]:
        if request.method == "PUT":
            data = await body(request)
            if data.get("unfreeze"):
                state.clock.unfreeze()
            if "freeze" in data and data["freeze"] is not None:
                at = None if data["freeze"] == "now" else parse_gmt(data["freeze"])
                state.clock.freeze(at)
            if data.get("advance_seconds"):
                state.clock.advance(float(data["advance_seconds"]))
        return {"now": state.now().isoformat(), "frozen": state.clock.frozen_at is not None}

    @app.post("/_sim/orders")
    async def sim_order(request: Request) -> JSONResponse:
        data = await body(request)
        customer = None
        if data.get("customer_id"):
            customer = state.customers.get(int(data["customer_id"]))
        elif data.get("email"):
            customer = state.find_customer_by_email(data["email"])
        billing = dict(customer["billing"]) if customer else {}
        if customer and not billing.get("email"):
            billing["email"] = customer["email"]
        if data.get("email") and not customer:
            billing["email"] = data["email"]
        billing.update(data.get("billing") or {})
        channel = data.get("acquisition_channel")
        payload = {
            "customer_id": customer["id"] if customer else 0, "billing": billing,
            "shipping": {k: v for k, v in billing.items() if k not in ("email",)},
            "line_items": data.get("line_items") or [], "payment_method": "stripe",
            "payment_method_title": "Credit card",
            "coupon_lines": [{"code": data["coupon"], "discount": data.get("discount", "0")}]
            if data.get("coupon") else [],
            "meta_data": [{"key": k, "value": v} for k, v in ATTRIBUTION_META.get(channel or "", {}).items()],
            "status": "pending",
        }
        try:
            with state.lock:
                rec = state.create_order(payload, created_via="checkout", user_agent=data.get("user_agent", ""))
                state.update_order(rec, {"status": data.get("status", "processing"), "set_paid": True})
                if customer:
                    customer["is_paying_customer"] = True
        except WooError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(order_json(state, rec), status_code=201)

    @app.put("/_sim/customers/{cid}/email")
    async def sim_email(cid: int, request: Request) -> JSONResponse:
        data = await body(request)
        rec = state.customers.get(cid)
        if rec is None:
            return JSONResponse({"error": "no such customer"}, status_code=404)
        try:
            rec = state.write_customer({"email": data["email"], "billing": {"email": data["email"]}}, rec)
        except WooError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(customer_json(state, rec))

    @app.put("/_sim/customers/{cid}/consent")
    async def sim_consent(cid: int, request: Request) -> JSONResponse:
        data = await body(request)
        rec = state.customers.get(cid)
        if rec is None:
            return JSONResponse({"error": "no such customer"}, status_code=404)
        at = parse_gmt(data["at"]) if data.get("at") else None
        state.set_consent(rec, data.get("channel", "email"), bool(data.get("optout", True)), at)
        return JSONResponse(customer_json(state, rec))

    @app.post("/_sim/products/touch")
    async def sim_touch(request: Request) -> dict[str, Any]:
        data = await body(request)
        with state.lock:
            if data.get("ids"):
                ids = [int(i) for i in data["ids"]]
            elif data.get("skus"):
                wanted = set(data["skus"])
                ids = [p["id"] for p in state.products.values() if p["sku"] in wanted]
            elif data.get("first"):
                ids = sorted(p["id"] for p in state.products.values() if p["type"] != "variation")[: data["first"]]
            else:
                ids = sorted(state.products) if data.get("all") else []
            touched = state.touch_products(ids, data.get("changes"))
        return {"touched": touched, "ids": ids, "at": state.now().isoformat()}

    @app.put("/_sim/products/stock")
    async def sim_stock(request: Request) -> JSONResponse:
        data = await body(request)
        with state.lock:
            rec = state.find_sku_owner(data["sku"])
            holder = state.stock_holder(rec) if rec else None
            if holder is None:
                return JSONResponse({"error": "no stock-managed product with that sku"}, status_code=404)
            state.change_stock(holder, int(data["quantity"]) - int(holder.get("stock_quantity") or 0))
            return JSONResponse({"sku": data["sku"], "stock_quantity": holder["stock_quantity"]})

    @app.get("/_sim/now")
    async def sim_now() -> dict[str, Any]:
        return {"now": datetime.now(UTC).isoformat(), "sim_now": state.now().isoformat()}
