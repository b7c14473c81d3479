"""The Square connector against the POS simulator over real HTTP (retries, paging, batch writers)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from fastapi import FastAPI, Request

from storeflow.connectors.http import ApiError
from storeflow.connectors.square import SquareClient, error_codes, fit_key, is_stale_version
from storeflow.connectors.square_models import (
    CatalogItem,
    Customer,
    InventoryCount,
    Order,
    parse_catalog_object,
    parse_square_ts,
)
from storeflow.contracts.square_note import note_opt_outs, set_note_opt_out
from storeflow_simulators.credentials import DEMO_POS_TOKEN
from storeflow_simulators.pos import create_pos_app
from storeflow_simulators.pos_common import fmt_ts
from storeflow_simulators.serve import serve_in_thread

NOW = datetime.now(UTC).replace(microsecond=0)
LOC1 = "LOC1MAINSTREET"


class FirstRequestsFail:
    """ASGI wrapper: the first ``n`` API requests get ``status`` (with Retry-After when given)."""

    def __init__(self, app, n: int, status: int = 429, retry_after: str | None = "1"):
        self.app, self.remaining, self.status, self.retry_after = app, n, status, retry_after
        self.failed = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/v2/") and self.remaining > 0:
            self.remaining -= 1
            self.failed += 1
            code = "RATE_LIMITED" if self.status == 429 else "SERVICE_UNAVAILABLE"
            category = "RATE_LIMIT_ERROR" if self.status == 429 else "API_ERROR"
            body = json.dumps({"errors": [{"category": category, "code": code, "detail": "try later"}]}).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            if self.retry_after is not None:
                headers.append((b"retry-after", self.retry_after.encode()))
            await send({"type": "http.response.start", "status": self.status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


@pytest.fixture
def pos_t0():
    return NOW


@pytest.fixture
def state(pos_state):
    return pos_state


@pytest.fixture
def served(pos_server):
    return pos_server


def make_client(url: str, token: str = DEMO_POS_TOKEN, **kwargs) -> tuple[SquareClient, list[float]]:
    sleeps: list[float] = []
    client = SquareClient(url, token, sleep=sleeps.append, **kwargs)
    return client, sleeps


# --- retries ----------------------------------------------------------------------------------------
def test_retry_after_is_honoured(state):
    wrapper = FirstRequestsFail(create_pos_app(state), n=2, status=429, retry_after="1")
    handle = serve_in_thread(wrapper)
    try:
        client, sleeps = make_client(handle.url, max_attempts=5)
        assert [loc.id for loc in client.list_locations()][:1]
        assert wrapper.failed == 2
        assert sleeps == [1.0, 1.0]
        assert client.stats.as_dict() == {"requests": 3, "retries": 2, "throttled": 2}
    finally:
        handle.stop()


def test_5xx_is_retried_with_bounded_backoff_then_fails_loudly(state):
    wrapper = FirstRequestsFail(create_pos_app(state), n=2, status=503, retry_after=None)
    handle = serve_in_thread(wrapper)
    try:
        client, sleeps = make_client(handle.url, max_attempts=4, backoff_base=0.5)
        assert client.list_locations()
        assert len(sleeps) == 2 and all(0 <= s <= 0.5 * 2 ** i for i, s in enumerate(sleeps))
        wrapper.remaining = 10
        client, sleeps = make_client(handle.url, max_attempts=3)
        with pytest.raises(ApiError) as info:
            client.list_locations()
        assert info.value.status == 503 and "SERVICE_UNAVAILABLE" in str(info.value)
        assert client.stats.requests == 3 and len(sleeps) == 2
    finally:
        handle.stop()


def test_auth_errors_are_not_retried_and_hide_the_token(served):
    client, sleeps = make_client(served.url, token="secret-wrong-token")
    with pytest.raises(ApiError) as info:
        client.list_locations()
    assert info.value.status == 401 and "UNAUTHORIZED" in str(info.value)
    assert "secret-wrong-token" not in str(info.value)
    assert client.stats.requests == 1 and sleeps == []


def test_from_settings_uses_pos_url_and_demo_token(served, monkeypatch):
    from storeflow.settings import get_settings

    monkeypatch.setenv("STOREFLOW_POS_URL", served.url)
    get_settings.cache_clear()
    client = SquareClient.from_settings()
    assert client.base_url == served.url
    assert client.session.headers["Square-Version"]
    assert len(client.list_locations()) == 3


# --- paging -----------------------------------------------------------------------------------------
def test_paginators_tolerate_empty_pages_and_stop_on_a_repeated_cursor():
    app = FastAPI()
    pages = {None: ([], "c1"), "c1": ([{"id": "a"}], "c2"), "c2": ([], "c3"), "c3": ([{"id": "b"}], None),
             "loop": ([{"id": "x"}], "loop")}

    @app.get("/v2/customers")
    async def customers(request: Request):
        items, cursor = pages[request.query_params.get("cursor")]
        body = {"customers": items}
        if cursor:
            body["cursor"] = cursor
        return body

    @app.post("/v2/customers/search")
    async def search(request: Request):
        items, cursor = pages["loop"]  # a broken server that hands out the same cursor forever
        return {"customers": items, "cursor": cursor}

    handle = serve_in_thread(app)
    try:
        client, _ = make_client(handle.url)
        got = list(client.list_customers())
        assert got == [[{"id": "a"}], [{"id": "b"}]]
        assert client.stats.requests == 4
        with pytest.raises(ApiError, match="repeated a cursor"):
            list(client.search_customers())
    finally:
        handle.stop()


def test_search_catalog_pages_everything_once(served):
    client, _ = make_client(served.url)
    objects = [{"type": "ITEM", "id": f"#i{i}", "item_data": {"name": f"Bulk {i}", "variations": [
        {"type": "ITEM_VARIATION", "id": f"#v{i}", "item_variation_data": {
            "name": "Regular", "sku": f"BULK-{i}", "price_money": {"amount": 100, "currency": "GBP"}}}]}}
        for i in range(120)]
    client.batch_upsert_catalog(objects)
    pages = list(client.search_catalog(None, object_types=["ITEM_VARIATION"], include_related=False, limit=25))
    ids = [o["id"] for page in pages for o in page]
    assert len(pages) == 6 and len(ids) == len(set(ids)) == 132
    assert client.last_latest_time is not None and client.last_latest_time.tzinfo is not None
    later = list(client.search_catalog(client.last_latest_time, object_types=["ITEM_VARIATION"]))
    assert later == []


def test_search_orders_chunks_locations_by_ten(state):
    extra = [{"id": f"LOCX{i:02d}", "name": f"Extra {i:02d}", "status": "ACTIVE", "timezone": "Europe/London",
              "currency": "GBP"} for i in range(12)]
    state.locations += extra
    handle = serve_in_thread(create_pos_app(state))
    try:
        client, _ = make_client(handle.url)
        s = requests.Session()
        for loc in ("LOCX00", "LOCX11"):
            r = s.post(handle.url + "/_sim/sales", json={"location_id": loc, "lines": [{"sku": "SKU-000-0",
                                                                                     "quantity": 1}]})
            assert r.status_code == 200
        all_locs = [x.id for x in client.list_locations()]
        assert len(all_locs) == 15
        start = NOW - timedelta(days=365)
        orders = [o for page in client.search_orders(all_locs, start, None) for o in page]
        assert {o["location_id"] for o in orders} >= {"LOCX00", "LOCX11"}
        assert len(orders) == 8 + 2 and len({o["id"] for o in orders}) == 10
        typed = [Order.model_validate(o) for o in orders]
        assert all(o.updated_at and o.updated_at.tzinfo for o in typed)
        # ascending updated_at within each location chunk
        first_chunk = [o for o in typed if o.location_id in all_locs[:10]]
        assert [o.updated_at for o in first_chunk] == sorted(o.updated_at for o in first_chunk)
    finally:
        handle.stop()


# --- batch writers ----------------------------------------------------------------------------------
def _sale(var: str, qty: int, ref: str) -> dict:
    return {"type": "ADJUSTMENT", "adjustment": {
        "catalog_object_id": var, "location_id": LOC1, "from_state": "IN_STOCK", "to_state": "SOLD",
        "quantity": str(qty), "reference_id": ref, "occurred_at": fmt_ts(datetime.now(UTC) - timedelta(seconds=5), 3)}}


def _in_stock(client: SquareClient) -> dict[str, Decimal]:
    return {c["catalog_object_id"]: Decimal(c["quantity"])
            for page in client.retrieve_inventory_counts(location_ids=[LOC1], states=["IN_STOCK"]) for c in page}


def test_batch_change_inventory_chunks_and_is_exactly_once_across_retries(served):
    client, _ = make_client(served.url)
    before = _in_stock(client)
    variations = sorted(before)
    changes = [_sale(variations[i % len(variations)], 1, f"web-{i}") for i in range(230)]
    results = client.batch_change_inventory(changes, "run-1")
    assert client.stats.requests == 1 + 3  # one read, then 100 + 100 + 30
    assert [r["already_applied"] for r in results] == [False] * 3
    after = _in_stock(client)
    expected = {v: before[v] - sum(1 for i in range(230) if variations[i % len(variations)] == v) for v in variations}
    assert after == expected
    # a crashed-and-rerun task rebuilds the same logical changes with fresh occurred_at: nothing is re-applied
    rebuilt = [_sale(variations[i % len(variations)], 1, f"web-{i}") for i in range(230)]
    again = client.batch_change_inventory(rebuilt, "run-1")
    assert [r["already_applied"] for r in again] == [True] * 3
    # an exact retry (lost response) replays Square's stored answer
    chunk = changes[:100]
    replay = client.batch_change_inventory(chunk, "run-1")
    assert replay[0]["already_applied"] is False and replay[0]["changes"] == results[0]["changes"]
    assert _in_stock(client) == expected
    history = [c for page in client.inventory_changes(reference_ids={"web-0", "web-229"}) for c in page]
    assert sorted(c["adjustment"]["reference_id"] for c in history) == ["web-0", "web-229"]


@pytest.mark.parametrize("stale_code", ["CONFLICT", "VERSION_MISMATCH"])
def test_batch_upsert_catalog_reapplies_after_version_mismatch(served, state, stale_code):
    state.config.stale_version_code = stale_code  # the spec says CONFLICT, Square's guides VERSION_MISMATCH
    client, _ = make_client(served.url)
    item = next(o for page in client.search_catalog(None, object_types=["ITEM"], include_related=False)
                for o in page if o["id"] == "ITEM001")
    # the merchant edits the price meanwhile → our copy is stale
    requests.post(served.url + "/_sim/price", json={"variation_id": "VAR001X0", "amount": 111})
    item["item_data"]["variations"][0]["item_variation_data"]["price_money"] = {"amount": 999, "currency": "GBP"}
    stale_version = item["item_data"]["variations"][0]["version"]
    client.batch_upsert_catalog([item])
    current = client.batch_retrieve_catalog(["VAR001X0"])[0]
    assert current["item_variation_data"]["price_money"]["amount"] == 999
    assert current["version"] > stale_version
    typed = parse_catalog_object(client.batch_retrieve_catalog(["ITEM001"])[0])
    assert isinstance(typed, CatalogItem) and typed.variations[0].price_money.amount == 999
    assert typed.category_ids and typed.variations[0].sku == "SKU-001-0"


# --- customers, orders, invoices -------------------------------------------------------------------
@pytest.mark.parametrize("stale_code", ["CONFLICT", "VERSION_MISMATCH"])
def test_customer_round_trip_and_sms_opt_out_in_note(served, state, stale_code):
    state.config.stale_version_code = stale_code
    client, _ = make_client(served.url)
    everyone = [Customer.model_validate(c) for page in client.list_customers(limit=2) for c in page]
    assert len(everyone) == 5
    dan = next(c for c in everyone if c.id == "CUSTD")
    assert dan.sms_opt_out is True and dan.email_address is None
    cleo = next(c for c in everyone if c.id == "CUSTC")
    assert cleo.email_unsubscribed is True
    start = datetime.now(UTC) - timedelta(seconds=1)
    created = client.create_customer({"given_name": "Nia", "email_address": "nia@example.com"}, "store-cust-9")
    assert client.create_customer({"given_name": "Nia", "email_address": "nia@example.com"},
                                  "store-cust-9")["id"] == created["id"]
    client.set_opt_out(created["id"], "sms", True)
    updated = Customer.model_validate(client.retrieve_customer(created["id"]))
    assert updated.sms_opt_out is True and updated.version == 1
    window = [c["id"] for page in client.search_customers(start, datetime.now(UTC) + timedelta(seconds=5))
              for c in page]
    assert window == [created["id"]]
    with pytest.raises(ApiError) as info:
        client.update_customer(created["id"], {"given_name": "N"}, version=0)
    assert error_codes(info.value) == [stale_code]


def test_order_invoice_and_typed_records(served):
    client, _ = make_client(served.url)
    order = client.create_order({
        "location_id": LOC1, "reference_id": "woo-1001", "metadata": {"storeflow_source": "store"},
        "line_items": [{"catalog_object_id": "VAR002X1", "quantity": "2"}]}, "woo-1001")
    typed = Order.model_validate(order)
    assert typed.metadata == {"storeflow_source": "store"} and typed.line_items[0].quantity == Decimal("2")
    assert typed.total_money.amount == 2 * (499 + 500 + 100)
    invoice = client.create_invoice({"location_id": LOC1, "order_id": order["id"],
                                     "payment_requests": [{"request_type": "BALANCE", "due_date": "2030-01-01"}]},
                                    "inv-woo-1001")
    published = client.publish_invoice(invoice["id"], invoice["version"], "pub-woo-1001")
    assert published["status"] == "UNPAID"
    receipt = client.create_order({"location_id": LOC1, "reference_id": "woo-1002",
                                   "metadata": {"storeflow_source": "store"},
                                   "line_items": [{"name": "Online sale", "quantity": "1",
                                                   "base_price_money": {"amount": 1250, "currency": "GBP"}}]}, "r-1002")
    client.pay_order_externally(receipt["id"], 1250, "GBP", "pay-woo-1002")
    client.pay_order_externally(receipt["id"], 1250, "GBP", "pay-woo-1002")  # a retry is harmless
    assert client.get_order(receipt["id"])["state"] == "COMPLETED"
    listed = [i["id"] for page in client.list_invoices(LOC1) for i in page]
    assert listed == [invoice["id"]]
    counts = [InventoryCount.model_validate(c) for page in client.retrieve_inventory_counts() for c in page]
    assert all(isinstance(c.quantity, Decimal) and c.calculated_at.tzinfo for c in counts)


def test_timestamp_parsing_is_tolerant_and_never_string_compared():
    values = ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.1Z", "2024-05-01T10:00:00.123Z",
              "2024-05-01T10:00:00.10296Z", "2024-05-01T10:00:00.808603647Z", "2024-05-01T12:00:00.5+02:00"]
    parsed = [parse_square_ts(v) for v in values]
    assert all(p.tzinfo is not None and p.utcoffset() == timedelta(0) for p in parsed)
    assert parsed[4] == datetime(2024, 5, 1, 10, 0, 0, 808603, tzinfo=UTC)
    assert parsed[5] == datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    # "…:00Z" sorts after "…:00.1Z" as a string, but not as time
    assert values[0] > values[1] and parsed[0] < parsed[1]
    with pytest.raises(ValueError):
        parse_square_ts("2024-05-01T10:00:00")
    assert note_opt_outs(set_note_opt_out("VIP\nlikes tea", "sms", True)) == {"sms": True}
    assert set_note_opt_out("VIP\nsms_opt_out: yes", "sms", False) == "VIP\nsms_opt_out: no"
    assert note_opt_outs("no consent info") == {}
    both = set_note_opt_out(set_note_opt_out(None, "sms", True), "email", True)
    assert note_opt_outs(both) == {"sms": True, "email": True}


def test_update_order_sends_the_required_location_id(served, state):
    client, _ = make_client(served.url)
    order = client.create_order({"location_id": LOC1, "reference_id": "woo-2001", "line_items": [
        {"catalog_object_id": "VAR002X1", "quantity": "1"}]}, "woo-2001")
    # no location given: the connector reads it from the order (the simulator refuses an Order without it)
    updated = client.update_order(order["id"], {"reference_id": "woo-2001-b"}, order["version"])
    assert updated["reference_id"] == "woo-2001-b" and updated["location_id"] == LOC1
    again = client.update_order(order["id"], {"reference_id": "woo-2001-c"}, updated["version"], location_id=LOC1)
    assert client.get_order(order["id"])["reference_id"] == "woo-2001-c" == again["reference_id"]
    with pytest.raises(ApiError) as info:  # stale version → CONFLICT per the spec
        client.update_order(order["id"], {"reference_id": "x"}, order["version"], location_id=LOC1)
    assert is_stale_version(info.value)


@pytest.mark.parametrize("stale_code", ["CONFLICT", "VERSION_MISMATCH"])
def test_set_opt_out_retries_on_either_stale_code(state, stale_code):
    """The first UpdateCustomer answers a stale-version error (the merchant edited meanwhile); the opt-out
    must still land, whichever code the POS used."""
    state.config.stale_version_code = stale_code
    app = create_pos_app(state)
    edited = {"n": 0}

    async def merchant_edits_first(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "PUT" and edited["n"] == 0:
            edited["n"] += 1
            with state.lock:  # the merchant's own edit bumps the version before ours arrives
                state.customers["CUSTA"]["version"] = int(state.customers["CUSTA"]["version"]) + 1
        await app(scope, receive, send)

    handle = serve_in_thread(merchant_edits_first)
    try:
        client, _ = make_client(handle.url)
        client.set_opt_out("CUSTA", "sms", True)
        assert note_opt_outs(Customer.model_validate(client.retrieve_customer("CUSTA")).note).get("sms") is True
        assert edited["n"] == 1
    finally:
        handle.stop()


def test_long_idempotency_keys_are_fitted_to_squares_limits(served):
    client, _ = make_client(served.url)
    key = "sf-cust-store-" + "9" * 60
    assert len(fit_key(key, 45)) == 45 and fit_key(key, 45) == fit_key(key, 45) != fit_key(key + "0", 45)
    created = client.create_customer({"given_name": "Lee", "email_address": "lee@example.com"}, key)
    assert client.create_customer({"given_name": "Lee", "email_address": "lee@example.com"}, key)["id"] == created["id"]
