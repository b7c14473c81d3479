"""Alerts: one per incident over a real webhook receiver and real SMTP, then one recovery message."""

from __future__ import annotations

import requests

from storeflow.alerts import Alert, EmailChannel, SlackWebhookChannel, raise_alert, resolve_alert
from storeflow.resources import SmtpConfig
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.smtp_sink import SmtpSink, SmtpState
from storeflow_simulators.webhook_sink import create_webhook_app


def _alert(n: int) -> Alert:
    return Alert(key="sync_orders.push_adjustments", kind="sync_failure", title="storeflow task failed",
                 lines={"DAG": "sync_orders", "Task": "push_adjustments", "Try": str(n), "Error": "ApiError: 503"},
                 link="http://airflow.local/log")


def test_one_alert_per_incident_then_recovery(warehouse):
    app = create_webhook_app()
    state = SmtpState()
    with serve_in_thread(app) as hook, SmtpSink(state, port=0) as smtp:
        channels = [SlackWebhookChannel(f"{hook.url}/hooks/T000/B000/XXXX"),
                    EmailChannel(SmtpConfig("127.0.0.1", smtp.port, alert_from="storeflow@example.com",
                                            alert_to=("oncall@example.com",)))]
        assert raise_alert(warehouse, _alert(1), channels) is True
        assert raise_alert(warehouse, _alert(2), channels) is False  # same incident: no storm
        assert raise_alert(warehouse, _alert(3), channels) is False
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
        assert len(payloads) == 1
        text = payloads[0]["body"]["text"]
        assert "sync_orders" in text and "push_adjustments" in text and "ApiError: 503" in text
        assert "http://airflow.local/log" in text
        assert len(state.list()) == 1

        assert resolve_alert(warehouse, "sync_orders.push_adjustments", channels) is True
        assert resolve_alert(warehouse, "sync_orders.push_adjustments", channels) is False
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
        assert len(payloads) == 2 and "Recovered" in payloads[1]["body"]["text"]
        assert "Failures: 3" in payloads[1]["body"]["text"]
        mails = state.list()
        assert len(mails) == 2 and mails[1]["subject"].startswith("[storeflow] RESOLVED")

        # a new failure after recovery is a new incident
        assert raise_alert(warehouse, _alert(4), channels) is True


def test_broken_channel_does_not_hide_alert_on_others(warehouse):
    app = create_webhook_app()
    with serve_in_thread(app) as hook:
        dead = SmtpConfig("127.0.0.1", 1, alert_from="a@example.com", alert_to=("b@example.com",))
        channels = [EmailChannel(dead),
                    SlackWebhookChannel(f"{hook.url}/hooks/x")]
        assert raise_alert(warehouse, _alert(1), channels) is True
        assert len(requests.get(f"{hook.url}/api/payloads", timeout=5).json()) == 1
