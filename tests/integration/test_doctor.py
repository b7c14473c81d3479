"""``storeflow doctor`` against the simulators over real HTTP: verdicts, exit codes, JSON, no secrets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from storeflow.connectors.http import ApiError
from storeflow.connectors.square import SQUARE_VERSION
from storeflow.connectors.woocommerce import WooClient
from storeflow.doctor import (
    FAIL,
    OK,
    REQUIRED_POS_SCOPES,
    SKIP,
    WARN,
    PosTarget,
    StoreTarget,
    check_pos,
    check_store,
    run_doctor,
)
from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.pos import PosState, create_pos_app
from storeflow_simulators.pos_oauth import register_oauth
from storeflow_simulators.pos_sample import sample_world
from storeflow_simulators.serve import self_signed_certificate, serve_in_thread
from storeflow_simulators.store import StoreState, create_store_app
from storeflow_simulators.store_testing import small_world

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # winter: Europe/Paris is UTC+01:00
SECRETS = (DEMO_STORE_KEY, DEMO_STORE_SECRET, DEMO_POS_TOKEN)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def store_state() -> StoreState:
    st = StoreState.from_world(small_world(NOW, timezone="Europe/Paris"))
    st.clock.freeze(NOW)
    return st


@pytest.fixture
def store(store_state):
    with serve_in_thread(create_store_app(store_state)) as handle:
        yield handle


@pytest.fixture
def pos_state() -> PosState:
    return PosState.from_world(sample_world(NOW))


@pytest.fixture
def pos(pos_state):
    app = create_pos_app(pos_state)
    register_oauth(app, pos_state)
    with serve_in_thread(app) as handle:
        yield handle


def by_name(checks) -> dict[str, object]:
    return {c.name: c for c in checks}


def store_target(url: str, key: str = DEMO_STORE_KEY, secret: str = DEMO_STORE_SECRET) -> StoreTarget:
    return StoreTarget(url, key, secret, credentials="test")


def test_store_checks_report_what_storeflow_depends_on(store):
    checks = by_name(check_store(store_target(store.url)))
    assert all(c.verdict != FAIL for c in checks.values()), [c for c in checks.values() if c.verdict == FAIL]
    assert checks["reachable"].verdict == OK and "wc/v3" in checks["reachable"].detail
    assert checks["https"].verdict == WARN and checks["https"].data["https"] is False
    # both methods are tried; over plain HTTP OAuth 1.0a is the one a real store honours
    assert checks["auth"].verdict == OK and checks["auth"].data["method"] == "oauth1"
    assert set(checks["auth"].data["methods"]) == {"basic", "oauth1"}
    assert checks["auth"].data["methods"]["oauth1"] == "accepted"
    assert checks["client"].verdict == OK
    assert checks["version"].verdict == OK and checks["version"].data["wc_version"] == "10.0.2"
    assert checks["variations"].data["variations_endpoint"] in (True, False)
    assert checks["timezone"].data["timezone"] == "Europe/Paris"
    assert checks["timezone"].data["offset_minutes"] == 60
    assert checks["tls_seen_by_store"].data["secure_connection"] is False


def test_https_store_uses_basic_and_needs_the_ca_bundle(store_state, tmp_path):
    tls = self_signed_certificate(tmp_path / "tls", "doctor")
    with serve_in_thread(create_store_app(store_state), tls=tls) as secure:
        assert secure.url.startswith("https://")
        trusted = by_name(check_store(StoreTarget(secure.url, DEMO_STORE_KEY, DEMO_STORE_SECRET,
                                                  verify=str(secure.ca_file), credentials="test")))
        untrusted = by_name(check_store(store_target(secure.url)))
    assert not [c for c in trusted.values() if c.verdict == FAIL], trusted
    assert trusted["https"].verdict == OK and "CA bundle" in trusted["https"].detail
    assert trusted["auth"].verdict == OK and trusted["auth"].data["method"] == "basic"
    assert trusted["client"].data["auth"] == "basic"
    assert trusted["tls_seen_by_store"].verdict == OK and trusted["tls_seen_by_store"].data["secure_connection"]
    # the system trust store does not know the self-signed certificate: FAIL with the cause and the remedy
    assert untrusted["reachable"].verdict == FAIL
    assert "certificate" in untrusted["reachable"].detail and "ca_bundle" in untrusted["reachable"].detail


def test_wrong_store_secret_fails_and_never_shows_it(store):
    wrong = "cs_wrong_secret_for_doctor_test"
    checks = check_store(store_target(store.url, secret=wrong))
    named = by_name(checks)
    assert named["auth"].verdict == FAIL
    assert "refused" in named["auth"].detail and "401" in named["auth"].detail
    assert named["client"].verdict == SKIP
    text = json.dumps([c.__dict__ for c in checks])
    assert wrong not in text and DEMO_STORE_KEY not in text


def test_unreachable_store_and_pos_fail_fast():
    port = _closed_port()
    start = time.perf_counter()
    report = run_doctor(store_target(f"http://127.0.0.1:{port}"),
                        PosTarget(f"http://127.0.0.1:{port}", DEMO_POS_TOKEN, credentials="test"))
    took = time.perf_counter() - start
    assert took < 3, f"took {took:.1f}s"
    assert report.exit_code == 1
    reach = [c for c in report.checks if c.name == "reachable"]
    assert [c.verdict for c in reach] == [FAIL, FAIL]
    assert all("connection refused" in c.detail and str(port) in c.detail for c in reach)


def test_pos_checks_report_version_locations_and_scopes(pos):
    checks = by_name(check_pos(PosTarget(pos.url, DEMO_POS_TOKEN, credentials="test")))
    assert checks["auth"].verdict == OK
    assert checks["api_version"].data["square_version"] == SQUARE_VERSION
    assert checks["locations"].verdict == OK
    assert {loc["status"] for loc in checks["locations"].data["locations"]} == {"ACTIVE", "INACTIVE"}
    assert checks["locations"].detail.startswith("2 active of 3")
    assert checks["permissions"].verdict == OK and checks["permissions"].data["missing"] == []
    assert checks["permissions"].data["source"] == "oauth2/token/status"


def test_pos_token_without_write_scopes_fails(pos):
    requests.put(f"{pos.url}/_sim/oauth/scopes", json={"scopes": ["MERCHANT_PROFILE_READ", "ITEMS_READ",
                                                                  "ORDERS_READ", "CUSTOMERS_READ"]},
                 timeout=5).raise_for_status()
    checks = by_name(check_pos(PosTarget(pos.url, DEMO_POS_TOKEN, credentials="test")))
    assert checks["permissions"].verdict == FAIL
    assert set(checks["permissions"].data["missing"]) >= {"ORDERS_WRITE", "INVENTORY_WRITE", "CUSTOMERS_WRITE"}
    assert "INVENTORY_READ" in checks["permissions"].data["missing"]
    # and the simulator really refuses what the token lacks
    r = requests.post(f"{pos.url}/v2/inventory/counts/batch-retrieve", json={},
                      headers={"Authorization": f"Bearer {DEMO_POS_TOKEN}"}, timeout=5)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "INSUFFICIENT_SCOPES"


def test_pos_without_token_status_falls_back_to_read_probes(pos_state):
    with serve_in_thread(create_pos_app(pos_state, token_status=False)) as plain:
        checks = by_name(check_pos(PosTarget(plain.url, DEMO_POS_TOKEN, credentials="test")))
    assert checks["permissions"].verdict == WARN and checks["permissions"].data["source"] == "probes"
    assert "ORDERS_READ" in checks["permissions"].data["verified"]
    assert "cannot be checked" in checks["permissions"].detail


def test_wrong_pos_token_fails(pos):
    checks = by_name(check_pos(PosTarget(pos.url, "wrong-token-for-doctor", credentials="test")))
    assert checks["auth"].verdict == FAIL and "401" in checks["auth"].detail
    assert checks["locations"].verdict == SKIP


def test_write_test_round_trips_consent_meta_and_deletes_the_customer(store, store_state):
    before = set(store_state.customers)
    checks = by_name(check_store(store_target(store.url), write_test=True))
    assert checks["write_test"].verdict == OK, checks["write_test"].detail
    cid = checks["write_test"].data["customer_id"]
    assert cid and cid not in before
    assert checks["write_test"].data["deleted"] is True
    assert set(store_state.customers) == before  # the throw-away customer is gone
    with pytest.raises(ApiError) as gone:
        WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, max_attempts=1).get_customer(cid)
    assert gone.value.status == 404


def _cli(env_extra: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREFLOW_")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "storeflow.doctor", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_json_exit_codes_and_no_secrets(store, pos):
    env = {"STOREFLOW_STORE_URL": store.url, "STOREFLOW_POS_URL": pos.url,
           "STOREFLOW_STORE_KEY": DEMO_STORE_KEY, "STOREFLOW_STORE_SECRET": DEMO_STORE_SECRET,
           "STOREFLOW_POS_TOKEN": DEMO_POS_TOKEN}
    good = _cli(env, "--json")
    assert good.returncode == 0, good.stdout + good.stderr
    report = json.loads(good.stdout)
    assert report["ok"] is True and report["counts"]["FAIL"] == 0
    assert {(c["system"], c["name"]) for c in report["checks"]} >= {("store", "version"), ("pos", "permissions")}
    text = _cli(env)
    assert text.returncode == 0 and "result: 0 FAIL" in text.stdout
    bad = _cli({**env, "STOREFLOW_POS_TOKEN": "wrong-token-xyz"}, "--json", "--only", "pos")
    assert bad.returncode == 1
    failed = [c for c in json.loads(bad.stdout)["checks"] if c["verdict"] == FAIL]
    assert [c["name"] for c in failed] == ["auth"]
    for out in (good.stdout, text.stdout, bad.stdout, good.stderr, bad.stderr):
        for secret in (*SECRETS, "wrong-token-xyz"):
            assert secret not in out


def test_cli_without_credentials_in_production_names_what_to_set(store, pos):
    run = _cli({"STOREFLOW_PROFILE": "production", "STOREFLOW_STORE_URL": store.url, "STOREFLOW_POS_URL": pos.url},
               "--json")
    assert run.returncode == 1
    failed = {(c["system"], c["name"]): c["detail"] for c in json.loads(run.stdout)["checks"] if c["verdict"] == FAIL}
    assert set(failed) == {("store", "credentials"), ("pos", "credentials")}
    assert "STOREFLOW_STORE_KEY" in failed[("store", "credentials")]
    assert "STOREFLOW_POS_TOKEN" in failed[("pos", "credentials")]


def test_storeflow_console_script_runs_doctor(pos):
    exe = os.path.join(os.path.dirname(sys.executable), "storeflow")
    if not os.path.exists(exe):
        pytest.skip("the storeflow console script is not installed (pip install -e .)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREFLOW_")}
    env.update({"STOREFLOW_POS_URL": pos.url, "STOREFLOW_POS_TOKEN": DEMO_POS_TOKEN})
    run = subprocess.run([exe, "doctor", "--only", "pos"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK    pos    permissions" in run.stdout and DEMO_POS_TOKEN not in run.stdout


@pytest.mark.parametrize(("wc_version", "verdict", "variations"), [("10.3.1", OK, True), ("10.0.2", OK, False),
                                                                    ("5.5.0", FAIL, False)])
def test_store_version_and_variations_follow_the_store(store, wc_version, verdict, variations):
    requests.put(f"{store.url}/_sim/options", json={"wc_version": wc_version}, timeout=5).raise_for_status()
    checks = by_name(check_store(store_target(store.url)))
    assert checks["version"].verdict == verdict and checks["version"].data["wc_version"] == wc_version
    assert checks["variations"].data["variations_endpoint"] is variations


def test_write_test_fails_when_the_store_drops_the_meta(store, store_state, monkeypatch):
    """Real WooCommerce (and the simulator) answer 200 to protected ``_`` meta and keep nothing."""
    from storeflow.connectors import woocommerce_models

    monkeypatch.setitem(woocommerce_models.CONSENT_META, "email", "_storeflow_email_optout")
    before = set(store_state.customers)
    checks = by_name(check_store(store_target(store.url), write_test=True))
    assert checks["write_test"].verdict == FAIL and "dropped" in checks["write_test"].detail
    assert checks["write_test"].data["deleted"] is True and set(store_state.customers) == before


@pytest.mark.parametrize(("days", "verdict"), [(3, WARN), (-1, FAIL), (60, OK)])
def test_pos_token_expiry(pos, days, verdict):
    expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    requests.put(f"{pos.url}/_sim/oauth/scopes", json={"scopes": list(REQUIRED_POS_SCOPES), "expires_at": expires},
                 timeout=5).raise_for_status()
    checks = by_name(check_pos(PosTarget(pos.url, DEMO_POS_TOKEN, credentials="test")))
    assert checks["permissions"].verdict == verdict, checks["permissions"].detail
    assert checks["permissions"].data["expires_at"] == expires


def test_a_missing_ca_bundle_is_a_clear_fail(store, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    checks = by_name(check_store(StoreTarget(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, verify=missing)))
    assert checks["credentials"].verdict == FAIL and "does not exist" in checks["credentials"].detail
    assert checks["reachable"].verdict == SKIP


def test_a_redirecting_store_url_fails_with_the_target(store_state):
    """http:// → https:// redirects are common on real stores; storeflow must be given the final URL."""
    from fastapi import FastAPI
    from fastapi.responses import RedirectResponse

    front = FastAPI()

    @front.api_route("/{path:path}", methods=["GET", "POST", "PUT"])
    async def moved(path: str):
        return RedirectResponse(f"https://shop.example.com/{path}", status_code=301)

    with serve_in_thread(front) as http_front:
        checks = by_name(check_store(store_target(http_front.url)))
    assert checks["reachable"].verdict == FAIL
    assert "https://shop.example.com/wp-json/" in checks["reachable"].detail
    assert checks["auth"].verdict == SKIP
