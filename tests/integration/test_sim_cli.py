"""SimulatorCluster and ``python -m storeflow_simulators`` (real processes, sockets and files)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from storeflow_simulators.cluster import EPHEMERAL_PORTS, SimulatorCluster
from storeflow_simulators.credentials import DEMO_POS_TOKEN
from storeflow_simulators.sms import DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN
from storeflow_simulators.store_testing import store_oauth1

AUTH = (DEMO_ACCOUNT_SID, DEMO_AUTH_TOKEN)
POS_AUTH = {"Authorization": f"Bearer {DEMO_POS_TOKEN}"}
STORE_AUTH = store_oauth1()  # plain HTTP: OAuth 1.0a only, as on a real WooCommerce
WOO = "/wp-json/wc/v3"
TO = "+447911123456"


def _have(*modules: str) -> bool:
    return all(importlib.util.find_spec(f"storeflow_simulators.{m}") is not None for m in modules)


HAVE_WORLD = _have("seed", "pos", "store")
NEEDS_WORLD = pytest.mark.skipif(
    not HAVE_WORLD, reason="storeflow_simulators.seed/pos/store not written yet (other helpers' files)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _send_sms(base: str, body: str = "hi") -> requests.Response:
    return requests.post(
        f"{base}/2010-04-01/Accounts/{DEMO_ACCOUNT_SID}/Messages.json",
        auth=AUTH,
        data={"To": TO, "From": "+447700900001", "Body": body},
        timeout=5,
    )


def _send_mail(host: str, port: int, subject: str) -> None:
    with smtplib.SMTP(host, port, timeout=10) as client:
        client.sendmail("shop@example.com", ["ana@example.org"], f"Subject: {subject}\r\n\r\nbody\r\n")


# --- SimulatorCluster (in process) ---------------------------------------------------------------


def test_cluster_sms_smtp_env_and_state_roundtrip(tmp_path):
    state_file = tmp_path / "sims" / "state.json"
    with SimulatorCluster(ports=EPHEMERAL_PORTS, state_file=state_file, components=("sms", "smtp")) as sims:
        env = sims.env()
        assert set(env) == {
            "STOREFLOW_SMS_URL",
            "STOREFLOW_SMTP_HOST",
            "STOREFLOW_SMTP_PORT",
            "STOREFLOW_SMTP_API_URL",
        }
        assert env["STOREFLOW_SMTP_PORT"] == str(sims.smtp_port) and sims.smtp_port > 0
        assert _send_sms(sims.sms_url).status_code == 201
        requests.post(f"{sims.sms_url}/_sim/inbound", json={"from": TO, "body": "STOP"}, timeout=5)
        _send_mail(sims.smtp_host, sims.smtp_port, "first")
        assert len(requests.get(f"{sims.smtp_api_url}/api/messages", timeout=5).json()) == 1
    saved = json.loads(state_file.read_text())
    assert len(saved["sms"]["messages"]) == 2 and saved["sms"]["opted_out"] == [TO]

    with SimulatorCluster(ports=EPHEMERAL_PORTS, state_file=state_file, components=("sms", "smtp")) as sims:
        blocked = _send_sms(sims.sms_url)
        assert blocked.status_code == 400 and blocked.json()["code"] == 21610  # the opt-out survived
        _send_mail(sims.smtp_host, sims.smtp_port, "second")
        mails = requests.get(f"{sims.smtp_api_url}/api/messages", timeout=5).json()
        assert [m["subject"] for m in mails] == ["first", "second"]
        assert mails[0]["id"] != mails[1]["id"]


def test_cluster_faults_wrap_sms(tmp_path):
    with SimulatorCluster(ports=EPHEMERAL_PORTS, faults=0.6, seed=3, components=("sms",)) as sims:
        codes = [_send_sms(sims.sms_url).status_code for _ in range(15)]
        stats = sims.fault_stats()["sms"]
        assert stats["counts"].get("rate_limit", 0) + stats["counts"].get("server_error", 0) == sum(
            c != 201 for c in codes
        )
        assert any(c != 201 for c in codes)
        sent = requests.get(f"{sims.sms_url}/_sim/messages", timeout=5).json()
        assert len(sent) == codes.count(201)  # faulted creates never sent a message
        assert requests.get(f"{sims.sms_url}/_sim/faults", timeout=5).json()["total"] == stats["total"]


def test_cluster_faults_switch_on_and_off_at_run_time():
    with SimulatorCluster(ports=EPHEMERAL_PORTS, components=("sms",)) as sims:
        assert _send_sms(sims.sms_url).status_code == 201
        sims.set_faults(1.0)
        faulted = [_send_sms(sims.sms_url) for _ in range(5)]
        slow = sims.fault_stats()["sms"]["counts"].get("slow", 0)
        assert sum(r.status_code != 201 for r in faulted) == 5 - slow
        sims.set_faults(0.0)
        assert _send_sms(sims.sms_url).status_code == 201
        assert sims.fault_stats()["sms"]["total"] == 0


def test_cluster_rejects_unknown_component():
    with pytest.raises(ValueError):
        SimulatorCluster(components=("pos", "fax"))


@NEEDS_WORLD
def test_cluster_full_world_truth_and_state(tmp_path):
    state_file = tmp_path / "state.json"
    with SimulatorCluster(seed=7, scale="tiny", ports=EPHEMERAL_PORTS, state_file=state_file) as sims:
        assert sims.truth_path == tmp_path / "truth.json"
        truth = json.loads(sims.truth_path.read_text())
        assert truth["seed"] == 7 and truth["scale"] == "tiny"
        env = sims.env()
        assert len(env) == 6 and env["STOREFLOW_POS_URL"] == sims.pos_url
        assert env["STOREFLOW_STORE_URL"] == sims.store_url

        locations = requests.get(f"{sims.pos_url}/v2/locations", headers=POS_AUTH, timeout=10)
        assert locations.status_code == 200
        assert len(locations.json()["locations"]) == len(sims.world.locations)
        assert requests.get(f"{sims.pos_url}/v2/locations", timeout=10).status_code == 401
        created = requests.post(
            f"{sims.pos_url}/v2/customers",
            headers=POS_AUTH,
            json={
                "idempotency_key": "cluster-test-1",
                "given_name": "Persisted",
                "email_address": "p@example.org",
            },
            timeout=10,
        )
        assert created.status_code == 200, created.text
        customer_id = created.json()["customer"]["id"]

        products = requests.get(f"{sims.store_url}{WOO}/products", auth=STORE_AUTH, timeout=10)
        assert products.status_code == 200 and products.json()
        assert requests.get(f"{sims.store_url}{WOO}/products", timeout=10).status_code == 401
        product = requests.post(
            f"{sims.store_url}{WOO}/products",
            auth=STORE_AUTH,
            json={"name": "Persisted product", "regular_price": "9.99", "sku": "PERSIST-1"},
            timeout=10,
        )
        assert product.status_code == 201, product.text
        product_id = product.json()["id"]
    saved = json.loads(state_file.read_text())
    assert {"pos", "store", "sms", "smtp", "world", "truth"} <= set(saved)

    # a different seed is ignored: the saved state wins, and writes made over HTTP survived the restart
    with SimulatorCluster(seed=999, scale="tiny", ports=EPHEMERAL_PORTS, state_file=state_file) as again:
        got = requests.get(f"{again.pos_url}/v2/customers/{customer_id}", headers=POS_AUTH, timeout=10)
        assert got.status_code == 200 and got.json()["customer"]["given_name"] == "Persisted"
        got = requests.get(f"{again.store_url}{WOO}/products/{product_id}", auth=STORE_AUTH, timeout=10)
        assert got.status_code == 200 and got.json()["sku"] == "PERSIST-1"
        assert again.world.truth.seed == 7  # regenerated lazily from the saved (seed, scale, now)


@NEEDS_WORLD
def test_cluster_faults_on_pos_and_store_use_vendor_shapes():
    with SimulatorCluster(
        seed=5, scale="tiny", faults=0.5, ports=EPHEMERAL_PORTS, components=("pos", "store")
    ) as sims:
        pos = [requests.get(f"{sims.pos_url}/v2/locations", headers=POS_AUTH, timeout=10) for _ in range(20)]
        store = [
            requests.get(f"{sims.store_url}{WOO}/products", auth=STORE_AUTH, timeout=10) for _ in range(20)
        ]
        stats = sims.fault_stats()
    assert stats["pos"]["total"] > 0 and stats["store"]["total"] > 0
    for r in pos:
        if r.status_code == 429:
            assert r.headers["Retry-After"] == "1" and r.json()["errors"][0]["code"] == "RATE_LIMITED"
        elif r.status_code >= 500:
            assert r.json()["errors"][0]["category"] == "API_ERROR"
    for r in store:
        if r.status_code == 429:
            assert r.content == b""
        elif r.status_code >= 500:
            assert r.headers["content-type"].startswith("text/html")
    bad = sum(r.status_code != 200 for r in pos + store)
    assert bad == sum(
        stats[n]["counts"].get(k, 0) for n in ("pos", "store") for k in ("rate_limit", "server_error")
    )


@NEEDS_WORLD
def test_cluster_default_truth_location_uses_data_dir_and_replaces_stale_truth():
    target = Path(os.environ["STOREFLOW_DATA_DIR"]) / "simulators" / "truth.json"
    target.parent.mkdir(parents=True)
    target.write_text('{"seed": -1}')
    with SimulatorCluster(seed=11, scale="tiny", ports=EPHEMERAL_PORTS, components=("pos",)) as sims:
        assert sims.truth_path == target
        assert json.loads(target.read_text())["seed"] == 11
        assert sims.store_url is None and "STOREFLOW_STORE_URL" not in sims.env()


# --- the CLI ------------------------------------------------------------------------------------


def _start_cli(args: list[str]) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "storeflow_simulators", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.strip() == "simulators ready":
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    while not ready.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("simulators did not become ready:\n" + "\n".join(lines))
    return proc, lines


def _url(lines: list[str], name: str) -> str:
    for line in lines:
        m = re.match(rf"^{name}\s+(\S+)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"no {name} line in {lines}")


def _stop_cli(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_runs_serves_and_saves_state_on_sigterm(tmp_path):
    state_file = tmp_path / "state.json"
    sms_port = _free_port()
    args = [
        "--scale",
        "tiny",
        "--sms-port",
        str(sms_port),
        "--smtp-port",
        "0",
        "--smtp-api-port",
        "0",
        "--pos-port",
        "0",
        "--store-port",
        "0",
        "--state",
        str(state_file),
    ]
    if not HAVE_WORLD:
        args += ["--components", "sms,smtp"]  # POS/store parts: see test_cli_full_world below
    proc, lines = _start_cli(args)
    try:
        text = "\n".join(lines)
        assert (
            f"http://127.0.0.1:{sms_port}" in text and "ACstoreflowdemo" in text and "storeflow-demo" in text
        )
        sms_url = _url(lines, "sms")
        assert _send_sms(sms_url, "from the cli test").status_code == 201
        smtp = _url(lines, "smtp").removeprefix("smtp://")
        host, port = smtp.rsplit(":", 1)
        _send_mail(host, int(port), "cli mail")
        api = _url(lines, "smtp-api")
        assert [m["subject"] for m in requests.get(api, timeout=5).json()] == ["cli mail"]
        if HAVE_WORLD:
            assert (
                "ck_storeflow_demo" in text and "cs_storeflow_demo" in text and "storeflow-demo-token" in text
            )
            for name in ("pos", "store"):
                assert requests.get(f"{_url(lines, name)}/_sim/health", timeout=5).status_code < 500
    finally:
        rc = _stop_cli(proc)
    assert rc == 0, "\n".join(lines)
    saved = json.loads(state_file.read_text())
    assert [m["body"] for m in saved["sms"]["messages"]] == ["from the cli test"]
    assert [m["subject"] for m in saved["smtp"]["messages"]] == ["cli mail"]
    if HAVE_WORLD:
        assert {"pos", "store"} <= set(saved)
        assert (tmp_path / "truth.json").exists()


def test_cli_rejects_bad_fault_rate(capsys):
    from storeflow_simulators.__main__ import main

    assert main(["--faults", "2"]) == 2
    assert "--faults" in capsys.readouterr().err
