"""Store streams: fetch from the simulator over HTTP, land, load into the warehouse (SQLite + PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from storeflow.connectors.woocommerce import WooClient
from storeflow.landing import LandingZone
from storeflow.sync.extract import run_stream
from storeflow.sync.store_streams import STORE_STREAMS, load_orders
from storeflow.sync.streams import LoadContext
from storeflow.warehouse.schema import metadata
from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store_testing import running_store

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)
SNAPSHOT_TABLES = ("products", "orders", "order_lines", "customer_identities", "identity_consents")


@pytest.fixture
def engine(warehouse):
    return warehouse


@pytest.fixture
def landing(tmp_path) -> LandingZone:
    return LandingZone.from_url(str(tmp_path / "landing"))


def woo(store) -> WooClient:
    return WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, per_page=3)


def run(engine, landing, store, name, now, **kw):
    return run_stream(engine, landing, woo(store), STORE_STREAMS[name], run_id=f"{name}-{now:%H%M%S}", now=now, **kw)


def run_all(engine, landing, store, now) -> dict[str, dict]:
    return {name: run(engine, landing, store, name, now) for name in STORE_STREAMS}


def rows(engine, table: str, order: str) -> list[dict]:
    with engine.connect() as conn:
        query = sa.select(metadata.tables[table]).order_by(*[sa.text(c.strip()) for c in order.split(",")])
        return [dict(r._mapping) for r in conn.execute(query)]


def snapshot(engine) -> dict[str, list]:
    keys = {"products": "sku", "orders": "order_id", "order_lines": "order_id, line_id",
            "customer_identities": "source_id", "identity_consents": "source_id, channel"}
    out = {}
    for table in SNAPSHOT_TABLES:
        out[table] = [{k: v for k, v in r.items() if k != "loaded_at"} for r in rows(engine, table, keys[table])]
    return out


def test_full_load_maps_every_stream(engine, landing, store):
    with engine.begin() as conn:  # the POS already owns COF-001: its name and price must survive
        conn.execute(sa.text("INSERT INTO products (sku, name, price_minor, pos_variation_id, is_deleted, loaded_at) "
                             "VALUES ('COF-001', 'POS Coffee One', 999, 'VAR1', false, :t)"), {"t": T0})
    results = run_all(engine, landing, store, T0 + timedelta(minutes=1))
    assert all(r["status"] == "success" for r in results.values())
    assert results["store_orders"]["rows_read"] == 4 and results["store_customers"]["rows_read"] == 3
    products = {r["sku"]: r for r in rows(engine, "products", "sku")}
    assert set(products) == {"COF-001", "COF-002", "COF-003", "COF-004", "COF-005", "GIFT-01", "TEE-RED-M",
                             "TEE-RED-L", "TEE-BLUE-M", "TEE-BLUE-L"}  # the variable parent has no SKU
    cof = products["COF-001"]
    assert (cof["name"], cof["price_minor"], cof["pos_variation_id"]) == ("POS Coffee One", 999, "VAR1")
    assert (cof["store_product_id"], cof["store_variation_id"], cof["store_price_minor"], cof["store_stock"],
            cof["store_status"]) == (100, None, 1050, 10, "publish")
    tee = products["TEE-BLUE-M"]
    assert (tee["store_product_id"], tee["store_variation_id"], tee["store_price_minor"]) == (105, 108, 2000)
    assert tee["name"].startswith("T-shirt") and not tee["is_deleted"]
    assert products["GIFT-01"]["store_status"] == "draft"
    assert cof["store_updated_at"] == datetime(2022, 4, 23, 12, 0, tzinfo=UTC)

    orders = {r["order_id"]: r for r in rows(engine, "orders", "order_id")}
    assert set(orders) == {"5001", "5002", "5003", "5004"}
    guest = orders["5003"]
    assert guest["customer_source_id"] is None and guest["email_norm"] == "dan@example.com"
    assert (guest["total_minor"], guest["tax_minor"], guest["channel"], guest["source_system"]) == (
        4025, 575, "online", "store")
    ann = orders["5001"]
    assert ann["customer_source_id"] == "1" and ann["email_norm"] == "ann@example.com"
    assert ann["acquisition_channel"] == "ads" and ann["user_agent"].startswith("Mozilla/5.0 (iPhone")
    assert ann["created_via"] == "checkout" and ann["paid_at"] == datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    assert orders["5002"]["acquisition_channel"] == "coupon" and orders["5002"]["discount_minor"] == 300
    assert orders["5004"]["status"] == "cancelled"
    lines = rows(engine, "order_lines", "order_id, line_id")
    assert [(r["order_id"], r["sku"], int(r["quantity"]), r["unit_price_minor"]) for r in lines] == [
        ("5001", "COF-001", 2, 1050), ("5002", "TEE-RED-M", 1, 2000), ("5002", "COF-002", 1, 1100),
        ("5003", "COF-003", 3, 1150), ("5004", "COF-004", 1, 1200)]

    idents = {r["source_id"]: r for r in rows(engine, "customer_identities", "source_id")}
    assert idents["1"]["email_norm"] == "ann@example.com" and idents["1"]["phone_e164"] == "+447700900001"
    assert idents["1"]["country"] == "GB" and idents["1"]["source_system"] == "store"
    raw = idents["1"]["raw"] if isinstance(idents["1"]["raw"], dict) else json.loads(idents["1"]["raw"])
    assert raw["email"] == "Ann@example.com"  # cleaned (trimmed, domain lower-cased); the raw page is landed
    consents = {(r["source_id"], r["channel"]): (r["status"], r["changed_at"])
                for r in rows(engine, "identity_consents", "source_id, channel")}
    assert consents[("2", "email")] == ("unsubscribed", datetime(2024, 6, 26, 12, 0, tzinfo=UTC))
    assert consents[("1", "email")][0] == "subscribed" and ("2", "sms") not in consents


def test_rerun_over_overlapping_window_changes_nothing(engine, landing, state, store):
    # changes at T0 fall inside the second run's overlap (cursor - 5 min), so they are read twice
    requests.post(f"{store.url}/_sim/products/touch", json={"ids": [100, 101, 107]}, timeout=10).raise_for_status()
    requests.post(f"{store.url}/_sim/orders", json={"customer_id": 2, "line_items": [{"sku": "COF-005",
                                                                                       "quantity": 1}]},
                  timeout=10).raise_for_status()
    requests.put(f"{store.url}/_sim/customers/2/consent", json={"channel": "sms", "optout": True},
                 timeout=10).raise_for_status()
    run_all(engine, landing, store, T0 + timedelta(minutes=1))
    before = snapshot(engine)
    again = run_all(engine, landing, store, T0 + timedelta(minutes=2))  # window overlaps the first one
    assert {k: r["rows_read"] for k, r in again.items()} == {
        "store_products": 3, "store_orders": 1, "store_customers": 1}
    assert all(r["rows_changed"] == 0 for r in again.values()), again
    full = {name: run(engine, landing, store, name, T0 + timedelta(minutes=3), full=True) for name in STORE_STREAMS}
    assert all(r["rows_changed"] == 0 for r in full.values()), full
    assert snapshot(engine) == before


def test_new_online_order_appears_after_next_incremental_run(engine, landing, state, store):
    run_all(engine, landing, store, T0 + timedelta(minutes=1))
    state.clock.freeze(T0 + timedelta(minutes=10))
    placed = requests.post(f"{store.url}/_sim/orders", json={
        "email": "new.shopper@example.com", "line_items": [{"sku": "TEE-RED-L", "quantity": 2}],
        "user_agent": "Mozilla/5.0 (Android)", "acquisition_channel": "referral"}, timeout=10).json()
    result = run(engine, landing, store, "store_orders", T0 + timedelta(minutes=20))
    assert result["window_start"] is not None and result["rows_read"] == 1 and result["rows_changed"] == 1
    order = {r["order_id"]: r for r in rows(engine, "orders", "order_id")}[str(placed["id"])]
    assert order["customer_source_id"] is None and order["email_norm"] == "new.shopper@example.com"
    assert order["total_minor"] == 4000 and order["acquisition_channel"] == "referral"
    assert order["created_via"] == "checkout" and order["status"] == "processing"
    # WooCommerce 10.x: the shopper's stock reduction moves the variation's and its parent's date_modified,
    # so the next windowed read sees it (the parent and its four variations, no /variations route on 10.0.2)
    windowed = run(engine, landing, store, "store_products", T0 + timedelta(minutes=21))
    stock = {r["sku"]: r["store_stock"] for r in rows(engine, "products", "sku")}
    assert windowed["rows_read"] == 5 and stock["TEE-RED-L"] == 8
    run(engine, landing, store, "store_products", T0 + timedelta(minutes=22), full=True)
    assert {r["sku"]: r["store_stock"] for r in rows(engine, "products", "sku")}["TEE-RED-L"] == 8


def test_incremental_customers_and_variation_changes(engine, landing, state, store):
    run_all(engine, landing, store, T0 + timedelta(minutes=1))
    state.clock.freeze(T0 + timedelta(minutes=10))
    requests.put(f"{store.url}/_sim/customers/3/email", json={"email": "Cat.New@Example.com"},
                 timeout=10).raise_for_status()
    requests.put(f"{store.url}/_sim/customers/1/consent", json={"channel": "email", "optout": True},
                 timeout=10).raise_for_status()
    state.write_product({"regular_price": "21.00"}, state.products[107])  # a variation-only price change
    customers = run(engine, landing, store, "store_customers", T0 + timedelta(minutes=20))
    assert customers["rows_read"] == 2 and customers["rows_changed"] == 2  # client-side filter
    idents = {r["source_id"]: r for r in rows(engine, "customer_identities", "source_id")}
    assert idents["3"]["email_norm"] == "cat.new@example.com"
    consents = {(r["source_id"], r["channel"]): r for r in rows(engine, "identity_consents", "source_id, channel")}
    assert consents[("1", "email")]["status"] == "unsubscribed"
    assert consents[("1", "email")]["changed_at"] == T0 + timedelta(minutes=10)
    products = run(engine, landing, store, "store_products", T0 + timedelta(minutes=20))
    assert products["rows_read"] == 5  # 10.0.2: the variation's change moves its parent; parent + 4 variations
    assert {r["sku"]: r["store_price_minor"] for r in rows(engine, "products", "sku")}["TEE-RED-L"] == 2100


class _OldStore:
    """A store before WooCommerce 10.3: no ``GET /variations`` route."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].rstrip("/") == "/wp-json/wc/v3/variations":
            body = json.dumps({"code": "rest_no_route", "message": "No route was found matching the URL and "
                               "request method.", "data": {"status": 404}}).encode()
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def test_old_store_without_variations_route(engine, landing, state):
    with running_store(state, wrap=_OldStore) as handle:
        first = run(engine, landing, handle, "store_products", T0 + timedelta(minutes=1))
        assert first["status"] == "success"
        assert "TEE-BLUE-L" in {r["sku"] for r in rows(engine, "products", "sku")}
        state.clock.freeze(T0 + timedelta(minutes=10))
        state.write_product({"regular_price": "19.00"}, state.products[109])
        run(engine, landing, handle, "store_products", T0 + timedelta(minutes=20))
    assert {r["sku"]: r["store_price_minor"] for r in rows(engine, "products", "sku")}["TEE-BLUE-L"] == 1900


def test_bad_records_are_quarantined_without_stopping_the_page(engine, store):
    good = woo(store).call("GET", "/orders/5001")
    bad = {**woo(store).call("GET", "/orders/5002"), "total": "twelve pounds"}
    no_date = {**woo(store).call("GET", "/orders/5003"), "date_created_gmt": None}
    ctx = LoadContext(run_id="q1", stream="store_orders", source_system="store", loaded_at=T0)
    with engine.begin() as conn:
        result = load_orders(conn, [bad, good, no_date], ctx)
    assert (result.read, result.changed, result.quarantined) == (3, 1, 2)
    assert [r["order_id"] for r in rows(engine, "orders", "order_id")] == ["5001"]
    quarantined = rows(engine, "quarantine", "source_id")
    assert [(q["source_id"], q["rule"], q["stream"]) for q in quarantined] == [
        ("5002", "store_record_invalid", "store_orders"), ("5003", "store_record_invalid", "store_orders")]
    assert "total" in quarantined[0]["reason"]


def test_older_store_whose_stock_changes_do_not_move_date_modified(engine, landing, state, store):
    """Before WooCommerce 10 (issue #40060) a shopper's stock reduction left date_modified alone: only the
    full scan (reconcile_inventory) sees it."""
    requests.put(f"{store.url}/_sim/options", json={"legacy_stock_date_modified": True},
                 timeout=10).raise_for_status()
    run_all(engine, landing, store, T0 + timedelta(minutes=1))
    state.clock.freeze(T0 + timedelta(minutes=10))
    requests.post(f"{store.url}/_sim/orders", json={
        "email": "new.shopper@example.com", "line_items": [{"sku": "TEE-RED-L", "quantity": 2}]},
        timeout=10).raise_for_status()
    windowed = run(engine, landing, store, "store_products", T0 + timedelta(minutes=21))
    assert windowed["rows_read"] == 0
    assert {r["sku"]: r["store_stock"] for r in rows(engine, "products", "sku")}["TEE-RED-L"] == 10
    run(engine, landing, store, "store_products", T0 + timedelta(minutes=22), full=True)
    assert {r["sku"]: r["store_stock"] for r in rows(engine, "products", "sku")}["TEE-RED-L"] == 8
