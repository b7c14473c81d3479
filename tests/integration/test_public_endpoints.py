"""The public endpoints service: RFC 8058 one-click, strict tokens, size limits, and the deployable entry point."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import select

from storeflow.campaigns.optouts import make_token
from storeflow.endpoints import MAX_BODY_BYTES, create_public_app
from storeflow.warehouse.schema import consents, customers
from storeflow_simulators.serve import serve_in_thread

SECRET = "endpoint-test-secret-0123456789"


@pytest.fixture
def app_url(warehouse, monkeypatch):
    monkeypatch.setenv("STOREFLOW_UNSUBSCRIBE_SECRET", SECRET)
    with warehouse.begin() as conn:
        conn.execute(customers.insert(), [{"customer_id": "C1", "email": "c1@example.org",
                                           "loaded_at": datetime(2026, 1, 1, tzinfo=UTC)}])
    server = serve_in_thread(create_public_app(warehouse))
    yield server.url, warehouse
    server.stop()


def _status(engine, customer_id="C1"):
    with engine.connect() as conn:
        return conn.execute(select(consents.c.status).where(consents.c.customer_id == customer_id,
                                                            consents.c.channel == "email")).scalar()


def test_get_never_unsubscribes_and_one_click_needs_its_body(app_url):
    url, engine = app_url
    link = f"{url}/u/{make_token('C1', 'marketing', SECRET.encode())}"
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert _status(engine) is None
    assert requests.post(link, timeout=10).status_code == 400
    assert requests.post(link, data={"List-Unsubscribe": "Other"}, timeout=10).status_code == 400
    assert requests.post(link, json={"List-Unsubscribe": "One-Click"}, timeout=10).status_code == 400
    assert _status(engine) is None
    done = requests.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert done.status_code == 200 and "Unsubscribed" in done.text
    assert _status(engine) == "unsubscribed"


def test_one_click_as_multipart_like_mailbox_providers_send_it(app_url):
    url, engine = app_url
    link = f"{url}/u/{make_token('C1', 'marketing', SECRET.encode())}"
    resp = requests.post(link, files={"List-Unsubscribe": (None, "One-Click")}, timeout=10)
    assert resp.status_code == 200
    assert _status(engine) == "unsubscribed"


@pytest.mark.parametrize("mangle", [
    lambda t: t + "=",                       # padding
    lambda t: t.replace(".", "..", 1),       # empty part
    lambda t: t + ".x",                      # five parts
    lambda t: "v2" + t[2:],                  # unknown version
    lambda t: t[:-1] + "!",                  # character outside base64url
    lambda t: t[:-2],                        # short signature
])
def test_tokens_parse_strictly(app_url, mangle):
    url, engine = app_url
    token = mangle(make_token("C1", "marketing", SECRET.encode()))
    resp = requests.post(f"{url}/u/{token}", data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert resp.status_code in (400, 404)
    assert _status(engine) is None


def test_no_docs_and_bodies_limited_before_any_check(app_url):
    url, _ = app_url
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert requests.get(url + path, timeout=10).status_code == 404
    big = b"x" * (MAX_BODY_BYTES + 1)
    # unsigned: without the limit this would be a 401 after reading and hashing the whole body
    assert requests.post(f"{url}/webhooks/woocommerce", data=big, timeout=10).status_code == 413
    link = f"{url}/u/{make_token('C1', 'marketing', SECRET.encode())}"
    assert requests.post(link, data={"List-Unsubscribe": "One-Click", "pad": "y" * MAX_BODY_BYTES},
                         timeout=10).status_code == 413
    assert requests.get(f"{url}/health", timeout=10).json() == {"status": "ok"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_service_entry_point_serves_and_records(tmp_path):
    """``python -m storeflow.endpoints`` (what compose and make run) answers a one-click POST."""
    db = tmp_path / "wh.db"
    subprocess.run([sys.executable, "-m", "storeflow.warehouse", "migrate", "--url", f"sqlite:///{db}"],
                   check=True, capture_output=True, timeout=120)
    env = {**os.environ, "STOREFLOW_WAREHOUSE_URL": f"sqlite:///{db}", "STOREFLOW_UNSUBSCRIBE_SECRET": SECRET}
    no_secret = {k: v for k, v in env.items() if k != "STOREFLOW_UNSUBSCRIBE_SECRET"}
    refused = subprocess.run([sys.executable, "-m", "storeflow.endpoints", "--port", str(_free_port())],
                             env=no_secret, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "STOREFLOW_UNSUBSCRIBE_SECRET" in refused.stderr
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "storeflow.endpoints", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "endpoints service did not start"
            time.sleep(0.3)
        link = f"{base}/u/{make_token('C9', 'marketing', SECRET.encode())}"
        assert requests.post(link, data={"List-Unsubscribe": "One-Click"}, timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    from storeflow.warehouse.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    try:
        assert _status(engine, "C9") == "unsubscribed"
    finally:
        engine.dispose()
