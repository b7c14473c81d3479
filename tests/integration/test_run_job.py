"""``run_job`` runs a job of the job table without Airflow, against the simulators over real HTTP, and every
step - extracts AND pushes - leaves its ``sync_runs`` row (the library records runs, not the Airflow glue)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from storeflow import jobs
from storeflow.resources import ConnectionFields, Resources
from storeflow.run_job import run_job
from storeflow.sync.freshness import check_freshness
from storeflow.warehouse.runs import recorded_run
from storeflow.warehouse.schema import sync_runs
from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET

pytestmark = pytest.mark.slow


@pytest.fixture
def sim_seed() -> int:
    return 3


def _resources(sims, engine) -> Resources:
    """The library's own resources (as a CLI builds them): connections to the simulators and the warehouse."""
    url = engine.url.render_as_string(hide_password=False)
    return Resources({
        "storeflow_pos": ConnectionFields("storeflow_pos", host=sims.pos_url, password=DEMO_POS_TOKEN),
        "storeflow_store": ConnectionFields("storeflow_store", host=sims.store_url, login=DEMO_STORE_KEY,
                                            password=DEMO_STORE_SECRET),
        "storeflow_warehouse": ConnectionFields("storeflow_warehouse", extra={"url": url}),
    })


def _runs(engine, run_id: str) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(sync_runs).where(sync_runs.c.run_id == run_id)).mappings().all()
    return {r["task_id"]: dict(r) for r in rows}


def test_jobs_record_every_step_without_airflow(sims, warehouse):
    resources = _resources(sims, warehouse)
    started = datetime.now(UTC)
    run_job(jobs.EXTRACT_ALL, resources, run_id="t-first-load", rng=random.Random(1))
    loaded = _runs(warehouse, "t-first-load")
    assert set(loaded) == set(jobs.STREAMS) and {r["status"] for r in loaded.values()} == {"success"}
    assert all(r["window_start"] is None for r in loaded.values())  # a full read: no lower bound

    rng = random.Random(7)  # the parallel steps in a seeded order, as Airflow may run them
    for job in (jobs.SYNC_ORDERS, jobs.SYNC_CATALOG, jobs.SYNC_CUSTOMERS, jobs.RECONCILE_INVENTORY):
        run_id = f"t-{job.dag_id}"
        results = run_job(job, resources, run_id=run_id, rng=rng)
        runs = _runs(warehouse, run_id)
        assert set(runs) == set(results) == {s.task_id for s in job.steps}, job.dag_id
        for step in job.steps:
            row = runs[step.task_id]
            assert (row["stream"], row["dag_id"], row["status"]) == (step.name, job.dag_id, "success"), row
            if isinstance(step, jobs.Push):
                # one meaning for the window columns: a push reads no source window
                assert row["window_start"] is None and row["window_end"] is None, row
                assert row["finished_at"] >= started, row
            else:
                assert row["window_end"] is not None and row["requests"] > 0, row

    orders = _runs(warehouse, "t-sync_orders")["push_pos_movements"]
    assert orders["details"]["adjustments"] == orders["rows_changed"] - orders["details"]["reversals"]
    catalog = _runs(warehouse, "t-sync_catalog")["push_store_catalog"]
    assert catalog["rows_read"] > 0 and catalog["details"]["pushed"] == catalog["rows_pushed"]
    customers = _runs(warehouse, "t-sync_customers")["push_customers"]
    # counted on the step's own clients
    assert customers["rows_pushed"] > 0 and customers["requests"] >= customers["rows_pushed"]
    # the look-back re-read keeps the cursor and has a lower bound
    assert _runs(warehouse, "t-reconcile_inventory")["recent_store_orders"]["window_start"] is not None

    # freshness no longer depends on Airflow: every watched name was just recorded by these runs
    verdicts = {r.stream: r.fresh for r in check_freshness(warehouse, [])}
    assert verdicts and all(verdicts.values()), verdicts


def test_a_failed_step_is_recorded_failed_without_personal_data(sqlite_warehouse):
    with pytest.raises(RuntimeError), recorded_run(sqlite_warehouse, "store_catalog_push", "store",
                                                   run_id="t-fail", task_id="push_store_catalog") as record:
        record.rows_read = 3
        raise RuntimeError("store refused jane.doe@example.com (+44 7700 900123)")
    row = _runs(sqlite_warehouse, "t-fail")["push_store_catalog"]
    assert (row["status"], row["rows_read"]) == ("failed", 3)
    assert row["error"].startswith("RuntimeError: ") and "jane.doe" not in row["error"]
    assert "7700 900123" not in row["error"]
