"""Deterministic fault injection for the simulators (ASGI middleware).

:class:`FaultInjector` wraps a simulator app and, with probability ``rate`` per request, injects one
of the faults real vendors and their hosting layers produce:

* ``rate_limit`` - 429 with ``Retry-After`` (Square: ``RATE_LIMIT_ERROR`` JSON; Woo: empty body from the
  hosting layer; Twilio: error 20429 JSON);
* ``server_error`` - 5xx (Woo: an HTML page from nginx/CDN; Square/Twilio: JSON error bodies);
* ``slow`` - sleep 0.05-0.3 s, then the request proceeds normally;
* ``truncated`` - only for read requests (GET/HEAD, or POST searches that do not change state): the app
  runs, then its 200 JSON body is cut in half (status stays 200) - the client must detect invalid JSON;
* ``lost_response`` - only with ``lost_response_writes=True``, for writes: the handler runs (state
  changes), then the client gets a 502 as if the gateway dropped the response.

Faults on write requests are injected *before* the handler runs unless ``lost_response_writes`` is set,
so a retried write is always safe. Decisions come from one seeded RNG consumed in request order under a
lock: with the same seed and the same request sequence, the same faults happen. Paths under ``/_sim/``
are never faulted; ``GET /_sim/faults`` returns the counters and ``PUT /_sim/faults`` (JSON
``{"rate": 0.2, "reset": true}``) changes the rate at run time.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Literal

Flavor = Literal["square", "woo", "twilio"]
FAULT_KINDS = ("rate_limit", "server_error", "slow", "truncated")

# POSTs that only read (Square search / batch-retrieve endpoints); matched against the path.
DEFAULT_READ_ONLY_POSTS = (
    r"/search[^/]*$",  # /v2/orders/search, /v2/catalog/search-catalog-items, ...
    r"/batch-retrieve[^/]*$",  # /v2/inventory/counts/batch-retrieve, /v2/catalog/batch-retrieve, ...
    r"/bulk-retrieve$",  # /v2/customers/bulk-retrieve
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_HTML_PAGES = {
    502: "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
    503: "<!DOCTYPE html><html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    "<h1>Service Temporarily Unavailable</h1><p>The server is temporarily unable to service your request "
    "due to maintenance downtime or capacity problems. Please try again later.</p></body></html>",
    504: "<!DOCTYPE html><html><head><title>504 Gateway Time-out</title></head><body><h1>Gateway Time-out"
    "</h1><p>The gateway did not receive a timely response from the upstream server.</p>"
    "<hr><p>cloudflare</p></body></html>",
}
_SQUARE_5XX = {
    500: (
        "API_ERROR",
        "INTERNAL_SERVER_ERROR",
        "An internal error has occurred, and the API was unable to service your request.",
    ),
    502: ("API_ERROR", "BAD_GATEWAY", "Bad gateway."),
    503: ("API_ERROR", "SERVICE_UNAVAILABLE", "Service unavailable. Please try again later."),
    504: ("API_ERROR", "GATEWAY_TIMEOUT", "Gateway timeout."),
}
_STATUSES: dict[str, tuple[int, ...]] = {
    "square": (500, 502, 503, 504),
    "woo": (502, 503, 504),
    "twilio": (500, 502, 503),
}



async def read_asgi_body(receive: Any) -> bytes:
    """The whole request body of an ASGI ``http`` scope (every ``http.request`` message joined)."""
    raw = b""
    while True:
        message = await receive()
        raw += message.get("body", b"")
        if not message.get("more_body"):
            return raw

class FaultInjector:
    """ASGI middleware injecting reproducible faults into ``app`` (see module docstring)."""

    def __init__(
        self,
        app: Any,
        rate: float,
        seed: int,
        flavor: Flavor,
        *,
        retry_after: int = 1,
        kinds: Iterable[str] = FAULT_KINDS,
        lost_response_writes: bool = False,
        slow_range: tuple[float, float] = (0.05, 0.3),
        read_only_posts: Iterable[str] = DEFAULT_READ_ONLY_POSTS,
        is_read_only: Callable[[str, str], bool] | None = None,
    ) -> None:
        if flavor not in _STATUSES:
            raise ValueError(f"unknown flavor {flavor!r}")
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self.app = app
        self.rate = float(rate)
        self.seed = seed
        self.flavor = flavor
        self.retry_after = retry_after
        self.kinds = tuple(k for k in FAULT_KINDS if k in set(kinds))
        self.lost_response_writes = lost_response_writes
        self.slow_range = slow_range
        self._read_only_posts = [re.compile(p) for p in read_only_posts]
        self._is_read_only = is_read_only
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self.log: list[tuple[str, str, str]] = []  # (method, path, kind) of every injected fault

    # --- decisions ----------------------------------------------------------------------------
    def is_read(self, method: str, path: str) -> bool:
        """Whether a request cannot change state (may be truncated)."""
        if self._is_read_only is not None:
            return self._is_read_only(method, path)
        if method in SAFE_METHODS:
            return True
        return method == "POST" and any(p.search(path) for p in self._read_only_posts)

    def decide(self, method: str, path: str) -> tuple[str | None, int, float]:
        """Draw the fault for the next request: (kind or None, status, delay). Consumes the RNG."""
        read = self.is_read(method, path)
        with self._lock:
            self.requests += 1
            if self.rate <= 0 or self._rng.random() >= self.rate:
                return None, 0, 0.0
            if not read and self.lost_response_writes:
                kind = "lost_response"
            else:
                eligible = [k for k in self.kinds if read or k != "truncated"]
                if not eligible:
                    return None, 0, 0.0
                kind = self._rng.choice(eligible)
            status = self._rng.choice(_STATUSES[self.flavor])
            delay = self._rng.uniform(*self.slow_range)
            return kind, status, delay

    def _record(self, method: str, path: str, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            self.log.append((method, path, kind))

    def stats(self) -> dict[str, Any]:
        """Counters for ``GET /_sim/faults``."""
        with self._lock:
            return {
                "flavor": self.flavor,
                "rate": self.rate,
                "seed": self.seed,
                "requests": self.requests,
                "counts": dict(self.counts),
                "total": sum(self.counts.values()),
            }

    def reset(self, rate: float | None = None, seed: int | None = None) -> None:
        """Reset counters (and optionally the rate / RNG seed)."""
        with self._lock:
            if rate is not None:
                self.rate = float(rate)
            if seed is not None:
                self.seed = seed
                self._rng = random.Random(seed)
            self.counts.clear()
            self.log.clear()
            self.requests = 0

    # --- responses ----------------------------------------------------------------------------
    def _rate_limit_response(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        headers = [(b"retry-after", str(self.retry_after).encode())]
        if self.flavor == "square":
            body = {
                "errors": [
                    {
                        "category": "RATE_LIMIT_ERROR",
                        "code": "RATE_LIMITED",
                        "detail": "Rate limit exceeded. Please retry later.",
                    }
                ]
            }
            return 429, headers + [(b"content-type", b"application/json")], json.dumps(body).encode()
        if self.flavor == "twilio":
            body = {
                "code": 20429,
                "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429",
                "status": 429,
            }
            return 429, headers + [(b"content-type", b"application/json")], json.dumps(body).encode()
        return 429, headers, b""  # woo: the hosting layer answers with an empty body

    def _server_error_response(self, status: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if self.flavor == "woo":
            html = _HTML_PAGES.get(status, _HTML_PAGES[502])
            return status, [(b"content-type", b"text/html; charset=utf-8")], html.encode()
        if self.flavor == "square":
            category, code, detail = _SQUARE_5XX.get(status, _SQUARE_5XX[500])
            body: dict[str, Any] = {"errors": [{"category": category, "code": code, "detail": detail}]}
        else:
            code_num = 20503 if status == 503 else 20500
            body = {
                "code": code_num,
                "message": "Service Unavailable" if status == 503 else "Internal Server Error",
                "more_info": f"https://www.twilio.com/docs/errors/{code_num}",
                "status": status,
            }
        return status, [(b"content-type", b"application/json")], json.dumps(body).encode()

    @staticmethod
    async def _send_plain(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        headers = headers + [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _control(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["method"] == "PUT":
            raw = await read_asgi_body(receive)
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                await self._send_plain(
                    send, 400, [(b"content-type", b"application/json")], b'{"error":"bad json"}'
                )
                return
            self.reset(rate=data.get("rate"), seed=data.get("seed"))
        body = json.dumps(self.stats()).encode()
        await self._send_plain(send, 200, [(b"content-type", b"application/json")], body)

    # --- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET").upper()
        if path.startswith("/_sim/"):
            if path.rstrip("/") == "/_sim/faults" and method in {"GET", "PUT"}:
                await self._control(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        kind, status, delay = self.decide(method, path)
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "rate_limit":
            self._record(method, path, kind)
            await self._send_plain(send, *self._rate_limit_response())
        elif kind == "server_error":
            self._record(method, path, kind)
            await self._send_plain(send, *self._server_error_response(status))
        elif kind == "slow":
            self._record(method, path, kind)
            await asyncio.sleep(delay)
            await self.app(scope, receive, send)
        elif kind == "truncated":
            await self._truncated(scope, receive, send, method, path)
        else:  # lost_response: the handler runs, the response never reaches the client
            await self.app(scope, receive, _discard)
            self._record(method, path, kind)
            await self._send_plain(send, *self._server_error_response(502))

    async def _truncated(self, scope: dict, receive: Any, send: Any, method: str, path: str) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        status = start.get("status", 500)
        is_json = any(k.lower() == b"content-type" and b"json" in v.lower() for k, v in headers)
        if status == 200 and is_json and len(body) > 1:
            body = body[: len(body) // 2]
            self._record(method, path, "truncated")
        await self._send_plain(send, status, headers, body)


async def _discard(message: dict) -> None:
    return None


def fault_stats(app: Any) -> dict[str, Any] | None:
    """The injector's counters if ``app`` is a :class:`FaultInjector`, else None."""
    return app.stats() if isinstance(app, FaultInjector) else None
