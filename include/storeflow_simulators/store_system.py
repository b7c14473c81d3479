"""Store simulator routes for the WP REST index ``/wp-json/`` and ``/system_status``."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_api import API, base_url
from storeflow_simulators.store_common import WooError
from storeflow_simulators.store_http import authenticate, is_ssl
from storeflow_simulators.store_state import StoreState


def system_router(state: StoreState) -> APIRouter:
    """``/wp-json/`` (no auth: site time zone, GMT offset, routes), a small ``/system_status`` and, last,
    the catch-all 404 ``rest_no_route`` for every other ``/wp-json/`` path."""
    router = APIRouter()

    base = partial(base_url, state)

    @router.get("/wp-json")
    @router.get("/wp-json/")
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

    @router.get(f"{API}/system_status")
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

    @router.api_route("/wp-json/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def no_route(rest: str) -> JSONResponse:
        raise WooError(404, "rest_no_route", "No route was found matching the URL and request method.")

    return router
