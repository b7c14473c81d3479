"""Benchmark: the diff-based catalog push vs a naive full push, on the same store, in the same run.

A store simulator holds N simple products (default 100,000). The warehouse knows them all and what was
last pushed; then 1 % of the SKUs change in the POS (half price, half stock). We time:

* the diff push (:func:`storeflow.sync.catalog.push_catalog`: plan from the warehouse + batches of 100
  for the changed SKUs only), counting its requests against the minimum possible (ceil(changed/100));
* the naive full push of every SKU's price and stock in batches of 100 (what a sync without state does).

Goals: diff push ≥ 20× faster than the naive push; requests within 5 % of the minimum.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))


def build_world(n: int, now: datetime):
    """A world with ``n`` simple products at one location and no customers or orders."""
    from storeflow_simulators.world import Location, Product, StockCount, Truth, Variation, World

    rng = random.Random(7)
    loc = Location("LBENCH0000001", "Bench shop", "Europe/London")
    products, stock = [], []
    for i in range(n):
        var = Variation(f"V{i:09d}", f"SKU-{i:07d}", "Regular", rng.randrange(199, 9999))
        products.append(Product(f"I{i:09d}", f"Product {i}", "Bench", [var]))
        stock.append(StockCount(var.variation_id, loc.location_id, rng.randrange(0, 80)))
    truth = Truth(seed=7, scale="bench", duplicate_pairs=[], person_of={}, true_rates={}, planted_defects={})
    return World(now=now, currency="GBP", store_timezone="Europe/London", locations=[loc], categories=["Bench"],
                 products=products, stock=stock, people=[], pos_customers=[], store_customers=[], orders=[],
                 truth=truth)


def seed_warehouse(engine, world, state) -> None:
    """Warehouse rows as after an extract and a push: products with store ids, stock, push_state."""
    from storeflow.warehouse.schema import catalog_push_state, locations, products, stock_levels
    from storeflow.warehouse.upsert import upsert

    now = datetime.now(UTC)
    store_id = {rec["sku"]: pid for pid, rec in state.products.items()}
    qty = {s.variation_id: s.quantity for s in world.stock}
    loc = world.locations[0].location_id
    prod_rows, stock_rows, pushed = [], [], []
    for p in world.products:
        v = p.variations[0]
        prod_rows.append({"sku": v.sku, "pos_item_id": p.item_id, "pos_variation_id": v.variation_id,
                          "name": p.name, "price_minor": v.price_minor, "currency": "GBP", "track_inventory": True,
                          "is_deleted": False, "store_product_id": store_id[v.sku], "store_variation_id": None,
                          "store_price_minor": v.price_minor, "store_stock": qty[v.variation_id], "loaded_at": now})
        stock_rows.append({"pos_variation_id": v.variation_id, "location_id": loc, "state": "IN_STOCK", "sku": v.sku,
                           "quantity": qty[v.variation_id], "calculated_at": now, "loaded_at": now})
        pushed.append({"sku": v.sku, "price_minor": v.price_minor, "stock_quantity": qty[v.variation_id],
                       "pushed_at": now})
    with engine.begin() as conn:
        upsert(conn, locations, [{"location_id": loc, "name": "Bench", "status": "ACTIVE", "loaded_at": now}])
        upsert(conn, products, prod_rows)
        upsert(conn, stock_levels, stock_rows)
        upsert(conn, catalog_push_state, pushed)


def change_one_percent(engine, world, share: float) -> int:
    """Change ``share`` of the SKUs in the warehouse, as a POS extract would: half price, half stock."""
    from sqlalchemy import update

    from storeflow.warehouse.schema import products, stock_levels

    rng = random.Random(11)
    chosen = rng.sample(world.products, int(len(world.products) * share))
    with engine.begin() as conn:
        for i, p in enumerate(chosen):
            v = p.variations[0]
            if i % 2:
                conn.execute(update(products).where(products.c.sku == v.sku).values(price_minor=v.price_minor + 50))
            else:
                conn.execute(update(stock_levels).where(stock_levels.c.sku == v.sku)
                             .values(quantity=stock_levels.c.quantity + 5))
    return len(chosen)


def naive_full_push(engine, client) -> tuple[float, int]:
    """Push every SKU's price and stock (batches of 100); return (seconds, requests)."""
    from sqlalchemy import select

    from storeflow.sync.catalog import minor_to_price
    from storeflow.sync.stock import desired_store_stock
    from storeflow.warehouse.schema import products

    started = time.perf_counter()
    with engine.connect() as conn:
        stock = desired_store_stock(conn)
        rows = conn.execute(select(products.c.sku, products.c.store_product_id, products.c.price_minor)).all()
    updates = [{"id": r.store_product_id, "regular_price": minor_to_price(r.price_minor), "manage_stock": True,
                "stock_quantity": stock.get(r.sku, 0)} for r in rows]
    result = client.batch_update_products(updates)
    return time.perf_counter() - started, result.requests


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table and BENCH lines."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of SKUs changed in the POS")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="storeflow-bench-catalog-"))
    os.environ["STOREFLOW_DATA_DIR"] = str(tmp)
    from storeflow.connectors.woocommerce import WooClient
    from storeflow.sync.catalog import push_catalog
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
    from storeflow_simulators.serve import serve_in_thread
    from storeflow_simulators.store import StoreState, create_store_app  # noqa: F401

    t0 = time.perf_counter()
    world = build_world(args.skus, datetime.now(UTC).replace(microsecond=0))
    state = StoreState.from_world(world)
    engine = connect_warehouse(f"sqlite:///{tmp / 'warehouse.db'}")
    seed_warehouse(engine, world, state)
    changed = change_one_percent(engine, world, args.changed)
    print(f"setup: {args.skus} SKUs in the store and the warehouse, {changed} changed "
          f"({time.perf_counter() - t0:.1f}s)", flush=True)
    with serve_in_thread(create_store_app(state)) as server:
        client = WooClient(server.url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        started = time.perf_counter()
        result = push_catalog(engine, client)
        diff_s = time.perf_counter() - started
        naive_s, naive_requests = naive_full_push(engine, WooClient(server.url, DEMO_STORE_KEY, DEMO_STORE_SECRET))
    minimum = -(-changed // 100)
    speedup = naive_s / diff_s if diff_s else float("inf")
    excess = result.requests / minimum - 1 if minimum else 0.0
    print(f"\n{'':<28}{'seconds':>10}{'requests':>10}{'SKUs sent':>11}")
    print(f"{'diff push (storeflow)':<28}{diff_s:>10.2f}{result.requests:>10}{result.pushed:>11}")
    print(f"{'naive full push':<28}{naive_s:>10.2f}{naive_requests:>10}{args.skus:>11}")
    print(f"{'minimum possible':<28}{'':>10}{minimum:>10}{changed:>11}")
    print(f"\nspeed-up {speedup:.1f}x (goal >= 20), requests {result.requests} vs minimum {minimum} "
          f"({excess:+.1%}, goal within 5%)\n")
    print(f"BENCH sync_catalog speedup={speedup:.2f} baseline=naive_full_push goal>=20")
    print(f"BENCH sync_catalog request_excess_pct={excess * 100:.2f} baseline=minimum_requests goal<=5")
    print(f"BENCH sync_catalog diff_push_s={diff_s:.3f} baseline=none")
    print(f"BENCH sync_catalog requests={result.requests} baseline=none minimum={minimum}")
    ok = result.pushed == changed and not result.errors
    if not ok:
        print(f"ERROR: pushed {result.pushed} of {changed}, errors {result.errors[:3]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
