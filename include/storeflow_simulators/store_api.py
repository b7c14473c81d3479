"""REST plumbing shared by the store simulator's resource routers: JSON bodies, links, batches, ``Allow``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_common import WooError
from storeflow_simulators.store_http import Params, authenticate, is_ssl
from storeflow_simulators.store_state import StoreState

API = "/wp-json/wc/v3"


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` when empty); WordPress's 400 ``rest_invalid_json`` otherwise."""
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


def created(body: dict[str, Any], location: str) -> JSONResponse:
    """201 with ``Location``."""
    return JSONResponse(body, status_code=201, headers={"Location": location})


def base_url(state: StoreState, request: Request) -> str:
    """``scheme://host[:port]`` of the site as WordPress sees it (``https`` behind a TLS proxy)."""
    return f"{'https' if is_ssl(state, request) else 'http'}://{request.url.netloc}"


def found(records: dict[int, dict[str, Any]], rid: int, status: int, code: str,
          message: str = "Invalid ID.") -> dict[str, Any]:
    """``records[rid]``, or WordPress's ``code`` error (404 on reads; 400 where an update names the id)."""
    rec = records.get(rid)
    if rec is None:
        raise WooError(status, code, message)
    return rec


def delete_request(state: StoreState, request: Request) -> bool:
    """Authenticate a DELETE and return its ``force`` query parameter (validated; others ignored)."""
    authenticate(state, request, "delete")
    p = Params(request)
    force = p.boolean("force", False)
    p.check()
    return force


def forced_delete(state: StoreState, request: Request, find: Callable[[], dict[str, Any]],
                  delete: Callable[[dict[str, Any]], dict[str, Any]], refusal: str) -> JSONResponse:
    """DELETE of a resource WooCommerce cannot trash: 501 ``woocommerce_rest_trash_not_supported``
    (``refusal``) without ``force=true``, else ``delete(find())``'s body."""
    force = delete_request(state, request)
    rec = find()
    if not force:
        raise WooError(501, "woocommerce_rest_trash_not_supported", refusal)
    return JSONResponse(delete(rec))


async def create_from(state: StoreState, request: Request, *, exists: WooError,
                      write: Callable[[dict[str, Any]], dict[str, Any]],
                      render: Callable[[dict[str, Any]], dict[str, Any]], collection: str) -> JSONResponse:
    """``POST /<collection>``: 400 ``exists`` when the body names an id, else 201 with ``Location``."""
    authenticate(state, request, "create")
    payload = await read_body(request)
    if payload.get("id"):
        raise exists
    rec = write(payload)
    return created(render(rec), f"{base_url(state, request)}{API}/{collection}/{rec['id']}")


async def batch_from(state: StoreState, request: Request, render, *, create, update, delete) -> JSONResponse:
    """``/<collection>/batch`` with the request's JSON body (see :func:`run_batch`)."""
    authenticate(state, request, "batch")
    payload = await read_body(request)
    return run_batch(state, payload, render, create=create, update=update, delete=delete)


def links(base: str, collection: str, rid: int, *, up: str | None = None,
          customer: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The ``_links`` WordPress adds to every object (``self``, ``collection``, ``up``/``customer``)."""
    out = {"self": [{"href": f"{base}{API}/{collection}/{rid}"}], "collection": [{"href": f"{base}{API}/{collection}"}]}
    if up:
        out["up"] = [{"href": f"{base}{API}/{up}"}]
    if customer:
        out["customer"] = [{"href": f"{base}{API}/{customer}"}]
    return out


_ITEM = "GET, POST, PUT, PATCH, DELETE"


def allow_header(path: str, state: StoreState) -> str | None:
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


def run_batch(state: StoreState, payload: dict[str, Any], render, *, create, update, delete) -> JSONResponse:
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
