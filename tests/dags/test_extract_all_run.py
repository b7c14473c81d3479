"""extract_all runs end to end under Airflow (``airflow dags test``) against the simulators."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from tests.dags.conftest import airflow_env

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_extract_all_lands_and_loads_every_stream(airflow_home, tmp_path):
    from storeflow.simulators.cluster import SimulatorCluster
    from storeflow.warehouse import schema as s
    from storeflow.warehouse.db import connect_warehouse

    data_dir = tmp_path / "data"
    ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
    with SimulatorCluster(seed=7, scale="tiny", ports=ports) as sims:
        env = airflow_env(airflow_home, {**sims.env(), "STOREFLOW_DATA_DIR": str(data_dir)})
        result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "extract_all"], env=env,
                                capture_output=True, text=True, timeout=900)
        world = sims.world
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    engine = connect_warehouse(f"sqlite:///{data_dir / 'warehouse.db'}")
    with engine.connect() as conn:
        runs = conn.execute(select(s.sync_runs.c.stream, s.sync_runs.c.status, s.sync_runs.c.rows_read)).all()
        n_products = conn.execute(select(func.count()).select_from(s.products)).scalar_one()
        n_orders = conn.execute(select(s.orders.c.source_system, func.count()).group_by(s.orders.c.source_system)).all()
        n_ident = conn.execute(select(func.count()).select_from(s.customer_identities)).scalar_one()
        quarantined = conn.execute(select(func.count()).select_from(s.quarantine)).scalar_one()
    statuses = {r.stream: r.status for r in runs}
    read = {r.stream for r in runs if r.rows_read}
    assert len(statuses) == 9 and set(statuses.values()) == {"success"}, statuses
    skus = {v.sku for p in world.products for v in p.variations}
    assert n_products == len(skus)
    by_system = dict(n_orders)
    assert by_system["store"] == sum(1 for o in world.orders if o.channel == "online")
    assert by_system["pos"] == sum(1 for o in world.orders if o.channel == "in_store")
    assert n_ident + quarantined >= len(world.pos_customers) + len(world.store_customers)
    pages = list((data_dir / "landing").rglob("page-*.jsonl.gz"))
    assert read >= set(statuses) - {"pos_invoices"}  # the seed has no POS invoices
    assert {p.parts[len((data_dir / "landing").parts)] for p in pages} >= read
