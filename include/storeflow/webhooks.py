"""Inbound webhooks: signature verification and a small receiver (an optional trigger for the syncs).

storeflow's syncs are poll-based (cursors + overlap windows); webhooks only tell it that something
changed sooner. Deliveries are authenticated before anything reads them:

* WooCommerce (contract §1.11): ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(secret, raw body)).
  On activation WooCommerce sends a *ping* (form-encoded ``webhook_id=<id>``, no signature) that must
  be answered 200 or the webhook is never activated.
* Square (contract §2.12): ``x-square-hmacsha256-signature`` = base64(HMAC-SHA256(signature key,
  notification URL + raw body)); the URL must be byte-identical to the registered one.

Signatures are checked on the raw bytes, before JSON parsing, with a constant-time comparison.
Accepted events are recorded in ``webhook_events`` (source, event id, topic, resource id, SHA-256 of
the body — never the body itself, which carries personal data); Square redeliveries are de-duplicated
on ``event_id``, WooCommerce ones on ``X-WC-Webhook-Delivery-ID``.

Secrets come from the environment (``STOREFLOW_WOO_WEBHOOK_SECRET``, ``STOREFLOW_SQUARE_WEBHOOK_KEY``,
``STOREFLOW_SQUARE_WEBHOOK_URL``) or are passed in explicitly; they are never logged. Serve it with
``uvicorn --factory storeflow.webhooks:app_from_env --port 8728`` behind TLS; point the store's webhooks
at ``/webhooks/woocommerce`` and the Square subscription at ``/webhooks/square`` (the notification URL
must be exactly ``STOREFLOW_SQUARE_WEBHOOK_URL``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

__all__ = [
    "WebhookSecrets",
    "app_from_env",
    "create_webhook_receiver",
    "sign_square",
    "sign_woocommerce",
    "verify_square",
    "verify_woocommerce",
]

log = logging.getLogger(__name__)

WOO_SIGNATURE_HEADER = "X-WC-Webhook-Signature"
SQUARE_SIGNATURE_HEADER = "x-square-hmacsha256-signature"


def _b64_hmac(key: str, message: bytes) -> bytes:
    return base64.b64encode(hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest())


def sign_woocommerce(body: bytes, secret: str) -> str:
    """The ``X-WC-Webhook-Signature`` WooCommerce sends for ``body`` (for tests and local senders)."""
    return _b64_hmac(secret, body).decode("ascii")


def sign_square(notification_url: str, body: bytes, signature_key: str) -> str:
    """The ``x-square-hmacsha256-signature`` Square sends for ``body`` posted to ``notification_url``."""
    return _b64_hmac(signature_key, notification_url.encode("utf-8") + body).decode("ascii")


def _matches(expected: bytes, given: str | None) -> bool:
    if not given:
        return False
    try:
        given_bytes = given.strip().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected, given_bytes)


def verify_woocommerce(body: bytes, signature_header: str | None, secret: str) -> bool:
    """True when ``signature_header`` is the base64 HMAC-SHA256 of the raw ``body`` under ``secret``."""
    if not secret:
        raise ValueError("empty WooCommerce webhook secret")
    return _matches(_b64_hmac(secret, body), signature_header)


def verify_square(notification_url: str, body: bytes, signature_header: str | None, signature_key: str) -> bool:
    """True when ``signature_header`` is the base64 HMAC-SHA256 of ``notification_url + body``."""
    if not signature_key:
        raise ValueError("empty Square webhook signature key")
    if not notification_url:
        raise ValueError("empty Square notification URL")
    return _matches(_b64_hmac(signature_key, notification_url.encode("utf-8") + body), signature_header)


@dataclass(frozen=True)
class WebhookSecrets:
    """What the receiver verifies with; a source without a secret is refused (401)."""

    woocommerce_secret: str | None = None
    square_signature_key: str | None = None
    square_notification_url: str | None = None

    @classmethod
    def from_env(cls) -> WebhookSecrets:
        """Read ``STOREFLOW_WOO_WEBHOOK_SECRET``, ``STOREFLOW_SQUARE_WEBHOOK_KEY``, ``STOREFLOW_SQUARE_WEBHOOK_URL``."""
        return cls(
            woocommerce_secret=os.environ.get("STOREFLOW_WOO_WEBHOOK_SECRET") or None,
            square_signature_key=os.environ.get("STOREFLOW_SQUARE_WEBHOOK_KEY") or None,
            square_notification_url=os.environ.get("STOREFLOW_SQUARE_WEBHOOK_URL") or None,
        )

    def __repr__(self) -> str:  # never print secrets
        return (f"WebhookSecrets(woocommerce={'set' if self.woocommerce_secret else 'unset'}, "
                f"square={'set' if self.square_signature_key else 'unset'})")


def _record(engine: Engine | None, row: dict[str, Any]) -> bool:
    """Insert one event; False when (source, event_id) was recorded before."""
    if engine is None:
        return True
    from storeflow.warehouse.schema import webhook_events
    from storeflow.warehouse.upsert import upsert

    return upsert(engine, webhook_events, [row], key=["source", "event_id"], update=[]) > 0


def _is_woo_ping(body: bytes, content_type: str) -> bool:
    if "application/x-www-form-urlencoded" not in content_type and not body.startswith(b"webhook_id="):
        return False
    try:
        fields = parse_qs(body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    return set(fields) == {"webhook_id"} and all(v.isdigit() for v in fields["webhook_id"])


def create_webhook_receiver(secrets: WebhookSecrets | None = None, engine: Engine | None = None) -> FastAPI:
    """A FastAPI app with ``POST /webhooks/woocommerce`` and ``POST /webhooks/square``.

    Invalid or unsigned deliveries get 401 (the WooCommerce activation ping gets 200); valid ones are
    recorded in ``webhook_events`` of ``engine`` (when given) and answered 200, duplicates included.
    """
    secrets = secrets or WebhookSecrets.from_env()
    app = FastAPI(title="storeflow webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    def _denied(source: str) -> JSONResponse:
        log.warning("rejected %s webhook delivery: missing or invalid signature", source)
        return JSONResponse({"error": "invalid signature"}, status_code=401)

    @app.post("/webhooks/woocommerce")
    async def woocommerce(request: Request) -> JSONResponse:
        body = await request.body()
        signature = request.headers.get(WOO_SIGNATURE_HEADER)
        if signature is None and _is_woo_ping(body, request.headers.get("content-type", "")):
            return JSONResponse({"status": "pong"})
        if not secrets.woocommerce_secret or not verify_woocommerce(body, signature, secrets.woocommerce_secret):
            return _denied("woocommerce")
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        digest = hashlib.sha256(body).hexdigest()
        delivery = request.headers.get("X-WC-Webhook-Delivery-ID") or f"sha256:{digest}"
        resource_id = payload.get("id") if isinstance(payload, dict) else None
        fresh = _record(engine, {
            "source": "woocommerce", "event_id": delivery[:128],
            "topic": (request.headers.get("X-WC-Webhook-Topic") or "")[:128] or None,
            "resource_id": str(resource_id)[:128] if resource_id is not None else None,
            "body_sha256": digest, "received_at": datetime.now(UTC), "processed_at": None,
        })
        return JSONResponse({"status": "recorded" if fresh else "duplicate"})

    @app.post("/webhooks/square")
    async def square(request: Request) -> JSONResponse:
        body = await request.body()
        signature = request.headers.get(SQUARE_SIGNATURE_HEADER)
        key, url = secrets.square_signature_key, secrets.square_notification_url
        if not key or not url or not verify_square(url, body, signature, key):
            return _denied("square")
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        if not isinstance(payload, dict) or not payload.get("event_id"):
            return JSONResponse({"error": "event_id missing"}, status_code=400)
        raw_data = payload.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        fresh = _record(engine, {
            "source": "square", "event_id": str(payload["event_id"])[:128],
            "topic": str(payload.get("type") or "")[:128] or None,
            "resource_id": str(data.get("id"))[:128] if data.get("id") is not None else None,
            "body_sha256": hashlib.sha256(body).hexdigest(), "received_at": datetime.now(UTC), "processed_at": None,
        })
        return JSONResponse({"status": "recorded" if fresh else "duplicate"})

    return app


def app_from_env() -> FastAPI:
    """The receiver for the configured warehouse and env secrets.

    Serve it with ``uvicorn --factory storeflow.webhooks:app_from_env``.
    """
    from storeflow.warehouse.db import connect_warehouse

    return create_webhook_receiver(WebhookSecrets.from_env(), engine=connect_warehouse())
