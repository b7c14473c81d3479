"""Faults and crashes do not change the end state (issues: Foundation, Sync DAGs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
from sqlalchemy import select

from storeflow.warehouse import schema as s
from storeflow_simulators.cluster import EPHEMERAL_PORTS
from tests.e2e.pipeline import Pipeline

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.slow


def _warehouse_snapshot(engine) -> dict:
    """Everything loaded, without load timestamps or ids the simulators mint at random."""
    with engine.connect() as conn:
        return {
            "products": sorted(conn.execute(select(
                s.products.c.sku, s.products.c.price_minor, s.products.c.is_deleted, s.products.c.store_price_minor,
                s.products.c.store_stock, s.products.c.store_product_id)).all()),
            "stock": sorted(conn.execute(select(
                s.stock_levels.c.pos_variation_id, s.stock_levels.c.location_id, s.stock_levels.c.state,
                s.stock_levels.c.quantity)).all()),
            # seeded orders in full; orders placed during the test by content (the POS mints random ids)
            "orders": sorted(conn.execute(select(
                s.orders.c.source_system, s.orders.c.order_id, s.orders.c.status, s.orders.c.total_minor,
                s.orders.c.created_at).where(s.orders.c.created_at <= NOW)).all()),
            "new_orders": sorted(conn.execute(select(
                s.orders.c.source_system, s.orders.c.status, s.orders.c.total_minor).where(
                s.orders.c.created_at > NOW)).all()),
            "lines": sorted(conn.execute(select(
                s.order_lines.c.source_system, s.order_lines.c.sku, s.order_lines.c.quantity)).all()),
            "identities": sorted(conn.execute(select(
                s.customer_identities.c.source_system, s.customer_identities.c.source_id,
                s.customer_identities.c.customer_id, s.customer_identities.c.email_norm).where(
                s.customer_identities.c.match_rule.is_distinct_from("created_from_store"))).all()),
            # POS customers created from store customers get ids the POS mints: compare what they hold
            "created_in_pos": sorted(conn.execute(select(
                s.customer_identities.c.customer_id, s.customer_identities.c.email_norm).where(
                s.customer_identities.c.match_rule == "created_from_store")).all()),
            "customers": sorted(conn.execute(select(s.customers.c.customer_id, s.customers.c.email,
                                                    s.customers.c.phone)).all()),
            "consents": sorted(conn.execute(select(s.consents.c.customer_id, s.consents.c.channel,
                                                   s.consents.c.status)).all()),
            "quarantine": sorted(conn.execute(select(s.quarantine.c.stream, s.quarantine.c.source_id,
                                                     s.quarantine.c.rule)).all()),
            "applied": sorted(conn.execute(select(s.order_line_sync.c.store_order_id, s.order_line_sync.c.line_id,
                                                  s.order_line_sync.c.quantity)).all()),
        }


def _systems_snapshot(sims) -> dict:
    """The POS's inventory and the store's catalogue, as each simulator holds them."""
    store = {rec["sku"]: (rec.get("regular_price"), rec.get("stock_quantity"))
             for rec in sims.store_state.products.values() if rec.get("sku")}
    counts = requests.get(f"{sims.pos_url}/_sim/inventory", timeout=30).json()["counts"]
    pos = {(c["catalog_object_id"], c["location_id"], c["state"]): c["quantity"] for c in counts}
    return {"store": store, "pos_inventory": pos}


def _scenario(sims, engine) -> dict:
    """First load, then a day of changes in both systems, then every sync."""
    pipe = Pipeline(engine, sims.pos_url, sims.store_url)
    pipe.extract_all()
    pipe.sync_orders()
    pipe.sync_catalog()
    with engine.connect() as conn:
        skus = conn.execute(select(s.products.c.sku, s.products.c.pos_variation_id).where(
            s.products.c.store_stock > 3).order_by(s.products.c.sku).limit(3)).all()
    requests.post(f"{sims.pos_url}/_sim/price", json={"variation_id": skus[0].pos_variation_id, "amount": 4242},
                  timeout=10).raise_for_status()
    requests.post(f"{sims.pos_url}/_sim/sales", json={"lines": [{"variation_id": skus[1].pos_variation_id,
                                                                 "quantity": 2}]}, timeout=10).raise_for_status()
    requests.post(f"{sims.store_url}/_sim/orders", json={"email": "fault.test@example.com",
                                                         "line_items": [{"sku": skus[2].sku, "quantity": 1}]},
                  timeout=10).raise_for_status()
    pipe.sync_orders()
    pipe.sync_catalog()
    pipe.sync_customers()
    return _systems_snapshot(sims)


def test_faults_do_not_change_the_end_state(tmp_path):
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.cluster import SimulatorCluster

    results = []
    for rate in (0.0, 0.1):
        with SimulatorCluster(seed=21, scale="tiny", faults=rate, ports=EPHEMERAL_PORTS, now=NOW) as sims:
            engine = connect_warehouse(f"sqlite:///{tmp_path / f'w{rate}.db'}")
            systems = _scenario(sims, engine)
            faults = sims.fault_stats()
            results.append((_warehouse_snapshot(engine), systems, faults))
            engine.dispose()
    (clean_wh, clean_sys, _), (faulty_wh, faulty_sys, faults) = results
    injected = sum(v["total"] for v in faults.values())
    assert injected > 10, f"the faulty run saw too few faults to prove anything: {faults}"
    for table in clean_wh:
        assert faulty_wh[table] == clean_wh[table], f"{table} differs after faults"
    assert faulty_sys["store"] == clean_sys["store"]
    assert faulty_sys["pos_inventory"] == clean_sys["pos_inventory"]


KILLER = textwrap.dedent('''
    import os, signal, sys
    from storeflow.connectors.square import SquareClient
    from storeflow_simulators.credentials import DEMO_POS_TOKEN
    from storeflow.sync.orders_push import push_movements
    from storeflow.warehouse.db import connect_warehouse

    pos_url, db_url, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = SquareClient(pos_url, DEMO_POS_TOKEN)
    original = client.batch_change_inventory
    calls = {"n": 0}

    def dying(*args, **kwargs):
        result = original(*args, **kwargs)  # the POS applied the change...
        calls["n"] += 1
        if calls["n"] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # ...and we die before recording it
        return result

    client.batch_change_inventory = dying
    push_movements(connect_warehouse(db_url), client, run_id="doomed")
''')


def test_sync_orders_killed_half_way_then_rerun_applies_each_line_once(tmp_path):
    from storeflow.sync.order_movements import fulfilment_location
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.cluster import SimulatorCluster

    db_url = f"sqlite:///{tmp_path / 'w.db'}"
    with SimulatorCluster(seed=22, scale="tiny", ports=EPHEMERAL_PORTS, now=NOW) as sims:
        engine = connect_warehouse(db_url)
        pipe = Pipeline(engine, sims.pos_url, sims.store_url)
        pipe.extract_all()
        pipe.sync_orders()  # go-live
        with engine.connect() as conn:
            location = fulfilment_location(conn)
            skus = conn.execute(select(s.products.c.sku, s.products.c.pos_variation_id).where(
                s.products.c.store_stock > 5).order_by(s.products.c.sku).limit(4)).all()
        before = {sku.pos_variation_id: _in_stock(pipe, sku.pos_variation_id, location) for sku in skus}
        order_ids = []
        for i in range(8):
            sku = skus[i % len(skus)]
            r = requests.post(f"{sims.store_url}/_sim/orders", json={
                "email": f"kill{i}@example.com", "line_items": [{"sku": sku.sku, "quantity": 1}]}, timeout=10)
            order_ids.append(str(r.json()["id"]))
        pipe.extract("store_orders")
        doomed = subprocess.run([sys.executable, "-c", KILLER, sims.pos_url, db_url, "4"], capture_output=True,
                                text=True, timeout=300)
        assert doomed.returncode == -9, doomed.stderr[-2000:]
        with engine.connect() as conn:
            recorded = conn.execute(select(s.order_line_sync.c.store_order_id).where(
                s.order_line_sync.c.applied_at.is_not(None), s.order_line_sync.c.store_order_id.in_(order_ids))).all()
        assert len(recorded) == 3  # the 4th reached the POS but was never recorded
        again = pipe.sync_orders()
        assert again["adjustments"] == 5
        assert pipe.sync_orders()["adjustments"] == 0
        changes = Counter(
            (c["adjustment"]["reference_id"]) for page in pipe.pos.inventory_changes(reference_ids=order_ids)
            for c in page if c.get("type") == "ADJUSTMENT")
        assert changes == Counter({oid: 1 for oid in order_ids})
        sold = Counter(skus[i % len(skus)].pos_variation_id for i in range(8))
        for var, qty in before.items():
            assert _in_stock(pipe, var, location) == qty - sold[var]


def _in_stock(pipe: Pipeline, variation_id: str, location: str) -> Decimal:
    counts = [c for page in pipe.pos.retrieve_inventory_counts(catalog_object_ids=[variation_id],
                                                               location_ids=[location])
              for c in page if c["state"] == "IN_STOCK"]
    return sum((Decimal(c["quantity"]) for c in counts), Decimal(0))

