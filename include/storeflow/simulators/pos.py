"""A Square-contract POS simulator (FastAPI): Locations, Catalog, Inventory, Orders, Customers, Invoices.

>>> state = PosState.from_world(world)            # doctest: +SKIP
>>> handle = serve_in_thread(create_pos_app(state))

Contract (see ``pos-store-api-contracts.md`` §2): bearer-token auth (401 ``UNAUTHORIZED`` body as Square
sends it), Square's error shape, every ``/v2`` request checked against Square's OpenAPI spec
(:mod:`pos_spec`: malformed ``Square-Version``, unknown enum values, wrong types, unknown fields,
lengths → Square's 400 codes; ``PosConfig.validate_requests`` turns it off), cursor chains bound to the
original request, RFC 3339 timestamps with mixed fractional precision, Money as ints, quantities as
decimal strings, idempotency keys (same key and body → the original response; same key, other body →
400 ``IDEMPOTENCY_KEY_REUSED``). Domain rules live in ``pos_catalog``, ``pos_inventory``,
``pos_orders`` and ``pos_customers``.

Payments: only ``source_id`` EXTERNAL / CASH (``POST /v2/payments``, ``GET /v2/payments/{id}``), enough
to pay an order in full, which completes it (CreateOrder cannot create COMPLETED orders).

Test-only admin routes under ``/_sim/`` (no auth): ``GET /_sim/state`` (counts), ``GET /_sim/inventory``,
``GET /_sim/export`` (the full state), ``GET|PUT /_sim/config``, ``POST /_sim/clock``
(``{"freeze": true, "at": "…"}``, ``{"advance_seconds": 5}``, ``{"freeze": false}``), ``POST /_sim/price``
(``{"variation_id"|"sku", "amount"}``), ``POST /_sim/sales`` (an in-store sale), ``POST /_sim/stock``
(``{"variation_id"|"sku", "location_id", "quantity"}``), ``POST /_sim/delete`` (``{"object_id"|"sku"}``: the
item of a SKU), ``POST /_sim/customers/{id}/preferences`` (``{"email_unsubscribed", "sms_opt_out"}``),
``POST /_sim/invoices/{id}/pay``. Faults (``/_sim/faults``) come from
:class:`storeflow.simulators.faults.FaultInjector` wrapped around this app.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from storeflow.simulators import pos_catalog, pos_customers, pos_inventory, pos_orders, pos_spec
from storeflow.simulators.pos_common import (
    UNAUTHORIZED_DETAIL,
    SquareError,
    bad_request,
    body_hash,
    fmt_ts,
    not_found,
    parse_ts_field,
)
from storeflow.simulators.pos_state import PosConfig, PosState

__all__ = ["PosConfig", "PosState", "create_pos_app"]


def _idempotent(
    state: PosState, scope: str, body: dict[str, Any], fn: Callable[[], tuple[int, dict[str, Any]]],
    *, required: bool = True, max_len: int = 128,
) -> tuple[int, dict[str, Any]]:
    """Run a write once per idempotency key: replay the stored response for the same body."""
    key = body.get("idempotency_key")
    if key is None or key == "":
        if required:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter: idempotency_key",
                              "idempotency_key")
        return fn()
    if not isinstance(key, str) or len(key) > max_len:
        raise bad_request("VALUE_TOO_LONG", f"idempotency_key must be 1 to {max_len} characters.", "idempotency_key")
    digest = body_hash(body, drop=())
    with state.lock:
        entry = state.idempotency.get(f"{scope}|{key}")
        if entry is not None:
            if entry["hash"] == digest:
                return entry["status"], copy.deepcopy(entry["body"])
            raise bad_request("IDEMPOTENCY_KEY_REUSED",
                              "The idempotency key can only be retried with the same request data.",
                              "idempotency_key")
        status, out = fn()
        if status < 300:
            state.idempotency[f"{scope}|{key}"] = {"hash": digest, "status": status, "body": copy.deepcopy(out)}
        return status, out


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad_request("BAD_REQUEST", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise bad_request("BAD_REQUEST", "The request body must be a JSON object.")
    return data


async def _check_against_spec(request: Request) -> None:
    """Square-Version, query parameters and JSON body against Square's spec (see :mod:`pos_spec`)."""
    pos_spec.check_square_version(request.headers.get("square-version"))
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    body: Any = None
    if request.method in ("POST", "PUT"):
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return  # the route answers Square's BAD_REQUEST for a body that is not JSON
    await run_in_threadpool(pos_spec.validate_request, request.method, request.url.path, query, body)


def _ok(result: Any) -> JSONResponse:
    if isinstance(result, tuple):
        status, body = result
        return JSONResponse(body, status_code=status)
    return JSONResponse(result)


def create_pos_app(state: PosState, token_status: bool = True) -> FastAPI:
    """The POS simulator as an ASGI app over ``state`` (``token_status=False``: no ``/oauth2/token/status``,
    to test clients against a POS that cannot report the token's scopes)."""
    app = FastAPI(title="storeflow POS simulator (Square contract)", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.pos = state

    async def call(fn: Callable[..., Any], *args: Any) -> JSONResponse:
        return _ok(await run_in_threadpool(fn, *args))

    @app.exception_handler(SquareError)
    async def _square_error(request: Request, exc: SquareError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "BAD_REQUEST")
        detail = f"No route for {request.method} {request.url.path}." if exc.status_code in (404, 405) else str(
            exc.detail)
        return JSONResponse(SquareError(exc.status_code, code, detail).body(), status_code=exc.status_code)

    @app.middleware("http")
    async def _auth(request: Request, call_next):
        if request.url.path.startswith("/v2/"):
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or token.strip() not in state.config.tokens:
                err = SquareError(401, "UNAUTHORIZED", UNAUTHORIZED_DETAIL, category="AUTHENTICATION_ERROR")
                return JSONResponse(err.body(), status_code=401)
            if state.config.validate_requests:
                try:
                    await _check_against_spec(request)
                except SquareError as exc:
                    return JSONResponse(exc.body(), status_code=exc.status)
        return await call_next(request)

    # --- locations ---------------------------------------------------------------------------------
    @app.get("/v2/locations")
    async def list_locations() -> JSONResponse:
        with state.lock:
            return JSONResponse({"locations": copy.deepcopy(state.locations)})

    @app.get("/v2/locations/{location_id}")
    async def get_location(location_id: str) -> JSONResponse:
        with state.lock:
            loc = next((x for x in state.locations if x["id"] == location_id), None)
        if loc is None:
            raise not_found("location", location_id)
        return JSONResponse({"location": copy.deepcopy(loc)})

    # --- catalog -----------------------------------------------------------------------------------
    @app.get("/v2/catalog/list")
    async def list_catalog(request: Request) -> JSONResponse:
        q = request.query_params
        return await call(pos_catalog.list_catalog, state, q.get("types"), q.get("cursor"))

    @app.post("/v2/catalog/search")
    async def search_catalog(request: Request) -> JSONResponse:
        return await call(pos_catalog.search_catalog, state, await _body(request))

    @app.post("/v2/catalog/batch-upsert")
    async def batch_upsert(request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_catalog_write, state, "catalog-upsert", body, lambda: pos_catalog.batch_upsert(state, body))

    @app.post("/v2/catalog/object")
    async def upsert_object(request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_catalog_write, state, "catalog-object", body,
                          lambda: pos_catalog.upsert_object(state, body))

    @app.post("/v2/catalog/batch-retrieve")
    async def batch_retrieve(request: Request) -> JSONResponse:
        return await call(pos_catalog.batch_retrieve, state, await _body(request))

    @app.get("/v2/catalog/object/{object_id}")
    async def retrieve_object(object_id: str) -> JSONResponse:
        return await call(pos_catalog.retrieve_object, state, object_id)

    @app.post("/v2/catalog/batch-delete")
    async def batch_delete(request: Request) -> JSONResponse:
        return await call(pos_catalog.batch_delete, state, await _body(request))

    @app.delete("/v2/catalog/object/{object_id}")
    async def delete_object(object_id: str) -> JSONResponse:
        return await call(pos_catalog.delete_object, state, object_id)

    @app.get("/v2/catalog/info")
    async def catalog_info() -> JSONResponse:
        return JSONResponse({"limits": {
            "batch_upsert_max_objects_per_batch": 1000, "batch_upsert_max_total_objects": 10000,
            "batch_retrieve_max_object_ids": 1000, "search_max_page_limit": 1000,
            "batch_delete_max_object_ids": 200,
        }})

    # --- inventory ---------------------------------------------------------------------------------
    @app.post("/v2/inventory/counts/batch-retrieve")
    @app.post("/v2/inventory/batch-retrieve-counts")
    async def retrieve_counts(request: Request) -> JSONResponse:
        return await call(pos_inventory.retrieve_counts, state, await _body(request))

    @app.post("/v2/inventory/changes/batch-create")
    @app.post("/v2/inventory/batch-change")
    async def batch_change(request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_idempotent, state, "inventory-change", body,
                          lambda: pos_inventory.batch_change(state, body))

    @app.post("/v2/inventory/changes/batch-retrieve")
    @app.post("/v2/inventory/batch-retrieve-changes")
    async def retrieve_changes(request: Request) -> JSONResponse:
        return await call(pos_inventory.retrieve_changes, state, await _body(request))

    @app.get("/v2/inventory/{catalog_object_id}")
    async def variation_counts(catalog_object_id: str, request: Request) -> JSONResponse:
        return await call(pos_inventory.retrieve_variation_counts, state, catalog_object_id,
                          request.query_params.get("location_ids"))

    # --- orders ------------------------------------------------------------------------------------
    @app.post("/v2/orders")
    async def create_order(request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_idempotent_opt, state, "orders-create", body, lambda: pos_orders.create_order(state, body),
                          192)

    @app.post("/v2/orders/search")
    async def search_orders(request: Request) -> JSONResponse:
        return await call(pos_orders.search_orders, state, await _body(request))

    @app.post("/v2/orders/batch-retrieve")
    async def batch_retrieve_orders(request: Request) -> JSONResponse:
        return await call(pos_orders.batch_retrieve_orders, state, await _body(request))

    @app.get("/v2/orders/{order_id}")
    async def get_order(order_id: str) -> JSONResponse:
        return await call(pos_orders.get_order, state, order_id)

    @app.put("/v2/orders/{order_id}")
    async def update_order(order_id: str, request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_idempotent_opt, state, f"orders-update-{order_id}", body,
                          lambda: pos_orders.update_order(state, order_id, body), 192)

    @app.post("/v2/payments")
    async def create_payment(request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_idempotent, state, "payments-create", body, lambda: pos_orders.create_payment(state, body))

    @app.get("/v2/payments/{payment_id}")
    async def get_payment(payment_id: str) -> JSONResponse:
        return await call(pos_orders.get_payment, state, payment_id)

    # --- customers ---------------------------------------------------------------------------------
    @app.get("/v2/customers")
    async def list_customers(request: Request) -> JSONResponse:
        return await call(pos_customers.list_customers, state, dict(request.query_params))

    @app.post("/v2/customers/search")
    async def search_customers(request: Request) -> JSONResponse:
        return await call(pos_customers.search_customers, state, await _body(request))

    @app.post("/v2/customers")
    async def create_customer(request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_idempotent_opt, state, "customers-create", body,
                          lambda: pos_customers.create_customer(state, body), 45)

    @app.get("/v2/customers/{customer_id}")
    async def get_customer(customer_id: str) -> JSONResponse:
        return await call(pos_customers.get_customer, state, customer_id)

    @app.put("/v2/customers/{customer_id}")
    async def update_customer(customer_id: str, request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(pos_customers.update_customer, state, customer_id, body)

    @app.delete("/v2/customers/{customer_id}")
    async def delete_customer(customer_id: str) -> JSONResponse:
        return await call(pos_customers.delete_customer, state, customer_id)

    # --- invoices ----------------------------------------------------------------------------------
    @app.post("/v2/invoices")
    async def create_invoice(request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_idempotent_opt, state, "invoices-create", body,
                          lambda: pos_orders.create_invoice(state, body), 128)

    @app.post("/v2/invoices/search")
    async def search_invoices(request: Request) -> JSONResponse:
        return await call(pos_orders.search_invoices, state, await _body(request))

    @app.get("/v2/invoices")
    async def list_invoices(request: Request) -> JSONResponse:
        q = request.query_params
        limit = q.get("limit")
        return await call(pos_orders.list_invoices, state, q.get("location_id"), q.get("cursor"),
                          int(limit) if limit and limit.lstrip("-").isdigit() else None)

    @app.get("/v2/invoices/{invoice_id}")
    async def get_invoice(invoice_id: str) -> JSONResponse:
        return await call(pos_orders.get_invoice, state, invoice_id)

    @app.post("/v2/invoices/{invoice_id}/publish")
    async def publish_invoice(invoice_id: str, request: Request) -> JSONResponse:
        body = await _body(request)
        return await call(_idempotent_opt, state, f"invoices-publish-{invoice_id}", body,
                          lambda: pos_orders.publish_invoice(state, invoice_id, body), 128)

    _add_sim_routes(app, state)
    if token_status:
        from storeflow.simulators.pos_oauth import register_oauth

        register_oauth(app, state)  # POST /oauth2/token/status: the token's scopes and expiry
    return app


def _idempotent_opt(state: PosState, scope: str, body: dict[str, Any], fn, max_len: int) -> tuple[int, dict]:
    return _idempotent(state, scope, body, fn, required=False, max_len=max_len)


def _catalog_write(state: PosState, scope: str, body: dict[str, Any], fn) -> tuple[int, dict]:
    with pos_catalog.catalog_write(state):
        return _idempotent(state, scope, body, fn)


def _variation_from(state: PosState, body: dict[str, Any]) -> str:
    var_id = body.get("variation_id") or pos_catalog.sim_find_variation(state, str(body.get("sku", "")))
    if not var_id:
        raise not_found("item variation", str(body.get("sku") or body.get("variation_id")))
    return var_id


def _add_sim_routes(app: FastAPI, state: PosState) -> None:
    @app.get("/_sim/state")
    async def sim_state() -> JSONResponse:
        return JSONResponse(state.summary())

    @app.get("/_sim/export")
    async def sim_export() -> JSONResponse:
        return JSONResponse(state.to_json())

    @app.get("/_sim/inventory")
    async def sim_inventory() -> JSONResponse:
        with state.lock:
            return JSONResponse({"counts": [dict(c) for c in state.counts.values()]})

    @app.get("/_sim/config")
    async def get_config() -> JSONResponse:
        return JSONResponse(asdict(state.config))

    @app.put("/_sim/config")
    async def put_config(request: Request) -> JSONResponse:
        body = await _body(request)
        names = {f.name for f in fields(PosConfig)}
        unknown = set(body) - names
        if unknown:
            raise bad_request("INVALID_VALUE", f"Unknown config keys {sorted(unknown)}.")
        for key, value in body.items():
            setattr(state.config, key, value)
        return JSONResponse(asdict(state.config))

    @app.post("/_sim/clock")
    async def sim_clock(request: Request) -> JSONResponse:
        body = await _body(request)
        with state.lock:
            if body.get("freeze") is True:
                at: datetime | None = parse_ts_field(body["at"], "at") if body.get("at") else None
                state.clock.freeze(at)
            elif body.get("freeze") is False:
                state.clock.unfreeze()
            if body.get("advance_seconds"):
                state.clock.advance(float(body["advance_seconds"]))
            return JSONResponse({"now": fmt_ts(state.now(), 6), "frozen": state.clock.frozen_at is not None})

    @app.post("/_sim/price")
    async def sim_price(request: Request) -> JSONResponse:
        body = await _body(request)
        with state.lock:
            var_id = _variation_from(state, body)
            return JSONResponse({"object": pos_catalog.sim_set_price(state, var_id, int(body["amount"]))})

    @app.post("/_sim/sales")
    async def sim_sale(request: Request) -> JSONResponse:
        body = await _body(request)
        return _ok(await run_in_threadpool(pos_orders.sim_record_sale, state, body))

    @app.post("/_sim/stock")
    async def sim_stock(request: Request) -> JSONResponse:
        body = await _body(request)
        with state.lock:
            var_id = _variation_from(state, body)
            loc = body.get("location_id") or state.locations[0]["id"]
            return JSONResponse(pos_inventory.sim_set_stock(state, var_id, loc, str(body["quantity"]),
                                                            body.get("reference_id")))

    @app.post("/_sim/delete")
    async def sim_delete(request: Request) -> JSONResponse:
        body = await _body(request)
        with state.lock:
            object_id = body.get("object_id")
            if not object_id:
                var_id = _variation_from(state, body)
                object_id = state.catalog[var_id]["item_variation_data"]["item_id"]
            return JSONResponse(pos_catalog.sim_delete(state, object_id))

    @app.post("/_sim/customers/{customer_id}/preferences")
    async def sim_preferences(customer_id: str, request: Request) -> JSONResponse:
        body = await _body(request)
        return JSONResponse({"customer": pos_customers.sim_set_preferences(state, customer_id, body)})

    @app.post("/_sim/invoices/{invoice_id}/pay")
    async def sim_pay(invoice_id: str) -> JSONResponse:
        return JSONResponse({"invoice": pos_orders.sim_pay_invoice(state, invoice_id)})
