"""Issue 11 item 8 (no needless writes) and the oversell warning, over HTTP against the simulators.

Write requests are counted inside the store simulator (an ASGI layer in front of its app), and the
store's values are read back over its API. The store runs with WooCommerce 10.x behaviour: order-driven
stock changes move ``date_modified``, so the windowed ``store_products`` extract sees them.
"""

from __future__ import annotations

import logging

import pytest
import requests
from sqlalchemy import select

from storeflow.sync.catalog import minor_to_price
from storeflow.warehouse.schema import catalog_push_state, products
from tests.e2e.pipeline import Pipeline
from tests.integration.stock_helpers import expected_store_stock, log_store_requests, pos_sellable

pytestmark = pytest.mark.slow


@pytest.fixture
def sims(sims):
    """The shared cluster, its store moving ``date_modified`` on stock changes."""
    requests.put(f"{sims.store_url}/_sim/options", json={"stock_bumps_modified": True},
                 timeout=10).raise_for_status()
    return sims


@pytest.fixture
def pipe(sims, warehouse) -> Pipeline:
    p = Pipeline(warehouse, sims.pos_url, sims.store_url)
    p.extract("pos_locations", "store_orders")
    p.sync_orders()  # go-live: earlier online orders are already in POS stock
    p.sync_catalog()
    return p


def _simple_sku(p: Pipeline, min_stock: int = 4) -> tuple[str, str, int, int]:
    """A simple store product with stock: (sku, POS variation id, store product id, store stock)."""
    with p.engine.connect() as conn:
        row = conn.execute(
            select(products.c.sku, products.c.pos_variation_id, products.c.store_product_id, products.c.store_stock)
            .where(products.c.store_product_id.is_not(None), products.c.store_variation_id.is_(None),
                   products.c.store_stock >= min_stock, products.c.is_deleted.is_(False))
            .order_by(products.c.sku).limit(1)
        ).one()
    return row.sku, row.pos_variation_id, row.store_product_id, row.store_stock


def _shown(p: Pipeline, sku: str):
    return p.store.find_by_skus([sku])[sku]


def test_store_already_lowered_for_an_order_gets_no_stock_write(pipe, sims):
    """Store at 71 after its own decrement for a paid order, desired 72 − 1 unapplied = 71: no request."""
    sku, _, _, stock = _simple_sku(pipe)
    log = log_store_requests(sims)
    requests.post(f"{sims.store_url}/_sim/orders", json={"email": "shopper@example.com",
                                                         "line_items": [{"sku": sku, "quantity": 1}]},
                  timeout=10).raise_for_status()
    assert _shown(pipe, sku).stock_quantity == stock - 1
    pipe.extract("store_orders")  # the orders sync has read the order but not applied it to the POS yet
    log.clear()
    result = pipe.sync_catalog()
    assert log.writes() == [], result.as_dict()
    assert result.requests == 0 and result.skipped_writes == 1, result.as_dict()
    assert _shown(pipe, sku).stock_quantity == stock - 1
    with pipe.engine.connect() as conn:
        assert conn.execute(select(catalog_push_state.c.stock_quantity)
                            .where(catalog_push_state.c.sku == sku)).scalar_one() == stock - 1
    # the order reaches the POS: desired stays at stock − 1 and still nothing is written
    pipe.sync_orders()
    log.clear()
    again = pipe.sync_catalog()
    assert log.writes() == [] and again.changed == 0, again.as_dict()
    assert _shown(pipe, sku).stock_quantity == stock - 1


def test_price_the_store_already_shows_is_not_written(pipe, sims):
    sku, var_id, product_id, _ = _simple_sku(pipe)
    new_price = _shown(pipe, sku).regular_price_minor + 250
    requests.post(f"{sims.pos_url}/_sim/price", json={"variation_id": var_id, "amount": new_price},
                  timeout=10).raise_for_status()
    # the shop owner typed the same new price into the store's admin before the sync ran
    pipe.store.call("PUT", f"/products/{product_id}", json={"regular_price": minor_to_price(new_price)})
    log = log_store_requests(sims)
    result = pipe.sync_catalog()
    assert log.writes() == [] and result.skipped_writes == 1, result.as_dict()
    assert _shown(pipe, sku).regular_price_minor == new_price
    # control: a price the store does not show yet costs exactly one batch write
    requests.post(f"{sims.pos_url}/_sim/price", json={"variation_id": var_id, "amount": new_price + 1},
                  timeout=10).raise_for_status()
    log.clear()
    result = pipe.sync_catalog()
    assert log.writes() == [("POST", "/wp-json/wc/v3/products/batch")], log.writes()
    assert result.pushed == 1 and _shown(pipe, sku).regular_price_minor == new_price + 1


def test_in_store_oversell_floors_at_zero_and_warns(pipe, sims, caplog):
    """One SKU oversold below 0 in total (store gets 0, counted warning); one oversold at one shop only
    (its negative count is subtracted from the other location's stock)."""
    locations = [loc.id for loc in pipe.pos.list_locations() if loc.status == "ACTIVE"]
    assert len(locations) >= 2
    with pipe.engine.connect() as conn:
        rows = conn.execute(
            select(products.c.sku, products.c.pos_variation_id)
            .where(products.c.store_product_id.is_not(None), products.c.store_stock >= 4,
                   products.c.is_deleted.is_(False)).order_by(products.c.sku).limit(2)).all()
    (over_sku, over_var), (mixed_sku, mixed_var) = rows
    sellable = pos_sellable(pipe.pos, sims.pos_url)
    counts = requests.get(f"{sims.pos_url}/_sim/inventory", timeout=10).json()["counts"]
    at_first = {c["catalog_object_id"]: int(float(c["quantity"])) for c in counts
                if c["location_id"] == locations[0] and c["state"] == "IN_STOCK"}
    for var, qty in ((over_var, int(sellable[over_var]) + 3), (mixed_var, at_first.get(mixed_var, 0) + 2)):
        requests.post(f"{sims.pos_url}/_sim/sales", json={"location_id": locations[0], "lines": [
            {"variation_id": var, "quantity": qty}]}, timeout=10).raise_for_status()
    after = pos_sellable(pipe.pos, sims.pos_url)
    assert after[over_var] == -3 and after[mixed_var] > 0  # the POS really holds a negative count
    caplog.set_level(logging.WARNING, logger="storeflow.sync.catalog")
    result = pipe.sync_catalog()
    expected = expected_store_stock(pipe.pos, sims.pos_url)
    assert expected[over_sku] == 0 and _shown(pipe, over_sku).stock_quantity == 0
    assert _shown(pipe, mixed_sku).stock_quantity == expected[mixed_sku] == int(after[mixed_var])
    assert result.negative_pos_stock == 1 and result.as_dict()["warnings"] == {"negative_pos_stock": 1}
    warned = [r.getMessage() for r in caplog.records
              if r.name == "storeflow.sync.catalog" and r.levelno == logging.WARNING and "negative" in r.getMessage()]
    assert len(warned) == 1 and over_sku in warned[0] and "1 SKUs" in warned[0]


@pytest.fixture
def synced(sims, warehouse) -> Pipeline:
    p = Pipeline(warehouse, sims.pos_url, sims.store_url)
    p.sync_catalog()
    return p


def _simple_skus(p: Pipeline, n: int) -> list[tuple[str, str, int]]:
    with p.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(products.c.sku, products.c.pos_variation_id, products.c.store_product_id)
            .where(products.c.store_product_id.is_not(None), products.c.store_variation_id.is_(None),
                   products.c.is_deleted.is_(False)).order_by(products.c.sku).limit(n))]


def _reprice(sims, var_id: str, amount: int) -> None:
    requests.post(f"{sims.pos_url}/_sim/price", json={"variation_id": var_id, "amount": amount},
                  timeout=10).raise_for_status()


def test_store_rejections_past_the_error_budget_fail_the_push(synced, sims, caplog):
    """Products deleted for good in the store's admin: every write to them is rejected item by item."""
    from storeflow.sync.push_errors import PushErrorBudgetExceeded

    rows = _simple_skus(synced, 5)
    for i, (_, var_id, product_id) in enumerate(rows):
        _reprice(sims, var_id, 5000 + i)
        if i < 4:
            synced.store.call("DELETE", f"/products/{product_id}", params={"force": "true"})
    with pytest.raises(PushErrorBudgetExceeded) as failed:
        synced.sync_catalog()
    assert failed.value.attempted == 5 and failed.value.failed == 4
    assert "push_catalog" in str(failed.value) and rows[0][0] in str(failed.value)
    # the one accepted write is recorded; the rejected ones are not (they are retried next run)
    with synced.engine.connect() as conn:
        pushed = dict(conn.execute(select(catalog_push_state.c.sku, catalog_push_state.c.price_minor)
                                   .where(catalog_push_state.c.sku.in_([r[0] for r in rows]))).all())
    assert pushed[rows[4][0]] == 5004 and all(pushed[r[0]] != 5000 + i for i, r in enumerate(rows[:4]))


def test_a_single_store_rejection_in_a_small_batch_warns(synced, sims, caplog):
    rows = _simple_skus(synced, 2)
    for i, (_, var_id, _) in enumerate(rows):
        _reprice(sims, var_id, 6000 + i)
    synced.store.call("DELETE", f"/products/{rows[0][2]}", params={"force": "true"})
    caplog.set_level(logging.WARNING, logger="storeflow.sync.push_errors")
    result = synced.sync_catalog()
    assert result.pushed == 1 and len(result.errors) == 1
    assert any("push_catalog: 1 of 2" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_a_write_the_store_answers_but_does_not_keep_is_an_error_and_retried(synced, sims):
    """WooCommerce with stock management switched off site-wide answers 200 and keeps the old stock."""
    sku, var_id, _ = _simple_skus(synced, 1)[0]
    before = _shown(synced, sku).stock_quantity
    requests.post(f"{sims.pos_url}/_sim/sales", json={"lines": [{"variation_id": var_id, "quantity": 1}]},
                  timeout=10).raise_for_status()
    requests.put(f"{sims.store_url}/_sim/options", json={"manage_stock": False}, timeout=10).raise_for_status()
    result = synced.sync_catalog()
    assert [e["code"] for e in result.errors] == ["not_kept"] and result.pushed == 0, result.as_dict()
    assert _shown(synced, sku).stock_quantity != before - 1
    with synced.engine.connect() as conn:
        assert conn.execute(select(catalog_push_state.c.stock_quantity)
                            .where(catalog_push_state.c.sku == sku)).scalar_one() == before
    # stock management back on: the next run sends it again and it sticks
    requests.put(f"{sims.store_url}/_sim/options", json={"manage_stock": True}, timeout=10).raise_for_status()
    again = synced.sync_catalog()
    assert again.pushed == 1 and not again.errors and _shown(synced, sku).stock_quantity == before - 1
