"""Quarantined records reach a person: one alert per stream until its quarantine is empty, then one recovery."""

from __future__ import annotations

from datetime import UTC, datetime

import requests
from sqlalchemy import update

from storeflow.alerts import SlackWebhookChannel, quarantine_alert
from storeflow.warehouse.schema import quarantine
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.webhook_sink import create_webhook_app


def test_quarantine_alerts_once_and_recovers(warehouse):
    with serve_in_thread(create_webhook_app()) as hook:
        channels = [SlackWebhookChannel(f"{hook.url}/hooks/T/B/x")]
        with warehouse.begin() as conn:
            conn.execute(quarantine.insert(), [{"stream": "store_orders", "source_system": "store", "source_id": "17",
                                                "rule": "line_quantity_negative", "reason": "line 3 quantity -5",
                                                "run_id": "r1", "created_at": datetime.now(UTC)}])
        assert quarantine_alert(warehouse, stream="store_orders", quarantined=1,
                                by_reason={"line_quantity_negative": 1}, run_id="r1", channels=channels)
        assert not quarantine_alert(warehouse, stream="store_orders", quarantined=1,  # the next hour: counted
                                    by_reason={"line_quantity_negative": 1}, run_id="r2", channels=channels)
        assert not quarantine_alert(warehouse, stream="store_orders", quarantined=0, by_reason={}, run_id="r3",
                                    channels=channels)  # still open in quarantine: no recovery yet
        with warehouse.begin() as conn:
            conn.execute(update(quarantine).values(resolved_at=datetime.now(UTC)))
        assert quarantine_alert(warehouse, stream="store_orders", quarantined=0, by_reason={}, run_id="r4",
                                channels=channels)
        texts = [p["body"]["text"] for p in requests.get(f"{hook.url}/api/payloads", timeout=5).json()]
    assert len(texts) == 2
    assert "quarantined 1 store_orders record" in texts[0] and "line_quantity_negative=1" in texts[0]
    assert "Recovered" in texts[1]
