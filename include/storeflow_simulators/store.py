"""An online store following the WooCommerce REST API v3 contract (FastAPI), for demos and tests.

It behaves like a real WooCommerce 10.0.2 as measured in ``woocommerce-real-behaviour.md``. Routes under
``/wp-json/wc/v3``: products (CRUD, batch, ``sku=`` lookups that also return variations), variations under
``/products/{id}/variations`` (CRUD, batch; ``type: "variation"``, ``parent_id``, ``name`` = attribute
summary, attributes with ``id``/``name``/``slug``/``option``), the read-only ``/variations`` only when the
emulated version is 10.3 or later (else 404 ``rest_no_route``), orders (CRUD, batch; ids from the post id
sequence shared with products), customers (CRUD, batch; ``_`` meta protected; ``role=all`` includes the
administrator), webhooks (signed, asynchronous delivery; see :mod:`storeflow_simulators.store_webhooks`),
a small ``/system_status`` and the WP index ``/wp-json/`` (site time zone, GMT offset, routes).
One router per resource: :mod:`.store_products` (products and variations), :mod:`.store_orders`,
:mod:`.store_customers`, :mod:`.store_webhooks`, :mod:`.store_system` and :mod:`.store_sim` (``/_sim/``);
shared REST plumbing in :mod:`.store_api`.

Contract details: bare-array bodies with ``X-WP-Total``/``X-WP-TotalPages``/``Link`` (an ``offset`` past the
end reports 0/0 and no paging links); every response carries ``Link: <…/wp-json/>; rel="https://api.w.org/"``,
``Allow`` and ``Content-Type: application/json; charset=UTF-8``; money as strings (numbers are refused with
400 ``rest_invalid_param``); every date twice (site-local and ``_gmt``, both naive); the
``modified_after``/``dates_are_gmt`` time zone trap; ``date_modified`` moving on every product save and
order stock change; WP error shapes; unknown parameters silently ignored; ``_fields`` (``_links`` kept).
Authentication: OAuth 1.0a over HTTP; Basic and query-string keys only over HTTPS (serve with
:func:`store_tls_files` or set ``behind_tls_proxy``), see :mod:`storeflow_simulators.store_http`.
Listings are cached per filter set and invalidated by every write (``StoreState.version``); code that
edits records directly must call ``state.bump()``. Behaviour toggles and the consent convention are
described in :mod:`storeflow_simulators.store_state`.

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

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_api import allow_header, base_url
from storeflow_simulators.store_common import WooError
from storeflow_simulators.store_customers import customers_router
from storeflow_simulators.store_orders import orders_router
from storeflow_simulators.store_products import products_router
from storeflow_simulators.store_sim import sim_router
from storeflow_simulators.store_state import StoreOptions, StoreState
from storeflow_simulators.store_system import system_router
from storeflow_simulators.store_webhooks import WebhookDispatcher, webhooks_router

__all__ = ["StoreState", "StoreOptions", "create_store_app", "store_tls_files"]


def store_tls_files(directory: Path | None = None) -> tuple[Path, Path]:
    """The store simulator's self-signed ``(cert, key)`` in ``directory`` (default ``<data dir>/simulators/tls``).

    Created on first use; clients trust the store by passing the certificate path as CA bundle.
    """
    from storeflow.settings import get_settings
    from storeflow_simulators.serve import self_signed_certificate

    target = directory or get_settings().data_dir / "simulators" / "tls"
    return self_signed_certificate(target, "store")



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
            response.headers.append("Link", f'<{base_url(state, request)}/wp-json/>; rel="https://api.w.org/"')
            allow = allow_header(request.url.path, state)
            if allow and response.status_code != 401:  # rest_send_allow_header(): only permitted methods
                response.headers["Allow"] = allow
        return response

    @app.exception_handler(WooError)
    async def _woo_error(request: Request, exc: WooError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    dispatcher = WebhookDispatcher(state)
    state.observers.append(dispatcher)
    app.state.webhooks = dispatcher
    # order matters: the catch-all ``/wp-json/{rest:path}`` of the system router comes last
    for router in (products_router(state), orders_router(state), customers_router(state), sim_router(state),
                   webhooks_router(state, dispatcher), system_router(state)):
        app.include_router(router)
    return app
