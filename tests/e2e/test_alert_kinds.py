"""Every kind of alert reaches Slack and email once per incident, and recovers (issue: operability)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from storeflow.alerts import EmailChannel, SlackWebhookChannel
from storeflow.resources import SmtpConfig
from storeflow_simulators.cluster import EPHEMERAL_PORTS
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.smtp_sink import SmtpSink, SmtpState
from storeflow_simulators.webhook_sink import create_webhook_app
from tests.e2e.pipeline import Pipeline


@pytest.fixture
def receivers():
    state = SmtpState()
    with serve_in_thread(create_webhook_app()) as hook, SmtpSink(state, port=0) as smtp:
        channels = [SlackWebhookChannel(f"{hook.url}/hooks/T1/B1/X1"),
                    EmailChannel(SmtpConfig("127.0.0.1", smtp.port, alert_from="storeflow@example.com",
                                            alert_to=("oncall@example.com",)))]

        def delivered() -> tuple[list[str], list[str]]:
            slack = [p["body"]["text"] for p in requests.get(f"{hook.url}/api/payloads", timeout=5).json()]
            mail = [m["subject"] + "\n" + (m.get("text") or "") for m in state.list()]
            return slack, mail

        yield channels, delivered


def test_dq_critical_failure_alerts_with_data_docs(sqlite_warehouse, receivers):
    from storeflow.alerts import raise_alert
    from storeflow.landing import LandingZone
    from storeflow.quality.judge import dq_alert
    from storeflow.quality.quarantine import QualityGateFailed
    from storeflow.sync.extract import run_stream
    from storeflow.sync.streams import LoadResult, StreamSpec

    channels, delivered = receivers

    def load(conn, page, ctx):
        ctx.stage(page)  # a critical expectation fails: duplicated SKUs and a negative price
        return LoadResult(read=len(page), changed=len(page))

    spec = StreamSpec("pos_catalog", "pos", fetch=lambda client, window: iter([[
        {"sku": "A", "name": "x", "price_minor": 100, "currency": "GBP"},
        {"sku": "A", "name": "y", "price_minor": -5, "currency": "GBP"}]]), load=load, dq_suite="products")
    with pytest.raises(QualityGateFailed) as failure:
        run_stream(sqlite_warehouse, LandingZone.from_settings(), None, spec, run_id="dq-test")
    assert failure.value.docs_location and failure.value.docs_location.startswith("file://")
    for _ in range(2):
        raise_alert(sqlite_warehouse, dq_alert(failure.value, stream="products", source_system="pos",
                                               dag_id="sync_catalog", task_id="extract_pos_catalog"), channels)
    slack, mail = delivered()
    assert len(slack) == 1 and len(mail) == 1
    assert failure.value.docs_location in slack[0] and failure.value.docs_location in mail[0]
    assert "sku_unique" in slack[0] or "price_non_negative" in slack[0]


def test_freshness_breach_alerts_and_recovers(sqlite_warehouse, receivers):
    from storeflow.sync.freshness import check_freshness
    from storeflow.warehouse.runs import RunRecord, finish_run, start_run

    channels, delivered = receivers
    finish_run(sqlite_warehouse, start_run(sqlite_warehouse, RunRecord(stream="store_orders", source_system="store")),
               "success")
    limits = {"store_orders": timedelta(hours=2)}
    later = datetime.now(UTC) + timedelta(hours=5)
    check_freshness(sqlite_warehouse, channels, now=later, streams=limits)
    check_freshness(sqlite_warehouse, channels, now=later + timedelta(minutes=15), streams=limits)
    finish_run(sqlite_warehouse, start_run(sqlite_warehouse, RunRecord(stream="store_orders", source_system="store")),
               "success")
    check_freshness(sqlite_warehouse, channels, streams=limits)
    slack, mail = delivered()
    assert len(slack) == 2 and len(mail) == 2
    assert "store_orders is stale" in slack[0] and "Recovered" in slack[1] and "RESOLVED" in mail[1]


def test_reconciliation_drift_alerts(sqlite_warehouse, receivers, monkeypatch):
    from sqlalchemy import select

    from storeflow.settings import get_settings
    from storeflow.warehouse.schema import products, reconciliation_runs
    from storeflow_simulators.cluster import SimulatorCluster

    channels, delivered = receivers
    monkeypatch.setenv("STOREFLOW_DRIFT_ALERT_UNITS", "3")
    get_settings.cache_clear()
    with SimulatorCluster(seed=13, scale="tiny", ports=EPHEMERAL_PORTS) as sims:
        pipe = Pipeline(sqlite_warehouse, sims.pos_url, sims.store_url, channels)
        pipe.extract_all()
        pipe.sync_orders()
        pipe.sync_catalog()
        with sqlite_warehouse.connect() as conn:
            sku, stock = conn.execute(select(products.c.sku, products.c.store_stock).where(
                products.c.store_stock > 10).order_by(products.c.sku).limit(1)).one()
        # someone edits the stock in wp-admin: the store does not even bump date_modified
        requests.put(f"{sims.store_url}/_sim/products/stock", json={"sku": sku, "quantity": stock - 7},
                     timeout=10).raise_for_status()
        report = pipe.reconcile()
        assert [d.sku for d in report.unexplained] == [sku] and report.drift_units == 7
        pipe.reconcile()  # still drifting: the incident stays open, no second alert
    slack, mail = delivered()
    assert len(slack) == 1 and len(mail) == 1 and sku in slack[0] and "drift" in slack[0]
    with sqlite_warehouse.connect() as conn:
        assert conn.execute(select(reconciliation_runs.c.unexplained_skus)).scalars().all() == [1, 1]
