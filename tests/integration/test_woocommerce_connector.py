"""WooClient against the store simulator over real HTTP: drift-safe paging, windows, retries, batches."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests
from requests_oauthlib import OAuth1

from storeflow.connectors.http import ApiError
from storeflow.connectors.woocommerce import WooClient
from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store import StoreState
from storeflow_simulators.store_testing import running_store

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=10)


def client(store, **kwargs) -> WooClient:
    return WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, **kwargs)


def add_products(state: StoreState, n: int, at: datetime, prefix: str = "BULK") -> list[int]:
    state.clock.freeze(at)
    return [state.write_product({"name": f"{prefix} {i}", "sku": f"{prefix}-{i:04d}", "regular_price": "1.00",
                                 "manage_stock": True, "stock_quantity": 5})["id"] for i in range(n)]


def touch(store, ids: list[int]) -> None:
    response = requests.post(f"{store.url}/_sim/products/touch", json={"ids": ids}, timeout=10)
    assert response.status_code == 200 and response.json()["touched"] == len(ids)


def test_no_page_skipped_or_duplicated_when_rows_change_while_paging(state, store):
    new_ids = add_products(state, 250, T1)
    woo = client(store, per_page=100)
    pages = woo.iter_products(T1 - timedelta(minutes=5), T1)
    first = next(pages)
    assert [r["id"] for r in first] == new_ids[:100]
    # while we page, the shop edits 30 rows we already read and 20 rows we have not read yet
    state.clock.freeze(T1 + timedelta(hours=1))
    behind, ahead = new_ids[10:40], new_ids[150:170]
    touch(store, behind + ahead)
    seen = [r["id"] for r in first] + [r["id"] for page in pages for r in page]
    assert len(seen) == len(set(seen)), "a row was emitted twice"
    assert set(new_ids) - set(ahead) <= set(seen), "a row that stayed in the window was skipped"
    # the rows edited after the frozen upper bound come with the next window (cursor - overlap)
    later = {r["id"] for page in woo.iter_products(T1 - timedelta(minutes=5), T1 + timedelta(hours=1))
             for r in page}
    assert set(behind + ahead) <= later


def test_the_same_drift_really_skips_rows_with_naive_page_paging(state, store):
    """Proves the simulator reproduces the trap the connector defends against (§4.1)."""
    new_ids = add_products(state, 250, T1)
    session = requests.Session()  # over plain HTTP the store only accepts OAuth 1.0a signatures
    session.auth = OAuth1(DEMO_STORE_KEY, client_secret=DEMO_STORE_SECRET, signature_method="HMAC-SHA256",
                          signature_type="query")
    params = {"orderby": "id", "order": "asc", "per_page": 100, "dates_are_gmt": "true",
              "modified_after": "2024-07-01T12:05:00", "modified_before": "2024-07-01T12:10:01"}
    url = f"{store.url}/wp-json/wc/v3/products"
    seen = [r["id"] for r in session.get(url, params={**params, "page": 1}, timeout=10).json()]
    state.clock.freeze(T1 + timedelta(hours=1))
    touch(store, new_ids[10:40])
    for page in (2, 3):
        seen += [r["id"] for r in session.get(url, params={**params, "page": page}, timeout=10).json()]
    assert len(set(new_ids) - set(seen)) == 30


def test_updates_in_the_cursor_second_across_a_page_boundary(state, store):
    woo = client(store, per_page=100)
    state.clock.freeze(T1)
    first_batch = add_products(state, 150, T1)  # 150 rows share one second: two pages
    run1 = [r["id"] for page in woo.iter_products(T1 - timedelta(minutes=5), T1) for r in page]
    assert sorted(run1) == first_batch  # the frozen upper bound is inclusive
    # more rows change in the very same second, after run 1 read the window
    touch(store, [100, 101, 102])
    late = add_products(state, 20, T1, prefix="LATE")
    cursor = T1  # the runner stores the frozen upper bound; the next window re-reads the overlap
    run2 = [r["id"] for page in woo.iter_products(cursor - timedelta(minutes=5), T1 + timedelta(minutes=1))
            for r in page]
    assert set(late) | {100, 101, 102} <= set(run2)
    assert len(run2) == len(set(run2))


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "America/New_York", "Europe/London"])
def test_store_in_a_non_utc_timezone(state, store, tz):
    requests.put(f"{store.url}/_sim/timezone", json={"timezone": tz}, timeout=10).raise_for_status()
    state.clock.freeze(T1)
    touch(store, [100])
    state.clock.freeze(T1 + timedelta(hours=2))
    touch(store, [101])
    woo = client(store)
    early = woo.list_products(T1 - timedelta(minutes=1), T1 + timedelta(minutes=30))
    late = woo.list_products(T1 + timedelta(hours=1, minutes=59), T1 + timedelta(hours=3))
    assert [p.id for p in early] == [100]
    assert [p.id for p in late] == [101]
    assert early[0].date_modified_gmt == T1 and early[0].date_modified_gmt.tzinfo is not None


class _FlakyFront:
    """ASGI middleware answering the first ``n`` API requests with a fault, like a host/CDN would."""

    def __init__(self, app, n: int, kind: str):
        self.app, self.left, self.kind, self.seen = app, n, kind, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/wp-json/") or self.left <= 0:
            return await self.app(scope, receive, send)
        self.left -= 1
        self.seen += 1
        if self.kind == "truncated":
            chunks: list[bytes] = []
            start: dict = {}

            async def capture(message):
                if message["type"] == "http.response.start":
                    start.update(message)
                else:
                    chunks.append(message.get("body", b""))

            await self.app(scope, receive, capture)
            body = b"".join(chunks)[: max(1, len(b"".join(chunks)) // 2)]
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({"type": "http.response.start", "status": 200,
                        "headers": headers + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return None
        if self.kind == "429":
            status, headers, body = 429, [(b"retry-after", b"1")], b""
        else:
            status, headers = 503, [(b"content-type", b"text/html")]
            body = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return None


@pytest.mark.parametrize("kind", ["429", "html503", "truncated"])
def test_retries_honour_retry_after_html_and_truncated_bodies(state, kind):
    fronts = []

    def wrap(app):
        fronts.append(_FlakyFront(app, 2, kind))
        return fronts[0]

    waits: list[float] = []
    with running_store(state, wrap=wrap) as handle:
        woo = client(handle, sleep=waits.append, backoff_base=0.5)
        customers = woo.list_customers(role="customer")  # role=all also lists the site administrator
    assert sorted(c.id for c in customers) == [1, 2, 3]
    assert fronts[0].seen == 2
    assert woo.stats.retries == 2 and woo.stats.requests == 3
    if kind == "429":
        assert waits == [1.0, 1.0]  # exactly what Retry-After asked for
        assert woo.stats.throttled == 2
    else:
        assert len(waits) == 2 and all(0 <= w <= 1.0 for w in waits)  # backoff with jitter


def test_retries_are_bounded(state):
    waits: list[float] = []
    with running_store(state, wrap=lambda app: _FlakyFront(app, 10, "html503")) as handle:
        woo = client(handle, sleep=waits.append, max_attempts=3)
        with pytest.raises(ApiError) as info:
            woo.list_customers()
    assert info.value.status == 503 and len(waits) == 2


def test_query_string_auth_and_no_secrets_in_errors(store, caplog):
    # over plain HTTP the store ignores query-string keys (WooCommerce only tries them over HTTPS);
    # HTTPS query keys are tested in test_woo_auth_tls.py
    caplog.set_level(logging.DEBUG)
    bad = WooClient(store.url, DEMO_STORE_KEY, "cs_super_secret_value", query_string_auth=True)
    with pytest.raises(ApiError) as info:
        bad.list_customers()
    assert info.value.status == 401
    assert "woocommerce_rest_cannot_view" in str(info.value) and "plain HTTP" in str(info.value)
    assert "cs_super_secret_value" not in str(info.value) and "cs_super_secret_value" not in caplog.text
    assert "consumer_secret" not in str(info.value)


def test_from_settings_uses_settings_and_demo_keys(store, monkeypatch):
    from storeflow.settings import get_settings

    monkeypatch.setenv("STOREFLOW_STORE_URL", store.url)
    get_settings.cache_clear()
    woo = WooClient.from_settings()
    assert woo.base_url == store.url
    assert len(woo.list_customers(role="customer")) == 3
    monkeypatch.setenv("STOREFLOW_STORE_SECRET", "cs_wrong")
    get_settings.cache_clear()
    with pytest.raises(ApiError):
        WooClient.from_settings().list_customers()


def test_typed_records(store):
    woo = client(store)
    orders = {o.id: o for o in woo.list_orders()}
    assert set(orders) == {5001, 5002, 5003, 5004}
    guest = orders[5003]
    assert guest.is_guest and guest.billing.email == "dan@example.com"
    assert guest.total_minor == 4025 and guest.total_tax_minor == 575
    assert guest.date_paid_gmt == datetime(2024, 6, 28, 12, 0, tzinfo=UTC)
    assert orders[5002].discount_total_minor == 300 and orders[5002].coupon_lines[0].code == "WELCOME10"
    assert orders[5001].customer_user_agent.startswith("Mozilla/5.0 (iPhone")
    assert orders[5001].line_items[0].sku == "COF-001" and orders[5001].line_items[0].subtotal_minor == 2100
    products = {p.sku: p for p in woo.list_products()}
    assert products["COF-001"].regular_price_minor == 1050 and products["COF-001"].manage_stock is True
    assert products[""].type == "variable" and products[""].variations == [106, 107, 108, 109]
    customers = {c.id: c for c in woo.list_customers()}
    assert customers[2].consent("email") == (True, datetime(2024, 6, 26, 12, 0, tzinfo=UTC))
    assert customers[3].consent("sms") == (False, datetime(2023, 5, 28, 12, 0, tzinfo=UTC))
    assert customers[1].billing.phone == "07700 900001"


def test_find_by_skus_batches_and_per_item_errors(state, store):
    woo = client(store)
    found = woo.find_by_skus(["COF-001", "TEE-BLUE-M", "NOPE"])
    assert set(found) == {"COF-001", "TEE-BLUE-M"}
    assert found["TEE-BLUE-M"].is_variation and found["TEE-BLUE-M"].parent_id == 105
    bulk = add_products(state, 130, T1)
    many = woo.find_by_skus([f"BULK-{i:04d}" for i in range(130)])
    assert sorted(p.id for p in many.values()) == bulk
    updates = [{"id": pid, "stock_quantity": 42} for pid in bulk] + [{"id": 999999, "stock_quantity": 1}]
    before = woo.stats.requests
    result = woo.batch_update_products(updates)
    assert woo.stats.requests - before == 2 and result.requests == 2  # chunks of 100
    before = woo.stats.requests
    assert len([r for page in woo.iter_pages("/products", {"sku": ",".join(f"BULK-{i:04d}" for i in range(100))})
                for r in page]) == 100
    assert woo.stats.requests - before == 1  # a full last page ends the scan through X-WP-Total
    assert len(result.ok) == 130 and all(r["stock_quantity"] == 42 for r in result.ok)
    assert [(e.id, e.code, e.status) for e in result.errors] == [
        (999999, "woocommerce_rest_product_invalid_id", 400)]
    var = woo.batch_update_variations(105, [{"id": 108, "regular_price": "25.00"}, {"id": 100, "sku": "x"}])
    assert var.ok[0]["regular_price"] == "25.00" and var.errors[0].code.endswith("invalid_id")
    created = woo.create_products([{"name": "Brand new", "sku": "NEW-9", "regular_price": "4.20"},
                                   {"name": "Clash", "sku": "COF-002"}])
    assert created.ok[0]["sku"] == "NEW-9"
    assert created.errors[0].code == "product_invalid_sku" and created.errors[0].data["resource_id"] == 101
    assert woo.find_by_skus(["NEW-9"])["NEW-9"].regular_price_minor == 420


def test_customers_full_scan_and_update(state, store):
    woo = client(store, per_page=2)
    for i in range(7):
        state.write_customer({"email": f"extra{i}@example.com"})
    everyone = woo.list_customers(role="customer")
    assert len(everyone) == 10 and len({c.id for c in everyone}) == 10
    updated = woo.update_customer(3, {"email": "cat.two@example.com", "billing": {"phone": "+447700900333"}})
    assert updated.email == "cat.two@example.com" and updated.billing.phone == "+447700900333"
    assert woo.find_customer_by_email("CAT.TWO@example.com").id == 3
    assert json.loads(json.dumps(updated.model_dump(mode="json")))["id"] == 3
    opted = woo.set_customer_consent(3, "email", True, datetime(2024, 7, 1, 12, 30, 15, 999, tzinfo=UTC))
    assert opted.consent("email") == (True, datetime(2024, 7, 1, 12, 30, 15, tzinfo=UTC))
    again = woo.set_customer_consent(3, "email", False, datetime(2024, 7, 2, tzinfo=UTC))
    assert again.consent("email") == (False, datetime(2024, 7, 2, tzinfo=UTC))
    assert [m.key for m in again.meta_data].count("storeflow_email_optout") == 1  # replaced, not appended


def test_faulty_store_reads_the_same_data(state):
    """With the shared fault injector (429/HTML 5xx/slow/truncated at 50 %) the reads equal a clean run."""
    from storeflow_simulators.faults import FaultInjector

    add_products(state, 120, T1)
    with running_store(state) as clean:
        woo = client(clean, per_page=10)
        expected = (woo.list_products(), woo.list_orders(), woo.list_customers(), woo.find_by_skus(["TEE-RED-L"]))
    injectors = []

    def wrap(app):
        injectors.append(FaultInjector(app, rate=0.5, seed=3, flavor="woo", slow_range=(0.0, 0.01)))
        return injectors[0]

    with running_store(state, wrap=wrap) as faulty:
        woo = client(faulty, per_page=10, sleep=lambda s: None, max_attempts=10)
        got = (woo.list_products(), woo.list_orders(), woo.list_customers(), woo.find_by_skus(["TEE-RED-L"]))
    assert got == expected
    counts = injectors[0].stats()["counts"]
    assert {"rate_limit", "server_error", "truncated"} <= set(counts), counts
    assert woo.stats.retries >= sum(v for k, v in counts.items() if k != "slow")
