"""serve_in_thread and the FaultInjector middleware, over real HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from fastapi import FastAPI

from storeflow_simulators.faults import FaultInjector
from storeflow_simulators.serve import serve_in_thread


def _app() -> tuple[FastAPI, dict]:
    """A tiny vendor-like app: a readable list and a write that counts its executions."""
    app = FastAPI()
    state = {"writes": 0}

    @app.get("/items")
    def items() -> dict:
        return {"items": [{"id": i, "name": f"item {i}"} for i in range(20)]}

    @app.post("/v2/orders/search")
    def search() -> dict:
        return {"orders": [{"id": "o1"}, {"id": "o2"}], "cursor": None}

    @app.post("/items")
    def create() -> dict:
        state["writes"] += 1
        return {"id": state["writes"]}

    @app.get("/_sim/state")
    def sim_state() -> dict:
        return state

    return app, state


@pytest.fixture
def served():
    handles = []

    def start(app):
        handle = serve_in_thread(app)
        handles.append(handle)
        return handle

    yield start
    for h in handles:
        h.stop()


def _classify(resp: requests.Response) -> str:
    if resp.status_code == 429:
        return "rate_limit"
    if resp.status_code >= 500:
        return "server_error"
    try:
        resp.json()
    except ValueError:
        return "truncated"
    return "ok"


# --- serve_in_thread ----------------------------------------------------------------------------


def test_serve_in_thread_ephemeral_port_and_stop():
    app, _ = _app()
    handle = serve_in_thread(app)
    assert handle.port > 0 and handle.url == f"http://127.0.0.1:{handle.port}"
    assert requests.get(f"{handle.url}/items", timeout=5).json()["items"][0]["id"] == 0
    with pytest.raises(RuntimeError):
        serve_in_thread(app, port=handle.port)  # port taken -> clear error, no hang
    handle.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{handle.url}/items", timeout=2)


# --- FaultInjector --------------------------------------------------------------------------------


def test_fault_sequence_is_reproducible_per_seed(served):
    def run(seed: int) -> tuple[list[str], dict]:
        app, _ = _app()
        injector = FaultInjector(app, rate=0.5, seed=seed, flavor="square", slow_range=(0.0, 0.01))
        h = served(injector)
        kinds = [_classify(requests.get(f"{h.url}/items", timeout=5)) for _ in range(40)]
        return kinds, requests.get(f"{h.url}/_sim/faults", timeout=5).json()

    a, stats_a = run(7)
    b, stats_b = run(7)
    c, _ = run(8)
    assert a == b and stats_a["counts"] == stats_b["counts"]
    assert a != c
    assert {"rate_limit", "server_error", "truncated", "ok"} <= set(a)
    # the endpoint counts what really happened (slow faults still answer 200 with valid JSON)
    assert stats_a["counts"]["rate_limit"] == a.count("rate_limit")
    assert stats_a["counts"]["server_error"] == a.count("server_error")
    assert stats_a["counts"]["truncated"] == a.count("truncated")
    assert stats_a["requests"] == 40
    assert 10 <= stats_a["total"] <= 30


def test_square_rate_limit_and_5xx_bodies(served):
    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=1, flavor="square", kinds=["rate_limit"], retry_after=2))
    r = requests.get(f"{h.url}/items", timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert r.json()["errors"][0]["category"] == "RATE_LIMIT_ERROR"
    assert r.json()["errors"][0]["code"] == "RATE_LIMITED"

    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=1, flavor="square", kinds=["server_error"]))
    codes = set()
    for _ in range(12):
        r = requests.get(f"{h.url}/items", timeout=5)
        assert r.status_code >= 500
        err = r.json()["errors"][0]
        assert err["category"] == "API_ERROR"
        codes.add(err["code"])
    assert "INTERNAL_SERVER_ERROR" in codes or "SERVICE_UNAVAILABLE" in codes


def test_woo_hosting_layer_errors(served):
    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=3, flavor="woo", kinds=["rate_limit"]))
    r = requests.get(f"{h.url}/items", timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1" and r.content == b""

    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=3, flavor="woo", kinds=["server_error"]))
    statuses = set()
    for _ in range(10):
        r = requests.get(f"{h.url}/items", timeout=5)
        statuses.add(r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert r.text.lstrip().startswith("<")
        with pytest.raises(ValueError):
            r.json()
    assert statuses <= {502, 503, 504} and len(statuses) >= 2


def test_twilio_rate_limit_shape(served):
    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=3, flavor="twilio", kinds=["rate_limit"]))
    r = requests.get(f"{h.url}/items", timeout=5)
    assert r.status_code == 429 and r.json()["code"] == 20429


def test_truncated_body_is_invalid_json_with_status_200(served):
    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=5, flavor="square", kinds=["truncated"]))
    r = requests.get(f"{h.url}/items", timeout=5)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    full_len = len(
        json.dumps({"items": [{"id": i, "name": f"item {i}"} for i in range(20)]}, separators=(",", ":"))
    )
    assert len(r.content) == full_len // 2
    s = requests.post(f"{h.url}/v2/orders/search", json={}, timeout=5)  # read-only POST: truncatable
    assert s.status_code == 200
    with pytest.raises(ValueError):
        s.json()


def test_faulted_writes_are_not_executed(served):
    app, state = _app()
    injector = FaultInjector(app, rate=0.5, seed=11, flavor="square", slow_range=(0.0, 0.01))
    h = served(injector)
    ok = 0
    for _ in range(40):
        r = requests.post(f"{h.url}/items", json={}, timeout=5)
        assert _classify(r) != "truncated"  # writes are never truncated
        ok += r.status_code == 200
    stats = requests.get(f"{h.url}/_sim/faults", timeout=5).json()
    assert stats["counts"].get("rate_limit", 0) + stats["counts"].get("server_error", 0) == 40 - ok
    assert 0 < ok < 40
    assert state["writes"] == ok  # a rejected write never touched state
    assert "truncated" not in stats["counts"]


def test_lost_response_writes_run_the_handler(served):
    app, state = _app()
    h = served(FaultInjector(app, rate=1.0, seed=2, flavor="woo", lost_response_writes=True))
    r = requests.post(f"{h.url}/items", json={}, timeout=5)
    assert r.status_code == 502
    assert state["writes"] == 1  # state changed although the client saw an error
    assert requests.get(f"{h.url}/_sim/faults", timeout=5).json()["counts"] == {"lost_response": 1}


def test_sim_paths_never_faulted_and_rate_adjustable(served):
    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=2, flavor="square", kinds=["rate_limit"]))
    for _ in range(5):
        assert requests.get(f"{h.url}/_sim/state", timeout=5).status_code == 200
    assert requests.get(f"{h.url}/_sim/faults", timeout=5).json()["total"] == 0
    assert requests.put(f"{h.url}/_sim/faults", json={"rate": 0}, timeout=5).json()["rate"] == 0
    assert requests.get(f"{h.url}/items", timeout=5).status_code == 200


def test_slow_faults_delay_then_answer(served):
    app, _ = _app()
    h = served(FaultInjector(app, rate=1.0, seed=4, flavor="woo", kinds=["slow"], slow_range=(0.2, 0.25)))
    t0 = time.monotonic()
    r = requests.get(f"{h.url}/items", timeout=5)
    assert r.status_code == 200 and len(r.json()["items"]) == 20
    assert time.monotonic() - t0 >= 0.2


def test_concurrent_requests_are_counted_exactly(served):
    app, _ = _app()
    injector = FaultInjector(app, rate=0.5, seed=9, flavor="square", kinds=["rate_limit"])
    h = served(injector)
    results: list[int] = []
    lock = threading.Lock()

    def worker():
        with requests.Session() as s:
            for _ in range(10):
                code = s.get(f"{h.url}/items", timeout=5).status_code
                with lock:
                    results.append(code)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert injector.requests == 40
    assert injector.counts["rate_limit"] == results.count(429)
