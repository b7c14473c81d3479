"""SMTP sink and Twilio-contract SMS simulator over real sockets."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
import requests

from storeflow_simulators.serve import serve_in_thread
from storeflow_simulators.sms import (
    DEMO_ACCOUNT_SID,
    DEMO_AUTH_TOKEN,
    SmsState,
    count_segments,
    create_sms_app,
    twilio_client,
)
from storeflow_simulators.smtp_sink import SmtpSink, SmtpState, create_smtp_api

AUTH = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
TO = "+447911123456"
FROM = "+447700900001"


@pytest.fixture
def smtp():
    state = SmtpState()
    sink = SmtpSink(state, port=0).start()
    api = serve_in_thread(create_smtp_api(state))
    yield sink, api
    api.stop()
    sink.stop()


@pytest.fixture
def sms():
    server = serve_in_thread(create_sms_app(SmsState()))
    yield server
    server.stop()


def _messages_url(base: str, sid: str = DEMO_ACCOUNT_SID) -> str:
    return f"{base}/2010-04-01/Accounts/{sid}/Messages.json"


# --- SMTP -------------------------------------------------------------------------------------


def test_smtp_message_visible_with_headers_and_parts(smtp):
    sink, api = smtp
    msg = EmailMessage()
    msg["From"] = "Shop <shop@example.com>"
    msg["To"] = "ana@example.org"
    msg["Subject"] = "Time to restock? ☕"
    msg["Message-ID"] = "<abc123@storeflow>"
    msg["X-Storeflow-Message-Key"] = "key-42"
    msg["List-Unsubscribe"] = "<http://127.0.0.1:8727/u/tok>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("Plain body £5 off")
    msg.add_alternative("<p>HTML body &pound;5 off</p>", subtype="html")
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.send_message(msg, to_addrs=["ana@example.org", "bcc@example.org"])

    rows = requests.get(f"{api.url}/api/messages", timeout=5).json()
    assert len(rows) == 1
    got = rows[0]
    assert got["from"] == "shop@example.com"
    assert got["to"] == ["ana@example.org", "bcc@example.org"]
    assert got["subject"] == "Time to restock? ☕"
    assert got["headers"]["X-Storeflow-Message-Key"] == "key-42"
    assert got["headers"]["List-Unsubscribe"] == "<http://127.0.0.1:8727/u/tok>"
    assert got["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert got["headers"]["Message-ID"] == "<abc123@storeflow>"
    assert got["text"].strip() == "Plain body £5 off"
    assert "HTML body" in got["html"]
    assert got["received_at"]

    full = requests.get(f"{api.url}/api/messages/{got['id']}", timeout=5).json()
    assert "X-Storeflow-Message-Key: key-42" in full["raw"]


def test_smtp_filter_by_recipient_and_clear(smtp):
    sink, api = smtp
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        for rcpt in ("a@example.org", "b@example.org", "a@example.org"):
            client.sendmail("shop@example.com", [rcpt], f"Subject: hi {rcpt}\r\n\r\ntext only\r\n")
    assert len(requests.get(f"{api.url}/api/messages", params={"to": "a@example.org"}, timeout=5).json()) == 2
    only_b = requests.get(f"{api.url}/api/messages", params={"to": "B@example.org"}, timeout=5).json()
    assert [m["subject"] for m in only_b] == ["hi b@example.org"]
    assert only_b[0]["text"].strip() == "text only" and only_b[0]["html"] is None
    assert requests.delete(f"{api.url}/api/messages", timeout=5).ok
    assert requests.get(f"{api.url}/api/messages", timeout=5).json() == []


# --- SMS: raw HTTP ------------------------------------------------------------------------------


def test_sms_create_fetch_and_metadata(sms):
    resp = requests.post(
        _messages_url(sms.url),
        auth=AUTH,
        data={"To": TO, "From": FROM, "Body": "Hello from the shop"},
        headers={"X-Storeflow-Message-Key": "mk-1"},
        timeout=5,
    )
    assert resp.status_code == 201, resp.text
    m = resp.json()
    assert m["sid"].startswith("SM") and len(m["sid"]) == 34
    int(m["sid"][2:], 16)
    assert (m["to"], m["from"], m["body"], m["status"]) == (TO, FROM, "Hello from the shop", "queued")
    assert m["account_sid"] == DEMO_ACCOUNT_SID and m["num_segments"] == "1"
    assert m["date_created"].endswith("+0000") and m["uri"].endswith(f"/Messages/{m['sid']}.json")

    fetched = requests.get(f"{sms.url}{m['uri']}", auth=AUTH, timeout=5)
    assert fetched.status_code == 200 and fetched.json()["sid"] == m["sid"]
    sim = requests.get(f"{sms.url}/_sim/messages", timeout=5).json()
    assert sim[0]["metadata"]["message_key"] == "mk-1"


@pytest.mark.parametrize(
    ("auth", "sid"),
    [
        (None, DEMO_ACCOUNT_SID),
        ((DEMO_ACCOUNT_SID, "wrong"), DEMO_ACCOUNT_SID),
        (("ACother", DEMO_AUTH_TOKEN), "ACother"),
    ],
)
def test_sms_bad_auth_is_401_in_twilio_shape(sms, auth, sid):
    resp = requests.post(
        _messages_url(sms.url, sid), auth=auth, data={"To": TO, "From": FROM, "Body": "x"}, timeout=5
    )
    assert resp.status_code == 401
    assert resp.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert requests.get(_messages_url(sms.url, sid), auth=auth, timeout=5).status_code == 401


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"From": FROM, "Body": "x"}, 21604),
        ({"To": "07911 123456", "From": FROM, "Body": "x"}, 21211),
        ({"To": "+44123", "From": FROM, "Body": "x"}, 21211),
        ({"To": TO, "Body": "x"}, 21603),
        ({"To": TO, "From": FROM}, 21602),
    ],
)
def test_sms_validation_errors(sms, data, code):
    resp = requests.post(_messages_url(sms.url), auth=AUTH, data=data, timeout=5)
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == code and body["status"] == 400 and body["more_info"].endswith(str(code))


def test_segment_rules():
    assert count_segments("a" * 160) == (1, "GSM-7")
    assert count_segments("a" * 161) == (2, "GSM-7")
    assert count_segments("a" * 306) == (2, "GSM-7")
    assert count_segments("a" * 307) == (3, "GSM-7")
    assert count_segments("€" * 80) == (1, "GSM-7")  # extension chars cost two septets
    assert count_segments("€" * 81) == (2, "GSM-7")
    assert count_segments("é" * 160) == (1, "GSM-7")  # é is in the GSM basic set
    assert count_segments("ł" * 70) == (1, "UCS-2")
    assert count_segments("ł" * 71) == (2, "UCS-2")
    assert count_segments("ł" * 135) == (3, "UCS-2")
    assert count_segments("😀" * 35) == (1, "UCS-2")  # surrogate pairs are two UCS-2 units


def test_sms_num_segments_in_resource(sms):
    resp = requests.post(
        _messages_url(sms.url), auth=AUTH, data={"To": TO, "From": FROM, "Body": "ł" * 71}, timeout=5
    )
    assert resp.json()["num_segments"] == "2"


@pytest.mark.parametrize("word", ["STOP", " stop ", "Unsubscribe", "opt out", "QUIT", "revoke"])
def test_sms_stop_opts_out_and_start_resubscribes(sms, word):
    r = requests.post(f"{sms.url}/_sim/inbound", json={"from": TO, "body": word}, timeout=5)
    assert r.status_code == 201 and r.json()["opted_out"] is True
    blocked = requests.post(
        _messages_url(sms.url), auth=AUTH, data={"To": TO, "From": FROM, "Body": "x"}, timeout=5
    )
    assert blocked.status_code == 400 and blocked.json()["code"] == 21610
    inbound = requests.get(f"{sms.url}/_sim/inbound", timeout=5).json()
    assert [(m["from"], m["body"], m["direction"]) for m in inbound] == [(TO, word, "inbound")]

    requests.post(f"{sms.url}/_sim/inbound", json={"from": TO, "body": "START"}, timeout=5)
    ok = requests.post(
        _messages_url(sms.url), auth=AUTH, data={"To": TO, "From": FROM, "Body": "x"}, timeout=5
    )
    assert ok.status_code == 201


def test_sms_non_stop_reply_does_not_opt_out(sms):
    requests.post(f"{sms.url}/_sim/inbound", json={"from": TO, "body": "please stop sending"}, timeout=5)
    ok = requests.post(
        _messages_url(sms.url), auth=AUTH, data={"To": TO, "From": FROM, "Body": "x"}, timeout=5
    )
    assert ok.status_code == 201


def test_sms_list_filter_and_paging(sms):
    other = "+447911654321"
    for i in range(5):
        requests.post(
            _messages_url(sms.url), auth=AUTH, data={"To": TO, "From": FROM, "Body": f"m{i}"}, timeout=5
        )
    requests.post(_messages_url(sms.url), auth=AUTH, data={"To": other, "From": FROM, "Body": "o"}, timeout=5)
    page0 = requests.get(
        _messages_url(sms.url), auth=AUTH, params={"To": TO, "PageSize": 2}, timeout=5
    ).json()
    assert [m["body"] for m in page0["messages"]] == ["m4", "m3"]
    assert page0["page"] == 0 and page0["page_size"] == 2 and page0["next_page_uri"]
    bodies = [m["body"] for m in page0["messages"]]
    uri = page0["next_page_uri"]
    while uri:
        page = requests.get(f"{sms.url}{uri}", auth=AUTH, timeout=5).json()
        bodies += [m["body"] for m in page["messages"]]
        uri = page["next_page_uri"]
    assert bodies == ["m4", "m3", "m2", "m1", "m0"]


# --- SMS: the official twilio SDK -----------------------------------------------------------------


def test_official_twilio_sdk_creates_and_lists(sms):
    client = twilio_client(sms.url)
    created = client.messages.create(to=TO, from_=FROM, body="Your order is ready")
    assert created.sid.startswith("SM") and created.status == "queued"
    assert created.date_created.year >= 2024
    service = client.messages.create(to=TO, messaging_service_sid="MG" + "0" * 32, body="via service")
    assert service.status == "accepted"
    for i in range(3):
        client.messages.create(to=TO, from_=FROM, body=f"n{i}")

    listed = client.messages.list(to=TO, page_size=2)  # follows next_page_uri through the simulator
    assert len(listed) == 5
    assert {m.sid for m in listed} >= {created.sid, service.sid}
    assert client.messages(created.sid).fetch().body == "Your order is ready"


def test_official_twilio_sdk_surfaces_errors(sms):
    from twilio.base.exceptions import TwilioRestException

    requests.post(f"{sms.url}/_sim/inbound", json={"from": TO, "body": "STOP"}, timeout=5)
    with pytest.raises(TwilioRestException) as err:
        twilio_client(sms.url).messages.create(to=TO, from_=FROM, body="x")
    assert err.value.code == 21610 and err.value.status == 400

    with pytest.raises(TwilioRestException) as err:
        twilio_client(sms.url, auth_token="nope").messages.create(to=TO, from_=FROM, body="x")
    assert err.value.code == 20003 and err.value.status == 401


def test_sms_inbound_cursor(sms):
    for body in ("hello", "STOP", "START"):
        requests.post(f"{sms.url}/_sim/inbound", json={"from": TO, "body": body}, timeout=5)
    all_in = requests.get(f"{sms.url}/_sim/inbound", timeout=5).json()
    assert [(m["seq"], m["body"]) for m in all_in] == [(1, "hello"), (2, "STOP"), (3, "START")]
    later = requests.get(f"{sms.url}/_sim/inbound", params={"after": 2}, timeout=5).json()
    assert [m["body"] for m in later] == ["START"]
    assert requests.get(f"{sms.url}/_sim/opt_outs", timeout=5).json() == []


def test_smtp_accepts_utf8_addresses(smtp):
    sink, api = smtp
    msg = EmailMessage()
    msg["From"] = "shop@example.com"
    msg["To"] = "zoë@exämple.org"
    msg["Subject"] = "Grüße"
    msg.set_content("Hallo")
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.send_message(msg)
    got = requests.get(f"{api.url}/api/messages", timeout=5).json()
    assert got[0]["to"] == ["zoë@exämple.org"] and got[0]["subject"] == "Grüße"
