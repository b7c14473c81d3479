"""Scoring pipeline on a real warehouse (SQLite and PostgreSQL): fit, partitions, atomic publish, report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from storeflow.scoring.pipeline import (
    current_model_version,
    current_replenishment,
    current_scores,
    fit_models,
    forget_customer,
    publish_scores,
    run_scoring,
    score_partition,
    write_report,
)
from storeflow.settings import get_settings
from storeflow.warehouse import schema
from storeflow.warehouse.upsert import upsert

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
PRODUCTS = [("TONER-1", "Office", 1500, 30.0), ("PAPER-A4", "Office", 600, None), ("MUG-1", "Kitchen", 900, None),
            ("TEA-50", "Kitchen", 450, 20.0), ("PEN-10", "Office", 300, None)]


@dataclass
class World:
    n_customers: int
    rates: dict[str, float]  # customer -> true purchase rate per day now (0 once dropped out)


class FakeLanding:
    """Same method as storeflow.landing.LandingZone.put_bytes, writing to a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path.as_uri()


def make_world(engine, n: int, seed: int = 7, days: int = 720, as_of: datetime = AS_OF) -> World:
    """Customers whose orders follow BG/NBD (rate ~ Gamma(0.9, 1/40) per day, dropout ~ Beta(1, 5))."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    customers, consents, orders, lines = [], [], [], []
    rates: dict[str, float] = {}
    zones = ["Europe/London", "Europe/Berlin", "America/New_York"]
    for i in range(n):
        cid = f"c{i:05d}"
        lam = rng.gamma(0.9, 1 / 40.0)
        p = rng.beta(1.0, 5.0)
        acq = ["ads", "organic", "referral", None][i % 4]
        customers.append({"customer_id": cid, "email": f"{cid}@example.com", "phone": f"+4470000{i:05d}",
                          "timezone": zones[i % 3], "acquisition_channel": acq,
                          "preferred_channel": "sms" if i % 10 == 0 else None,
                          "preferred_hour": 19 if i % 25 == 0 else None, "preferred_weekday": None,
                          "created_at": now, "loaded_at": now})
        consents.append({"customer_id": cid, "channel": "email", "topic": "marketing",
                         "status": "subscribed" if i % 7 else "unsubscribed", "changed_at": now})
        consents.append({"customer_id": cid, "channel": "sms", "topic": "marketing",
                         "status": "subscribed" if i % 3 == 0 else "never", "changed_at": now})
        t = as_of - timedelta(days=float(rng.uniform(1, days)))
        k = 0
        rates[cid] = lam
        while t <= as_of:
            status = "completed" if rng.random() > 0.05 else "cancelled"
            oid = f"o{i:05d}-{k}"
            sku, cat, price, _ = PRODUCTS[int(rng.integers(len(PRODUCTS)))]
            qty = int(rng.integers(1, 3))
            channel = "online" if i % 2 else "in_store"
            orders.append({"source_system": "store" if channel == "online" else "pos", "order_id": oid,
                           "customer_id": cid, "channel": channel, "status": status, "currency": "GBP",
                           "total_minor": price * qty, "created_at": t, "loaded_at": now,
                           "acquisition_channel": None})
            lines.append({"source_system": orders[-1]["source_system"], "order_id": oid, "line_id": "1",
                          "sku": sku, "quantity": qty, "unit_price_minor": price, "total_minor": price * qty,
                          "loaded_at": now})
            k += 1
            if status == "completed" and k > 1 and rng.random() < p:
                rates[cid] = 0.0  # dropped out
                break
            t = t + timedelta(days=min(float(rng.exponential(1 / lam)), 10_000.0))
    with engine.begin() as conn:
        upsert(conn, schema.products, [{"sku": s, "name": s, "category": c, "price_minor": pr, "is_deleted": False,
                                        "loaded_at": now}
                                       for s, c, pr, _ in PRODUCTS])
        upsert(conn, schema.customers, customers)
        upsert(conn, schema.consents, consents)
        upsert(conn, schema.orders, orders)
        upsert(conn, schema.order_lines, lines)
    return World(n, rates)


@pytest.fixture
def scoring_warehouse(warehouse, monkeypatch):
    schema.metadata.create_all(warehouse)  # in case the migrations lag behind schema.py
    for table in (schema.score_versions, schema.customer_scores, schema.replenishment_predictions):
        for index in table.indexes:
            index.create(warehouse, checkfirst=True)
    monkeypatch.setenv("STOREFLOW_MIN_PURCHASERS", "300")
    get_settings.cache_clear()
    return warehouse


def add_engagement(engine, customer_id: str, channel: str, sent: int, clicks_at: list[datetime]) -> None:
    """Sent messages for a customer on a channel; the first len(clicks_at) are clicked at those times."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for k in range(sent):
            key = f"{customer_id}-{channel}-{k}"
            at = AS_OF - timedelta(days=140 - k)  # January: London is on GMT = UTC
            conn.execute(schema.messages.insert().values(
                message_key=key, run_id="r1", campaign_id="test", customer_id=customer_id, channel=channel,
                topic="marketing", kind="marketing", is_discount=False, trigger_window="w", send_at=at,
                held_quiet_hours=False, state="sent", attempts=1, sent_at=at, created_at=now, updated_at=now))
            if k < len(clicks_at):
                conn.execute(schema.message_events.insert().values(message_key=key, event="clicked",
                                                                    occurred_at=clicks_at[k]))


def _run_all(engine, as_of, n_partitions=3):
    run = fit_models(engine, as_of)
    total = sum(score_partition(engine, run.model_version, as_of, p, n_partitions) for p in range(n_partitions))
    return run, total


def test_pipeline_fits_scores_publishes_and_reports(scoring_warehouse, tmp_path):
    engine = scoring_warehouse
    world = make_world(engine, 700)
    # c00003 (London, email + sms consent, no stated channel): clicks every SMS at 06:xx, ignores email
    six_am = [AS_OF - timedelta(days=139 - k, hours=18, minutes=-k) for k in range(12)]
    add_engagement(engine, "c00003", "sms", 12, six_am)
    add_engagement(engine, "c00003", "email", 5, [])
    run = fit_models(engine, AS_OF)
    assert run.method == "bgnbd", run.gate_reason
    assert run.n_customers == world.n_customers
    m = run.metrics
    print("backtest:", {k: v for k, v in m.items() if k != "reliability"})
    assert m["auc_buy_again"] > 0.65
    assert m["auc_buy_again_one_time"] > 0.55  # the churn treatment ranks one-time buyers ...
    assert m["auc_p_alive_one_time"] == pytest.approx(0.5)  # ... where p_alive cannot
    assert abs(m["aggregate_error"]) < 0.35
    assert m["top_decile_revenue_capture"] > 0.2

    assert current_scores(engine).empty  # nothing published yet
    written = [score_partition(engine, run.model_version, AS_OF, p, 3) for p in range(3)]
    assert sum(written) == world.n_customers and all(w > 0 for w in written)
    assert current_scores(engine).empty  # staged rows are invisible until published

    result = publish_scores(engine, run.model_version, AS_OF)
    assert result["customers"] == world.n_customers
    scores = current_scores(engine)
    assert len(scores) == world.n_customers and scores["customer_id"].is_unique
    # buyers are scored by the model; customers whose only orders were cancelled get heuristics only
    no_orders = int((scores["n_orders"] == 0).sum())
    assert result["methods"] == {"bgnbd": world.n_customers - no_orders} | ({"heuristic": no_orders}
                                                                            if no_orders else {})
    assert ((scores["method"] == "heuristic") == (scores["n_orders"] == 0)).all()
    assert sum(result["segments"].values()) == world.n_customers

    buyers = scores[scores["n_orders"] > 0]
    assert buyers["p_alive"].between(0, 1).all()
    assert buyers["churn_probability"].between(0, 1).all()
    assert (buyers["expected_orders_365"] >= buyers["expected_orders_90"]).all()
    assert (buyers["expected_orders_90"] >= buyers["expected_orders_30"]).all()
    assert buyers["rfm_segment"].notna().all()
    # CLV net of acquisition cost: ads cost 25.00 per customer by default
    ads = buyers[buyers["acquisition_channel"] == "ads"]
    assert ((ads["clv_365_minor"] - ads["clv_net_minor"]) == 2500).all()
    # stated preferences win; no consent, no channel
    stated = scores.set_index("customer_id")
    assert stated.loc["c00000", "preferred_hour"] == 19 and stated.loc["c00000", "send_time_source"] == "stated"
    assert stated.loc["c00007", "preferred_channel"] is None or stated.loc["c00007", "channel_reason"] != "stated"
    assert stated.loc["c00030", "preferred_channel"] == "sms" and stated.loc["c00030", "channel_reason"] == "stated"
    eng = stated.loc["c00003"]
    assert (eng["preferred_channel"], eng["channel_reason"]) == ("sms", "engagement")
    assert eng["preferred_hour"] == 6 and eng["send_time_source"] in ("model", "explore")
    # expected orders rank the true rates
    from scipy.stats import spearmanr

    rho = spearmanr(buyers["expected_orders_365"], buyers["customer_id"].map(world.rates)).statistic
    print(f"Spearman(expected orders, true rate) = {rho:.3f}")
    assert rho > 0.4

    repl = current_replenishment(engine)
    assert len(repl) > 0 and set(repl["basis"]) <= {"own", "population"}
    assert repl["confidence"].between(0, 1).all()

    uri = write_report(engine, run.model_version, FakeLanding(tmp_path / "landing"))
    page = Path(uri.removeprefix("file://")).read_text()
    assert page.count("<img") == 4 and run.model_version in page and "auc_buy_again" in page


def test_publish_is_atomic_and_refuses_incomplete_versions(scoring_warehouse):
    engine = scoring_warehouse
    make_world(engine, 320, seed=3)
    first, _ = _run_all(engine, AS_OF, n_partitions=2)
    publish_scores(engine, first.model_version, AS_OF)
    before = current_scores(engine)

    assert fit_models(engine, AS_OF).model_version == first.model_version  # a rerun is the same version
    later = AS_OF + timedelta(days=1)
    second = fit_models(engine, later)
    assert second.model_version != first.model_version
    score_partition(engine, second.model_version, later, 0, 2)
    with pytest.raises(RuntimeError, match="incomplete"):
        publish_scores(engine, second.model_version, later)
    assert current_model_version(engine) == first.model_version
    assert current_scores(engine).equals(before)

    # rerunning a partition is idempotent
    n1 = score_partition(engine, second.model_version, later, 1, 2)
    assert score_partition(engine, second.model_version, later, 1, 2) == n1
    publish_scores(engine, second.model_version, later)
    after = current_scores(engine)
    assert set(after["model_version"]) == {second.model_version}
    assert len(after) == len(before)
    with engine.connect() as conn:
        n_current = conn.execute(select(func.count()).select_from(schema.score_versions)
                                 .where(schema.score_versions.c.is_current.is_(True))).scalar_one()
    assert n_current == 1
    # the database itself refuses a second current version (concurrent publishes cannot both win)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(schema.score_versions.insert().values(model_version="rogue", as_of=later, is_current=True,
                                                            published_at=datetime.now(UTC)))

    # erasure removes a customer's rows from every version
    with engine.begin() as conn:
        assert forget_customer(conn, "c00001") >= 2
    assert "c00001" not in set(current_scores(engine)["customer_id"])


def test_below_the_gate_rows_say_heuristic(scoring_warehouse):
    engine = scoring_warehouse
    make_world(engine, 60, seed=5)
    run, total = _run_all(engine, AS_OF, n_partitions=1)
    assert run.method == "heuristic" and "purchasers" in run.gate_reason
    publish_scores(engine, run.model_version, AS_OF)
    scores = current_scores(engine)
    assert len(scores) == total == 60
    assert set(scores["method"]) == {"heuristic"}
    assert scores["p_alive"].isna().all()
    buyers = scores[scores["n_orders"] > 0]
    assert buyers["churn_probability"].between(0, 1).all() and buyers["rfm_segment"].notna().all()


def test_run_scoring_in_one_call(scoring_warehouse, tmp_path):
    engine = scoring_warehouse
    make_world(engine, 350, seed=13)
    result = run_scoring(engine, AS_OF, n_partitions=2, landing=FakeLanding(tmp_path))
    assert result["customers"] == 350 and result["model_run"]["method"] == "bgnbd"
    assert result["report"].endswith("index.html") and current_model_version(engine) == result["model_version"]


def test_cancelled_orders_do_not_count(scoring_warehouse):
    engine = scoring_warehouse
    make_world(engine, 320, seed=11)
    now = datetime.now(UTC)
    base = dict(currency="GBP", loaded_at=now, channel="online", source_system="store")
    with engine.begin() as conn:
        upsert(conn, schema.customers, [{"customer_id": "zz1", "loaded_at": now}])
        upsert(conn, schema.orders, [
            {**base, "order_id": "zz1-a", "customer_id": "zz1", "status": "completed", "total_minor": 1000,
             "created_at": AS_OF - timedelta(days=10)},
            {**base, "order_id": "zz1-b", "customer_id": "zz1", "status": "refunded", "total_minor": 5000,
             "created_at": AS_OF - timedelta(days=5)},
            {**base, "order_id": "zz1-c", "customer_id": "zz1", "status": "cancelled", "total_minor": 7000,
             "created_at": AS_OF - timedelta(days=3)},
        ])
    run, _ = _run_all(engine, AS_OF, n_partitions=1)
    publish_scores(engine, run.model_version, AS_OF)
    row = current_scores(engine).set_index("customer_id").loc["zz1"]
    assert row["n_orders"] == 1 and row["monetary_minor"] == 1000 and row["recency_days"] == 10


def test_customers_without_orders_and_an_empty_warehouse(scoring_warehouse):
    engine = scoring_warehouse
    run, total = _run_all(engine, AS_OF, n_partitions=2)
    assert total == 0 and run.method == "heuristic"
    assert publish_scores(engine, run.model_version, AS_OF)["customers"] == 0
    now = datetime.now(UTC)
    with engine.begin() as conn:
        upsert(conn, schema.customers, [{"customer_id": f"p{i}", "email": f"p{i}@x.org", "loaded_at": now}
                                        for i in range(5)])
        upsert(conn, schema.consents, [{"customer_id": "p1", "channel": "email", "topic": "marketing",
                                        "status": "subscribed", "changed_at": now}])
    later = AS_OF + timedelta(hours=1)
    run, total = _run_all(engine, later, n_partitions=2)
    publish_scores(engine, run.model_version, later)
    scores = current_scores(engine).set_index("customer_id")
    assert total == 5 and (scores["n_orders"] == 0).all() and scores["rfm_segment"].isna().all()
    assert scores.loc["p1", "preferred_channel"] == "email"
    assert scores["send_time_source"].isin(["prior", "explore"]).all()
