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
``pos_orders`` and ``pos_customers``; one router per resource in ``pos_*_routes`` (shared plumbing in
:mod:`.pos_api`).

Payments: only ``source_id`` EXTERNAL / CASH (``POST /v2/payments``, ``GET /v2/payments/{id}``), enough
to pay an order in full, which completes it (CreateOrder cannot create COMPLETED orders).

Test-only admin routes under ``/_sim/`` (no auth): ``GET /_sim/state`` (counts), ``GET /_sim/inventory``,
``GET /_sim/export`` (the full state), ``GET|PUT /_sim/config``, ``POST /_sim/clock``
(``{"freeze": true, "at": "…"}``, ``{"advance_seconds": 5}``, ``{"freeze": false}``), ``POST /_sim/price``
(``{"variation_id"|"sku", "amount"}``), ``POST /_sim/sales`` (an in-store sale), ``POST /_sim/stock``
(``{"variation_id"|"sku", "location_id", "quantity"}``), ``POST /_sim/delete`` (``{"object_id"|"sku"}``: the
item of a SKU), ``POST /_sim/customers/{id}/preferences`` (``{"email_unsubscribed", "sms_opt_out"}``),
``POST /_sim/invoices/{id}/pay``. Faults (``/_sim/faults``) come from
:class:`storeflow_simulators.faults.FaultInjector` wrapped around this app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from storeflow_simulators.pos_api import check_against_spec
from storeflow_simulators.pos_catalog_routes import catalog_router
from storeflow_simulators.pos_common import UNAUTHORIZED_DETAIL, SquareError
from storeflow_simulators.pos_customers_routes import customers_router
from storeflow_simulators.pos_inventory_routes import inventory_router
from storeflow_simulators.pos_invoices_routes import invoices_router
from storeflow_simulators.pos_locations_routes import locations_router
from storeflow_simulators.pos_oauth import register_oauth
from storeflow_simulators.pos_orders_routes import orders_router
from storeflow_simulators.pos_sim_routes import sim_router
from storeflow_simulators.pos_state import PosConfig, PosState

__all__ = ["PosConfig", "PosState", "create_pos_app"]


def create_pos_app(state: PosState, token_status: bool = True) -> FastAPI:
    """The POS simulator as an ASGI app over ``state`` (``token_status=False``: no ``/oauth2/token/status``,
    to test clients against a POS that cannot report the token's scopes)."""
    app = FastAPI(title="storeflow POS simulator (Square contract)", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.pos = state

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
                    await check_against_spec(request)
                except SquareError as exc:
                    return JSONResponse(exc.body(), status_code=exc.status)
        return await call_next(request)

    for router in (locations_router(state), catalog_router(state), inventory_router(state), orders_router(state),
                   customers_router(state), invoices_router(state), sim_router(state)):
        app.include_router(router)
    if token_status:
        register_oauth(app, state)  # POST /oauth2/token/status: the token's scopes and expiry
    return app
