"""Webhook signatures (WooCommerce, Square) and the receiver over real HTTP into a real warehouse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import requests
from sqlalchemy import create_engine, select
from square.utils.webhooks_helper import verify_signature as sdk_verify_square

from storeflow.warehouse.schema import metadata, webhook_events
from storeflow.webhooks import (
    WebhookSecrets,
    create_webhook_receiver,
    sign_square,
    sign_woocommerce,
    verify_square,
    verify_woocommerce,
)
from storeflow_simulators.serve import serve_in_thread

WOO_SECRET = "whsec-test-woo-0123456789"
SQ_KEY = "sq-test-signature-key-abcdef"
SQ_URL = "https://hooks.example.com/webhooks/square"
BODY = json.dumps({"id": 42, "status": "processing", "total": "12.50"}).encode()
SQ_BODY = json.dumps({
    "merchant_id": "M1", "type": "customer.updated", "event_id": "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc",
    "created_at": "2026-11-23T10:00:00Z", "data": {"type": "customer", "id": "CUST1", "object": {}},
}).encode()


def _independent_woo_signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


# --- WooCommerce -----------------------------------------------------------------------------------
def test_woocommerce_valid_signature_matches_an_independent_computation():
    signature = _independent_woo_signature(BODY, WOO_SECRET)
    assert sign_woocommerce(BODY, WOO_SECRET) == signature
    assert verify_woocommerce(BODY, signature, WOO_SECRET)


@pytest.mark.parametrize("tamper", [
    lambda b: b.replace(b"12.50", b"0.01"),
    lambda b: b + b" ",
    lambda b: b"",
])
def test_woocommerce_tampered_body_is_rejected(tamper):
    signature = sign_woocommerce(BODY, WOO_SECRET)
    assert not verify_woocommerce(tamper(BODY), signature, WOO_SECRET)


@pytest.mark.parametrize("header", [None, "", "not-base64!", "c2hvcnQ=", "é"])
def test_woocommerce_missing_or_garbage_header_is_rejected(header):
    assert not verify_woocommerce(BODY, header, WOO_SECRET)


def test_woocommerce_wrong_secret_and_empty_secret():
    assert not verify_woocommerce(BODY, sign_woocommerce(BODY, "other-secret"), WOO_SECRET)
    with pytest.raises(ValueError):
        verify_woocommerce(BODY, sign_woocommerce(BODY, WOO_SECRET), "")


# --- Square ----------------------------------------------------------------------------------------
def test_square_signature_agrees_with_the_official_sdk_helper():
    signature = sign_square(SQ_URL, SQ_BODY, SQ_KEY)
    assert verify_square(SQ_URL, SQ_BODY, signature, SQ_KEY)
    assert sdk_verify_square(request_body=SQ_BODY.decode(), signature_header=signature, signature_key=SQ_KEY,
                             notification_url=SQ_URL)
    # and a signature the SDK rejects is rejected by us too
    bad = sign_square(SQ_URL + "/", SQ_BODY, SQ_KEY)
    assert not sdk_verify_square(request_body=SQ_BODY.decode(), signature_header=bad, signature_key=SQ_KEY,
                                 notification_url=SQ_URL)
    assert not verify_square(SQ_URL, SQ_BODY, bad, SQ_KEY)


@pytest.mark.parametrize("url", [
    SQ_URL + "/", SQ_URL.replace("https", "http"), SQ_URL + "?x=1", "https://hooks.example.com/webhooks/Square",
])
def test_square_wrong_url_is_rejected(url):
    signature = sign_square(SQ_URL, SQ_BODY, SQ_KEY)
    assert not verify_square(url, SQ_BODY, signature, SQ_KEY)


def test_square_tampered_body_missing_header_and_wrong_key():
    signature = sign_square(SQ_URL, SQ_BODY, SQ_KEY)
    assert not verify_square(SQ_URL, SQ_BODY.replace(b"CUST1", b"CUST2"), signature, SQ_KEY)
    assert not verify_square(SQ_URL, SQ_BODY, None, SQ_KEY)
    assert not verify_square(SQ_URL, SQ_BODY, "", SQ_KEY)
    assert not verify_square(SQ_URL, SQ_BODY, sign_square(SQ_URL, SQ_BODY, "other-key"), SQ_KEY)
    with pytest.raises(ValueError):
        verify_square("", SQ_BODY, signature, SQ_KEY)


def test_secrets_repr_never_shows_secrets():
    text = repr(WebhookSecrets(WOO_SECRET, SQ_KEY, SQ_URL))
    assert WOO_SECRET not in text and SQ_KEY not in text


# --- receiver over HTTP ----------------------------------------------------------------------------
@pytest.fixture
def receiver(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    metadata.create_all(engine, tables=[webhook_events])
    app = create_webhook_receiver(WebhookSecrets(WOO_SECRET, SQ_KEY, SQ_URL), engine=engine)
    handle = serve_in_thread(app)
    try:
        yield handle.url, engine
    finally:
        handle.stop()
        engine.dispose()


def _events(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(webhook_events).order_by(webhook_events.c.id))]


def test_receiver_answers_woocommerce_ping_without_signature(receiver):
    url, engine = receiver
    r = requests.post(f"{url}/webhooks/woocommerce", data={"webhook_id": "7"}, timeout=5)
    assert r.status_code == 200
    assert _events(engine) == []


def test_receiver_rejects_unsigned_and_invalid_deliveries(receiver):
    url, engine = receiver
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated"}
    assert requests.post(f"{url}/webhooks/woocommerce", data=BODY, headers=headers, timeout=5).status_code == 401
    bad = {**headers, "X-WC-Webhook-Signature": sign_woocommerce(BODY, "wrong")}
    assert requests.post(f"{url}/webhooks/woocommerce", data=BODY, headers=bad, timeout=5).status_code == 401
    tampered = {**headers, "X-WC-Webhook-Signature": sign_woocommerce(BODY, WOO_SECRET)}
    r = requests.post(f"{url}/webhooks/woocommerce", data=BODY + b"\n", headers=tampered, timeout=5)
    assert r.status_code == 401
    # a form body that is not exactly a ping still needs a signature
    r = requests.post(f"{url}/webhooks/woocommerce", data={"webhook_id": "7", "x": "1"}, timeout=5)
    assert r.status_code == 401
    assert requests.post(f"{url}/webhooks/square", data=SQ_BODY, timeout=5).status_code == 401
    sq_bad = {"x-square-hmacsha256-signature": sign_square(SQ_URL + "/", SQ_BODY, SQ_KEY)}
    assert requests.post(f"{url}/webhooks/square", data=SQ_BODY, headers=sq_bad, timeout=5).status_code == 401
    assert _events(engine) == []


def test_receiver_records_valid_events_and_dedupes_square_by_event_id(receiver):
    url, engine = receiver
    woo_headers = {"Content-Type": "application/json", "X-WC-Webhook-Topic": "order.updated",
                   "X-WC-Webhook-Delivery-ID": "d-1", "X-WC-Webhook-Signature": sign_woocommerce(BODY, WOO_SECRET)}
    r = requests.post(f"{url}/webhooks/woocommerce", data=BODY, headers=woo_headers, timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "recorded"
    sq_headers = {"Content-Type": "application/json",
                  "x-square-hmacsha256-signature": sign_square(SQ_URL, SQ_BODY, SQ_KEY)}
    first = requests.post(f"{url}/webhooks/square", data=SQ_BODY, headers=sq_headers, timeout=5)
    again = requests.post(f"{url}/webhooks/square", data=SQ_BODY,
                          headers={**sq_headers, "square-retry-number": "1"}, timeout=5)
    assert (first.status_code, first.json()["status"]) == (200, "recorded")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    rows = _events(engine)
    assert [(r["source"], r["event_id"], r["topic"], r["resource_id"]) for r in rows] == [
        ("woocommerce", "d-1", "order.updated", "42"),
        ("square", "6a8f5f28-54a1-4eb0-a98a-3111513fd4fc", "customer.updated", "CUST1"),
    ]
    assert rows[1]["body_sha256"] == hashlib.sha256(SQ_BODY).hexdigest()


def test_receiver_without_configured_secret_refuses_everything(tmp_path):
    handle = serve_in_thread(create_webhook_receiver(WebhookSecrets()))
    try:
        headers = {"X-WC-Webhook-Signature": sign_woocommerce(BODY, WOO_SECRET)}
        assert requests.post(f"{handle.url}/webhooks/woocommerce", data=BODY, headers=headers,
                             timeout=5).status_code == 401
        sq = {"x-square-hmacsha256-signature": sign_square(SQ_URL, SQ_BODY, SQ_KEY)}
        assert requests.post(f"{handle.url}/webhooks/square", data=SQ_BODY, headers=sq, timeout=5).status_code == 401
    finally:
        handle.stop()


def test_app_from_env_records_into_the_configured_warehouse(tmp_path, monkeypatch):
    from storeflow.settings import get_settings
    from storeflow.webhooks import app_from_env

    db = tmp_path / "wh-env.db"
    monkeypatch.setenv("STOREFLOW_WAREHOUSE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("STOREFLOW_SQUARE_WEBHOOK_KEY", SQ_KEY)
    monkeypatch.setenv("STOREFLOW_SQUARE_WEBHOOK_URL", SQ_URL)
    get_settings.cache_clear()
    handle = serve_in_thread(app_from_env())
    try:
        headers = {"x-square-hmacsha256-signature": sign_square(SQ_URL, SQ_BODY, SQ_KEY)}
        r = requests.post(f"{handle.url}/webhooks/square", data=SQ_BODY, headers=headers, timeout=5)
        assert r.status_code == 200
        # WooCommerce has no secret configured here: refused
        woo = {"X-WC-Webhook-Signature": sign_woocommerce(BODY, WOO_SECRET)}
        assert requests.post(f"{handle.url}/webhooks/woocommerce", data=BODY, headers=woo, timeout=5).status_code == 401
    finally:
        handle.stop()
    engine = create_engine(f"sqlite:///{db}")
    assert [e["event_id"] for e in _events(engine)] == ["6a8f5f28-54a1-4eb0-a98a-3111513fd4fc"]
    engine.dispose()
