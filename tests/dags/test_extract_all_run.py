"""extract_all runs end to end under Airflow (``airflow dags test``) against the simulators."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import func, select

from scripts.airflow_env import airflow_env

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_extract_all_lands_and_loads_every_stream(airflow_home, tmp_path):
    from storeflow.warehouse import schema as s
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.cluster import SimulatorCluster

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
    assert_asset_events_tell_the_story(airflow_home, engine)
    assert_no_great_expectations_info(airflow_home, result.stdout + result.stderr)


def assert_asset_events_tell_the_story(airflow_home, engine) -> None:
    """Each extract's asset event carries the counts its sync_runs row holds, and the Data Docs link (issue 14)."""
    import json
    import sqlite3

    from storeflow.warehouse import schema as s

    db = sqlite3.connect(airflow_home / "airflow.db")
    try:
        events = db.execute(
            "SELECT e.source_task_id, a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE e.source_dag_id = 'extract_all' AND e.source_run_id = ("
            "  SELECT source_run_id FROM asset_event WHERE source_dag_id = 'extract_all' ORDER BY id DESC LIMIT 1)"
        ).fetchall()
    finally:
        db.close()
    by_task = {task: (uri, json.loads(extra) if isinstance(extra, str) else extra) for task, uri, extra in events}
    assert set(by_task) == {"pos_catalog", "pos_inventory", "store_products", "pos_orders", "store_orders",
                            "pos_invoices", "pos_customers", "store_customers"}, sorted(by_task)
    with engine.connect() as conn:
        rows = {r.task_id: r for r in conn.execute(select(s.sync_runs).where(s.sync_runs.c.dag_id == "extract_all"))}
    for task, (_uri, extra) in by_task.items():
        row = rows[task]
        assert extra["stream"] == task and extra["status"] == "success", extra
        assert (extra["rows"], extra["changed"], extra["pushed"], extra["quarantined"], extra["errors"]) == (
            row.rows_read, row.rows_changed, row.rows_pushed, row.quarantined, 0), (task, extra)
        assert "/storeflow/runs?" in extra["run_page"]
    customers = by_task["store_customers"][1]
    assert by_task["store_customers"][0].rstrip("/") == "warehouse://customers"
    assert customers["rows"] > 0 and customers["data_docs"], customers
    assert customers["data_docs_url"].endswith(customers["data_docs"].split("/landing/", 1)[1])


def assert_no_great_expectations_info(airflow_home, output: str) -> None:
    """The DQ tasks' logs keep storeflow's lines but none of Great Expectations' INFO chatter."""
    logs = [p.read_text(errors="replace") for p in (airflow_home / "logs").rglob("*") if p.is_file()]
    text = "\n".join([output, *logs])
    assert "[storeflow] DQ" in text or "Data Docs" in text, "no DQ log line captured: the check would prove nothing"
    noisy = [line for line in text.splitlines() if "great_expectations" in line and "INFO" in line.upper()]
    assert not noisy, noisy[:5]
