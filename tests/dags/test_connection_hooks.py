"""storeflow's connection types in Airflow: discovered through the provider entry point, shown with their own
form fields (``/ui/connections/hook_meta``, what the UI's connection form reads), "Test connection"
(``POST /api/v2/connections/test``) passing and failing for real against the simulators; and the manual
``check_connections`` DAG run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from scripts.airflow_env import airflow_env
from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.pos import PosState, create_pos_app
from storeflow_simulators.pos_oauth import register_oauth
from storeflow_simulators.pos_sample import sample_world
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.store import StoreState, create_store_app
from storeflow_simulators.store_testing import small_world

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
WRONG = "wrong-secret-for-hook-test"

# Airflow's own API app in-process: the connection form's metadata and the "Test connection" endpoint
PROBE = r"""
import json, sys
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

client = TestClient(create_app())
headers = {"Authorization": "Bearer " + client.get("/auth/token").json()["access_token"]}
meta = client.get("/ui/connections/hook_meta", headers=headers)
meta.raise_for_status()
out = {"types": {m["connection_type"]: m for m in meta.json() if m["connection_type"].startswith("storeflow")},
       "tests": {}}
for name, body in json.loads(sys.argv[1]).items():
    r = client.post("/api/v2/connections/test", json=body, headers=headers)
    out["tests"][name] = [r.status_code, r.json()]
print("PROBE" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def sims():
    store_state = StoreState.from_world(small_world(NOW, timezone="Europe/Paris"))
    pos_state = PosState.from_world(sample_world(NOW))
    pos_app = create_pos_app(pos_state)
    register_oauth(pos_app, pos_state)
    with serve_in_thread(create_store_app(store_state)) as store, serve_in_thread(pos_app) as pos:
        yield store, pos


def _conn(conn_type: str, host: str, password: str, login: str | None = None) -> str:
    return json.dumps({"conn_type": conn_type, "host": host, "login": login, "password": password})


def _body(conn_type: str, host: str, password: str, login: str | None = None) -> dict:
    return {"connection_id": f"probe_{conn_type}", "conn_type": conn_type, "host": host, "login": login,
            "password": password}


@pytest.fixture(scope="module")
def probe(sims, airflow_home) -> dict:
    store, pos = sims
    bodies = {"store_ok": _body("storeflow_store", store.url, DEMO_STORE_SECRET, DEMO_STORE_KEY),
              "store_bad": _body("storeflow_store", store.url, WRONG, DEMO_STORE_KEY),
              "pos_ok": _body("storeflow_pos", pos.url, DEMO_POS_TOKEN),
              "pos_bad": _body("storeflow_pos", pos.url, WRONG)}
    env = airflow_env(airflow_home, {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                                     "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"})
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(bodies)], env=env, capture_output=True,
                            text=True, timeout=300)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("PROBE")), None)
    assert line, f"probe failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    out = json.loads(line[len("PROBE"):])
    out["stderr"] = result.stderr
    return out


def test_connection_form_shows_storeflow_fields(probe):
    pos, store = probe["types"]["storeflow_pos"], probe["types"]["storeflow_store"]
    assert pos["hook_class_name"] == "storeflow_airflow.hooks.PosHook"
    assert store["hook_class_name"] == "storeflow_airflow.hooks.StoreHook"
    assert pos["standard_fields"]["host"]["title"] == "Base URL"
    assert pos["standard_fields"]["password"]["title"] == "Access token"
    assert pos["standard_fields"]["login"]["hidden"] is True
    assert store["standard_fields"]["login"]["title"] == "Consumer key"
    assert store["standard_fields"]["password"]["title"] == "Consumer secret"
    assert sorted(pos["extra_fields"]) == ["ca_bundle"]
    assert sorted(store["extra_fields"]) == ["auth", "ca_bundle"]
    assert store["extra_fields"]["auth"]["schema"]["enum"] == ["auto", "basic", "oauth1", "query"]


def test_test_connection_endpoint_passes_and_fails_for_real(probe):
    tests = probe["tests"]
    for name in ("store_ok", "pos_ok"):
        status, body = tests[name]
        assert status == 200 and body["status"] is True, tests[name]
    status, body = tests["store_bad"]
    assert status == 200 and body["status"] is False
    assert "FAIL store.auth" in body["message"] and "401" in body["message"]
    status, body = tests["pos_bad"]
    assert status == 200 and body["status"] is False
    assert "FAIL pos.auth" in body["message"] and "401" in body["message"]
    everything = json.dumps(tests) + probe["stderr"]
    for secret in (WRONG, DEMO_STORE_SECRET, DEMO_POS_TOKEN):
        assert secret not in everything


def _dags_test(home, env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "check_connections", *args],
                          env=airflow_env(home, env_extra), capture_output=True, text=True, timeout=600)


def test_check_connections_dag_reports_per_task(airflow_home, sims, tmp_path):
    """One run: the store task passes (with the write test), the POS task fails on a wrong token."""
    store, pos = sims
    env = {"STOREFLOW_DATA_DIR": str(tmp_path / "data"),
           "AIRFLOW_CONN_STOREFLOW_STORE": _conn("storeflow_store", store.url, DEMO_STORE_SECRET, DEMO_STORE_KEY),
           "AIRFLOW_CONN_STOREFLOW_POS": _conn("storeflow_pos", pos.url, WRONG)}
    run = _dags_test(airflow_home, env, "-c", json.dumps({"write_test": True}))
    log = run.stdout + run.stderr
    assert run.returncode != 0, log[-3000:]
    assert "consent meta storeflow_email_optout written and read back" in log, log[-3000:]
    assert "pos.auth" in log and "check(s) failed" in log
    assert WRONG not in log and DEMO_STORE_SECRET not in log
