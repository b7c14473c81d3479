"""The job table is the one place a sync job's shape is declared: the DAGs Airflow parses are built from
it, freshness watches exactly the names its steps record, and its stream list is the registry's."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest

from scripts.airflow_env import ROOT, airflow_env
from storeflow import jobs

PROBE = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v)[:500] for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "cron": getattr(dag.timetable, "expression", getattr(dag.timetable, "_expression", None)),
        "description": dag.description,
        "tags": sorted(dag.tags or []), "params": sorted(dag.params),
        "tasks": {t.task_id: {"pool": t.pool, "outlets": sorted(o.uri for o in t.outlets),
                              "upstream": sorted(t.upstream_task_ids)} for t in dag.tasks},
    }
print("PROBE" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("af_jobs")
    result = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "dags")], env=airflow_env(home),
                            capture_output=True, text=True, timeout=300)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("PROBE")), None)
    assert line, f"probe failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = json.loads(line[len("PROBE"):])
    assert out["errors"] == {}
    return out["dags"]


def _uri(uri: str) -> str:
    return uri.rstrip("/")


@pytest.mark.parametrize("job", list(jobs.JOBS.values()), ids=lambda j: j.dag_id)
def test_dag_is_its_job(parsed, job: jobs.Job):
    dag = parsed[job.dag_id]
    assert dag["cron"] == job.cron
    assert (dag["description"], dag["tags"]) == (job.description, sorted(job.tags))
    assert ("full" in dag["params"]) == job.full_param
    assert set(dag["tasks"]) == {step.task_id for step in job.steps}
    previous: set[str] = set()
    for stage in job.stages:
        for step in stage:
            task = dag["tasks"][step.task_id]
            assert task["pool"] == step.pool, step
            assert [_uri(u) for u in task["outlets"]] == sorted(step.outlets), step
            assert set(task["upstream"]) == previous, step  # after every step of the stage before, only
        previous = {step.task_id for step in stage}


def test_each_step_records_one_name_and_pushes_have_a_body():
    from storeflow.run_job import PUSHES

    for job in jobs.JOBS.values():
        task_ids = [step.task_id for step in job.steps]
        assert len(task_ids) == len(set(task_ids)), job.dag_id
        for step in job.steps:
            if isinstance(step, jobs.Push):
                assert step.action in PUSHES
            else:
                assert step.pool == jobs.pool_of(step.source_system)


def test_freshness_watches_exactly_the_names_the_jobs_record():
    from storeflow.sync.freshness import limits

    recorded = {step.name for job in jobs.JOBS.values() if job.cron for step in job.steps}
    watched = limits()
    assert set(watched) == recorded
    # the names only the Airflow glue used to write are written by the library steps now
    assert {"store_catalog_push", "pos_adjustments_push", "customers_push", "reconcile_inventory"} <= recorded
    hourly, nightly = timedelta(hours=2), timedelta(days=2)
    assert watched["store_orders"] == hourly  # hourly in sync_catalog/sync_orders, nightly in reconcile
    assert watched["pos_adjustments_push"] == hourly and watched["reconcile_inventory"] == nightly
    assert watched["pos_customers"] == nightly and watched["customers_push"] == nightly


def test_freshness_override_still_wins(monkeypatch):
    from storeflow.settings import get_settings
    from storeflow.sync.freshness import limits

    monkeypatch.setenv("STOREFLOW_FRESHNESS_LIMITS_MINUTES", json.dumps({"pos_orders": 90}))
    get_settings.cache_clear()
    try:
        assert limits()["pos_orders"] == timedelta(minutes=90)
        assert limits()["store_orders"] == timedelta(hours=2)
    finally:
        get_settings.cache_clear()


def test_extract_all_reads_every_registered_stream():
    from storeflow.sync.registry import all_streams

    assert set(jobs.STREAMS) == set(all_streams())
    assert [s.stream for s in jobs.EXTRACT_ALL.steps] == list(jobs.STREAMS)
    for job in jobs.JOBS.values():
        assert {s.stream for s in job.steps if isinstance(s, jobs.Extract)} <= set(jobs.STREAMS), job.dag_id


def test_job_table_is_cheap_to_import():
    code = ("import sys, storeflow.jobs; heavy = {'sqlalchemy', 'pandas', 'airflow'}; print(sorted("
            "m for m in sys.modules if m.split('.')[0] in heavy or m.startswith('storeflow.sync')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_unsupported_cron_is_refused():
    with pytest.raises(ValueError):
        _ = jobs.Job("x", "x", "*/15 * * * *", ()).every
