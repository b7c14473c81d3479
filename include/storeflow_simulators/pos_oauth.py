"""OAuth token permissions for the POS simulator: ``POST /oauth2/token/status`` and ``INSUFFICIENT_SCOPES``.

``POST /oauth2/token/status`` (Square's RetrieveTokenStatus) answers ``{"scopes", "expires_at"?, "client_id",
"merchant_id"}`` for the bearer token, 401 ``UNAUTHORIZED`` for an unknown one. By default every configured
token holds :data:`DEFAULT_SCOPES` and never expires. A test can narrow a token's scopes (and set an expiry)
with ``PUT /_sim/oauth/scopes`` ``{"token"?, "scopes": [...], "expires_at"?}`` (no ``token``: every token);
from then on, a ``/v2/`` call that needs a scope the token lacks gets Square's 403 ``INSUFFICIENT_SCOPES``.

Wire it at the end of ``create_pos_app`` (before ``return app``)::

    from storeflow_simulators.pos_oauth import register_oauth
    register_oauth(app, state)
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.pos_common import UNAUTHORIZED_DETAIL, SquareError

DEFAULT_SCOPES = (
    "MERCHANT_PROFILE_READ", "ITEMS_READ", "ITEMS_WRITE", "INVENTORY_READ", "INVENTORY_WRITE", "ORDERS_READ",
    "ORDERS_WRITE", "PAYMENTS_READ", "PAYMENTS_WRITE", "CUSTOMERS_READ", "CUSTOMERS_WRITE", "INVOICES_READ",
    "INVOICES_WRITE",
)
CLIENT_ID = "sq0idp-storeflow-simulator"
_READ_ACTIONS = re.compile(r"/(search|batch-retrieve|list)$")
_RESOURCE_SCOPE = {"locations": "MERCHANT_PROFILE", "catalog": "ITEMS", "inventory": "INVENTORY",
                   "orders": "ORDERS", "payments": "PAYMENTS", "customers": "CUSTOMERS", "invoices": "INVOICES"}


def required_scope(method: str, path: str) -> str | None:
    """The OAuth scope a Square ``/v2/`` call needs (None for paths this simulator does not scope)."""
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] != "v2" or parts[1] not in _RESOURCE_SCOPE:
        return None
    read = method.upper() == "GET" or bool(_READ_ACTIONS.search(path))
    return f"{_RESOURCE_SCOPE[parts[1]]}_{'READ' if read else 'WRITE'}"


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def register_oauth(app: FastAPI, state: Any) -> None:
    """Add token status, scope enforcement and the ``/_sim/oauth/scopes`` admin route to a POS app (once)."""
    if hasattr(app.state, "oauth_grants"):
        return
    grants: dict[str, dict[str, Any]] = {}  # token -> {"scopes": [...], "expires_at": str | None}
    app.state.oauth_grants = grants

    def grant(token: str) -> dict[str, Any]:
        return grants.get(token) or {"scopes": list(DEFAULT_SCOPES), "expires_at": None}

    @app.middleware("http")
    async def _scopes(request: Request, call_next):
        token = _bearer(request)
        if token in grants and token in state.config.tokens:
            scope = required_scope(request.method, request.url.path)
            if scope and scope not in grants[token]["scopes"]:
                err = SquareError(403, "INSUFFICIENT_SCOPES",
                                  "The merchant has not given your application sufficient permissions to do that. "
                                  f"The app attempted to use scopes that it does not have access to: {scope}.",
                                  category="AUTHENTICATION_ERROR")
                return JSONResponse(err.body(), status_code=403)
        return await call_next(request)

    @app.post("/oauth2/token/status")
    async def token_status(request: Request) -> JSONResponse:
        token = _bearer(request)
        if token is None or token not in state.config.tokens:
            err = SquareError(401, "UNAUTHORIZED", UNAUTHORIZED_DETAIL, category="AUTHENTICATION_ERROR")
            return JSONResponse(err.body(), status_code=401)
        g = grant(token)
        body: dict[str, Any] = {"scopes": list(g["scopes"]), "client_id": CLIENT_ID,
                                "merchant_id": state.config.merchant_id}
        if g.get("expires_at"):
            body["expires_at"] = g["expires_at"]
        return JSONResponse(body)

    @app.put("/_sim/oauth/scopes")
    async def set_scopes(request: Request) -> dict[str, Any]:
        data = await request.json()
        scopes = [str(s) for s in data.get("scopes") or []]
        tokens = [data["token"]] if data.get("token") else list(state.config.tokens)
        for token in tokens:
            grants[token] = {"scopes": scopes, "expires_at": data.get("expires_at")}
        return {"tokens": len(tokens), "scopes": scopes}
