"""Logs of a demo slice (extracts with faults and retries, webhooks, GDPR) hold no secrets and no PII."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from storeflow.connectors.square import SquareClient
from storeflow.connectors.woocommerce import WooClient
from storeflow.landing import LandingZone
from storeflow.logscan import scan, scan_text
from storeflow.privacy.access_export import export_customer
from storeflow.privacy.erasure import erase_customer
from storeflow.privacy.scrub import Subject
from storeflow.settings import get_settings
from storeflow.sync.customer_push import push_customers
from storeflow.sync.extract import run_stream
from storeflow.sync.registry import get_stream
from storeflow.warehouse import schema as S
from storeflow.webhooks import WebhookSecrets, create_webhook_receiver, sign_woocommerce
from storeflow_simulators.cluster import SimulatorCluster
from storeflow_simulators.credentials import (
    DEMO_POS_TOKEN,
    DEMO_SMS_TOKEN,
    DEMO_STORE_KEY,
    DEMO_STORE_SECRET,
)
from storeflow_simulators.serve import serve_in_thread

PSEUDONYM_SECRET = "log-hygiene-pseudonym-secret-42"
WEBHOOK_SECRET = "log-hygiene-webhook-secret-42"
STREAMS = ("pos_customers", "store_customers", "pos_orders", "store_orders")


def test_scan_text_finds_literals_and_shapes_and_masks_them():
    text = "ok line\nsent to jane.doe@example.com via +447700900461\ntoken=s3cr3t-value here\n"
    findings = scan_text(text, ["s3cr3t-value"], allow=["shop@storeflow.example"])
    assert [(f.line, f.kind) for f in findings] == [(2, "email"), (2, "phone"), (3, "forbidden")]
    assert all("jane.doe" not in str(f) and "s3cr3t-value" not in str(f) for f in findings)
    assert scan_text("from shop@storeflow.example", allow=["shop@storeflow.example"]) == []


def test_scan_text_decodes_urls_and_flags_real_url_credentials_only():
    line = 'GET /customers?email=jane.doe%40example.com&phone=%2B447700900461 HTTP/1.1'
    assert {f.kind for f in scan_text(line)} == {"email", "phone"}
    assert [f.kind for f in scan_text("connect postgresql://app:Sup3rS3cret@db.internal:5432/wh")] == [
        "url_credentials"]
    assert scan_text('"redshift+psycopg2://user:password@host.amazonaws.com:5439/database"') == []
    assert scan_text('"databricks://token:<token>@<host>:<port>?http_path=<http_path>"') == []


def test_scan_reads_files_and_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.log").write_text("fine\nBearer tok-123456 used\n")
    (tmp_path / "2.log").write_text("nothing here\n")
    findings = scan([tmp_path], ["tok-123456"])
    assert [(Path(f.path).name, f.line, f.kind) for f in findings] == [("1.log", 2, "forbidden")]


@pytest.fixture
def captured_logs(tmp_path):
    """Every log record at DEBUG (root and library loggers) written to a file, as a task log would be."""
    path = tmp_path / "logs" / "task.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def _world_pii(engine) -> tuple[set[str], set[str]]:
    emails: set[str] = set()
    phones: set[str] = set()
    with engine.connect() as conn:
        for r in conn.execute(select(S.customer_identities.c.email_norm, S.customer_identities.c.phone_e164,
                                     S.customer_identities.c.raw)):
            subject = Subject(secret=b"-")
            subject.add_contacts_from(r.raw)
            subject.add_values(email=r.email_norm, phone=r.phone_e164)
            emails |= subject.emails
            phones |= {p for p in subject.phones if sum(ch.isdigit() for ch in p) >= 8}
    return emails, phones


@pytest.mark.slow
def test_demo_slice_logs_hold_no_secrets_or_pii(sqlite_warehouse, tmp_path, monkeypatch, captured_logs):
    monkeypatch.setenv("STOREFLOW_PSEUDONYM_SECRET", PSEUDONYM_SECRET)
    S.metadata.create_all(sqlite_warehouse)
    landing = LandingZone.from_url(str(tmp_path / "landing"))
    fast = {"max_attempts": 12, "backoff_base": 0.01, "backoff_max": 0.05}
    with SimulatorCluster(seed=3, scale="tiny", ports={"pos": 0, "store": 0, "sms": 0, "smtp": 0, "smtp_api": 0}) as c:
        pos = SquareClient(c.pos_url, DEMO_POS_TOKEN, **fast)
        store = WooClient(c.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET, **fast)
        store_qs = WooClient(c.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET, query_string_auth=True, **fast)
        c.set_faults(0.3, seed=7)
        for name in STREAMS:
            client = pos if name.startswith("pos") else (store_qs if name == "store_orders" else store)
            try:
                run_stream(sqlite_warehouse, landing, client, get_stream(name), run_id=f"hygiene-{name}")
            except Exception as exc:  # a failed DQ gate is fine here: we judge what it logged
                logging.getLogger("test").info("stream %s ended with %s", name, type(exc).__name__)
        push_customers(sqlite_warehouse, pos, store)  # golden values and opt-outs back to both systems
        retries = pos.stats.retries + store.stats.retries + store_qs.stats.retries
        c.set_faults(0.0)
        emails, phones = _world_pii(sqlite_warehouse)
        assert len(emails) > 50 and len(phones) > 20
        someone = sorted(emails)[0]
        export_customer(sqlite_warehouse, landing, email=someone)
        erase_customer(sqlite_warehouse, landing, email=someone, pos_client=pos, store_client=store,
                       requested_by="log-hygiene")
        receiver = serve_in_thread(create_webhook_receiver(WebhookSecrets(woocommerce_secret=WEBHOOK_SECRET)))
        try:
            body = b'{"id": 1, "billing": {"email": "%s"}}' % someone.encode()
            requests.post(f"{receiver.url}/webhooks/woocommerce", data=body, timeout=5,
                          headers={"X-WC-Webhook-Signature": sign_woocommerce(body, "wrong")})
            requests.post(f"{receiver.url}/webhooks/woocommerce", data=body, timeout=5,
                          headers={"X-WC-Webhook-Signature": sign_woocommerce(body, WEBHOOK_SECRET)})
        finally:
            receiver.stop()

    text = captured_logs.read_text(encoding="utf-8")
    assert retries > 0 and "retrying" in text, "faults must have exercised the retry logging"
    assert "urllib3" in text, "DEBUG records of the HTTP stack must have been captured"
    basic = base64.b64encode(f"{DEMO_STORE_KEY}:{DEMO_STORE_SECRET}".encode()).decode()
    secrets = [DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET, DEMO_SMS_TOKEN, basic, PSEUDONYM_SECRET,
               WEBHOOK_SECRET]
    settings = get_settings()
    findings = scan([Path(captured_logs).parent], [*secrets, *emails, *phones],
                    allow=[settings.campaign_from_email, settings.sms_from])
    assert not findings, "secrets or personal data in logs:\n" + "\n".join(map(str, findings[:40]))


def test_store_email_lookup_does_not_log_the_email(captured_logs):
    with SimulatorCluster(seed=3, scale="tiny", components=("store",), ports={"store": 0}) as c:
        store = WooClient(c.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET)
        email = store.list_customers()[0].email
        store.find_customer_by_email(email)
    findings = scan([captured_logs], [email], patterns=False)
    assert not findings, "\n".join(map(str, findings))
