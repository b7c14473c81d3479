"""SES v2 sender through moto, and uplift measurement on a real warehouse."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storeflow.campaigns.senders import OutboundMessage
from storeflow.settings import get_settings
from storeflow.warehouse.schema import (
    campaign_exclusions,
    campaign_runs,
    campaign_uplift,
    messages,
    metadata,
    orders,
)


def _message(key="k" * 40) -> OutboundMessage:
    return OutboundMessage(message_key=key, channel="email", to="ana@example.org", campaign_id="vip",
                           customer_id="C1", subject="Hi Ana", html="<p>Hi Ana</p>", text="Hi Ana",
                           unsubscribe_url="https://shop.example/u/TOKEN", topic="loyalty")


def test_ses_sender_sends_raw_mime_with_compliance_headers(monkeypatch):
    moto = pytest.importorskip("moto")
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from storeflow.campaigns.senders import PermanentSendError
    from storeflow.campaigns.senders_ses import SesEmailSender

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = get_settings()
    with moto.mock_aws():
        client = boto3.client("sesv2", region_name=settings.ses_region)
        sender = SesEmailSender.from_settings(settings, client=client)
        with pytest.raises(PermanentSendError):  # unverified identity → rejected, not retried
            sender.send(_message())
        client.create_email_identity(EmailIdentity=settings.campaign_from_email)
        with sender:
            provider_id = sender.send(_message())
        assert provider_id
        sent = ses_backends[DEFAULT_ACCOUNT_ID][settings.ses_region].sent_messages
        raw = sent[-1].raw_data
        parsed = email.message_from_string(raw if isinstance(raw, str) else raw.decode(), policy=email.policy.default)
        assert parsed["X-Storeflow-Message-Key"] == "k" * 40
        assert parsed["Message-ID"] == f"<{'k' * 40}@{settings.campaign_message_id_domain}>"
        assert parsed["List-Unsubscribe"] == "<https://shop.example/u/TOKEN>"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed.get_body(("html",)).get_content().strip() == "<p>Hi Ana</p>"


class FakeLanding:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.objects[key] = (data, content_type)
        return f"memory://{key}"


def test_measurement_uplift_and_report(warehouse):
    from storeflow.campaigns.measurement import measure_campaigns, two_proportion_z

    metadata.create_all(warehouse)
    t0 = datetime(2026, 10, 1, 10, tzinfo=UTC)
    as_of = t0 + timedelta(days=20)
    msgs, ex, ords = [], [], []
    for i in range(40):  # treatment: 40 messaged, 10 convert within 7 days (1 more converts on day 9)
        cid = f"T{i}"
        msgs.append({"message_key": f"k{i}", "run_id": "r1", "campaign_id": "vip", "customer_id": cid,
                     "channel": "email", "topic": "loyalty", "kind": "marketing", "is_discount": False,
                     "trigger_window": "d", "send_at": t0, "held_quiet_hours": False, "state": "sent",
                     "attempts": 1, "sent_at": t0, "created_at": t0, "updated_at": t0})
        if i < 10:
            ords.append({"source_system": "store", "order_id": f"o{i}", "customer_id": cid, "channel": "online",
                         "status": "completed", "total_minor": 2000, "created_at": t0 + timedelta(days=2),
                         "loaded_at": t0})
    ords.append({"source_system": "store", "order_id": "late", "customer_id": "T11", "channel": "online",
                 "status": "completed", "total_minor": 9999, "created_at": t0 + timedelta(days=9), "loaded_at": t0})
    for i in range(20):  # holdout: 20 members, 2 convert
        cid = f"H{i}"
        ex.append({"run_id": "r1", "campaign_id": "vip", "customer_id": cid, "reason": "campaign_holdout"})
        if i < 2:
            ords.append({"source_system": "pos", "order_id": f"p{i}", "customer_id": cid, "channel": "in_store",
                         "status": "completed", "total_minor": 1000, "created_at": t0 + timedelta(days=1),
                         "loaded_at": t0})
    ords.append({"source_system": "pos", "order_id": "before", "customer_id": "H5", "channel": "in_store",
                 "status": "completed", "total_minor": 5000, "created_at": t0 - timedelta(days=1), "loaded_at": t0})
    with warehouse.begin() as conn:
        conn.execute(campaign_runs.insert(), [{"run_id": "r1", "campaign_id": "vip", "as_of": t0, "started_at": t0,
                                               "eligible": 60, "planned": 40, "held_quiet_hours": 0}])
        conn.execute(messages.insert(), msgs)
        conn.execute(campaign_exclusions.insert(), ex)
        conn.execute(orders.insert(), ords)
    landing = FakeLanding()
    result = measure_campaigns(warehouse, as_of, landing)
    r = result["campaigns"]["vip"]
    assert (r["treatment_n"], r["treatment_conversions"], r["treatment_revenue_minor"]) == (40, 10, 20000)
    assert (r["holdout_n"], r["holdout_conversions"], r["holdout_revenue_minor"]) == (20, 2, 2000)
    assert r["treatment_rate"] == 0.25 and r["holdout_rate"] == 0.1
    assert r["incremental_revenue_minor"] == round((500 - 100) * 40)
    z, p = two_proportion_z(10, 40, 2, 20)
    assert r["z"] == pytest.approx(z) and r["p_value"] == pytest.approx(p)
    html, ctype = landing.objects[f"reports/campaigns/{as_of:%Y-%m-%d}/index.html"]
    assert ctype.startswith("text/html") and b"data:image/png;base64," in html and b"vip" in html
    with warehouse.connect() as conn:
        row = conn.execute(select(campaign_uplift)).one()
    assert row.treatment_conversions == 10 and row.holdout_conversions == 2


def test_two_proportion_z_matches_reference():
    from scipy import stats

    from storeflow.campaigns.measurement import two_proportion_z

    z, p = two_proportion_z(30, 200, 10, 100)
    pooled = 40 / 300
    se = (pooled * (1 - pooled) * (1 / 200 + 1 / 100)) ** 0.5
    assert z == pytest.approx((0.15 - 0.10) / se)
    assert p == pytest.approx(2 * (1 - stats.norm.cdf(abs(z))))
    assert two_proportion_z(0, 0, 1, 10) == (None, None)
