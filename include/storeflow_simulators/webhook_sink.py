"""A local stand-in for a Slack incoming webhook: stores every JSON payload posted to it.

``POST /hooks/<anything>`` records the body; ``GET /api/payloads`` lists them; ``DELETE /api/payloads``
clears. Used by the demo and the alerting tests as the ``storeflow_alerts`` target.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse


class WebhookState:
    """Received payloads (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.payloads: list[dict[str, Any]] = []

    def add(self, path: str, body: Any) -> None:
        with self._lock:
            self.payloads.append({"path": path, "body": body})

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.payloads)

    def clear(self) -> None:
        with self._lock:
            self.payloads.clear()


def create_webhook_app(state: WebhookState | None = None) -> FastAPI:
    """The receiver app; ``app.state.webhooks`` holds its :class:`WebhookState`."""
    state = state or WebhookState()
    app = FastAPI(title="storeflow webhook sink")
    app.state.webhooks = state

    @app.post("/hooks/{path:path}")
    async def receive(path: str, request: Request) -> PlainTextResponse:
        try:
            body: Any = await request.json()
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)  # Slack's answer to bad JSON
        state.add(path, body)
        return PlainTextResponse("ok")

    @app.get("/api/payloads")
    def payloads() -> list[dict[str, Any]]:
        return state.list()

    @app.delete("/api/payloads")
    def clear() -> dict[str, str]:
        state.clear()
        return {"status": "cleared"}

    return app
