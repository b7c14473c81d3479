"""The one HTTP client base for every connector: retries, backoff, Retry-After, JSON checks, counters.

Retry policy (DESIGN §4): 429 honours ``Retry-After`` (seconds or HTTP date) and otherwise backs off;
5xx, timeouts, connection errors and unparseable bodies (HTML error pages, truncated JSON) are retried
with exponential backoff and full jitter; a bounded number of attempts, then :class:`ApiError` is
raised loudly. 4xx other than 408/429 are never retried. Credentials never appear in log lines.

Fail fast (issue 11): a refused connection, an unknown host name or a TLS failure (e.g. an untrusted
certificate) raises :class:`ConnectionFailed` at once, and 401/403 raise :class:`AuthFailed`: retrying
cannot fix configuration, and six attempts per task try only delay the alert. Both derive from
:class:`FatalApiError`, whose message names the connection id, the base URL (without user info or query)
and the cause, never credentials and never response headers (WooCommerce echoes keys in ``Link``).
Timeouts and dropped connections are still retried.

TLS verification is always on: ``verify`` is ``True`` (the system/certifi bundle) or a CA bundle path,
passed on every request so that it wins over ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from storeflow.settings import get_settings

log = logging.getLogger(__name__)

if TYPE_CHECKING:

    class JsonResponse(requests.Response):
        """Static type of what :meth:`JsonApiClient.request` returns: the session's own ``requests.Response``
        with the parsed JSON body attached as ``json_body`` (None when the body was empty or not JSON)."""

        json_body: Any

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class ApiError(Exception):
    """An API call failed for good (non-retryable status, or retries exhausted)."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.body = body
        self.retryable = retryable
        self.conn_id: str | None = None  # set by the client that raised it


class FatalApiError(ApiError):
    """A failure no retry can fix (configuration, credentials, reachability); fail the task at once."""


class ConnectionFailed(FatalApiError):
    """The server could not be reached: connection refused, unknown host, or TLS failure."""


class AuthFailed(FatalApiError):
    """401/403: the credentials are wrong, lack permissions, or use a method the server refuses."""


class RetryableError(ApiError):
    """A transient failure; ``retry_after`` (seconds) comes from the server when it said so."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None,
                 retry_after: float | None = None):
        super().__init__(message, status=status, body=body, retryable=True)
        self.retry_after = retry_after


@dataclass
class CallStats:
    """Counters one task reports in ``sync_runs`` (thread-safe)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, requests: int = 0, retries: int = 0, throttled: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttled += throttled

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "retries": self.retries, "throttled": self.throttled}


def safe_base_url(url: str) -> str:
    """``url`` without user info, query or fragment (fit for error messages)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _exception_chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop()
        if cur in seen or len(seen) > 20:
            continue
        seen.append(cur)
        for nxt in (getattr(cur, "reason", None), cur.__cause__, cur.__context__, *cur.args):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return seen


def fatal_connection_cause(exc: BaseException) -> str | None:
    """A short cause when a connection error cannot be fixed by retrying (refused, DNS, TLS), else None."""
    chain = _exception_chain(exc)
    for cur in chain:
        if isinstance(cur, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cur.verify_message or cur.reason}"
    for cur in chain:
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, socket.gaierror) or type(cur).__name__ == "NameResolutionError":
            return "host name could not be resolved"
    for cur in chain:
        if isinstance(cur, ssl.SSLError):
            return f"TLS error: {cur.reason or type(cur).__name__}"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class JsonApiClient:
    """A JSON-over-HTTP client with storeflow's retry policy; connectors subclass it.

    Subclasses set authentication on ``self.session`` (or override :meth:`prepare`) and turn vendor error
    bodies into messages with :meth:`error_message`. ``conn_id`` names the connection in fatal errors;
    ``verify`` is ``True`` or a CA bundle path (TLS verification cannot be switched off).
    """

    default_conn_id: str | None = None

    def __init__(
        self,
        base_url: str,
        *,
        max_attempts: int | None = None,
        backoff_base: float = 0.25,
        backoff_max: float | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        conn_id: str | None = None,
        verify: bool | str = True,
    ) -> None:
        settings = get_settings()
        if verify is not True and not (isinstance(verify, str) and verify):
            raise ValueError("TLS verification cannot be switched off: pass True or a CA bundle path")
        if isinstance(verify, str) and not os.path.exists(verify):
            raise ValueError(f"CA bundle {verify!r} does not exist")
        self.base_url = base_url.rstrip("/")
        self.conn_id = conn_id or self.default_conn_id or type(self).__name__
        self.verify = verify
        self.max_attempts = max_attempts or settings.http_max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max if backoff_max is not None else settings.http_backoff_max_seconds
        self.timeout = timeout or settings.http_timeout_seconds
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "storeflow/0.1")
        self.stats = CallStats()
        self._sleep = sleep

    # -- hooks for subclasses --------------------------------------------------------------------
    def prepare(self, method: str, url: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Adjust a request before it is sent (auth signatures, headers)."""
        return url, kwargs

    def error_message(self, response: requests.Response, body: Any) -> str:
        """A short, secret-free description of an error response."""
        return f"HTTP {response.status_code}"

    def auth_failure_hint(self, response: requests.Response, body: Any) -> str:
        """Extra advice appended to :class:`AuthFailed` messages (e.g. the auth method in use)."""
        return ""

    def describe(self) -> str:
        """``conn_id (base URL)`` for error messages: no credentials, no query string."""
        return f"{self.conn_id} ({safe_base_url(self.base_url)})"

    # -- core ------------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        server_hint = getattr(exc, "retry_after", None)
        if server_hint is not None:
            return min(server_hint, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (state.attempt_number - 1)))
        return random.uniform(0, ceiling)  # full jitter

    def _before_sleep(self, state: RetryCallState) -> None:
        self.stats.add(retries=1)
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "retrying %s after attempt %d: %s", state.args[1] if len(state.args) > 1 else "?",
            state.attempt_number, exc,
        )

    def request(self, method: str, path: str, *, expect_json: bool = True, **kwargs: Any) -> JsonResponse:
        """Send a request with retries; return the response (``.json_body`` holds the parsed JSON)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, RetryableError)),
            before_sleep=self._before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._send_once, method, path, expect_json, kwargs)
        except RetryableError as exc:
            error = ApiError(
                f"{self.describe()}: {method} {path} failed after {self.max_attempts} attempts: {exc}",
                status=exc.status, body=exc.body, retryable=True,
            )
            error.conn_id = self.conn_id
            raise error from exc
        except ApiError as exc:
            # which connection failed: one outage of one connection is one incident, whatever tasks hit it
            exc.conn_id = getattr(exc, "conn_id", None) or self.conn_id
            raise

    def _send_once(self, method: str, path: str, expect_json: bool, kwargs: dict[str, Any]) -> JsonResponse:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        call_kwargs = dict(kwargs)
        call_kwargs.setdefault("timeout", self.timeout)
        call_kwargs.setdefault("verify", self.verify)
        url, call_kwargs = self.prepare(method, url, call_kwargs)
        self.stats.add(requests=1)
        try:
            response = self.session.request(method, url, **call_kwargs)
        except (requests.Timeout, requests.ConnectionError) as exc:
            cause = None if isinstance(exc, requests.Timeout) else fatal_connection_cause(exc)
            if cause is not None:  # retrying cannot fix it: fail fast with who, where and why
                raise ConnectionFailed(
                    f"{self.describe()}: cannot connect: {cause} ({type(exc).__name__}) on {method} {path}"
                ) from None
            raise RetryableError(f"{type(exc).__name__} on {method} {path}") from None
        body: Any = None
        text = response.text
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                body = None
        if response.status_code in RETRYABLE_STATUS:
            if response.status_code == 429:
                self.stats.add(throttled=1)
            raise RetryableError(
                f"{self.error_message(response, body)} on {method} {path}",
                status=response.status_code,
                body=body,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code in (401, 403):
            hint = self.auth_failure_hint(response, body)
            raise AuthFailed(
                f"{self.describe()}: authentication failed: {self.error_message(response, body)} on {method} "
                f"{path}{'; ' + hint if hint else ''}", status=response.status_code, body=body,
            )
        if response.status_code >= 400:
            raise ApiError(
                f"{self.error_message(response, body)} on {method} {path}", status=response.status_code, body=body
            )
        if expect_json and body is None:
            # a 2xx whose body is not JSON: truncated by a PHP timeout or a proxy, retry
            raise RetryableError(f"invalid JSON body ({len(text)} bytes) on {method} {path}",
                                 status=response.status_code)
        json_response = cast("JsonResponse", response)
        json_response.json_body = body
        return json_response
