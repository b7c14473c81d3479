"""WooClient auth and TLS against the store simulator over real HTTP and real HTTPS (issue 12 item 3).

Plain HTTP: OAuth 1.0a one-legged signatures (HMAC-SHA256, query string) via requests-oauthlib. HTTPS (the
simulator served with its self-signed certificate): HTTP Basic, certificates verified, a CA bundle per
connection. Refused connections, TLS failures and 401s fail fast (one request,
no retry ladder) with the connection id, the base URL and the cause, never the credentials.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storeflow.connectors.http import ApiError, AuthFailed, ConnectionFailed
from storeflow.connectors.woocommerce import WooClient
from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store_testing import running_store

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
SECRET = "cs_do_not_leak_this_value"


class Recorder:
    """ASGI middleware keeping what the store received (query strings, Authorization scheme)."""

    def __init__(self, app, fail_first: int = 0):
        self.app, self.seen, self.fail_first = app, [], fail_first

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/wp-json/"):
            headers = dict(scope["headers"])
            self.seen.append({"method": scope["method"], "path": scope["path"],
                              "query": scope["query_string"].decode(),
                              "auth": headers.get(b"authorization", b"").split(b" ")[0].decode().lower()})
            if self.fail_first > 0:
                self.fail_first -= 1
                await send({"type": "http.response.start", "status": 429,
                            "headers": [(b"retry-after", b"0"), (b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": b"{}"})
                return None
        return await self.app(scope, receive, send)


# --- the simulator served over TLS (its self-signed certificate) -------------------------------------------
@pytest.fixture
def tls_store(state):
    """(https base URL, CA bundle path, recorder) for the simulator served over real TLS."""
    recorders: list[Recorder] = []
    with running_store(state, wrap=lambda app: recorders.append(Recorder(app)) or recorders[0], https=True) as h:
        assert h.url.startswith("https://") and h.ca_file
        yield h.url, str(h.ca_file), recorders[0]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- plain HTTP: OAuth 1.0a ---------------------------------------------------------------------------
def test_http_signs_oauth1_hmac_sha256_on_reads_and_writes(state, caplog):
    caplog.set_level(logging.DEBUG)
    rec: list[Recorder] = []
    with running_store(state, wrap=lambda app: rec.append(Recorder(app)) or rec[0]) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, per_page=2)
        assert woo.auth_method == "oauth1"
        # query values with reserved characters (dates, commas, spaces) must be signed exactly
        assert {c.id for c in woo.list_customers(role="customer")} == {1, 2, 3}
        assert woo.list_products(T0 - timedelta(days=3650), T0) is not None
        assert set(woo.find_by_skus(["COF-001", "TEE-RED-M"])) == {"COF-001", "TEE-RED-M"}
        woo.call("GET", "/customers", params={"search": "Ann Lee+x", "role": "all"})
        updated = woo.update_customer(3, {"first_name": "Catherine é"})  # JSON body, PUT
        assert updated.first_name == "Catherine é"
        result = woo.batch_update_products([{"id": 101, "stock_quantity": 7}])  # JSON body, POST
        assert not result.errors
    seen = rec[0].seen
    assert seen and all("oauth_signature_method=HMAC-SHA256" in r["query"] and "oauth_signature=" in r["query"]
                        for r in seen)
    assert not any(r["auth"] for r in seen), "no Authorization header over plain HTTP"
    assert not any("consumer_secret" in r["query"] for r in seen)
    # the signing libraries' DEBUG lines (base strings, signatures, request bodies) stay out of the logs
    assert "Catherine" not in caplog.text and "signature base string" not in caplog.text


def test_oauth1_wrong_secret_fails_fast_and_names_the_connection(state, caplog):
    caplog.set_level(logging.DEBUG)
    with running_store(state) as store:
        waits: list[float] = []
        woo = WooClient(store.url, DEMO_STORE_KEY, SECRET, sleep=waits.append, conn_id="shop_staging")
        with pytest.raises(AuthFailed) as info:
            woo.list_customers()
    message = str(info.value)
    assert info.value.status == 401 and woo.stats.requests == 1 and waits == []
    assert "shop_staging" in message and store.url in message and "Invalid signature" in message
    assert "OAuth 1.0a" in message
    assert SECRET not in message and SECRET not in caplog.text


def test_oauth1_retry_is_signed_again(state):
    """A retried request gets a fresh nonce and timestamp (the store refuses a replayed nonce)."""
    rec: list[Recorder] = []
    with running_store(state, wrap=lambda app: rec.append(Recorder(app, fail_first=2)) or rec[0]) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, sleep=lambda s: None)
        assert len(woo.list_customers(role="customer")) == 3
    nonces = [q for r in rec[0].seen for q in r["query"].split("&") if q.startswith("oauth_nonce=")]
    assert len(nonces) == 3 and len(set(nonces)) == 3


def test_basic_over_plain_http_is_refused_with_a_hint(state):
    """Real WooCommerce ignores Basic and query keys over HTTP (401); the simulator does the same."""
    with running_store(state) as store:
        for method in ("basic", "query"):
            woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, auth=method, sleep=lambda s: None)
            with pytest.raises(AuthFailed) as info:
                woo.list_customers()
            assert info.value.status == 401 and woo.stats.requests == 1
            assert "plain HTTP" in str(info.value) and DEMO_STORE_SECRET not in str(info.value)


# --- HTTPS: Basic, verified certificates ----------------------------------------------------------------
def test_https_uses_basic_with_a_per_connection_ca_bundle(tls_store, monkeypatch):
    url, ca_bundle, recorder = tls_store
    # a process-wide bundle that does not know our CA must not override the connection's bundle
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    woo = WooClient(url, DEMO_STORE_KEY, DEMO_STORE_SECRET, verify=ca_bundle)
    assert woo.auth_method == "basic"
    assert {c.id for c in woo.list_customers(role="customer")} == {1, 2, 3}
    assert woo.update_customer(2, {"last_name": "Ray-Smith"}).last_name == "Ray-Smith"
    assert recorder.seen and all(r["auth"] == "basic" for r in recorder.seen)
    assert not any("oauth_" in r["query"] or "consumer_key" in r["query"] for r in recorder.seen)


def test_https_query_keys_work_and_stay_out_of_errors(tls_store, caplog):
    url, ca_bundle, _ = tls_store
    caplog.set_level(logging.DEBUG)
    assert len(WooClient(url, DEMO_STORE_KEY, DEMO_STORE_SECRET, auth="query", verify=ca_bundle)
               .list_customers(role="customer")) == 3
    bad = WooClient(url, DEMO_STORE_KEY, SECRET, auth="query", verify=ca_bundle, sleep=lambda s: None)
    with pytest.raises(AuthFailed) as info:
        bad.list_customers()
    assert bad.stats.requests == 1 and url in str(info.value)
    for text in (str(info.value), caplog.text):
        assert SECRET not in text and "consumer_secret=" + SECRET not in text


def test_untrusted_certificate_fails_fast(tls_store):
    url, _, _ = tls_store
    waits: list[float] = []
    woo = WooClient(url, DEMO_STORE_KEY, DEMO_STORE_SECRET, sleep=waits.append)
    with pytest.raises(ConnectionFailed) as info:
        woo.list_customers()
    message = str(info.value)
    assert "certificate verif" in message and "storeflow_store" in message and url in message
    assert woo.stats.requests == 1 and waits == []
    with pytest.raises(ValueError, match="cannot be switched off"):
        WooClient(url, DEMO_STORE_KEY, DEMO_STORE_SECRET, verify=False)
    with pytest.raises(ValueError, match="does not exist"):
        WooClient(url, DEMO_STORE_KEY, DEMO_STORE_SECRET, verify="/nonexistent/ca.pem")


def test_wrong_secret_over_https_fails_fast(tls_store):
    url, ca_bundle, recorder = tls_store
    woo = WooClient(url, DEMO_STORE_KEY, SECRET, verify=ca_bundle, sleep=lambda s: None)
    with pytest.raises(AuthFailed) as info:
        woo.list_customers()
    assert info.value.status == 401 and len(recorder.seen) == 1
    assert "basic over HTTPS" in str(info.value) and SECRET not in str(info.value)


# --- refused connections ----------------------------------------------------------------------------------
def test_refused_connection_fails_fast_with_connection_id_url_and_cause(caplog):
    caplog.set_level(logging.DEBUG)
    port = _closed_port()
    waits: list[float] = []
    woo = WooClient(f"http://127.0.0.1:{port}", DEMO_STORE_KEY, SECRET, sleep=waits.append, max_attempts=6)
    started = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        woo.list_customers()
    assert time.monotonic() - started < 5 and waits == [] and woo.stats.requests == 1
    message = str(info.value)
    assert f"storeflow_store (http://127.0.0.1:{port})" in message and "connection refused" in message
    assert SECRET not in message and "oauth_signature" not in message and SECRET not in caplog.text
    assert isinstance(info.value, ApiError)  # callers catching ApiError keep working


def test_square_client_shares_fail_fast():
    from storeflow.connectors.square import SquareClient

    port = _closed_port()
    pos = SquareClient(f"http://127.0.0.1:{port}", "sq-token-do-not-leak", conn_id="storeflow_pos",
                       sleep=lambda s: None)
    with pytest.raises(ConnectionFailed) as info:
        pos.get_json("/v2/locations")
    assert "storeflow_pos" in str(info.value) and "connection refused" in str(info.value)
    assert "sq-token-do-not-leak" not in str(info.value) and pos.stats.requests == 1


# --- the Airflow connection -------------------------------------------------------------------------------
def _hook_client(monkeypatch, conn: dict):
    monkeypatch.syspath_prepend(str(ROOT / "plugins"))
    monkeypatch.setenv("AIRFLOW_CONN_STOREFLOW_STORE", json.dumps(conn))
    from storeflow_airflow.connections import StoreflowStoreHook

    return StoreflowStoreHook().get_conn()


def test_airflow_connection_ca_bundle_extra(tls_store, monkeypatch):
    url, ca_bundle, _ = tls_store
    base = {"conn_type": "http", "host": url, "login": DEMO_STORE_KEY, "password": DEMO_STORE_SECRET}
    woo = _hook_client(monkeypatch, {**base, "extra": {"ca_bundle": ca_bundle}})
    assert woo.verify == ca_bundle and woo.auth_method == "basic" and woo.conn_id == "storeflow_store"
    assert len(woo.list_customers(role="customer")) == 3
    assert _hook_client(monkeypatch, {**base, "extra": {"verify": ca_bundle}}).verify == ca_bundle
    plain = _hook_client(monkeypatch, base)
    with pytest.raises(ConnectionFailed):
        plain.list_customers()
    with pytest.raises(ValueError, match="cannot be switched off"):
        _hook_client(monkeypatch, {**base, "extra": {"verify": False}})
    oauth = _hook_client(monkeypatch, {**base, "host": "http://127.0.0.1:1", "extra": {"auth": "oauth1"}})
    assert oauth.auth_method == "oauth1"
