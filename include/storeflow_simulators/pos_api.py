"""Request plumbing shared by the POS simulator's routers: JSON bodies, idempotency, spec checks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from storeflow_simulators import pos_catalog, pos_spec
from storeflow_simulators.pos_common import bad_request, body_hash
from storeflow_simulators.pos_state import PosState


def idempotent(
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


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object body (``{}`` when empty); Square's 400 ``BAD_REQUEST`` otherwise."""
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


async def check_against_spec(request: Request) -> None:
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



async def call(fn: Callable[..., Any], *args: Any) -> JSONResponse:
    """Run a domain function in the thread pool; a ``(status, body)`` result sets the status code."""
    return _ok(await run_in_threadpool(fn, *args))


async def write_once(state: PosState, request: Request, scope: str, fn: Callable[..., Any], *args: Any,
                     required: bool = True, max_len: int = 128, catalog: bool = False) -> JSONResponse:
    """``fn(state, *args, body)`` with the request's JSON body, once per idempotency key (see :func:`idempotent`;
    ``required=False``: the key is optional). ``catalog``: one catalog write at a time, as Square does."""
    body = await read_body(request)

    def run() -> tuple[int, dict[str, Any]]:
        return idempotent(state, scope, body, lambda: fn(state, *args, body), required=required, max_len=max_len)

    def run_catalog() -> tuple[int, dict[str, Any]]:
        with pos_catalog.catalog_write(state):
            return run()

    return await call(run_catalog if catalog else run)
