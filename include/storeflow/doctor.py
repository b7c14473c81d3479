"""``storeflow doctor``: what storeflow needs from the configured store and POS, checked without changing data.

One line per check, each with a verdict: ``OK``, ``WARN`` (works, but look at it) or ``FAIL`` (storeflow will
not work). The exit code is 0 when no check failed and 1 otherwise, so CI and deploy scripts can gate on it.

Store (WooCommerce REST v3): reachability (``/wp-json/``), credentials, HTTPS, which authentication works
(HTTP Basic is only honoured over HTTPS, OAuth 1.0a signatures over plain HTTP), whether storeflow's own
:class:`~storeflow.connectors.woocommerce.WooClient` is accepted, the WooCommerce version
(``/system_status`` → ``environment.version``), whether ``GET /variations`` exists (WooCommerce 10.3+), the
site's time zone (the WordPress index's ``timezone_string``/``gmt_offset``, else inferred from
``date_modified`` − ``date_modified_gmt``; ``system_status``' ``default_timezone`` is PHP's, always UTC in
WordPress) and whether the store itself sees the request as HTTPS. With ``write_test`` it creates a
throw-away customer, writes and reads back the consent meta ``storeflow_email_optout`` and deletes the
customer (``force=true``).

POS (Square API v2): reachability, the token, the ``Square-Version`` the connector pins, the locations
and the token's permissions (``POST /oauth2/token/status``; when a server does not offer it, read probes
whose ``403 INSUFFICIENT_SCOPES`` name the missing scope).

Nothing secret is printed: keys, secrets and tokens are never part of a detail, exceptions are reduced to
their cause (refused, timeout, DNS, TLS), and every detail is scrubbed of the configured secrets.

    storeflow doctor [--json] [--write-test] [--only store|pos]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from storeflow.connectors.http import ApiError, fatal_connection_cause, safe_base_url

if TYPE_CHECKING:
    from storeflow.connectors.square import SquareClient
    from storeflow.connectors.woocommerce import AuthMethod, WooClient

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
WC_API = "/wp-json/wc/v3"
# modified_after/modified_before (storeflow's incremental windows) arrived in WooCommerce 5.8 (woocommerce#30585)
MIN_WC_VERSION = (5, 8)
VARIATIONS_ENDPOINT_SINCE = (10, 3)
CONSENT_TEST_KEY = "storeflow_email_optout"
# Square OAuth scopes storeflow's reads and writes need (locations, catalog, inventory, orders, payments,
# customers, invoices)
REQUIRED_POS_SCOPES = (
    "MERCHANT_PROFILE_READ", "ITEMS_READ", "INVENTORY_READ", "INVENTORY_WRITE", "ORDERS_READ", "ORDERS_WRITE",
    "PAYMENTS_WRITE", "CUSTOMERS_READ", "CUSTOMERS_WRITE", "INVOICES_READ",
)
CONNECT_TIMEOUT = 3.0


# --- results --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    """One verdict line: ``system`` (store/pos), ``name``, ``verdict`` (OK/WARN/FAIL/SKIP), a detail."""

    system: str
    name: str
    verdict: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """Every check of one doctor run; ``exit_code`` is 1 when any check failed."""

    checks: list[Check] = field(default_factory=list)
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def counts(self) -> dict[str, int]:
        out = {OK: 0, WARN: 0, FAIL: 0, SKIP: 0}
        for c in self.checks:
            out[c.verdict] += 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": self.exit_code, "counts": self.counts(), "targets": self.targets,
                "checks": [asdict(c) for c in self.checks]}

    def summary(self) -> str:
        """One line: ``OK`` or the failing checks (for Airflow's test_connection and task logs)."""
        counts = self.counts()
        head = f"{counts[FAIL]} FAIL, {counts[WARN]} WARN, {counts[OK]} OK"
        bad = [f"{c.verdict} {c.system}.{c.name}: {c.detail}" for v in (FAIL, WARN) for c in self.checks
               if c.verdict == v]
        return head + (" | " + " | ".join(bad) if bad else "")

    def render(self) -> str:
        """Human-readable table, one line per check."""
        lines = []
        for system, target in self.targets.items():
            lines.append(f"{system:<5} {target.get('url')}  (credentials: {target.get('credentials')})")
        width = max((len(c.name) for c in self.checks), default=8)
        for c in self.checks:
            lines.append(f"{c.verdict:<4}  {c.system:<5}  {c.name:<{width}}  {c.detail}")
        counts = self.counts()
        lines.append(f"result: {counts[FAIL]} FAIL, {counts[WARN]} WARN, {counts[OK]} OK, {counts[SKIP]} skipped"
                     f" -> exit {self.exit_code}")
        return "\n".join(lines)


# --- targets --------------------------------------------------------------------------------------
@dataclass
class StoreTarget:
    """A WooCommerce store to check: base URL, consumer key/secret, TLS verification (bool or CA bundle)."""

    base_url: str
    key: str = field(repr=False)
    secret: str = field(repr=False)
    verify: bool | str = True  # True or a CA bundle path (verification cannot be switched off)
    credentials: str = "given"  # where the key came from (shown; never the key itself)
    auth: str = "auto"  # storeflow's WooClient auth setting (auto: Basic over HTTPS, OAuth 1.0a over HTTP)
    conn_id: str = "storeflow_store"

    def secrets(self) -> list[str]:
        return [s for s in (self.key, self.secret) if s]


@dataclass
class PosTarget:
    """A Square-contract POS to check: base URL and bearer token."""

    base_url: str
    token: str = field(repr=False)
    credentials: str = "given"
    verify: bool | str = True
    conn_id: str = "storeflow_pos"

    def secrets(self) -> list[str]:
        return [self.token] if self.token else []


public_url = safe_base_url  # without user info, query or fragment (safe to print)


def targets_from_settings(store_url: str | None = None, pos_url: str | None = None,
                          ca_bundle: str | None = None) -> tuple[StoreTarget, PosTarget]:
    """Targets from ``STOREFLOW_*`` settings; without credentials, the demo ones in the demo profile only."""
    from storeflow import profile
    from storeflow.settings import get_settings

    s = get_settings()
    demo = profile.is_demo()
    if s.store_key and s.store_secret:
        key, secret = s.store_key.get_secret_value(), s.store_secret.get_secret_value()
        store_cred = "STOREFLOW_STORE_KEY/STOREFLOW_STORE_SECRET"
    elif demo:
        key, secret, store_cred = profile.DEMO_STORE_KEY, profile.DEMO_STORE_SECRET, "demo (simulator only)"
    else:
        key, secret, store_cred = "", "", "none: set STOREFLOW_STORE_KEY and STOREFLOW_STORE_SECRET"
    if s.pos_token:
        token, pos_cred = s.pos_token.get_secret_value(), "STOREFLOW_POS_TOKEN"
    elif demo:
        token, pos_cred = profile.DEMO_POS_TOKEN, "demo (simulator only)"
    else:
        token, pos_cred = "", "none: set STOREFLOW_POS_TOKEN"
    store = StoreTarget(store_url or s.store_url, key, secret, verify=ca_bundle or True, credentials=store_cred)
    return store, PosTarget(pos_url or s.pos_url, token, credentials=pos_cred, verify=ca_bundle or True)


# --- helpers --------------------------------------------------------------------------------------
def _scrub(text: str, hidden: Iterable[str]) -> str:
    for value in hidden:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return re.sub(r"(consumer_key|consumer_secret|oauth_signature|oauth_consumer_key)=[^&\s\"']*", r"\1=***", text)


def _cause(exc: BaseException) -> str:
    """What went wrong on the wire, without URLs (they can carry signed query strings)."""
    fatal = fatal_connection_cause(exc)
    if fatal is not None:
        if "certificate" in fatal.lower():
            return fatal + " (set the CA bundle: the connection's extra 'ca_bundle', or --ca-bundle)"
        return fatal
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.exceptions.ConnectTimeout) or "ConnectTimeout" in text:
        return f"no answer within {CONNECT_TIMEOUT:g} s (connect timeout: firewall or wrong host)"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the server accepted the connection but did not answer in time"
    if "RemoteDisconnected" in text or "BadStatusLine" in text:
        return "the server closed the connection (plain HTTP on an HTTPS port, or the reverse?)"
    return type(exc).__name__


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_code(response: requests.Response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        if body.get("code"):
            return f"{body['code']}"
        codes = [str(e.get("code")) for e in body.get("errors") or [] if isinstance(e, dict)]
        if codes:
            return ",".join(codes)
    return ""


def _http(status: int, code: str = "") -> str:
    return f"HTTP {status}" + (f" {code}" if code else "")


def _parse_version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    parts = re.findall(r"\d+", str(text))[:3]
    return tuple(int(p) for p in parts) if parts else None


def _is_loopback(url: str) -> bool:
    from storeflow.profile import is_loopback

    return is_loopback(url) or (urlsplit(url).hostname or "") == "0.0.0.0"  # noqa: S104 - compared, not bound


def _ca_problem(verify: bool | str) -> str | None:
    if verify is True:
        return None
    if not isinstance(verify, str) or not verify:
        return "TLS verification cannot be switched off: give a CA bundle path instead"
    if not os.path.isfile(verify):
        return f"the CA bundle {verify} does not exist (on this machine)"
    return None


def _reach(url: str, verify: bool | str, timeout: float) -> tuple[requests.Response | None, str, float]:
    """One unauthenticated GET; (response or None, cause when None, milliseconds)."""
    start = time.perf_counter()
    try:
        response = requests.get(url, timeout=(min(CONNECT_TIMEOUT, timeout), timeout), verify=verify,
                                allow_redirects=False)
    except requests.RequestException as exc:
        return None, _cause(exc), (time.perf_counter() - start) * 1000
    return response, "", (time.perf_counter() - start) * 1000


class _Recorder:
    def __init__(self, system: str, hidden: list[str]) -> None:
        self.system = system
        self.hidden = hidden
        self.checks: list[Check] = []

    def add(self, name: str, verdict: str, detail: str, **data: Any) -> Check:
        check = Check(self.system, name, verdict, _scrub(detail, self.hidden),
                      json.loads(_scrub(json.dumps(data, default=str), self.hidden)))
        self.checks.append(check)
        return check

    def skip(self, names: Iterable[str], why: str) -> None:
        for name in names:
            self.add(name, SKIP, why)


def _credentials_verdict(rec: _Recorder, credentials: str, base: str, *, found: str, demo: str,
                         missing: str) -> None:
    """The ``credentials`` check: the simulator's demo credentials only pass (with a warning) on loopback."""
    if credentials.startswith("demo") and not _is_loopback(base):
        rec.add("credentials", FAIL, missing)
    elif credentials.startswith("demo"):
        rec.add("credentials", WARN, f"{demo} of the local simulator", source=credentials)
    else:
        rec.add("credentials", OK, f"{found} from {credentials}", source=credentials)


# --- store ----------------------------------------------------------------------------------------
STORE_CHECKS = ("credentials", "reachable", "https", "auth", "client", "version", "variations", "timezone",
                "tls_seen_by_store")


def _oauth1(target: StoreTarget) -> AuthBase:
    from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_QUERY
    from requests_oauthlib import OAuth1

    return OAuth1(target.key, client_secret=target.secret, signature_method=SIGNATURE_HMAC_SHA256,
                  signature_type=SIGNATURE_TYPE_QUERY)


def _store_auths(target: StoreTarget) -> dict[str, Callable[[], AuthBase]]:
    return {"basic": lambda: HTTPBasicAuth(target.key, target.secret), "oauth1": lambda: _oauth1(target)}


AUTH_LABEL = {"basic": "HTTP Basic", "oauth1": "OAuth 1.0a (HMAC-SHA256)", "query": "query-string keys"}


def _store_client(target: StoreTarget, timeout: float, auth: str | None = None) -> WooClient:
    from storeflow.connectors.woocommerce import WooClient

    # the configured setting as given: WooClient raises ValueError for an unknown method (the ``client`` check)
    method = cast("AuthMethod", auth or target.auth)
    return WooClient(target.base_url, target.key, target.secret, auth=method, max_attempts=1,
                     timeout=timeout, verify=target.verify, conn_id=target.conn_id)


def check_store(target: StoreTarget, *, write_test: bool = False, timeout: float = 10.0) -> list[Check]:
    """The store's checks (see the module docstring); data is only changed with ``write_test``."""
    rec = _Recorder("store", target.secrets())
    base = target.base_url.rstrip("/")
    https = urlsplit(base).scheme == "https"
    if not base:
        rec.add("credentials", FAIL, "no store URL configured (the connection's host)")
        rec.skip(STORE_CHECKS[1:] + (("write_test",) if write_test else ()), "skipped: no URL")
        return rec.checks
    if _ca_problem(target.verify):
        rec.add("credentials", FAIL, str(_ca_problem(target.verify)))
        rec.skip(STORE_CHECKS[1:] + (("write_test",) if write_test else ()), "skipped: TLS settings")
        return rec.checks
    if not (target.key and target.secret):
        rec.add("credentials", FAIL, f"no consumer key and secret (credentials: {target.credentials})")
        rec.skip(STORE_CHECKS[1:] + (("write_test",) if write_test else ()), "skipped: no credentials")
        return rec.checks
    _credentials_verdict(rec, target.credentials, base, found="consumer key", demo="demo keys",
                         missing="no store credentials configured (set the connection's login/password or "
                         "STOREFLOW_STORE_KEY/STOREFLOW_STORE_SECRET); the demo keys only open the local simulator")

    # reachability: the WordPress REST index (public)
    index, cause, ms = _reach(f"{base}/wp-json/", target.verify, timeout)
    if index is None:
        rec.add("reachable", FAIL, f"cannot reach {public_url(base)}: {cause}", cause=cause)
        rec.skip(STORE_CHECKS[2:] + (("write_test",) if write_test else ()), "skipped: store unreachable")
        return rec.checks
    if 300 <= index.status_code < 400:
        target_url = public_url(index.headers.get("Location") or "") or "?"
        rec.add("reachable", FAIL, f"{public_url(base)} redirects ({index.status_code}) to {target_url}: configure "
                "the final URL (a redirected POST/PUT loses its body, and OAuth signatures break)",
                location=target_url)
        rec.skip(STORE_CHECKS[2:] + (("write_test",) if write_test else ()), "skipped: the URL redirects")
        return rec.checks
    index_body = _json(index) if index.status_code == 200 else None
    namespaces = index_body.get("namespaces") if isinstance(index_body, dict) else None
    if isinstance(namespaces, list) and "wc/v3" not in namespaces:
        rec.add("reachable", FAIL, f"WordPress answers but the WooCommerce REST API v3 is not active "
                f"(namespaces: {', '.join(map(str, namespaces[:8]))})", latency_ms=round(ms))
        rec.skip(STORE_CHECKS[2:] + (("write_test",) if write_test else ()), "skipped: no wc/v3 API")
        return rec.checks
    where = "WordPress REST index lists wc/v3" if namespaces else f"HTTP {index.status_code} on /wp-json/"
    rec.add("reachable", OK, f"{public_url(base)} answers in {ms:.0f} ms ({where})", latency_ms=round(ms))

    if https:
        rec.add("https", OK, "HTTPS" + (" with a custom CA bundle" if isinstance(target.verify, str) else
                                        (" (certificate verified)" if target.verify else
                                         " WITHOUT certificate verification")), https=True)
    elif _is_loopback(base):
        rec.add("https", WARN, "plain HTTP (fine for the local simulator; use HTTPS for a live store)", https=False)
    else:
        rec.add("https", WARN, "plain HTTP: only OAuth 1.0a signed requests work and data travels unencrypted; "
                "use HTTPS", https=False)

    # which authentication does the store accept?
    probe_url = f"{base}{WC_API}/products"
    outcomes: dict[str, str] = {}
    working: dict[str, Any] = {}
    product_sample: list[dict[str, Any]] = []
    for method, make in _store_auths(target).items():
        auth = make()
        try:
            r = requests.get(probe_url, params={"per_page": 1}, auth=auth, verify=target.verify,
                             timeout=(min(CONNECT_TIMEOUT, timeout), timeout))
        except requests.RequestException as exc:
            outcomes[method] = _cause(exc)
            continue
        if r.status_code == 200:
            outcomes[method] = "accepted"
            working[method] = auth
            body = _json(r)
            if isinstance(body, list) and not product_sample:
                product_sample = body
        else:
            outcomes[method] = f"refused ({_http(r.status_code, _error_code(r))})"
    expected = "basic" if https else "oauth1"
    others = "; ".join(f"{AUTH_LABEL[m]} {o}" for m, o in outcomes.items() if m != expected)
    if not working:
        described = "; ".join(f"{AUTH_LABEL[m]} {o}" for m, o in outcomes.items())
        rec.add("auth", FAIL, f"the store refuses these credentials: {described}", methods=outcomes)
        rec.skip(STORE_CHECKS[4:] + (("write_test",) if write_test else ()), "skipped: no working authentication")
        return rec.checks
    if expected in working:
        note = " (a real store refuses it over plain HTTP: a simulator, or a TLS proxy that tells WordPress " \
               "the request is HTTPS)" if not https and len(working) > 1 else ""
        rec.add("auth", OK, f"{AUTH_LABEL[expected]} accepted; {others}{note}", method=expected, methods=outcomes)
    else:
        other = next(iter(working))
        hint = ("the site does not see the request as HTTPS (TLS proxy without X-Forwarded-Proto/HTTPS=on?)"
                if https else "over plain HTTP a real WooCommerce only honours OAuth 1.0a")
        rec.add("auth", WARN, f"{AUTH_LABEL[expected]} {outcomes[expected]}; only {AUTH_LABEL[other]} works: "
                f"{hint}", method=other, methods=outcomes)
    best_auth = expected if expected in working else next(iter(working))

    # storeflow's own client, as configured (auth=auto: Basic over HTTPS, OAuth 1.0a over HTTP)
    try:
        client = _store_client(target, timeout)
        client.call("GET", "/products", params={"per_page": 1})
        rec.add("client", OK, f"storeflow's WooClient is accepted ({AUTH_LABEL.get(client.auth_method)})",
                auth=client.auth_method)
    except ValueError as exc:  # e.g. an unknown auth setting or a missing CA bundle file
        rec.add("client", FAIL, f"storeflow's WooClient cannot be built: {exc}")
        client = _store_client(target, timeout, auth=best_auth)
    except ApiError as exc:
        rec.add("client", FAIL, f"storeflow's WooClient ({AUTH_LABEL.get(target.auth, target.auth)}) is refused "
                f"({_http(exc.status or 0, _api_code(exc))}) although {AUTH_LABEL[best_auth]} works: set the "
                f"connection's extra auth to '{best_auth}' or 'auto'", status=exc.status)
        client = _store_client(target, timeout, auth=best_auth)

    status_body = _store_system_status(rec, client)
    _store_variations(rec, client)
    _store_timezone(rec, index_body, product_sample)
    security = status_body.get("security") if isinstance(status_body, dict) else None
    if isinstance(security, dict) and "secure_connection" in security:
        seen = bool(security["secure_connection"])
        if https and not seen:
            rec.add("tls_seen_by_store", WARN, "the URL is HTTPS but WordPress sees plain HTTP (TLS proxy without "
                    "X-Forwarded-Proto / HTTPS=on): Basic auth will be refused", secure_connection=seen)
        else:
            rec.add("tls_seen_by_store", OK, f"WordPress sees {'HTTPS' if seen else 'plain HTTP'}, as the URL says",
                    secure_connection=seen)
    else:
        rec.add("tls_seen_by_store", SKIP, "system_status has no security.secure_connection")
    if write_test:
        _store_write_test(rec, client)
    return rec.checks


def _api_code(exc: ApiError) -> str:
    body = exc.body
    if isinstance(body, dict):
        if body.get("code"):
            return str(body["code"])
        codes = [str(e.get("code")) for e in body.get("errors") or [] if isinstance(e, dict)]
        return ",".join(codes)
    return ""


def _store_system_status(rec: _Recorder, client: WooClient) -> dict[str, Any]:
    try:
        body = client.call("GET", "/system_status")
    except ApiError as exc:
        if exc.status == 404:
            rec.add("version", WARN, f"no /system_status ({_http(404, _api_code(exc))}): version unknown")
        elif exc.status in (401, 403):
            rec.add("version", WARN, f"/system_status refused ({_http(exc.status, _api_code(exc))}): the key "
                    "needs read access to system status to report the version")
        else:
            rec.add("version", WARN, f"/system_status failed: {exc.status or _cause(exc)}")
        return {}
    env = body.get("environment") if isinstance(body, dict) else None
    version = (env or {}).get("version") or (env or {}).get("wc_version")
    parsed = _parse_version(version)
    wp = (env or {}).get("wp_version")
    label = f"WooCommerce {version}" + (f" on WordPress {wp}" if wp else "")
    if parsed is None:
        rec.add("version", WARN, "system_status has no environment.version", wc_version=version)
    elif parsed < MIN_WC_VERSION:
        rec.add("version", FAIL, f"{label}: storeflow needs {'.'.join(map(str, MIN_WC_VERSION))}+ "
                "(modified_after/modified_before)", wc_version=version, wp_version=wp)
    else:
        rec.add("version", OK, label, wc_version=version, wp_version=wp)
    return body if isinstance(body, dict) else {}


def _store_variations(rec: _Recorder, client: WooClient) -> None:
    try:
        exists = client.probe_variations_route()
    except ApiError as exc:
        rec.add("variations", WARN, f"GET /variations failed ({_http(exc.status or 0, _api_code(exc))})",
                variations_endpoint=None)
        return
    if exists:
        rec.add("variations", OK, "GET /variations exists (WooCommerce 10.3+): all variations in one listing",
                variations_endpoint=True)
    else:
        rec.add("variations", OK, "no GET /variations (404 rest_no_route, WooCommerce before 10.3): storeflow "
                "reads the variations of changed parents", variations_endpoint=False)


def _offset_label(minutes: float) -> str:
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(int(round(minutes)))
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _store_timezone(rec: _Recorder, index: Any, sample: list[dict[str, Any]]) -> None:
    tz_name = index.get("timezone_string") if isinstance(index, dict) else None
    offset_hours = index.get("gmt_offset") if isinstance(index, dict) else None
    inferred: float | None = None
    for row in sample[:1]:
        local: Any = row.get("date_modified")  # anything: what is not an ISO string infers nothing
        gmt: Any = row.get("date_modified_gmt")
        try:
            inferred = (datetime.fromisoformat(local) - datetime.fromisoformat(gmt)).total_seconds() / 60
        except (TypeError, ValueError):
            inferred = None
    note = "storeflow sends windows in UTC (dates_are_gmt=true), so the site zone does not shift them"
    if tz_name or offset_hours not in (None, ""):
        try:
            offset_min = float(offset_hours) * 60 if offset_hours not in (None, "") else inferred
        except (TypeError, ValueError):
            offset_min = inferred
        label = (tz_name or "manual offset") + (f" ({_offset_label(offset_min)} now)" if offset_min is not None
                                                else "")
        rec.add("timezone", OK, f"site time zone {label}; {note}", timezone=tz_name, offset_minutes=offset_min,
                source="wp-json index")
    elif inferred is not None:
        rec.add("timezone", OK, f"site time zone {_offset_label(inferred)} now (from date_modified vs "
                f"date_modified_gmt); {note}", timezone=None, offset_minutes=inferred, source="records")
    else:
        rec.add("timezone", WARN, "site time zone unknown (no timezone_string in /wp-json/, no product to infer "
                "it from)", timezone=None)


def _store_write_test(rec: _Recorder, client: WooClient) -> None:
    from storeflow.connectors.woocommerce import ConsentNotStored
    from storeflow.connectors.woocommerce_models import CONSENT_META

    key = CONSENT_META["email"]
    tag = uuid.uuid4().hex[:12]
    customer_id: int | None = None
    try:
        created = client.create_customer({
            "email": f"storeflow-doctor-{tag}@example.invalid", "username": f"storeflow-doctor-{tag}",
            "password": secrets.token_urlsafe(24), "first_name": "storeflow", "last_name": "doctor"})
        customer_id = int(created.id)
        # storeflow's own consent write: PUT, then verified in the response and in a fresh GET
        client.set_customer_consent(customer_id, "email", True, datetime.now(UTC))
        back = client.call("GET", f"/customers/{customer_id}")
        stored = [m for m in back.get("meta_data") or [] if m.get("key") == key]
        if stored:
            outcome = (OK, f"consent meta {key} written and read back on a throw-away customer")
        else:
            outcome = (FAIL, f"the store answered the write but does not return the meta {key}: consent would "
                       "be lost")
    except ApiError as exc:
        if isinstance(exc, ConsentNotStored):  # 200, but the store kept nothing
            outcome = (FAIL, f"the store answered the write but dropped the meta {key}: consent would be lost")
        else:
            outcome = (FAIL, f"write test failed: {_http(exc.status or 0, _api_code(exc))}")
    except (KeyError, TypeError, ValueError) as exc:
        outcome = (FAIL, f"write test failed: unexpected response ({type(exc).__name__})")
    deleted = False
    if customer_id is not None:
        try:
            client.call("DELETE", f"/customers/{customer_id}", params={"force": "true"})
            deleted = True
        except ApiError as exc:
            rec.add("write_cleanup", FAIL, f"could not delete throw-away customer {customer_id} "
                    f"({_http(exc.status or 0, _api_code(exc))}): delete it by hand", customer_id=customer_id)
    verdict, detail = outcome
    rec.add("write_test", verdict, detail + ("; customer deleted" if deleted else ""), customer_id=customer_id,
            deleted=deleted, meta_key=key)


# --- POS ------------------------------------------------------------------------------------------
POS_CHECKS = ("credentials", "reachable", "auth", "api_version", "locations", "permissions")
# read probes used when /oauth2/token/status is not available: (scope, method, path, body)
_Probe = tuple[str, str, str, dict[str, Any] | None]
SCOPE_PROBES: tuple[_Probe, ...] = (
    ("MERCHANT_PROFILE_READ", "GET", "/v2/locations", None),
    ("ITEMS_READ", "GET", "/v2/catalog/list", {"types": "CATEGORY"}),
    ("INVENTORY_READ", "POST", "/v2/inventory/counts/batch-retrieve", {"limit": 1}),
    ("CUSTOMERS_READ", "GET", "/v2/customers", {"limit": 1}),
)


def _pos_client(target: PosTarget, timeout: float) -> SquareClient:
    from storeflow.connectors.square import SquareClient

    return SquareClient(target.base_url, target.token, max_attempts=1, timeout=timeout, verify=target.verify,
                        conn_id=target.conn_id)


def check_pos(target: PosTarget, *, timeout: float = 10.0) -> list[Check]:
    """The POS's checks (read-only)."""
    rec = _Recorder("pos", target.secrets())
    base = target.base_url.rstrip("/")
    if _ca_problem(target.verify):
        rec.add("credentials", FAIL, str(_ca_problem(target.verify)))
        rec.skip(POS_CHECKS[1:], "skipped: TLS settings")
        return rec.checks
    if not base or not target.token:
        rec.add("credentials", FAIL, ("no POS base URL (the connection's host)" if not base else
                                      f"no access token (credentials: {target.credentials})"))
        rec.skip(POS_CHECKS[1:], "skipped: incomplete configuration")
        return rec.checks
    _credentials_verdict(rec, target.credentials, base, found="token", demo="demo token",
                         missing="no POS token configured (set the connection's password or "
                         "STOREFLOW_POS_TOKEN); the demo token only opens the local simulator")

    reach, cause, ms = _reach(f"{base}/v2/locations", target.verify, timeout)
    if reach is None:
        rec.add("reachable", FAIL, f"cannot reach {public_url(base)}: {cause}", cause=cause)
        rec.skip(POS_CHECKS[2:], "skipped: POS unreachable")
        return rec.checks
    rec.add("reachable", OK, f"{public_url(base)} answers in {ms:.0f} ms", latency_ms=round(ms),
            https=urlsplit(base).scheme == "https")

    client = _pos_client(target, timeout)
    pinned = cast("str | None", client.session.headers.get("Square-Version"))  # SquareClient sets a str
    try:
        response = client.request("GET", "/v2/locations")
    except ApiError as exc:
        if exc.status == 401:
            rec.add("auth", FAIL, f"the token is refused ({_http(401, _api_code(exc))})")
        else:
            rec.add("auth", FAIL, f"GET /v2/locations failed ({_http(exc.status or 0, _api_code(exc))})")
        rec.skip(POS_CHECKS[3:], "skipped: no working token")
        return rec.checks
    rec.add("auth", OK, "Bearer token accepted")
    served = response.headers.get("Square-Version")
    rec.add("api_version", OK, f"connector pins Square-Version {pinned}" + (
        f" (server answered {served})" if served and served != pinned else ""), square_version=pinned)

    locations = (response.json_body or {}).get("locations") or []
    active = [loc for loc in locations if loc.get("status") == "ACTIVE"]
    listed = [{"id": loc.get("id"), "name": loc.get("name"), "status": loc.get("status"),
               "timezone": loc.get("timezone"), "currency": loc.get("currency")} for loc in locations]
    names = ", ".join(f"{loc.get('name')} ({loc.get('id')})" for loc in active[:6])
    if not active:
        rec.add("locations", FAIL, f"no ACTIVE location ({len(locations)} in total): nothing to sync",
                locations=listed)
    else:
        rec.add("locations", OK, f"{len(active)} active of {len(locations)}: {names}"
                + (" …" if len(active) > 6 else ""), locations=listed)
    _pos_permissions(rec, client, [loc.get("id") for loc in active])
    return rec.checks


def _pos_permissions(rec: _Recorder, client: SquareClient, location_ids: list[str]) -> None:
    try:
        status = client.request("POST", "/oauth2/token/status").json_body or {}  # RetrieveTokenStatus: no body
    except ApiError as exc:
        if exc.status in (404, 405):
            _pos_permissions_by_probes(rec, client, location_ids)
            return
        rec.add("permissions", WARN, f"token status failed ({_http(exc.status or 0, _api_code(exc))})")
        return
    scopes = status.get("scopes")
    if not isinstance(scopes, list):
        _pos_permissions_by_probes(rec, client, location_ids)
        return
    missing = [s for s in REQUIRED_POS_SCOPES if s not in scopes]
    expires = status.get("expires_at") or None
    expiry = ""
    verdict = OK
    if expires:
        try:
            left = datetime.fromisoformat(str(expires).replace("Z", "+00:00")) - datetime.now(UTC)
            expiry = f"; expires in {left.days} days ({expires})"
            if left.total_seconds() < 0:
                verdict, expiry = FAIL, f"; EXPIRED at {expires}"
            elif left.days < 7:
                verdict = WARN
        except ValueError:
            expiry = f"; expires {expires}"
    if missing:
        rec.add("permissions", FAIL, f"token lacks {', '.join(missing)}{expiry}", scopes=sorted(scopes),
                missing=missing, expires_at=expires, source="oauth2/token/status")
    else:
        rec.add("permissions", verdict, f"token has all {len(REQUIRED_POS_SCOPES)} scopes storeflow needs{expiry}",
                scopes=sorted(scopes), missing=[], expires_at=expires, source="oauth2/token/status")


def _pos_permissions_by_probes(rec: _Recorder, client: SquareClient, location_ids: list[str]) -> None:
    probes = list(SCOPE_PROBES)
    if location_ids:
        probes.append(("ORDERS_READ", "POST", "/v2/orders/search", {"location_ids": location_ids[:1], "limit": 1}))
        probes.append(("INVOICES_READ", "GET", "/v2/invoices", {"location_id": location_ids[0], "limit": 1}))
    missing, ok, unknown = [], [], []
    for scope, method, path, body in probes:
        try:
            if method == "GET":
                client.request("GET", path, params=body)
            else:
                client.request("POST", path, json=body or {})
            ok.append(scope)
        except ApiError as exc:
            if exc.status == 403:
                missing.append(scope)
            else:
                unknown.append(f"{scope} ({_http(exc.status or 0, _api_code(exc))})")
    writes = [s for s in REQUIRED_POS_SCOPES if s.endswith("_WRITE")]
    if missing:
        rec.add("permissions", FAIL, f"token lacks {', '.join(missing)} (403 on read probes)", missing=missing,
                verified=ok, source="probes")
    else:
        rec.add("permissions", WARN, f"read scopes verified ({', '.join(ok)})"
                + (f"; unverified: {', '.join(unknown)}" if unknown else "")
                + f"; write scopes ({', '.join(writes)}) cannot be checked without /oauth2/token/status",
                missing=[], verified=ok, source="probes")


# --- run ------------------------------------------------------------------------------------------
def run_doctor(store: StoreTarget | None, pos: PosTarget | None, *, write_test: bool = False,
               timeout: float = 10.0) -> Report:
    """Check the given targets (either may be None) and return the report."""
    report = Report()
    if store is not None:
        report.targets["store"] = {"url": public_url(store.base_url), "credentials": store.credentials}
        report.checks += check_store(store, write_test=write_test, timeout=timeout)
    if pos is not None:
        report.targets["pos"] = {"url": public_url(pos.base_url), "credentials": pos.credentials}
        report.checks += check_pos(pos, timeout=timeout)
    return report


def build_parser(prog: str = "storeflow doctor") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Check, without changing data, what storeflow needs from "
                                "the configured store and POS; exit 1 when a check fails.")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--write-test", action="store_true",
                   help="also round-trip a consent meta on a throw-away store customer (then deleted)")
    p.add_argument("--only", choices=["store", "pos"], help="check one system only")
    p.add_argument("--store-url", help="store base URL (default STOREFLOW_STORE_URL)")
    p.add_argument("--pos-url", help="POS base URL (default STOREFLOW_POS_URL)")
    p.add_argument("--ca-bundle", help="CA bundle that signed the store's / POS's certificate (a private CA)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per request (connect: 3)")
    return p


def main(argv: list[str] | None = None, prog: str = "storeflow doctor") -> int:
    """CLI entry point; returns the exit code (0: no FAIL, 1: a FAIL, 2: usage)."""
    args = build_parser(prog).parse_args(argv)
    store, pos = targets_from_settings(args.store_url, args.pos_url, args.ca_bundle)
    report = run_doctor(None if args.only == "pos" else store, None if args.only == "store" else pos,
                        write_test=args.write_test, timeout=args.timeout)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        print(report.render())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main(prog="python -m storeflow.doctor"))
