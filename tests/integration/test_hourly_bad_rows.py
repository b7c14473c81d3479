"""Issue 11 items 2-6: bad rows where they really arrive - inside small hourly batches (1-3 rows).

Every test runs the real extract runner (:func:`storeflow.sync.extract.run_stream`) against SQLite and
PostgreSQL. Data comes over HTTP from the simulators; values a JSON encoder refuses to send (lone
surrogates, ``1e400``) are fed as the exact JSON text a server would send, decoded like the connector
decodes a response body.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from storeflow.connectors.square import SquareClient
from storeflow.connectors.woocommerce import WooClient
from storeflow.landing import LandingZone
from storeflow.quality.quarantine import QualityGateFailed
from storeflow.sync.extract import run_stream
from storeflow.sync.pos_streams import POS_STREAMS
from storeflow.sync.store_streams import STORE_STREAMS
from storeflow.warehouse.schema import (
    customer_identities,
    order_lines,
    orders,
    products,
    quarantine,
    stock_levels,
    sync_runs,
)
from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.pos import PosState, create_pos_app
from storeflow_simulators.pos_sample import sample_world
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.store import StoreState
from storeflow_simulators.store_testing import running_store, small_world

T0 = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


# --- fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def landing(tmp_path) -> LandingZone:
    return LandingZone.from_url(str(tmp_path / "landing"))


@pytest.fixture
def store_state() -> StoreState:
    st = StoreState.from_world(small_world(T0))
    st.clock.freeze(T0)
    return st


@pytest.fixture
def store(store_state):
    with running_store(store_state) as handle:
        yield handle


@pytest.fixture
def pos():
    state = PosState.from_world(sample_world(T0))
    state.clock.freeze(T0)
    handle = serve_in_thread(create_pos_app(state))
    handle.state = state  # type: ignore[attr-defined]
    yield handle
    handle.stop()


def woo(store) -> WooClient:
    return WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, per_page=3)


def square(pos) -> SquareClient:
    return SquareClient(pos.url, DEMO_POS_TOKEN, sleep=lambda s: None)


def run(engine, landing, client, spec, now: datetime, **kw) -> dict:
    return run_stream(engine, landing, client, spec, run_id=f"{spec.name}-{now:%d%H%M%S}", now=now, **kw)


def open_quarantine(engine, stream: str) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(quarantine).where(quarantine.c.stream == stream,
                                                        quarantine.c.resolved_at.is_(None)))
        return {(r.source_id, r.rule): dict(r._mapping) for r in rows}


def last_run(engine, stream: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(sa.select(sync_runs).where(sync_runs.c.stream == stream)
                           .order_by(sync_runs.c.id.desc()).limit(1)).one()
    return dict(row._mapping)


def details(row: dict) -> dict:
    value = row["details"]
    return value if isinstance(value, dict) else json.loads(value)


def payload_of(row: dict):
    value = row["payload"]
    return json.loads(value) if isinstance(value, str) else value


def fed(spec, *pages_json: str):
    """``spec`` whose fetch returns ``pages_json`` decoded as the connector decodes a response body."""
    return dataclasses.replace(spec, fetch=lambda client, window: [json.loads(text) for text in pages_json])


def place_order(store_state: StoreState, at: datetime, sku: str, quantity: int, **extra) -> dict:
    store_state.clock.freeze(at)
    return store_state.create_order({"status": "processing", "set_paid": True,
                                     "billing": {"email": "shopper@example.com"},
                                     "line_items": [{"sku": sku, "quantity": quantity}], **extra})


# --- item 2: an in-store oversell is data --------------------------------------------------------------
def test_pos_oversell_loads_with_a_counted_warning_and_never_blocks(warehouse, landing, pos, caplog):
    client = square(pos)
    run(warehouse, landing, client, POS_STREAMS["pos_catalog"], T0 + timedelta(minutes=1))
    run(warehouse, landing, client, POS_STREAMS["pos_inventory"], T0 + timedelta(minutes=1))
    var, loc = "VAR000X0", "LOC1MAINSTREET"
    on_hand = int(pos.state.quantity(var, loc))
    pos.state.clock.freeze(T0 + HOUR)
    client.batch_change_inventory([{"type": "ADJUSTMENT", "adjustment": {
        "catalog_object_id": var, "location_id": loc, "from_state": "IN_STOCK", "to_state": "SOLD",
        "quantity": str(on_hand + 2), "occurred_at": (T0 + HOUR).isoformat().replace("+00:00", "Z")}}],
        "oversell-test")
    assert int(pos.state.quantity(var, loc)) == -2  # the till sold two units the system did not have

    with caplog.at_level(logging.WARNING):
        result = run(warehouse, landing, client, POS_STREAMS["pos_inventory"], T0 + HOUR + timedelta(minutes=1))

    assert result["status"] == "success" and result["quarantined"] == 0
    assert 1 <= result["rows_read"] <= 3  # an hourly increment
    assert result["warnings"] == {"stock_negative": 1}
    with warehouse.connect() as conn:
        qty = conn.execute(sa.select(stock_levels.c.quantity).where(
            stock_levels.c.pos_variation_id == var, stock_levels.c.location_id == loc,
            stock_levels.c.state == "IN_STOCK")).scalar_one()
    assert qty == -2  # loaded as the POS holds it; the store push floors it at 0
    assert not [k for k in open_quarantine(warehouse, "pos_inventory") if k[1] == "stock_negative"]
    run_row = last_run(warehouse, "pos_inventory")
    assert run_row["status"] == "success" and details(run_row)["warning_stock_negative"] == 1
    assert details(run_row)["dq"]["warnings_by_rule"] == {"stock_negative": 1}
    assert any(r.levelno == logging.WARNING and "stock_negative=1" in r.getMessage() for r in caplog.records)


# --- item 3: the gate weighs the sample ----------------------------------------------------------------
def test_one_bad_order_in_an_hourly_batch_is_quarantined_and_the_rest_loads(warehouse, landing, store,
                                                                           store_state, caplog):
    client = woo(store)
    run(warehouse, landing, client, STORE_STREAMS["store_orders"], T0 + timedelta(minutes=1))
    good = place_order(store_state, T0 + timedelta(minutes=30), "COF-001", 1)
    bad = place_order(store_state, T0 + timedelta(minutes=31), "COF-002", 1)
    bad["total"] += 5000  # totals that do not add up (a buggy plugin): 1 of 2 rows = 50 % > 5 %

    with caplog.at_level(logging.WARNING):
        result = run(warehouse, landing, client, STORE_STREAMS["store_orders"], T0 + HOUR)

    assert result["status"] == "success" and result["rows_read"] == 2 and result["quarantined"] == 1
    assert result["quarantined_by_reason"] == {"total_mismatch": 1}
    with warehouse.connect() as conn:
        loaded = set(conn.execute(sa.select(orders.c.order_id)).scalars())
    assert str(good["id"]) in loaded and str(bad["id"]) not in loaded
    assert (str(bad["id"]), "total_mismatch") in open_quarantine(warehouse, "store_orders")
    dq = details(last_run(warehouse, "store_orders"))["dq"]
    assert dq["verdict"] == "warned" and dq["rows_quarantined"] == 1 and dq["min_rows"] == 20
    assert any(r.levelno == logging.WARNING and "1 of 2 rows quarantined" in r.getMessage() for r in caplog.records)


def test_a_systematic_problem_still_fails_the_batch(warehouse, landing):
    """25 of 30 stock counts unparseable: share and count both pass their limits, the run fails."""
    counts = [{"catalog_object_id": f"V{i}", "catalog_object_type": "ITEM_VARIATION", "state": "IN_STOCK",
               "location_id": "L1", "quantity": "lots" if i < 25 else "3", "calculated_at": "2024-07-01T12:00:00Z"}
              for i in range(30)]
    spec = fed(POS_STREAMS["pos_inventory"], json.dumps(counts))
    with pytest.raises(QualityGateFailed, match="25 of 30 rows quarantined"):
        run(warehouse, landing, None, spec, T0)
    assert last_run(warehouse, "pos_inventory")["status"] == "failed"
    # the same share on a small sample only warns
    spec = fed(POS_STREAMS["pos_inventory"], json.dumps(counts[20:26]))
    assert run(warehouse, landing, None, spec, T0 + HOUR)["status"] == "success"


# --- item 4: a store line with a negative quantity -----------------------------------------------------
def test_store_order_with_a_negative_line_is_quarantined_whole_naming_the_line(warehouse, landing, store,
                                                                             store_state):
    client = woo(store)
    run(warehouse, landing, client, STORE_STREAMS["store_orders"], T0 + timedelta(minutes=1))
    good = place_order(store_state, T0 + timedelta(minutes=20), "COF-003", 2)
    bad = store_state.create_order({"status": "processing", "billing": {"email": "odd@example.com"},
                                    "line_items": [{"sku": "COF-001", "quantity": 1},
                                                   {"sku": "COF-002", "quantity": -5}]})
    bad_line = str(bad["line_items"][1]["id"])
    assert bad["line_items"][1]["quantity"] == -5 and bad["line_items"][1]["subtotal"] < 0

    result = run(warehouse, landing, client, STORE_STREAMS["store_orders"], T0 + HOUR)

    assert result["status"] == "success" and result["quarantined"] == 1
    with warehouse.connect() as conn:
        loaded = set(conn.execute(sa.select(orders.c.order_id)).scalars())
        lines = set(conn.execute(sa.select(order_lines.c.order_id)).scalars())
        negative = conn.execute(sa.select(sa.func.count()).select_from(order_lines)
                                .where(order_lines.c.quantity <= 0)).scalar_one()
    assert str(good["id"]) in loaded and str(bad["id"]) not in loaded and str(bad["id"]) not in lines
    assert negative == 0  # nothing the POS would refuse ("quantity must be positive") is left to push
    q = open_quarantine(warehouse, "store_orders")
    reason = q[(str(bad["id"]), "line_quantity_negative")]["reason"]
    assert f"line {bad_line} quantity -5 is negative" in reason
    assert (str(bad["id"]), "line_amount_negative") in q


# --- item 5: values that crashed instead of being quarantined ------------------------------------------
def test_nul_bytes_huge_prices_and_year_one_dates_from_the_store(warehouse, landing, store, store_state):
    client = woo(store)
    for name in ("store_products", "store_orders", "store_customers"):
        run(warehouse, landing, client, STORE_STREAMS[name], T0 + timedelta(minutes=1))
    store_state.clock.freeze(T0 + timedelta(minutes=20))
    nul_sku = store_state.write_product({"name": "Mug", "sku": "MUG\u0000-01", "regular_price": "9.00"})
    huge = store_state.write_product({"name": "Gold mug", "sku": "MUG-GOLD", "regular_price": "100000000000000000000"})
    fine = store_state.write_product({"name": "Plain mug", "sku": "MUG-PLAIN", "regular_price": "7.50"})
    year_one = place_order(store_state, T0 + timedelta(minutes=21), "COF-001", 1)
    year_one["date_created"] = datetime(1, 1, 1, 12, 0, tzinfo=UTC)
    ok_order = place_order(store_state, T0 + timedelta(minutes=22), "COF-002", 1)
    nul_order = place_order(store_state, T0 + timedelta(minutes=23), "COF-003", 1,
                            customer_note="call me\u0000 later")

    now = T0 + HOUR
    res = {name: run(warehouse, landing, client, STORE_STREAMS[name], now)
           for name in ("store_products", "store_orders")}
    assert all(r["status"] == "success" for r in res.values()), res

    with warehouse.connect() as conn:
        skus = set(conn.execute(sa.select(products.c.sku)).scalars())
        loaded = set(conn.execute(sa.select(orders.c.order_id)).scalars())
    assert "MUG-PLAIN" in skus and "MUG-GOLD" not in skus and not any("\x00" in s for s in skus)
    assert str(ok_order["id"]) in loaded and not {str(year_one["id"]), str(nul_order["id"])} & loaded
    qp, qo = open_quarantine(warehouse, "store_products"), open_quarantine(warehouse, "store_orders")
    assert (str(huge["id"]), "price_out_of_range") in qp
    nul_row = qp[(str(nul_sku["id"]), "value_unstorable")]
    assert "sku contains a NUL byte" in nul_row["reason"]
    assert payload_of(nul_row)["sku"] == "MUG\\u0000-01"  # the original, visible as escaped text
    assert (str(year_one["id"]), "date_out_of_range") in qo
    assert (str(nul_order["id"]), "value_unstorable") in qo
    assert str(fine["id"]) not in {k[0] for k in qp}


def test_broken_text_in_a_customer_quarantines_the_field_not_the_customer(warehouse, landing, store_state):
    """A lone surrogate (a truncated emoji) in a name and a NUL in an email: the customer and their opt-out load."""
    raw = ('[{"id": 41, "email": "ann\\u0000@example.com", "first_name": "Ann \\ud83d", "last_name": "Lee",'
           ' "role": "customer", "username": "ann", "date_created_gmt": "2024-06-01T10:00:00",'
           ' "date_modified_gmt": "2024-07-01T12:30:00", "billing": {"phone": "+447700900123", "city": "Leeds"},'
           ' "shipping": {}, "meta_data": [{"id": 1, "key": "storeflow_email_optout",'
           ' "value": {"optout": true, "changed_at_gmt": "2024-07-01T12:30:00"}}]},'
           ' {"id": 42, "email": "bo@example.com", "first_name": "Bo", "last_name": "Ray", "role": "customer",'
           ' "username": "bo", "date_created_gmt": "2024-06-01T10:00:00", "date_modified_gmt": "2024-07-01T12:31:00",'
           ' "billing": {}, "shipping": {}, "meta_data": []}]')
    result = run(warehouse, landing, None, fed(STORE_STREAMS["store_customers"], raw), T0 + HOUR)
    assert result["status"] == "success"
    with warehouse.connect() as conn:
        idents = {r.source_id: r for r in conn.execute(sa.select(customer_identities))}
    assert set(idents) == {"41", "42"}
    assert idents["41"].email_norm is None and idents["41"].family_name == "Lee"
    assert idents["41"].phone_e164 == "+447700900123"
    q = open_quarantine(warehouse, "store_customers")
    assert {rule for sid, rule in q if sid == "41"} >= {"value_unstorable"}
    assert all("\x00" not in json.dumps(payload_of(r)) for r in q.values())


@pytest.mark.parametrize("case", ["price_1e20", "name_lone_surrogate", "stock_1e400_number", "stock_1e400_text",
                                  "stock_nan"])
def test_unstorable_pos_values_are_quarantined_and_the_rest_loads(warehouse, landing, case):
    item = {"type": "ITEM", "id": "ITEMBAD", "version": 7, "updated_at": "2024-07-01T12:10:00Z",
            "is_deleted": False, "item_data": {"name": "Tea", "variations": [
                {"type": "ITEM_VARIATION", "id": "VARBAD", "version": 7, "updated_at": "2024-07-01T12:10:00Z",
                 "is_deleted": False, "item_variation_data": {
                     "item_id": "ITEMBAD", "name": "Regular", "sku": "TEA-BAD", "pricing_type": "FIXED_PRICING",
                     "price_money": {"amount": 450, "currency": "GBP"}}}]}}
    good = json.loads(json.dumps(item).replace("BAD", "OK"))
    count = {"catalog_object_id": "VARBAD", "catalog_object_type": "ITEM_VARIATION", "state": "IN_STOCK",
             "location_id": "L1", "quantity": "3", "calculated_at": "2024-07-01T12:10:00Z"}
    good_count = dict(count, catalog_object_id="VAROK")
    if case.startswith("stock"):
        stream, rule, source_id = "pos_inventory", "value_unstorable", "VARBAD@L1:IN_STOCK"
        text = json.dumps([count, good_count])
        bad_value = {"stock_1e400_number": "1e400", "stock_1e400_text": '"1e400"', "stock_nan": "NaN"}[case]
        text = text.replace('"quantity": "3", "calculated_at": "2024-07-01T12:10:00Z"}',
                            f'"quantity": {bad_value}, "calculated_at": "2024-07-01T12:10:00Z"}}', 1)
        if case == "stock_1e400_text":
            rule = "quantity_out_of_range"
    else:
        stream, rule, source_id = "pos_catalog", "value_unstorable", "ITEMBAD"
        text = json.dumps([item, good])
        text = (text.replace('"amount": 450', '"amount": 100000000000000000000', 1) if case == "price_1e20"
                else text.replace('"name": "Tea"', '"name": "Tea \\udc00"', 1))
    assert json.loads(text)  # what the connector would have decoded from the response body
    result = run(warehouse, landing, None, fed(POS_STREAMS[stream], text), T0 + HOUR)
    assert result["status"] == "success" and result["quarantined"] == 1
    q = open_quarantine(warehouse, stream)
    keys = [k for k in q if k[1] == rule]
    assert keys and keys[0][0] in (source_id, "TEA-BAD"), q.keys()
    json.dumps(payload_of(q[keys[0]]), ensure_ascii=False).encode("utf-8")  # storable and readable
    with warehouse.connect() as conn:
        if stream == "pos_inventory":
            got = set(conn.execute(sa.select(stock_levels.c.pos_variation_id)).scalars())
            assert got == {"VAROK"}
        else:
            got = set(conn.execute(sa.select(products.c.sku)).scalars())
            assert got == {"TEA-OK"}


def test_a_guest_order_with_an_impossible_billing_email_still_loads(warehouse, landing, store, store_state):
    """A 330-character billing email (no address is that long) once failed the COPY of the whole page."""
    client = woo(store)
    run(warehouse, landing, client, STORE_STREAMS["store_orders"], T0 + timedelta(minutes=1))
    order = place_order(store_state, T0 + timedelta(minutes=30), "COF-001", 1,
                        billing={"email": "x" * 318 + "@example.com"})
    result = run(warehouse, landing, client, STORE_STREAMS["store_orders"], T0 + HOUR)
    assert result["status"] == "success" and result["rows_read"] == 1
    with warehouse.connect() as conn:
        email = conn.execute(sa.select(orders.c.email_norm).where(orders.c.order_id == str(order["id"]))).scalar_one()
    assert email is None
