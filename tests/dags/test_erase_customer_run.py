"""erase_customer runs under Airflow (``airflow dags test`` with params) against the simulators."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from scripts.airflow_env import airflow_env

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def test_erase_customer_dag_erases_and_records_the_opt_out(airflow_home, tmp_path):
    from storeflow.connectors.square import SquareClient
    from storeflow.connectors.woocommerce import WooClient
    from storeflow.landing import LandingZone
    from storeflow.warehouse import schema as S
    from storeflow.warehouse.db import connect_warehouse
    from storeflow_simulators.cluster import SimulatorCluster
    from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET
    from tests.integration.test_gdpr import _golden, _load, _pick_people

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    secret = "dag-test-pseudonym-secret-0123456789"
    engine = connect_warehouse(f"sqlite:///{data_dir / 'warehouse.db'}")
    S.metadata.create_all(engine)
    landing = LandingZone.from_url(str(data_dir / "landing"))
    ports = {"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}
    with SimulatorCluster(seed=3, scale="tiny", ports=ports) as sims:
        pos = SquareClient(sims.pos_url, DEMO_POS_TOKEN)
        store = WooClient(sims.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        _load(engine, landing, pos, store)
        [(p_ident, s_ident)] = _pick_people(engine, pos, store, n=1)
        cid = _golden(engine, p_ident, s_ident)
        env = airflow_env(airflow_home, {**sims.env(), "STOREFLOW_DATA_DIR": str(data_dir),
                                         "STOREFLOW_PSEUDONYM_SECRET": secret})
        conf = {"action": "erase", "customer_id": cid, "requested_by": "dag-test", "dry_run": False}
        result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "erase_customer", "-c",
                                 json.dumps(conf)], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        note = pos.retrieve_customer(p_ident.source_id).get("note") or ""
    assert "email_opt_out: yes" in note and "sms_opt_out: yes" in note
    with engine.connect() as conn:
        log_row = conn.execute(select(S.erasure_log)).one()
        left = conn.execute(select(S.customer_identities).where(
            S.customer_identities.c.email_norm == p_ident.email_norm)).all()
    assert log_row.status == "erased" and log_row.requested_by == "dag-test"
    assert left == []
    assert p_ident.email_norm not in result.stdout + result.stderr  # task logs hold no personal data
