"""Every DAG imports cleanly, fast, and carries the project's operational defaults."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.airflow_env import ROOT, airflow_env

DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))

PROBE = r"""
import json, sys, time, importlib.util
import airflow.sdk  # the Airflow import itself is not the DAG file's cost (nor its lazily loaded names)
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, task
from airflow.dag_processing.dagbag import DagBag
out = {"timings": {}, "dags": {}}
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("dagfile_" + str(abs(hash(path))), path)
    mod = importlib.util.module_from_spec(spec)
    t0 = time.perf_counter(); spec.loader.exec_module(mod); out["timings"][path] = time.perf_counter() - t0
bag = DagBag(dag_folder=sys.argv[1].rsplit("/", 1)[0])
out["errors"] = {k: str(v)[:500] for k, v in bag.import_errors.items()}
for dag_id, dag in bag.dags.items():
    args = dag.default_args or {}
    out["dags"][dag_id] = {
        "tags": sorted(dag.tags or []), "owner": args.get("owner"), "retries": args.get("retries"),
        "has_failure_cb": bool(args.get("on_failure_callback")),
        "tasks": len(dag.tasks), "doc": bool(dag.doc_md), "description": dag.description or "",
        "untimed": sorted(t.task_id for t in dag.tasks if not t.execution_timeout),
    }
print("PROBE" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("af_probe")
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, DAG_FILES)], env=airflow_env(home),
                            capture_output=True, text=True, timeout=300)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("PROBE")), None)
    assert line, f"probe failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(line[len("PROBE"):])


def test_there_are_dags():
    assert DAG_FILES


def test_no_import_errors(probe):
    assert probe["errors"] == {}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_fast(probe, path: Path):
    took = probe["timings"][str(path)]
    assert took < 0.3, f"{path.name} took {took:.3f}s to import: move heavy imports into tasks"


def test_every_dag_has_operational_defaults(probe):
    assert probe["dags"], "no DAG parsed"
    for dag_id, info in probe["dags"].items():
        assert "storeflow" in info["tags"], dag_id
        assert info["owner"] == "storeflow", dag_id
        assert info["retries"] >= 2, dag_id
        assert info["has_failure_cb"], f"{dag_id}: on_failure_callback missing from default_args"
        assert info["doc"], f"{dag_id}: doc_md missing"
        assert info["description"].strip(), f"{dag_id}: description missing (shown in the DAG list)"
        assert info["untimed"] == [], f"{dag_id}: tasks without execution_timeout: {info['untimed']}"
