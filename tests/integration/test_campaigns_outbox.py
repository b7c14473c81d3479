"""Campaign outbox end to end: plan → dispatch to the SMTP sink and the SMS simulator, on SQLite and PG."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import requests
from sqlalchemy import func, select

from storeflow.campaigns.optouts import fetch_inbound_sms, process_inbound_sms
from storeflow.campaigns.outbox import dispatch_due
from storeflow.campaigns.planner import explain, plan_campaigns
from storeflow.campaigns.senders_sms import TwilioSmsSender
from storeflow.campaigns.senders_smtp import SmtpEmailSender
from storeflow.settings import get_settings
from storeflow.warehouse.schema import campaign_runs, consents, customers, messages, metadata
from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.sms import SmsState, create_sms_app
from storeflow_simulators.smtp_sink import SmtpSink, SmtpState, create_smtp_api

AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 12:00 in London: inside both quiet-hour windows
SECRET = "test-unsubscribe-secret-0123456789"

VIP = """
id: vip_test
name: VIP test
topic: loyalty
channels: [email, sms]
audience: segment == "Champions"
offer: {type: reward, description: "free gift"}
priority: 60
reeligibility_days: 1
holdout_share: 0
templates:
  subject: "Thank you, {{ customer.given_name }}"
  html: "<html><body><p>Dear {{ customer.given_name }} {{ customer.family_name }}, enjoy a
    {{ offer.description }}.</p></body></html>"
  text: "Dear {{ customer.given_name }}, enjoy a {{ offer.description }}."
  sms: "{{ shop.name }}: thanks {{ customer.given_name }}, enjoy a {{ offer.description }}."
"""


@pytest.fixture
def wh(warehouse, monkeypatch):
    metadata.create_all(warehouse)  # until the lead regenerates the migrations
    monkeypatch.setenv("STOREFLOW_UNSUBSCRIBE_SECRET", SECRET)
    monkeypatch.setenv("STOREFLOW_GLOBAL_HOLDOUT_SHARE", "0")
    get_settings.cache_clear()
    return warehouse


@pytest.fixture
def campaigns_dir(tmp_path):
    d = tmp_path / "campaigns"
    d.mkdir()
    (d / "vip.yaml").write_text(VIP)
    (d / "broken.yaml").write_text("id: Broken Id\nchannels: [fax]\n")
    return d


@pytest.fixture
def smtp():
    state = SmtpState()
    sink = SmtpSink(state, port=0).start()
    api = serve_in_thread(create_smtp_api(state))
    yield sink, api, state
    api.stop()
    sink.stop()


@pytest.fixture
def sms():
    state = SmsState()
    server = serve_in_thread(create_sms_app(state))
    yield server, state
    server.stop()


def _senders(smtp, sms, lookup=True):
    sink, api, _ = smtp
    server, _ = sms
    settings = get_settings()
    return {
        "email": SmtpEmailSender.from_settings(settings, host="127.0.0.1", port=sink.port,
                                               lookup_url=api.url if lookup else None),
        "sms": TwilioSmsSender.from_settings(settings, base_url=server.url),
    }


def _seed(engine, n=6):
    now = AS_OF - timedelta(days=30)
    rows, cons = [], []
    for i in range(n):
        cid = f"C{i:03d}"
        rows.append({"customer_id": cid, "email": f"c{i}@example.org", "phone": f"+4479111234{i:02d}",
                     "given_name": f"Name{i}", "family_name": f"Family{i}", "timezone": "Europe/London",
                     "preferred_channel": "sms" if i % 3 == 0 else "email", "loaded_at": now})
        for ch in ("email", "sms"):
            cons.append({"customer_id": cid, "channel": ch, "topic": "marketing", "status": "subscribed",
                         "changed_at": now})
    cons[2]["status"] = "unsubscribed"  # C001 email opted out → goes by SMS (its only consented channel)
    with engine.begin() as conn:
        conn.execute(customers.insert(), rows)
        conn.execute(consents.insert(), cons)
    return pd.DataFrame({"customer_id": [r["customer_id"] for r in rows], "segment": "Champions"})


def _sent(engine):
    with engine.connect() as conn:
        return conn.execute(select(messages.c.state, func.count()).group_by(messages.c.state)).all()


def test_plan_dispatch_twice_sends_each_message_once(wh, campaigns_dir, smtp, sms):
    scores = _seed(wh)
    summary = plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
    assert summary.campaigns["vip_test"]["planned"] == 6
    assert any("broken.yaml" in e and "id" in e for e in summary.errors)
    senders = _senders(smtp, sms)
    first = dispatch_due(wh, AS_OF + timedelta(minutes=1), senders=senders)
    assert first.sent == 6, first
    # plan and dispatch again: nothing new
    again = plan_campaigns(wh, AS_OF + timedelta(hours=1), campaigns_dir, scores=scores)
    assert again.planned == 0
    # the other channel is still free for smart sending, but the daily cap stops everyone
    assert again.campaigns["vip_test"]["excluded"] == {"smart_sending": 1, "frequency_cap": 5}
    second = dispatch_due(wh, AS_OF + timedelta(hours=1, minutes=1), senders=senders)
    assert second.sent == 0 and second.claimed == 0
    _, _, state = smtp
    mails = state.list()
    sms_msgs = [m for m in sms[1].messages if m["direction"] == "outbound-api"]
    assert len(mails) + len(sms_msgs) == 6
    keys = [m["headers"]["X-Storeflow-Message-Key"] for m in mails]
    keys += [sms[1].metadata[m["sid"]]["message_key"] for m in sms_msgs]
    assert len(set(keys)) == 6
    with wh.connect() as conn:
        db_keys = set(conn.execute(select(messages.c.message_key)).scalars())
        assert db_keys == set(keys)
        # C001 opted out of email: it got an SMS
        row = conn.execute(select(messages.c.channel).where(messages.c.customer_id == "C001")).scalar()
        assert row == "sms"
        assert explain(conn, "C001", "vip_test")["message"]["state"] == "sent"
    mail = next(m for m in mails if m["to"] == ["c1@example.org"]) if any(
        m["to"] == ["c1@example.org"] for m in mails) else None
    assert mail is None
    mail = next(m for m in mails if m["to"] == ["c2@example.org"])
    h = mail["headers"]
    assert h["Message-ID"] == f"<{h['X-Storeflow-Message-Key']}@{get_settings().campaign_message_id_domain}>"
    assert h["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert h["List-Unsubscribe"].startswith("<http://127.0.0.1:8727/u/v1.")
    assert "Dear Name2 Family2" in mail["html"] and "Dear Name2" in mail["text"]
    assert get_settings().shop_postal_address in mail["text"]
    assert ">Unsubscribe</a>" in mail["html"]
    assert mail["subject"] == "Thank you, Name2"
    sms_c0 = next(m for m in sms_msgs if m["to"] == "+447911123400")
    assert "thanks Name0" in sms_c0["body"] and "STOP" in sms_c0["body"]


def test_unsubscribe_endpoint_and_stop_reply_stop_the_next_send(wh, campaigns_dir, smtp, sms, monkeypatch):
    from storeflow.endpoints import create_unsubscribe_app

    scores = _seed(wh)
    unsub = serve_in_thread(create_unsubscribe_app(wh))
    try:
        monkeypatch.setenv("STOREFLOW_UNSUBSCRIBE_BASE_URL", unsub.url + "/u")
        get_settings.cache_clear()
        plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
        senders = _senders(smtp, sms)
        assert dispatch_due(wh, AS_OF + timedelta(minutes=1), senders=senders).sent == 6
        mail = next(m for m in smtp[2].list() if m["to"] == ["c2@example.org"])
        url = mail["headers"]["List-Unsubscribe"].split(",")[0].strip("<> ")
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and "<form" in page.text
        resp = requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=10)
        assert resp.status_code == 200
        forged = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
        assert requests.post(forged, data={"List-Unsubscribe": "One-Click"}, timeout=10).status_code == 400
        # C000 prefers SMS: reply STOP
        requests.post(sms[0].url + "/_sim/inbound", json={"from": "+447911123400", "body": " Stop "}, timeout=10)
        with wh.begin() as conn:
            assert process_inbound_sms(conn, fetch_inbound_sms(sms[0].url)) == 1
        # the next run two days later: each opted-out channel is avoided, the other one still used
        later = AS_OF + timedelta(days=2)
        summary = plan_campaigns(wh, later, campaigns_dir, scores=scores)
        assert summary.planned == 6
        result = dispatch_due(wh, later + timedelta(minutes=1), senders=senders)
        with wh.connect() as conn:
            got = dict(conn.execute(select(messages.c.customer_id, messages.c.channel)
                                    .where(messages.c.send_at >= later)).all())
        assert got.get("C002") == "sms"  # email unsubscribed for topic loyalty → falls back to SMS
        assert got.get("C000") == "email"  # SMS opted out → email
        assert result.sent == len(got)
        to_c2 = [m for m in smtp[2].list() if m["to"] == ["c2@example.org"]]
        assert len(to_c2) == 1  # only the first one
    finally:
        unsub.stop()


def test_dispatcher_rechecks_consent_at_send_time(wh, campaigns_dir, smtp, sms):
    scores = _seed(wh)
    plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
    from storeflow.campaigns.optouts import record_optout

    with wh.begin() as conn:
        record_optout(conn, "C002", "email", "all", reason="test")
        record_optout(conn, "C002", "sms", "marketing", reason="test")
    result = dispatch_due(wh, AS_OF + timedelta(minutes=1), senders=_senders(smtp, sms))
    assert result.sent == 5 and result.skipped == {"consent_revoked": 1}
    assert not [m for m in smtp[2].list() if m["to"] == ["c2@example.org"]]


KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from storeflow.campaigns.outbox import dispatch_due
    from storeflow.campaigns.senders_smtp import SmtpEmailSender
    from storeflow.settings import get_settings
    from storeflow.warehouse.db import make_engine

    url, port, now, kill_after = sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), int(sys.argv[4])

    class Dying(SmtpEmailSender):
        sent = 0
        def send_batch(self, messages):
            results = super().send_batch(messages)   # the provider has the messages ...
            Dying.sent += len(messages)
            if Dying.sent >= kill_after:              # ... and the worker dies before marking them sent
                os.kill(os.getpid(), signal.SIGKILL)
            return results

    engine = make_engine(url)
    sender = Dying.from_settings(get_settings(), host="127.0.0.1", port=port)
    dispatch_due(engine, now, senders={"email": sender})
""")


@pytest.mark.parametrize("lookup", [True, False], ids=["provider-lookup", "at-most-once"])
def test_killed_dispatcher_loses_nothing_and_duplicates_nothing(wh, tmp_path, smtp, sms, monkeypatch, lookup):
    d = tmp_path / "email_only"
    d.mkdir()
    (d / "vip.yaml").write_text(VIP.replace("channels: [email, sms]", "channels: [email]"))
    scores = _seed(wh, n=12)
    summary = plan_campaigns(wh, AS_OF, d, scores=scores)
    assert summary.planned == 11  # C001 has no email consent
    sink, api, state = smtp
    env = {**os.environ, "STOREFLOW_DISPATCH_COMMIT_EVERY": "3", "STOREFLOW_DISPATCH_CONNECTIONS": "1",
           "STOREFLOW_UNSUBSCRIBE_SECRET": SECRET,
           "STOREFLOW_GLOBAL_HOLDOUT_SHARE": "0"}
    url = wh.url.render_as_string(hide_password=False)
    now = AS_OF + timedelta(minutes=1)
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, url, str(sink.port), now.isoformat(), "7"],
                          env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert len(state.list()) == 7
    states = dict(_sent(wh))
    assert states["sent"] == 6 and states["sending"] == 5  # 6 marked (2 commits), 1 sent-unmarked, 4 claimed
    # restart before the lease expires: stale rows are left alone
    senders = _senders(smtp, sms, lookup=lookup)
    early = dispatch_due(wh, now + timedelta(minutes=1), senders=senders)
    assert early.sent == 0 and early.claimed == 0
    # after the lease
    later = now + timedelta(minutes=get_settings().dispatch_lease_minutes + 1)
    result = dispatch_due(wh, later, senders=senders)
    mails = state.list()
    keys = [m["headers"]["X-Storeflow-Message-Key"] for m in mails]
    assert len(keys) == len(set(keys)), "a customer got the same message twice"
    states = dict(_sent(wh))
    if lookup:
        assert result.recovered_sent == 1 and result.recovered_replanned == 4 and result.sent == 4
        assert len(mails) == 11 and states == {"sent": 11}
    else:
        assert len(result.unknown) == 5 and result.sent == 0
        assert len(mails) == 7 and states == {"sent": 6, "failed": 5}
        with wh.connect() as conn:
            errors = conn.execute(select(messages.c.error).where(messages.c.state == "failed")).scalars().all()
        assert all(e.startswith("outcome_unknown") for e in errors)


def test_campaign_runs_record_counts_and_definition(wh, campaigns_dir):
    scores = _seed(wh)
    plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
    with wh.connect() as conn:
        run = conn.execute(select(campaign_runs)).one()
    assert run.campaign_id == "vip_test" and run.planned == 6 and run.eligible == 6
    assert run.definition["templates"]["sms"].startswith("{{ shop.name }}")
    assert isinstance(Path(__file__), Path)


def test_complaint_suppresses_the_channel(wh, campaigns_dir, smtp, sms):
    from storeflow.campaigns.outbox import record_message_event

    scores = _seed(wh)
    plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
    dispatch_due(wh, AS_OF + timedelta(minutes=1), senders=_senders(smtp, sms))
    with wh.begin() as conn:
        key = conn.execute(select(messages.c.message_key).where(messages.c.customer_id == "C002")).scalar()
        assert record_message_event(conn, key, "complained", AS_OF + timedelta(hours=2), {"feedback": "abuse"})
        assert not record_message_event(conn, "no-such-key", "opened", AS_OF)
    later = AS_OF + timedelta(days=2)
    plan_campaigns(wh, later, campaigns_dir, scores=scores)
    with wh.connect() as conn:
        channel = conn.execute(select(messages.c.channel).where(messages.c.customer_id == "C002",
                                                                messages.c.send_at >= later)).scalar()
    assert channel == "sms"


def test_dispatch_without_secret_fails_and_sends_everything_once_fixed(wh, campaigns_dir, smtp, sms, monkeypatch):
    """A missing unsubscribe secret fails the run loudly; emails stay planned and go out once it is set."""
    from storeflow.campaigns.outbox import DispatchConfigError

    scores = _seed(wh)
    plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
    senders = _senders(smtp, sms)
    with wh.connect() as conn:
        emails = conn.execute(select(func.count()).where(messages.c.channel == "email")).scalar()
    assert 0 < emails < 6
    monkeypatch.delenv("STOREFLOW_UNSUBSCRIBE_SECRET")
    with pytest.raises(DispatchConfigError, match="STOREFLOW_UNSUBSCRIBE_SECRET") as failed:
        dispatch_due(wh, AS_OF + timedelta(minutes=1), senders=senders)
    assert f"{emails} due email message(s) kept planned" in str(failed.value)
    assert dict(_sent(wh)) == {"sent": 6 - emails, "planned": emails}  # SMS went out, email waits
    assert smtp[2].list() == []
    monkeypatch.setenv("STOREFLOW_UNSUBSCRIBE_SECRET", SECRET)
    fixed = dispatch_due(wh, AS_OF + timedelta(minutes=20), senders=senders)
    assert fixed.sent == emails
    assert dispatch_due(wh, AS_OF + timedelta(minutes=40), senders=senders).sent == 0
    assert dict(_sent(wh)) == {"sent": 6}
    assert len(smtp[2].list()) == emails


def test_production_profile_refuses_a_loopback_unsubscribe_address(wh, campaigns_dir, smtp, sms, monkeypatch):
    from storeflow.campaigns.outbox import DispatchConfigError

    scores = _seed(wh)
    plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
    senders = _senders(smtp, sms)  # the simulators' senders, built while still in the demo profile
    monkeypatch.setenv("STOREFLOW_PROFILE", "production")
    monkeypatch.setenv("STOREFLOW_UNSUBSCRIBE_BASE_URL", "http://127.0.0.1:8727/u")
    get_settings.cache_clear()
    with pytest.raises(DispatchConfigError, match="STOREFLOW_UNSUBSCRIBE_BASE_URL"):
        dispatch_due(wh, AS_OF + timedelta(minutes=1), senders=senders)
    assert smtp[2].list() == []
    monkeypatch.setenv("STOREFLOW_UNSUBSCRIBE_BASE_URL", "https://shop.example.com/u")
    get_settings.cache_clear()
    assert dispatch_due(wh, AS_OF + timedelta(minutes=20), senders=senders).sent > 0
    assert all(m["headers"]["List-Unsubscribe"].startswith("<https://shop.example.com/u/v1.")
               for m in smtp[2].list())


def test_unusable_relay_keeps_email_planned_and_fails_the_run(wh, campaigns_dir, smtp, sms):
    """A relay that refuses the connection (or the login) is found before claiming: nothing is lost."""
    import socket

    from storeflow.campaigns.outbox import DispatchConfigError

    scores = _seed(wh)
    plan_campaigns(wh, AS_OF, campaigns_dir, scores=scores)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    senders = _senders(smtp, sms)
    senders["email"] = SmtpEmailSender.from_settings(get_settings(), host="127.0.0.1", port=closed_port)
    with pytest.raises(DispatchConfigError, match="smtp sender unusable .*storeflow_smtp"):
        dispatch_due(wh, AS_OF + timedelta(minutes=1), senders=senders)
    with wh.connect() as conn:
        waiting = conn.execute(select(func.count()).where(messages.c.channel == "email",
                                                          messages.c.state == "planned",
                                                          messages.c.attempts == 0)).scalar()
        emails = conn.execute(select(func.count()).where(messages.c.channel == "email")).scalar()
    assert waiting == emails > 0  # never claimed, no attempt used up
    assert dispatch_due(wh, AS_OF + timedelta(minutes=20), senders=_senders(smtp, sms)).sent == emails
