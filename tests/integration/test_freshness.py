"""Freshness monitor: stale streams alert once, fresh ones recover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from storeflow.alerts import SlackWebhookChannel
from storeflow.sync.freshness import check_freshness
from storeflow.warehouse.runs import RunRecord, finish_run, start_run
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.webhook_sink import create_webhook_app

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _success(engine, stream: str) -> None:
    finish_run(engine, start_run(engine, RunRecord(stream=stream, source_system="pos")), "success")


def test_stale_stream_alerts_once_and_recovers(warehouse):
    _success(warehouse, "pos_orders")
    streams = {"pos_orders": timedelta(hours=2), "never_ran": timedelta(hours=2)}
    with serve_in_thread(create_webhook_app()) as hook:
        channels = [SlackWebhookChannel(f"{hook.url}/hooks/x")]
        later = datetime.now(UTC) + timedelta(hours=3)
        results = {r.stream: r for r in check_freshness(warehouse, channels, now=later, streams=streams)}
        assert not results["pos_orders"].fresh and not results["never_ran"].fresh
        check_freshness(warehouse, channels, now=later + timedelta(minutes=15), streams=streams)
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
        assert len(payloads) == 1 and "pos_orders is stale" in payloads[0]["body"]["text"]
        _success(warehouse, "pos_orders")
        results = {r.stream: r for r in check_freshness(warehouse, channels, streams=streams)}
        assert results["pos_orders"].fresh
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
        assert len(payloads) == 2 and "Recovered" in payloads[1]["body"]["text"]
