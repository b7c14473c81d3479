"""The store-side stock formula on a real warehouse (SQLite and PostgreSQL).

store stock = max(0, sellable POS stock of the feeding locations − buffer − unapplied online units);
a negative count (in-store oversell) counts with its real value; counts join products by variation id
whatever order they were loaded in; stock that is not known yet is not pushed (NULL), never 0.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from storeflow.settings import get_settings
from storeflow.sync.stock import (
    GO_LIVE_STREAM,
    desired_stock_query,
    desired_store_stock,
    stock_state_counts,
    unapplied_online_units,
)
from storeflow.warehouse.runs import set_cursor
from storeflow.warehouse.schema import locations, order_line_sync, order_lines, orders, products, stock_levels
from storeflow.warehouse.upsert import upsert

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LOCS = [("SHOP", "ACTIVE"), ("DEPOT", "ACTIVE"), ("OLD", "INACTIVE")]
# sku → (variation id, counts per location (IN_STOCK), extra)
ITEMS = {
    "OVERSOLD": ("V-OVER", {"SHOP": "-4", "DEPOT": "1"}, {}),  # sum -3 → 0, warned
    "MIXED": ("V-MIX", {"SHOP": "-2", "DEPOT": "9"}, {}),  # sum 7: the negative count really counts
    "PLAIN": ("V-PLAIN", {"SHOP": "5", "DEPOT": "6", "OLD": "100"}, {}),  # inactive location ignored
    "FRACTION": ("V-FRAC", {"SHOP": "2.5"}, {}),  # floor(2.5) = 2
    "SOLD-ONLINE": ("V-ONL", {"SHOP": "10"}, {}),  # 10 − 3 unapplied online units
    "UNTRACKED": ("V-UNT", {"SHOP": "3"}, {"track_inventory": False}),
    "GONE": ("V-GONE", {"SHOP": "8"}, {"is_deleted": True}),
    "NO-COUNTS": ("V-NONE", {}, {}),  # unknown until an inventory run has committed
}


def _load(engine, *, counts_first: bool) -> None:
    prods = [{"sku": sku, "pos_variation_id": var, "pos_item_id": f"I-{var}", "name": sku, "price_minor": 1000,
              "currency": "GBP", "track_inventory": extra.get("track_inventory", True),
              "is_deleted": extra.get("is_deleted", False), "pos_updated_at": NOW - timedelta(days=1),
              "loaded_at": NOW} for sku, (var, _, extra) in ITEMS.items()]
    # counts loaded before the catalog carry no SKU (what load_inventory could look up: nothing)
    stock = [{"pos_variation_id": var, "location_id": loc, "state": "IN_STOCK", "quantity": Decimal(q),
              "sku": None if counts_first else sku, "calculated_at": NOW, "loaded_at": NOW}
             for sku, (var, per_loc, _) in ITEMS.items() for loc, q in per_loc.items()]
    stock.append({"pos_variation_id": "V-PLAIN", "location_id": "SHOP", "state": "SOLD", "quantity": Decimal(50),
                  "sku": None, "calculated_at": NOW, "loaded_at": NOW})  # SOLD is not sellable
    with engine.begin() as conn:
        upsert(conn, locations, [{"location_id": loc, "name": loc, "status": status, "loaded_at": NOW}
                                 for loc, status in LOCS])
        for table, rows in ([(stock_levels, stock), (products, prods)] if counts_first
                            else [(products, prods), (stock_levels, stock)]):
            upsert(conn, table, rows)
        set_cursor(conn, GO_LIVE_STREAM, "store", NOW - timedelta(days=2), "go-live")
        upsert(conn, orders, [
            {"source_system": "store", "order_id": oid, "channel": "online", "status": status,
             "created_at": NOW - timedelta(hours=1), "loaded_at": NOW}
            for oid, status in (("1", "processing"), ("2", "processing"), ("3", "cancelled"))])
        upsert(conn, order_lines, [
            {"source_system": "store", "order_id": oid, "line_id": lid, "sku": "SOLD-ONLINE",
             "quantity": Decimal(q), "loaded_at": NOW}
            for oid, lid, q in (("1", "a", 2), ("1", "b", 1), ("2", "c", 4), ("3", "d", 5))])
        # line c already moved POS stock: it no longer counts
        upsert(conn, order_line_sync, [{"store_order_id": "2", "line_id": "c", "sku": "SOLD-ONLINE",
                                        "pos_variation_id": "V-ONL", "location_id": "SHOP",
                                        "quantity": Decimal(4), "applied_at": NOW, "updated_at": NOW}])


@pytest.mark.parametrize("counts_first", [True, False], ids=["counts_first", "catalog_first"])
def test_formula_whatever_the_load_order(warehouse, counts_first):
    _load(warehouse, counts_first=counts_first)
    with warehouse.connect() as conn:
        stock = desired_store_stock(conn)
        states = stock_state_counts(conn)
        assert unapplied_online_units(conn) == {"SOLD-ONLINE": 3}
    assert stock == {"OVERSOLD": 0, "MIXED": 7, "PLAIN": 11, "FRACTION": 2, "SOLD-ONLINE": 7, "GONE": 0}
    assert states == {"negative": 1, "ok": 4, "untracked": 1, "deleted": 1, "unknown": 1}


def test_buffer_applies_after_the_negative_sum(warehouse, monkeypatch):
    monkeypatch.setenv("STOREFLOW_STOCK_BUFFER", "2")
    get_settings.cache_clear()
    _load(warehouse, counts_first=True)
    with warehouse.connect() as conn:
        stock = desired_store_stock(conn)
    assert stock == {"OVERSOLD": 0, "MIXED": 5, "PLAIN": 9, "FRACTION": 0, "SOLD-ONLINE": 5, "GONE": 0}


def test_no_counts_is_unknown_until_an_inventory_run_committed(warehouse):
    _load(warehouse, counts_first=False)
    query = desired_stock_query
    with warehouse.connect() as conn:
        row = {r.sku: r for r in conn.execute(query(conn))}["NO-COUNTS"]
    assert row.desired_stock is None and row.stock_state == "unknown"
    with warehouse.begin() as conn:  # an inventory run committed after the catalog saw the variation
        set_cursor(conn, "pos_inventory", "pos", NOW, "inv")
    with warehouse.connect() as conn:
        row = {r.sku: r for r in conn.execute(query(conn))}["NO-COUNTS"]
    assert row.desired_stock == 0 and row.stock_state == "ok"
