"""POS streams: fetch from the simulator over HTTP, load into SQLite and PostgreSQL warehouses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select

from storeflow.connectors.square import SquareClient
from storeflow.sync.pos_streams import POS_STREAMS
from storeflow.sync.streams import LoadContext, Window
from storeflow.warehouse.schema import (
    customer_identities,
    identity_consents,
    invoices,
    locations,
    metadata,
    order_lines,
    orders,
    products,
    quarantine,
    stock_levels,
)
from storeflow_simulators.credentials import DEMO_POS_TOKEN
from storeflow_simulators.pos import PosState, create_pos_app
from storeflow_simulators.pos_sample import sample_world
from storeflow_simulators.serve import serve_in_thread

NOW = datetime.now(UTC).replace(microsecond=0)
LOC1 = "LOC1MAINSTREET"
ORDER_STREAMS = ["pos_locations", "pos_catalog", "pos_inventory", "pos_orders", "pos_customers", "pos_invoices"]


@pytest.fixture
def wh(warehouse):
    return warehouse


@pytest.fixture
def pos_t0():
    return NOW


@pytest.fixture
def sim(pos_server):
    return pos_server


@pytest.fixture
def client(sim):
    return SquareClient(sim.url, DEMO_POS_TOKEN, sleep=lambda s: None)


def run(engine, client, name: str, start: datetime | None, end: datetime | None = None) -> dict[str, int]:
    """Fetch every page of one stream for a window and load each page in its own transaction."""
    spec = POS_STREAMS[name]
    window = Window(start=start if spec.incremental else None, end=end or datetime.now(UTC))
    ctx = LoadContext(run_id=f"test-{name}", stream=name, source_system="pos", loaded_at=datetime.now(UTC))
    totals = {"pages": 0, "read": 0, "changed": 0, "quarantined": 0}
    for page in spec.fetch(client, window):
        assert isinstance(page, list) and all(isinstance(x, dict) for x in page)
        with engine.begin() as conn:
            result = spec.load(conn, page, ctx)
        totals["pages"] += 1
        totals["read"] += result.read
        totals["changed"] += result.changed
        totals["quarantined"] += result.quarantined
    totals.update(ctx.counters)
    return totals


def full_load(engine, client) -> dict[str, dict[str, int]]:
    return {name: run(engine, client, name, None) for name in ORDER_STREAMS}


def count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_full_load_then_overlapping_rerun_changes_nothing(wh, client, sim):
    first = full_load(wh, client)
    assert count(wh, locations) == 3
    assert count(wh, products) == 12 and count(wh, products, products.c.is_deleted.is_(True)) == 0
    assert count(wh, stock_levels) == 24
    assert count(wh, orders, orders.c.source_system == "pos", orders.c.channel == "in_store") == 8
    assert count(wh, order_lines) == sum(1 + (k % 3 == 0) for k in range(8))
    assert count(wh, customer_identities, customer_identities.c.source_system == "pos") == 5
    assert first["pos_catalog"]["changed"] == 12
    with wh.connect() as conn:
        row = conn.execute(select(products).where(products.c.sku == "SKU-002-1")).mappings().one()
        assert row["name"] == "Toner product 2" and row["category"] == "Toner" and row["variation_name"] == "Large"
        assert row["price_minor"] == 499 + 500 + 100 and row["currency"] == "GBP" and row["pos_version"] > 0
        assert row["attributes"] == {"Size": "M"} and row["pos_updated_at"].tzinfo is not None
        bob = conn.execute(select(customer_identities)
                           .where(customer_identities.c.source_id == "CUSTB")).mappings().one()
        assert bob["email_norm"] == "bob.stone@example.com"
        assert bob["raw"]["email"].lower() == "bob.stone@example.com"  # cleaned; the vendor record is landed
        eve = conn.execute(select(customer_identities)
                           .where(customer_identities.c.source_id == "CUSTE")).mappings().one()
        assert eve["email_norm"] is None  # not an email
        consents = {(r.source_id, r.channel): r.status for r in conn.execute(select(identity_consents))}
        assert consents == {("CUSTC", "email"): "unsubscribed", ("CUSTD", "sms"): "unsubscribed"}
        line = conn.execute(select(order_lines).where(order_lines.c.order_id == "ORDERINSTORE0001")).mappings().first()
        assert line["sku"] and line["quantity"] == Decimal(2) and line["pos_variation_id"]
        discounted = conn.execute(select(orders).where(orders.c.order_id == "ORDERINSTORE0002")).mappings().one()
        assert discounted["discount_minor"] == 50 and discounted["paid_at"] is not None
    # a second run over an overlapping window (here: everything again) changes nothing
    start = NOW - timedelta(days=400)
    for name in ORDER_STREAMS:
        again = run(wh, client, name, start)
        assert again["changed"] == 0, (name, again)
        assert again["quarantined"] == 0  # CUSTE loads without its broken email (field-level quarantine)


def test_incremental_runs_pick_up_sales_prices_deletes_and_consents(wh, client, sim):
    full_load(wh, client)
    cursor = datetime.now(UTC)
    overlap = timedelta(minutes=5)
    sale = requests.post(sim.url + "/_sim/sales", json={
        "location_id": LOC1, "customer_id": "CUSTA", "lines": [{"sku": "SKU-000-0", "quantity": 2}]}).json()
    requests.post(sim.url + "/_sim/price", json={"sku": "SKU-001-0", "amount": 4321})
    requests.post(sim.url + "/_sim/delete", json={"object_id": "ITEM004"})
    requests.post(sim.url + "/_sim/customers/CUSTA/preferences", json={"email_unsubscribed": True})
    with wh.connect() as conn:
        stock_before = conn.execute(select(stock_levels.c.quantity).where(
            stock_levels.c.pos_variation_id == "VAR000X0", stock_levels.c.location_id == LOC1,
            stock_levels.c.state == "IN_STOCK")).scalar_one()
    results = {name: run(wh, client, name, cursor - overlap) for name in ORDER_STREAMS}
    assert results["pos_orders"]["changed"] == 1
    with wh.connect() as conn:
        got = conn.execute(select(orders).where(orders.c.order_id == sale["id"])).mappings().one()
        assert got["channel"] == "in_store" and got["status"] == "COMPLETED" and got["customer_source_id"] == "CUSTA"
        assert got["total_minor"] == 2 * 499
        stock_after = conn.execute(select(stock_levels.c.quantity).where(
            stock_levels.c.pos_variation_id == "VAR000X0", stock_levels.c.location_id == LOC1,
            stock_levels.c.state == "IN_STOCK")).scalar_one()
        assert stock_after == stock_before - 2
        assert conn.execute(select(products.c.price_minor).where(products.c.sku == "SKU-001-0")).scalar_one() == 4321
        deleted = conn.execute(select(products.c.is_deleted).where(products.c.pos_item_id == "ITEM004")).scalars().all()
        assert deleted and all(deleted)
        status = conn.execute(select(identity_consents.c.status).where(
            identity_consents.c.source_id == "CUSTA", identity_consents.c.channel == "email")).scalar_one()
        assert status == "unsubscribed"
    # only the changed records were read, not everything
    assert results["pos_catalog"]["read"] < 12 + 6 + 3
    assert results["pos_customers"]["read"] == 1


def test_offline_sale_arriving_late_is_found_by_its_updated_at(wh, client, sim):
    run(wh, client, "pos_orders", None)
    cursor = datetime.now(UTC)
    late = requests.post(sim.url + "/_sim/sales", json={
        "location_id": LOC1, "created_at": (cursor - timedelta(hours=50)).isoformat().replace("+00:00", "Z"),
        "lines": [{"sku": "SKU-003-0", "quantity": 1}]}).json()
    result = run(wh, client, "pos_orders", cursor - POS_STREAMS["pos_orders"].overlap)
    assert result["changed"] == 1
    with wh.connect() as conn:
        created = conn.execute(select(orders.c.created_at).where(orders.c.order_id == late["id"])).scalar_one()
    assert created < cursor - timedelta(hours=49)


def test_storeflow_echo_orders_are_not_loaded_as_in_store_sales(wh, client, sim):
    start = datetime.now(UTC) - timedelta(seconds=1)
    echo = client.create_order({"location_id": LOC1, "reference_id": "woo-55",
                                "metadata": {"storeflow_source": "store"},
                                "line_items": [{"catalog_object_id": "VAR001X0", "quantity": "1"}]}, "woo-55")
    result = run(wh, client, "pos_orders", start)
    assert result.get("echo_skipped") == 1
    assert count(wh, orders, orders.c.order_id == echo["id"]) == 0


def test_older_versions_never_overwrite_newer_ones(wh, client, sim):
    run(wh, client, "pos_catalog", None)
    var = client.batch_retrieve_catalog(["VAR001X0"])[0]
    item = client.batch_retrieve_catalog(["ITEM001"])[0]
    old_page = [item, var]
    requests.post(sim.url + "/_sim/price", json={"variation_id": "VAR001X0", "amount": 777})
    run(wh, client, "pos_catalog", NOW - timedelta(days=1))
    spec = POS_STREAMS["pos_catalog"]
    ctx = LoadContext(run_id="replay", stream="pos_catalog", source_system="pos", loaded_at=datetime.now(UTC))
    with wh.begin() as conn:
        result = spec.load(conn, old_page, ctx)  # a replay of an older landed page
    assert result.changed == 0 and ctx.counters.get("stale_skipped") == 1
    with wh.connect() as conn:
        assert conn.execute(select(products.c.price_minor).where(products.c.sku == "SKU-001-0")).scalar_one() == 777
    # within one page the highest version wins, whatever the order
    newer = client.batch_retrieve_catalog(["VAR001X0"])[0]
    older = dict(newer, version=newer["version"] - 10,
                 item_variation_data={**newer["item_variation_data"], "price_money": {"amount": 1, "currency": "GBP"}})
    with wh.begin() as conn:
        spec.load(conn, [item, newer, older], ctx)
    with wh.connect() as conn:
        assert conn.execute(select(products.c.price_minor).where(products.c.sku == "SKU-001-0")).scalar_one() == 777


def test_bad_records_are_quarantined_without_stopping_the_page(wh, client, sim):
    run(wh, client, "pos_catalog", None)
    ctx = LoadContext(run_id="bad", stream="pos_orders", source_system="pos", loaded_at=datetime.now(UTC))
    good = client.get_order("ORDERINSTORE0000")
    broken = dict(good, id="BROKEN1", line_items=[dict(good["line_items"][0], quantity="two")])
    with wh.begin() as conn:
        result = POS_STREAMS["pos_orders"].load(conn, [broken, good], ctx)
    assert result.quarantined == 1 and result.changed == 1
    no_sku = {"type": "ITEM", "id": "ITEMX", "version": 5, "updated_at": "2024-01-01T00:00:00Z", "is_deleted": False,
              "item_data": {"name": "No SKU", "variations": [
                  {"type": "ITEM_VARIATION", "id": "VARX", "version": 5, "is_deleted": False,
                   "item_variation_data": {"item_id": "ITEMX", "name": "Regular",
                                           "price_money": {"amount": 1, "currency": "GBP"}}}]}}
    dup = {"type": "ITEM", "id": "ITEMY", "version": 5, "updated_at": "2024-01-01T00:00:00Z", "is_deleted": False,
           "item_data": {"name": "Dup", "variations": [
               {"type": "ITEM_VARIATION", "id": "VARY", "version": 5, "is_deleted": False,
                "item_variation_data": {"item_id": "ITEMY", "name": "Regular", "sku": "SKU-000-0",
                                        "price_money": {"amount": 1, "currency": "GBP"}}}]}}
    ctx = LoadContext(run_id="bad", stream="pos_catalog", source_system="pos", loaded_at=datetime.now(UTC))
    with wh.begin() as conn:
        result = POS_STREAMS["pos_catalog"].load(conn, [no_sku, dup], ctx)
    assert result.quarantined == 2
    with wh.connect() as conn:
        rules = {r.rule for r in conn.execute(select(quarantine.c.rule))}
        owner = conn.execute(select(products.c.pos_variation_id).where(products.c.sku == "SKU-000-0")).scalar_one()
    assert rules == {"pos_order_invalid", "pos_missing_sku", "pos_duplicate_sku"}
    assert owner == "VAR000X0"


def test_invoices_full_rescan_and_customer_updates(wh, client, sim):
    order = client.create_order({"location_id": LOC1, "customer_id": "CUSTB",
                                 "line_items": [{"catalog_object_id": "VAR000X0", "quantity": "1"}]}, "inv-order-1")
    inv = client.create_invoice({"location_id": LOC1, "order_id": order["id"],
                                 "primary_recipient": {"customer_id": "CUSTB"}}, "inv-1")
    run(wh, client, "pos_invoices", None)
    client.publish_invoice(inv["id"], inv["version"], "pub-1")
    assert run(wh, client, "pos_invoices", None)["changed"] == 1
    with wh.connect() as conn:
        row = conn.execute(select(invoices).where(invoices.c.invoice_id == inv["id"])).mappings().one()
    assert row["status"] == "UNPAID" and row["order_id"] == order["id"] and row["total_minor"] == 499
    assert row["customer_source_id"] == "CUSTB"
    start = datetime.now(UTC) - timedelta(seconds=1)
    client.update_customer("CUSTB", {"email_address": "bob@example.org"})
    client.set_opt_out("CUSTB", "sms", True)
    assert run(wh, client, "pos_customers", start)["changed"] == 1
    with wh.connect() as conn:
        bob = conn.execute(select(customer_identities)
                           .where(customer_identities.c.source_id == "CUSTB")).mappings().one()
        sms = conn.execute(select(identity_consents.c.status).where(identity_consents.c.source_id == "CUSTB",
                                                                  identity_consents.c.channel == "sms")).scalar_one()
    assert bob["email_norm"] == "bob@example.org" and bob["source_version"] == 2 and sms == "unsubscribed"


def test_page_boundary_with_shared_timestamps_loses_nothing(wh, client, sim):
    run(wh, client, "pos_catalog", None)
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    requests.post(sim.url + "/_sim/clock", json={"freeze": True, "at": at.isoformat().replace("+00:00", "Z")})
    for i in range(6):
        requests.post(sim.url + "/_sim/price", json={"sku": f"SKU-{i:03d}-0", "amount": 2000 + i})
    requests.post(sim.url + "/_sim/clock", json={"freeze": False, "advance_seconds": 1})
    pages = list(client.search_catalog(at - timedelta(minutes=5), include_related=False, limit=4,
                                       object_types=["ITEM_VARIATION"]))
    assert len(pages) == 2
    spec = POS_STREAMS["pos_catalog"]
    ctx = LoadContext(run_id="b", stream="pos_catalog", source_system="pos", loaded_at=datetime.now(UTC))
    with wh.begin() as conn:
        for page in pages:
            spec.load(conn, page, ctx)
    with wh.connect() as conn:
        prices = dict(conn.execute(select(products.c.sku, products.c.price_minor).where(
            products.c.sku.in_([f"SKU-{i:03d}-0" for i in range(6)]))).all())
    assert prices == {f"SKU-{i:03d}-0": 2000 + i for i in range(6)}


def _snapshot(engine) -> dict[str, list[tuple]]:
    out = {}
    for table in (locations, products, stock_levels, orders, order_lines, customer_identities, identity_consents,
                  invoices):
        cols = [c for c in table.columns if c.name != "loaded_at"]
        with engine.connect() as conn:
            out[table.name] = sorted(tuple(str(v) for v in row) for row in conn.execute(select(*cols)))
    return out


def test_faults_do_not_change_what_is_loaded(tmp_path):
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.faults import FaultInjector

    snapshots, injected = [], 0
    for rate in (0.0, 0.3):
        state = PosState.from_world(sample_world(NOW))
        injector = FaultInjector(create_pos_app(state), rate=rate, seed=11, flavor="square", slow_range=(0.0, 0.01))
        handle = serve_in_thread(injector)
        engine = connect_warehouse(f"sqlite:///{tmp_path / f'wh-{rate}.db'}")
        metadata.create_all(engine)
        try:
            client = SquareClient(handle.url, DEMO_POS_TOKEN, sleep=lambda s: None, max_attempts=12)
            full_load(engine, client)
            snapshots.append(_snapshot(engine))
            injected += injector.stats()["total"]
        finally:
            handle.stop()
            engine.dispose()
    assert injected > 3  # the faulty run really was faulty
    assert snapshots[0] == snapshots[1]
    assert snapshots[0]["products"] and snapshots[0]["orders"]
