"""storeflow's public web service: the unsubscribe page, RFC 8058 one-click POST and inbound webhooks.

One small ASGI app, deployed beside Airflow (compose service ``endpoints``, ``make endpoints``, and part of
``make airflow``) behind the retailer's TLS proxy at ``STOREFLOW_UNSUBSCRIBE_BASE_URL``'s host:

* ``GET /u/{token}``: a confirmation page (never unsubscribes by itself);
* ``POST /u/{token}`` with body ``List-Unsubscribe=One-Click``: records the opt-out;
* ``POST /webhooks/woocommerce`` and ``POST /webhooks/square``: signed change notifications;
* ``GET /health``.

Request bodies are limited (``MAX_BODY_BYTES``) before any token or signature is checked; there is no
``/docs`` and no OpenAPI schema.
"""

from __future__ import annotations

import argparse
import logging
from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storeflow.campaigns.optouts import ONE_CLICK_BODY, TokenError, record_optout, verify_token

MAX_BODY_BYTES = 64 * 1024
log = logging.getLogger(__name__)


class BodySizeLimit:
    """ASGI middleware: 413 for a request whose declared or streamed body passes ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await _too_large(send)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b'{"error": "request body too large"}'
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto">{body}</body></html>"""


def create_unsubscribe_app(engine: Engine, shop_name: str | None = None) -> FastAPI:
    """FastAPI app: ``GET /u/{token}`` confirmation page, ``POST /u/{token}`` one-click unsubscribe.

    GET never unsubscribes (mail scanners follow links). POST needs the RFC 8058 body
    ``List-Unsubscribe=One-Click`` (form-urlencoded or multipart, as Gmail and Yahoo send it, and as the
    page's own button posts it). No ``/docs`` or OpenAPI schema is served.
    """
    from storeflow.settings import get_settings

    name = escape(shop_name or get_settings().shop_name)
    app = FastAPI(title="storeflow unsubscribe", docs_url=None, redoc_url=None, openapi_url=None)

    def _check(token: str) -> tuple[str, str] | None:
        try:
            return verify_token(token)
        except TokenError:
            return None

    def _invalid() -> HTMLResponse:
        return HTMLResponse(_PAGE.format(title="Invalid link", body="<p>This link is not valid.</p>"), 400)

    @app.get("/u/{token}", response_class=HTMLResponse)
    def confirm(token: str) -> HTMLResponse:
        checked = _check(token)
        if checked is None:
            return _invalid()
        _, topic = checked
        body = (f"<h1>Unsubscribe</h1><p>Stop {escape(topic)} emails from {name}?</p>"
                f'<form method="post"><input type="hidden" name="{ONE_CLICK_BODY[0]}" value="{ONE_CLICK_BODY[1]}">'
                f'<button type="submit">Unsubscribe</button></form>')
        return HTMLResponse(_PAGE.format(title="Unsubscribe", body=body))

    @app.post("/u/{token}", response_class=HTMLResponse)
    async def one_click(token: str, request: Request) -> HTMLResponse:
        checked = _check(token)
        if checked is None:
            return _invalid()
        if not await _is_one_click(request):
            body = "<p>This address takes the one-click form <code>List-Unsubscribe=One-Click</code>.</p>"
            return HTMLResponse(_PAGE.format(title="Bad request", body=body), 400)
        customer_id, topic = checked
        with engine.begin() as conn:
            record_optout(conn, customer_id, "email", topic, reason="one-click unsubscribe")
        body = f"<h1>Unsubscribed</h1><p>You will no longer receive {escape(topic)} emails from {name}.</p>"
        return HTMLResponse(_PAGE.format(title="Unsubscribed", body=body))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _is_one_click(request: Request) -> bool:
    """True when the POST body carries ``List-Unsubscribe=One-Click`` (urlencoded or multipart form)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return False
    try:
        form = await request.form(max_files=0, max_fields=8)
    except Exception:  # a malformed form body is simply not a one-click request
        return False
    return form.get(ONE_CLICK_BODY[0]) == ONE_CLICK_BODY[1]


def create_public_app(engine: Engine, shop_name: str | None = None, webhook_secrets: Any = None) -> FastAPI:
    """The public endpoints on one app: unsubscribe (``/u``), webhooks (``/webhooks``), ``/health``."""
    from storeflow.webhooks import create_webhook_receiver

    app = FastAPI(title="storeflow public endpoints", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(create_unsubscribe_app(engine, shop_name).router)
    app.include_router(create_webhook_receiver(webhook_secrets, engine=engine).router)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)
    return app


def app_from_env() -> FastAPI:
    """The app for the configured warehouse (``uvicorn --factory storeflow.endpoints:app_from_env``)."""
    from storeflow.campaigns.optouts import unsubscribe_secret
    from storeflow.warehouse.db import connect_warehouse

    unsubscribe_secret()  # refuse to start without it: every link would be rejected
    return create_public_app(connect_warehouse())


def main(argv: list[str] | None = None, prog: str = "python -m storeflow.endpoints") -> int:
    """Serve the public endpoints (``python -m storeflow.endpoints --host 0.0.0.0 --port 8727``)."""
    import uvicorn

    from storeflow.settings import get_settings

    parser = argparse.ArgumentParser(prog=prog, description="storeflow public endpoints")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=get_settings().unsubscribe_port)
    args = parser.parse_args(argv)
    uvicorn.run(app_from_env(), host=args.host, port=args.port, proxy_headers=True, server_header=False,
                log_level="info")
    return 0


if __name__ == "__main__":
    main()
