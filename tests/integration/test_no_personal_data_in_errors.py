"""Issue 11 item 6: errors and alerts name rows by source id, never by email or phone.

A load that fails in the database (a real COPY on PostgreSQL) or in the connector must leave
``sync_runs.error``, the raised exception and every alert free of customers' emails and phone numbers.
"""

from __future__ import annotations

import json
import traceback
from datetime import UTC, datetime

import pytest
import requests
import sqlalchemy as sa

from storeflow.alerts import Alert, EmailChannel, SlackWebhookChannel, raise_alert, resolve_alert
from storeflow.connectors.http import ApiError
from storeflow.landing import LandingZone
from storeflow.resources import SmtpConfig
from storeflow.sync.extract import run_stream
from storeflow.sync.streams import LoadResult, StreamSpec
from storeflow.warehouse.schema import alert_incidents, sync_runs
from storeflow.warehouse.upsert import upsert
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.smtp_sink import SmtpSink, SmtpState
from storeflow_simulators.webhook_sink import create_webhook_app

EMAIL = "annabel.lee@example.com"
PHONE = "+44 7700 900123"
LONG_EMAIL = "a" * 330 + "@example.com"
NOW = datetime(2024, 7, 1, 13, 0, tzinfo=UTC)


def _personal(text: str) -> list[str]:
    return [v for v in (EMAIL, LONG_EMAIL, PHONE, PHONE.replace(" ", ""), "Annabel") if v in text]


def _last_error(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.select(sync_runs.c.error).order_by(sync_runs.c.id.desc()).limit(1)).scalar_one()


@pytest.fixture
def landing(tmp_path) -> LandingZone:
    return LandingZone.from_url(str(tmp_path / "landing"))


def test_a_failed_database_write_records_no_personal_data(warehouse, landing):
    """One guest order whose write fails in the database: the run names it by id, not by email."""
    from storeflow.warehouse.schema import orders

    page = [{"id": 9001, "billing": {"email": LONG_EMAIL, "phone": PHONE, "first_name": "Annabel"}}]

    def load(conn, raw_page, ctx):
        row = {"source_system": "store", "order_id": "9001", "email_norm": LONG_EMAIL, "channel": "online",
               "status": "processing", "currency": "GBP", "total_minor": 100, "created_at": NOW,
               "loaded_at": NOW}
        if conn.dialect.name == "sqlite":  # SQLite enforces no length: break a NOT NULL instead
            row["source_system"] = None
        upsert(conn, orders, [row])  # PostgreSQL: COPY fails, its CONTEXT quotes the email
        return LoadResult(read=1, changed=1)

    spec = StreamSpec(name="store_orders", source_system="store", fetch=lambda c, w: [page], load=load)
    with pytest.raises(Exception) as info:
        run_stream(warehouse, landing, None, spec, run_id="r-db", now=NOW)
    error = _last_error(warehouse)
    assert "9001" in error and "source ids" in error  # the row, named by its source id
    assert _personal(error) == []
    shown = "".join(traceback.format_exception(info.value))
    assert _personal(shown) == [], shown[-2000:]


def test_a_connector_error_quoting_a_customer_is_redacted_and_keeps_its_type(warehouse, landing):
    def fetch(client, window):
        raise ApiError(f"POST /customers -> 400: email {EMAIL} (phone {PHONE}) is already registered",
                       status=400, body={"message": EMAIL})

    spec = StreamSpec(name="store_customers", source_system="store", fetch=fetch,
                      load=lambda conn, page, ctx: LoadResult(0, 0))
    with pytest.raises(ApiError) as info:  # same type: retry / fail-fast decisions are unchanged
        run_stream(warehouse, landing, None, spec, run_id="r-api", now=NOW)
    assert info.value.status == 400
    assert _personal(str(info.value)) == [] and "<email>" in str(info.value) and "<phone>" in str(info.value)
    assert _personal(_last_error(warehouse)) == []


def test_alerts_never_carry_emails_or_phones(warehouse):
    """Incident row, Slack payload and email (alert and recovery) on the wire: no email, no phone."""
    alert = Alert(key="sync_customers.push", kind="sync_failure", title=f"push failed for {EMAIL}",
                  lines={"Error": f"StatementError: Key (email_norm)=({EMAIL}) already exists; call {PHONE}",
                         "Row": "customer 41"})
    state = SmtpState()
    with serve_in_thread(create_webhook_app()) as hook, SmtpSink(state, port=0) as smtp:
        channels = [SlackWebhookChannel(f"{hook.url}/hooks/T000/B000/XXXX"),
                    EmailChannel(SmtpConfig("127.0.0.1", smtp.port, alert_from="storeflow@example.com",
                                            alert_to=("oncall@example.com",)))]
        assert raise_alert(warehouse, alert, channels, now=NOW)
        assert resolve_alert(warehouse, alert.key, channels, now=NOW, note=f"fixed for {EMAIL}")
        payloads = requests.get(f"{hook.url}/api/payloads", timeout=5).json()
    with warehouse.connect() as conn:
        row = conn.execute(sa.select(alert_incidents)).one()
    stored = json.dumps(row.details if isinstance(row.details, dict) else json.loads(row.details)) + row.title
    assert _personal(stored) == [] and "customer 41" in stored
    assert len(payloads) == 2 and len(state.messages) == 2  # alert + recovery on each channel
    wire = [json.dumps(p["body"]) for p in payloads] + [m["raw"] for m in state.messages]
    assert all(_personal(text) == [] for text in wire), wire
    assert "<email>" in wire[0] and "<phone>" in wire[0] and "customer 41" in wire[0]


@pytest.mark.parametrize("text,kept", [
    ("run manual__2024-07-01T12:00:00+00:00 window 2024-07-01 12:00:00..13:00:00", True),
    ("order 5001 line 17 quantity -5; version 1719835200000", True),
    ("HTTP 500 on http://127.0.0.1:8701/v2/orders/ORDERINSTORE0000", True),
])
def test_redaction_keeps_ids_times_and_counts(text, kept):
    from storeflow.redaction import redact

    assert (redact(text) == text) is kept
