"""WooCommerce webhooks for the store simulator (contract §1.11).

``/wp-json/wc/v3/webhooks`` CRUD + batch. Topics ``<coupon|customer|order|product>.<created|updated|
deleted|restored>``. Activating a webhook sends a *ping* (form-encoded ``webhook_id=<id>``, no signature);
a receiver that does not answer 2xx/301/302 leaves the webhook ``disabled`` (the simulator's reading of
"not activated"). Deliveries run asynchronously on a worker thread (WooCommerce uses Action Scheduler):
``POST delivery_url`` with the resource as ``GET`` returns it at delivery time (``{"id": N}`` for ``*.deleted``), the
``X-WC-Webhook-*`` headers, signed ``base64(HMAC-SHA256(secret, raw body))``. No retries; a webhook whose
consecutive failures exceed 5 becomes ``disabled``. Stock changes made by orders fire no
``product.updated`` (the same missing change signal as ``date_modified``, §4.4).

Test routes: ``POST /_sim/webhooks/flush`` (wait until queued deliveries are done) and
``GET /_sim/webhooks/deliveries`` (what was sent, with status codes).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_api import (
    API,
    forced_delete,
    found,
    run_batch,
)
from storeflow_simulators.store_common import WooError, fmt_gmt, fmt_local
from storeflow_simulators.store_http import Params, authenticate, page_response
from storeflow_simulators.store_render import customer_json, order_json, product_json
from storeflow_simulators.store_state import StoreState

RESOURCES = ("coupon", "customer", "order", "product")
EVENTS = ("created", "updated", "deleted", "restored")
USER_AGENT = "WooCommerce/9.8.5 Hookshot (WordPress/6.8.1)"
MAX_FAILURES = 5
HOOKS = {
    "created": "woocommerce_new_{r}", "updated": "woocommerce_update_{r}", "deleted": "wp_trash_post",
    "restored": "untrashed_post",
}


def sign(body: bytes, secret: str) -> str:
    """``X-WC-Webhook-Signature`` for ``body``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _ok(status: int | None) -> bool:
    return status is not None and (200 <= status < 300 or status in (301, 302))


class WebhookDispatcher:
    """Observer of :class:`StoreState` events that delivers matching webhooks on a worker thread."""

    def __init__(self, state: StoreState) -> None:
        self.state = state
        self.site_url = ""
        self.queue: queue.Queue = queue.Queue()
        self.deliveries: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def render(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        if resource == "product":
            return product_json(self.state, record, self.site_url)
        if resource == "order":
            return order_json(self.state, record)
        return customer_json(self.state, record)

    def __call__(self, resource: str, event: str, record: dict[str, Any]) -> None:
        topic = f"{resource}.{event}"
        hooks = [w["id"] for w in self.state.webhooks.values() if w["status"] == "active" and w["topic"] == topic]
        if not hooks:
            return
        for webhook_id in hooks:
            self.queue.put((webhook_id, resource, event, record["id"]))
        self._ensure_worker()

    def payload(self, resource: str, event: str, record_id: int) -> bytes:
        """Built at delivery time, like ``WC_Webhook::build_payload`` (the resource as it is *now*)."""
        table = {"product": self.state.products, "order": self.state.orders, "customer": self.state.customers}
        with self.state.lock:
            record = table.get(resource, {}).get(record_id)
            body = {"id": record_id} if event == "deleted" or record is None else self.render(resource, record)
        return json.dumps(body, ensure_ascii=False).encode()

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="store-webhooks", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            try:
                self.deliver(*item)
            finally:
                self.queue.task_done()

    def deliver(self, webhook_id: int, resource: str, event: str, record_id: int) -> None:
        hook = self.state.webhooks.get(webhook_id)
        if hook is None or hook["status"] != "active":
            return
        body = self.payload(resource, event, record_id)
        delivery_id = next(self._ids)
        headers = {
            "Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-WC-Webhook-Source": f"{self.site_url}/", "X-WC-Webhook-Topic": hook["topic"],
            "X-WC-Webhook-Resource": resource, "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign(body, hook["secret"]), "X-WC-Webhook-ID": str(webhook_id),
            "X-WC-Webhook-Delivery-ID": str(delivery_id),
        }
        status = self._post(hook["delivery_url"], body, headers)
        with self.state.lock:
            if _ok(status):
                hook["failure_count"] = 0
            else:
                hook["failure_count"] = hook.get("failure_count", 0) + 1
                if hook["failure_count"] > MAX_FAILURES:
                    hook["status"] = "disabled"
            self.deliveries.append({"delivery_id": delivery_id, "webhook_id": webhook_id, "topic": hook["topic"],
                                    "status": status, "body": json.loads(body)})

    @staticmethod
    def _post(url: str, body: bytes, headers: dict[str, str]) -> int | None:
        try:
            return requests.post(url, data=body, headers=headers, timeout=10, allow_redirects=False).status_code
        except requests.RequestException:
            return None

    def ping(self, hook: dict[str, Any]) -> bool:
        """The activation ping: form-encoded ``webhook_id``, no signature."""
        status = self._post(hook["delivery_url"], f"webhook_id={hook['id']}".encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT})
        return _ok(status)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery ran; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def _webhook_json(state: StoreState, hook: dict[str, Any]) -> dict[str, Any]:
    resource, _, event = hook["topic"].partition(".")
    return {
        "id": hook["id"], "name": hook["name"], "status": hook["status"], "topic": hook["topic"],
        "resource": resource, "event": event,
        "hooks": [HOOKS.get(event, "").format(r=resource)] if resource in RESOURCES else [event],
        "delivery_url": hook["delivery_url"],
        "date_created": fmt_local(hook["date_created"], state.tz), "date_created_gmt": fmt_gmt(hook["date_created"]),
        "date_modified": fmt_local(hook["date_modified"], state.tz),
        "date_modified_gmt": fmt_gmt(hook["date_modified"]),
    }


def webhooks_router(state: StoreState, dispatcher: WebhookDispatcher) -> APIRouter:
    """The ``/webhooks`` routes (and ``/_sim/webhooks/*``); ``dispatcher`` must observe ``state``."""
    router = APIRouter()

    def check_topic(topic: Any) -> str:
        resource, _, event = str(topic or "").partition(".")
        if not ((resource in RESOURCES and event in EVENTS) or (resource == "action" and event)):
            raise WooError(400, "woocommerce_rest_webhook_invalid_topic",
                           "Webhook topic is required and must be valid.")
        return f"{resource}.{event}"

    def activate(hook: dict[str, Any]) -> None:
        hook["failure_count"] = 0
        if not dispatcher.ping(hook):
            hook["status"] = "disabled"

    def create(payload: dict[str, Any]) -> dict[str, Any]:
        topic = check_topic(payload.get("topic"))
        if not payload.get("delivery_url"):
            raise WooError(400, "woocommerce_rest_webhook_invalid_delivery_url",
                           "Webhook delivery URL must be a valid URL starting with http:// or https://.")
        now = state.now()
        hook = {"id": state.new_id("webhook"), "topic": topic, "delivery_url": payload["delivery_url"],
                "name": payload.get("name") or f"Webhook created on {now:%B %d, %Y @ %I:%M %p}",
                "status": payload.get("status", "active"), "secret": payload.get("secret") or secrets.token_urlsafe(36),
                "failure_count": 0, "date_created": now, "date_modified": now}
        if hook["status"] not in ("active", "paused", "disabled"):
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): status", params={
                "status": "status is not one of active, paused, and disabled."})
        if hook["status"] == "active":
            activate(hook)
        state.webhooks[hook["id"]] = hook
        return hook

    def update(hook: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        was_active = hook["status"] == "active"
        if "topic" in payload:
            hook["topic"] = check_topic(payload["topic"])
        for key in ("name", "delivery_url", "secret", "status"):
            if payload.get(key):
                hook[key] = payload[key]
        hook["date_modified"] = state.now()
        if hook["status"] == "active" and not was_active:
            activate(hook)
        return hook

    def get(hook_id: int, status: int = 404) -> dict[str, Any]:
        return found(state.webhooks, hook_id, status, "woocommerce_rest_webhook_invalid_id")

    def remove(hook: dict[str, Any]) -> dict[str, Any]:
        body = _webhook_json(state, hook)
        state.webhooks.pop(hook["id"], None)
        return body

    def site(request: Request) -> None:
        dispatcher.site_url = f"{request.url.scheme}://{request.url.netloc}"

    @router.get(f"{API}/webhooks")
    async def list_webhooks(request: Request) -> JSONResponse:
        authenticate(state, request, "list")
        p = Params(request)
        wanted = p.enum("status", ("all", "active", "paused", "disabled"), "all")
        p.check()
        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "date": lambda h: h["date_created"], "id": lambda h: h["id"], "title": lambda h: h["name"]}
        with state.lock:
            return page_response(state, request, p, [h for h in state.webhooks.values()
                                                     if wanted in ("all", h["status"])],
                                 lambda h: _webhook_json(state, h), keys, default_orderby="date",
                                 default_order="desc", tiebreak_keys=())

    @router.post(f"{API}/webhooks")
    async def create_webhook(request: Request) -> JSONResponse:
        authenticate(state, request, "create")
        site(request)
        hook = await asyncio.to_thread(create, json.loads(await request.body() or b"{}"))
        return JSONResponse(_webhook_json(state, hook), status_code=201,
                            headers={"Location": f"{dispatcher.site_url}{API}/webhooks/{hook['id']}"})

    @router.api_route(f"{API}/webhooks/batch", methods=["POST", "PUT", "PATCH"])
    async def batch_webhooks(request: Request) -> JSONResponse:
        authenticate(state, request, "batch")
        site(request)
        payload = json.loads(await request.body() or b"{}")
        return await asyncio.to_thread(
            run_batch, state, payload, lambda h: _webhook_json(state, h), create=create,
            update=lambda item: update(get(int(item.get("id") or 0), 400), item),
            delete=lambda hook_id: remove(get(hook_id)))

    @router.get(f"{API}/webhooks/{{hook_id:int}}")
    async def read_webhook(hook_id: int, request: Request) -> JSONResponse:
        authenticate(state, request, "view")
        return JSONResponse(_webhook_json(state, get(hook_id)))

    @router.api_route(f"{API}/webhooks/{{hook_id:int}}", methods=["POST", "PUT", "PATCH"])
    async def write_webhook(hook_id: int, request: Request) -> JSONResponse:
        authenticate(state, request, "edit")
        site(request)
        payload = json.loads(await request.body() or b"{}")
        hook = await asyncio.to_thread(update, get(hook_id, 400), payload)
        return JSONResponse(_webhook_json(state, hook))

    @router.delete(f"{API}/webhooks/{{hook_id:int}}")
    async def delete_webhook(hook_id: int, request: Request) -> JSONResponse:
        return forced_delete(state, request, lambda: get(hook_id), remove, "Webhooks do not support trashing.")

    @router.post("/_sim/webhooks/flush")
    async def flush() -> dict[str, Any]:
        done = await asyncio.to_thread(dispatcher.flush)
        return {"flushed": done, "deliveries": len(dispatcher.deliveries)}

    @router.get("/_sim/webhooks/deliveries")
    async def deliveries() -> list[dict[str, Any]]:
        return list(dispatcher.deliveries)

    return router
