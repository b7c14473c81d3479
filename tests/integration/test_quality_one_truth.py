"""One truth about quality: the run's log line, its Data Docs summary, sync_runs and the UI read model agree,
for a customer loaded without one bad field inside a one-row hourly batch."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storeflow.connectors.woocommerce import WooClient
from storeflow.landing import LandingZone
from storeflow.sync.extract import run_stream
from storeflow.sync.store_streams import STORE_STREAMS
from storeflow.ui_data import sync_health
from storeflow.warehouse.schema import quarantine, sync_runs
from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store import StoreState
from storeflow_simulators.store_testing import running_store, small_world

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)


def test_counts_agree_for_a_field_level_quarantine(warehouse, tmp_path, caplog):
    state = StoreState.from_world(small_world(T0))
    state.clock.freeze(T0)
    landing = LandingZone.from_url(str(tmp_path / "landing"))
    stream = STORE_STREAMS["store_customers"]
    with running_store(state) as store:
        client = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        run_stream(warehouse, landing, client, stream, run_id="first", now=T0 + timedelta(minutes=1))
        state.clock.freeze(T0 + timedelta(minutes=10))
        client.update_customer(3, {"billing": {"phone": "call me maybe"}})  # a shopper's typo in the store
        with caplog.at_level(logging.INFO):
            result = run_stream(warehouse, landing, client, stream, run_id="hourly",
                                now=T0 + timedelta(minutes=20))
    assert result["status"] == "success" and result["rows_read"] == 1  # the hourly batch: one row
    with warehouse.connect() as conn:
        run = conn.execute(select(sync_runs).where(sync_runs.c.run_id == "hourly")).one()
        entries = conn.execute(select(quarantine.c.source_id, quarantine.c.rule)
                               .where(quarantine.c.run_id == "hourly")).all()
    assert {e.source_id for e in entries} == {"3"}
    dq = run.details["dq"]
    assert result["quarantined"] == run.quarantined == dq["rows_quarantined"] == 1
    assert dq["rows_left_out"] == 0 and dq["rows_with_quarantined_fields"] == 1
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("[storeflow] DQ store_customers"))
    assert "1 quarantined (0 left out, 1 loaded without a bad field)" in line
    health = {h.stream: h for h in sync_health(warehouse, now=T0 + timedelta(minutes=21))}["store_customers"]
    assert health.quarantined == 1 and health.quarantine_open == 1
