"""A failing sync under Airflow alerts once (Slack receiver) and recovers with one message."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
import requests

from scripts.airflow_env import airflow_env

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dags_test(home, env_extra, dag_id: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", "dags", "test", dag_id], env=airflow_env(home, env_extra),
                          capture_output=True, text=True, timeout=900)


def test_pos_outage_alerts_once_then_recovers(airflow_home, tmp_path):
    from storeflow_simulators.cluster import SimulatorCluster
    from storeflow_simulators.serve import serve_in_thread
    from storeflow_simulators.webhook_sink import create_webhook_app

    ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
    with SimulatorCluster(seed=9, scale="tiny", ports=ports) as sims, serve_in_thread(create_webhook_app()) as hook:
        base = {**sims.env(), "STOREFLOW_DATA_DIR": str(tmp_path / "data"), "STOREFLOW_RETRY_DELAY_SECONDS": "1",
                "AIRFLOW_CONN_STOREFLOW_ALERTS": json.dumps(
                    {"conn_type": "http", "password": f"{hook.url}/hooks/T000/B000/secret"})}
        assert _dags_test(airflow_home, base, "sync_orders").returncode == 0  # go-live
        sku = sims.world.products[0].variations[0].sku
        requests.post(f"{sims.store_url}/_sim/orders", json={"email": "outage@example.com",
                                                             "line_items": [{"sku": sku, "quantity": 1}]},
                      timeout=10).raise_for_status()
        pos_down = {**base, "STOREFLOW_POS_URL": f"http://127.0.0.1:{_closed_port()}"}
        for _ in range(2):  # two failing runs of the same outage: one incident, one alert
            failed = _dags_test(airflow_home, pos_down, "sync_orders")
            assert failed.returncode != 0
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
        assert len(payloads) == 1, payloads
        text = payloads[0]["body"]["text"]
        # the first POS task fails (the ones after it are upstream_failed and do not alert)
        assert "sync_orders.extract_pos_locations" in text and "ConnectionError" in text and "Try: 3" in text
        assert "secret" not in text
        ok = _dags_test(airflow_home, base, "sync_orders")
        assert ok.returncode == 0, ok.stdout[-3000:]
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
        assert len(payloads) == 2 and "Recovered" in payloads[1]["body"]["text"]


def test_one_outage_of_one_connection_is_one_incident(airflow_home, tmp_path):
    """sync_catalog's three POS extracts run in parallel: a POS outage fails all three, and opens one incident
    (named after the connection), not three."""
    from sqlalchemy import select

    from storeflow.warehouse.db import connect_warehouse
    from storeflow.warehouse.schema import alert_incidents
    from storeflow_simulators.cluster import SimulatorCluster
    from storeflow_simulators.serve import serve_in_thread
    from storeflow_simulators.webhook_sink import create_webhook_app

    ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
    data = tmp_path / "data"
    with SimulatorCluster(seed=9, scale="tiny", ports=ports) as sims, serve_in_thread(create_webhook_app()) as hook:
        env = {**sims.env(), "STOREFLOW_DATA_DIR": str(data), "STOREFLOW_RETRY_DELAY_SECONDS": "1",
               "STOREFLOW_POS_URL": f"http://127.0.0.1:{_closed_port()}",
               "AIRFLOW_CONN_STOREFLOW_ALERTS": json.dumps(
                   {"conn_type": "http", "password": f"{hook.url}/hooks/T000/B000/secret"})}
        failed = _dags_test(airflow_home, env, "sync_catalog")
        assert failed.returncode != 0
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
    assert len(payloads) == 1, [p["body"]["text"][:200] for p in payloads]
    assert "storeflow_pos" in payloads[0]["body"]["text"]
    engine = connect_warehouse(f"sqlite:///{data / 'warehouse.db'}")
    with engine.connect() as conn:
        incidents = conn.execute(select(alert_incidents.c.incident_key, alert_incidents.c.occurrences)).all()
    assert [i.incident_key for i in incidents] == ["sync_catalog.connection.storeflow_pos"]
    assert incidents[0].occurrences == 3  # the three POS extracts joined the same incident
