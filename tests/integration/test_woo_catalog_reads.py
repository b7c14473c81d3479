"""Catalog reads that use the store's real capabilities (issue 12 item 3), against the store simulator.

WooCommerce 10.0.2 has no ``GET /variations`` (404 ``rest_no_route``; added in 10.3) and moves a parent's
``date_modified`` when one of its variations changes (stock included). So an incremental read lists the
products changed in the window and reads variations only of the variable parents among them: an hourly
sync with nothing changed costs two requests, whatever the catalog size. Windows are sent as GMT with
``dates_are_gmt=true``, so a non-UTC site time zone does not shift them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from storeflow.connectors.woocommerce import WooClient
from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)
PARENTS = 20
SIZES = ("S", "M", "L")


@pytest.fixture
def store(store):
    """The shared store simulator, its site time zone set to Europe/Paris."""
    requests.put(f"{store.url}/_sim/timezone", json={"timezone": "Europe/Paris"}, timeout=10).raise_for_status()
    return store


def _options(store, **options) -> None:
    requests.put(f"{store.url}/_sim/options", json=options, timeout=10).raise_for_status()


def _client(store) -> WooClient:
    return WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET)


def _catalog(state, store) -> dict[int, list[int]]:
    """PARENTS variable products with three variations each, created through the REST API at T0."""
    woo = _client(store)
    made = woo.create_products([{"name": f"Jumper {i}", "type": "variable",
                                 "attributes": [{"name": "Size", "options": list(SIZES), "variation": True}]}
                                for i in range(PARENTS)])
    assert not made.errors
    out = {}
    for parent in made.ok:
        result = woo.create_variations(parent["id"], [
            {"sku": f"JMP-{parent['id']}-{s}", "regular_price": "30.00", "manage_stock": True, "stock_quantity": 5,
             "attributes": [{"name": "Size", "option": s}]} for s in SIZES])
        assert not result.errors
        out[parent["id"]] = [v["id"] for v in result.ok]
    return out


def _read(woo: WooClient, start, end) -> tuple[list[dict], int]:
    before = woo.stats.requests
    rows = [r for page in woo.iter_catalog(start, end) for r in page]
    return rows, woo.stats.requests - before


def test_without_variations_route_an_idle_hour_costs_two_requests(state, store):
    catalog = _catalog(state, store)
    woo = _client(store)
    full, cost = _read(woo, None, T0)  # first load: every parent
    variations = [r for r in full if r.get("type") == "variation"]
    assert len(variations) >= PARENTS * len(SIZES) and woo.has_variations_route() is False
    assert {r["parent_id"] for r in variations} >= set(catalog)
    assert cost >= PARENTS + 2

    state.clock.freeze(T0 + timedelta(hours=1))
    hourly = _client(store)  # a new task run: probes again
    rows, cost = _read(hourly, T0 + timedelta(minutes=55), T0 + timedelta(hours=1))
    assert rows == [] and cost == 2, (len(rows), cost)  # products window + the 404 probe

    # a variation's stock changes (REST stock-only batch, then a shopper's checkout): its parent moves
    parent, (var_s, var_m, _) = next(iter(catalog.items()))
    state.clock.freeze(T0 + timedelta(hours=1, minutes=10))
    assert not _client(store).batch_update_variations(parent, [{"id": var_s, "stock_quantity": 2}]).errors
    state.clock.freeze(T0 + timedelta(hours=1, minutes=20))
    requests.post(f"{store.url}/_sim/orders", json={"email": "shopper@example.com", "line_items": [
        {"sku": f"JMP-{parent}-M", "quantity": 1}]}, timeout=10).raise_for_status()
    state.clock.freeze(T0 + timedelta(hours=2))
    woo2 = _client(store)
    rows, cost = _read(woo2, T0 + timedelta(hours=1) - timedelta(minutes=5), T0 + timedelta(hours=2))
    stock = {r["id"]: r.get("stock_quantity") for r in rows if r.get("type") == "variation"}
    assert stock[var_s] == 2 and stock[var_m] == 4
    assert {r["parent_id"] for r in rows if r.get("type") == "variation"} == {parent}
    assert cost == 3, cost  # products window, the probe, one parent's variations
    # the probe is remembered on the client
    rows, cost = _read(woo2, T0 + timedelta(hours=1) - timedelta(minutes=5), T0 + timedelta(hours=2))
    assert cost == 2


def test_with_variations_route_reads_the_window_there(state, store):
    _options(store, wc_version="10.3.0")
    catalog = _catalog(state, store)
    state.clock.freeze(T0 + timedelta(hours=1))
    woo = _client(store)
    rows, cost = _read(woo, T0 + timedelta(minutes=55), T0 + timedelta(hours=1))
    assert rows == [] and cost == 2 and woo.has_variations_route() is True
    parent, (var_s, _, _) = next(iter(catalog.items()))
    state.clock.freeze(T0 + timedelta(hours=1, minutes=10))
    woo.batch_update_variations(parent, [{"id": var_s, "stock_quantity": 1}])
    rows, cost = _read(woo, T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    variations = [r for r in rows if r.get("type") == "variation"]
    assert [(r["id"], r["stock_quantity"]) for r in variations] == [(var_s, 1)] and cost == 2


def test_gmt_windows_do_not_shift_with_a_non_utc_site(state, store):
    """Paris is UTC+2 in July: a window read as site-local time would miss this edit by two hours."""
    woo = _client(store)
    state.clock.freeze(T0 + timedelta(minutes=30))
    sku = "COF-002"
    target = woo.find_by_skus([sku])[sku]
    woo.batch_update_products([{"id": target.id, "regular_price": "11.50"}])
    state.clock.freeze(T0 + timedelta(hours=3))
    inside = {r["id"] for page in woo.iter_products(T0, T0 + timedelta(hours=1)) for r in page}
    before = {r["id"] for page in woo.iter_products(T0 - timedelta(hours=2), T0) for r in page}
    after = {r["id"] for page in woo.iter_products(T0 + timedelta(hours=1), T0 + timedelta(hours=3))
             for r in page}
    assert target.id in inside and target.id not in before and target.id not in after
    local = woo.call("GET", f"/products/{target.id}")
    assert local["date_modified"] != local["date_modified_gmt"]  # the site really is not on UTC
