"""push_customers against the POS and store simulators (real HTTP): partial failure is never green
(issue 11 item 9), refused connections and 401s fail fast, and a consent write the store drops is
recorded, fails the push after the other records and is retried next run (issue 11 item 7).

One tiny simulated shop is extracted once per module into a template warehouse (SQLite); every test
starts from its own copy, so the tests do not depend on each other or on their order.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
from pathlib import Path

import pytest
from sqlalchemy import and_, func, select

from storeflow.connectors.http import AuthFailed, ConnectionFailed
from storeflow.connectors.square import SquareClient
from storeflow.connectors.woocommerce import WooClient
from storeflow.connectors.woocommerce_models import Customer
from storeflow.sync.customer_push import ConsentPushFailed, plan_customer_push, push_customers
from storeflow.sync.push_errors import PushErrorBudgetExceeded
from storeflow.warehouse import schema as S
from storeflow.warehouse.db import make_engine
from storeflow_simulators.cluster import SimulatorCluster
from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow_simulators.store_testing import running_store
from tests.e2e.pipeline import Pipeline
from tests.integration.test_consent_readback import DropCustomerMeta

CUSTOMER_PUT = re.compile(r"^/wp-json/wc/v3/customers/\d+$")
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


class RejectCustomerPuts:
    """ASGI front answering customer PUTs with WooCommerce's 400 (e.g. a validation plugin)."""

    def __init__(self, app, limit: int | None = None):
        self.app, self.limit, self.rejected = app, limit, 0

    async def __call__(self, scope, receive, send):
        if (scope["type"] == "http" and scope["method"] == "PUT" and CUSTOMER_PUT.match(scope["path"])
                and (self.limit is None or self.rejected < self.limit)):
            self.rejected += 1
            body = json.dumps({"code": "rest_invalid_param", "message": "Invalid parameter(s): billing",
                               "data": {"status": 400}}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json; charset=UTF-8")]})
            await send({"type": "http.response.body", "body": body})
            return None
        return await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """(cluster, template warehouse file) with both systems' customers extracted, nothing pushed yet."""
    root = tmp_path_factory.mktemp("push_budget")
    with SimulatorCluster(seed=5, scale="tiny", ports={"pos": 0, "store": 0}, components=("pos", "store")) as c:
        mp = pytest.MonkeyPatch()
        mp.setenv("STOREFLOW_DATA_DIR", str(root / "data"))
        try:
            from storeflow.warehouse.db import connect_warehouse

            engine = connect_warehouse(f"sqlite:///{root / 'template.db'}")
            Pipeline(engine, c.pos_url, c.store_url).extract("pos_customers", "store_customers")
            engine.dispose()
        finally:
            mp.undo()
        yield c, root / "template.db"


@pytest.fixture
def warehouse_copy(shop, tmp_path):
    _, template = shop
    target = tmp_path / "warehouse.db"
    shutil.copy(template, target)
    engine = make_engine(f"sqlite:///{target}")
    yield engine
    engine.dispose()


def _front(shop, wrap):
    cluster, _ = shop
    return running_store(cluster.store_state, wrap=wrap)


def _store_plans(engine) -> int:
    with engine.connect() as conn:
        plans, _ = plan_customer_push(conn)
    return sum(1 for p in plans if p.source_system == "store")


def test_systematic_store_rejection_fails_the_push_after_the_rest(shop, warehouse_copy):
    cluster, _ = shop
    engine = warehouse_copy
    owed = _store_plans(engine)
    assert owed >= 3
    fronts: list[RejectCustomerPuts] = []
    with _front(shop, lambda app: fronts.append(RejectCustomerPuts(app)) or fronts[0]) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, **FAST)
        with pytest.raises(PushErrorBudgetExceeded) as info:
            push_customers(engine, SquareClient(cluster.pos_url, DEMO_POS_TOKEN, **FAST), woo)
    exc = info.value
    assert fronts[0].rejected == owed and exc.failed >= owed and exc.failed / exc.attempted > 0.05
    assert f"{exc.failed} of {exc.attempted}" in str(exc) and "rest_invalid_param" in str(exc)
    assert "@" not in str(exc)  # record ids and codes, no emails
    with engine.connect() as conn:  # the other records were still pushed (POS customers created)
        created = conn.execute(select(func.count()).select_from(S.customer_identities).where(
            S.customer_identities.c.match_rule == "created_from_store")).scalar()
        remembered = {k for (k,) in conn.execute(select(S.push_state.c.key).where(
            S.push_state.c.entity == "customer"))}
    assert created > 0
    assert not any(k.startswith("store:") for k in remembered), "a rejected store write was marked pushed"


def test_a_few_failures_warn_with_counts_and_succeed(shop, warehouse_copy, caplog):
    cluster, _ = shop
    caplog.set_level(logging.WARNING, logger="storeflow.sync.push_errors")
    fronts: list[RejectCustomerPuts] = []
    with _front(shop, lambda app: fronts.append(RejectCustomerPuts(app, limit=1)) or fronts[0]) as store:
        woo = WooClient(store.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, **FAST)
        result = push_customers(warehouse_copy, SquareClient(cluster.pos_url, DEMO_POS_TOKEN, **FAST), woo)
    assert fronts[0].rejected == 1 and 1 <= len(result.errors) <= 3
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{len(result.errors)} of {result.considered} records failed" in m for m in lines), lines


def test_wrong_store_secret_fails_fast_not_once_per_customer(shop, warehouse_copy):
    cluster, _ = shop
    woo = WooClient(cluster.store_url, DEMO_STORE_KEY, "cs_wrong_secret_value", **FAST)
    with pytest.raises(AuthFailed) as info:
        push_customers(warehouse_copy, SquareClient(cluster.pos_url, DEMO_POS_TOKEN, **FAST), woo)
    assert woo.stats.requests == 1 and woo.stats.retries == 0
    assert "storeflow_store" in str(info.value) and cluster.store_url in str(info.value)
    assert "cs_wrong_secret_value" not in str(info.value)


def test_refused_pos_fails_fast(shop, warehouse_copy):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cluster, _ = shop
    pos = SquareClient(f"http://127.0.0.1:{port}", DEMO_POS_TOKEN, conn_id="storeflow_pos", **FAST)
    with pytest.raises(ConnectionFailed) as info:
        push_customers(warehouse_copy, pos, WooClient(cluster.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET))
    assert pos.stats.requests == 1 and "storeflow_pos" in str(info.value)
    assert "connection refused" in str(info.value)


def _linked_person(engine) -> tuple[str, str]:
    """(pos id, store id) of one person in both systems whose store record holds an explicit SMS opt-in."""
    with engine.connect() as conn:
        ids = conn.execute(select(S.customer_identities.c.customer_id, S.customer_identities.c.source_system,
                                  S.customer_identities.c.source_id)
                           .where(S.customer_identities.c.customer_id.is_not(None))).all()
        sms = {(r.source_system, r.source_id): r.status for r in conn.execute(select(S.identity_consents))
               if r.channel == "sms"}
    by_person: dict[str, dict[str, list[str]]] = {}
    for cid, system, sid in ids:
        by_person.setdefault(cid, {}).setdefault(system, []).append(sid)
    for _cid, systems in sorted(by_person.items()):
        if len(systems.get("pos", [])) == 1 and len(systems.get("store", [])) == 1:
            pos_id, store_id = systems["pos"][0], systems["store"][0]
            if sms.get(("store", store_id)) == "subscribed" and sms.get(("pos", pos_id)) != "unsubscribed":
                return pos_id, store_id
    raise AssertionError("no suitable linked person in the tiny world")


def _store_customer(cluster, store_id: str) -> Customer:
    return WooClient(cluster.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET).get_customer(int(store_id))


@pytest.mark.slow
def test_lost_consent_write_is_recorded_alerted_and_retried(shop, warehouse_copy, tmp_path, monkeypatch):
    cluster, _ = shop
    engine = warehouse_copy
    pipe = Pipeline(engine, cluster.pos_url, cluster.store_url)
    push_customers(engine, pipe.pos, pipe.store)  # go-live
    pipe.extract("pos_customers", "store_customers")
    pos_id, store_id = _linked_person(engine)
    SquareClient(cluster.pos_url, DEMO_POS_TOKEN).set_opt_out(pos_id, "sms", True)  # STOP at the till
    pipe.extract("pos_customers")

    fronts: list[DropCustomerMeta] = []
    with _front(shop, lambda app: fronts.append(DropCustomerMeta(app)) or fronts[0]) as lossy:
        with pytest.raises(ConsentPushFailed) as info:
            push_customers(engine, pipe.pos, WooClient(lossy.url, DEMO_STORE_KEY, DEMO_STORE_SECRET, **FAST))
    assert fronts[0].dropped >= 1
    assert f"store:{store_id}" in info.value.records and f"store:{store_id}" in str(info.value)
    assert "@" not in str(info.value)
    assert (_store_customer(cluster, store_id).consent("sms") or (False,))[0] is False  # really not stored
    with engine.connect() as conn:
        pushed = conn.execute(select(S.push_state.c.payload).where(and_(
            S.push_state.c.entity == "customer", S.push_state.c.key == f"store:{store_id}"))).scalar()
    assert pushed is None or "sms" not in pushed.get("unsubscribed", []), "a lost write was marked pushed"

    result = push_customers(engine, pipe.pos, pipe.store)  # next run, healthy store: retried and stored
    assert result.opt_outs.get("store:sms", 0) >= 1 and not result.consent_not_stored
    assert _store_customer(cluster, store_id).consent("sms")[0] is True
    pipe.extract("store_customers")
    assert push_customers(engine, pipe.pos, pipe.store).opt_outs.get("store:sms", 0) == 0  # and then done


def test_template_is_untouched(shop):
    """Guard for the copy-per-test design: the template keeps owing the first push."""
    _, template = shop
    engine = make_engine(f"sqlite:///{Path(template)}")
    try:
        assert _store_plans(engine) >= 3
    finally:
        engine.dispose()
