"""score_customers end to end on a warehouse whose customers buy for Christmas: the boosted model wins its
backtest, serves the customers it can, and every row says which model served it and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from storeflow.scoring.pipeline import current_scores, run_scoring
from storeflow.settings import get_settings
from storeflow.warehouse import schema
from storeflow.warehouse.upsert import upsert

from .scoring_worlds import make_world
from .test_scoring_pipeline import FakeLanding


def _load(engine, orders: pd.DataFrame, lines: pd.DataFrame) -> None:
    now = datetime.now(UTC)
    ids = sorted(orders["customer_id"].unique())
    cats = sorted(lines["category"].unique())
    with engine.begin() as conn:
        upsert(conn, schema.products, [{"sku": c, "name": c, "category": c, "price_minor": 1000,
                                        "is_deleted": False, "loaded_at": now} for c in cats])
        upsert(conn, schema.customers, [{"customer_id": c, "email": None, "phone": None, "timezone": "Europe/London",
                                         "created_at": now, "loaded_at": now} for c in ids])
        upsert(conn, schema.orders, [{
            "source_system": r.source_system, "order_id": r.order_id, "customer_id": r.customer_id,
            "channel": "online" if r.channel == "online" else "in_store", "status": "completed", "currency": "GBP",
            "total_minor": int(r.total_minor), "created_at": r.created_at.to_pydatetime(), "loaded_at": now,
            "acquisition_channel": None} for r in orders.itertuples()])
        upsert(conn, schema.order_lines, [{
            "source_system": "store", "order_id": oid, "line_id": "1", "sku": cat, "quantity": 1,
            "unit_price_minor": int(tot), "total_minor": int(tot), "loaded_at": now}
            for oid, cat, tot in zip(orders["order_id"], lines["category"], orders["total_minor"], strict=True)])


@pytest.fixture
def gift_warehouse(warehouse, monkeypatch):
    schema.metadata.create_all(warehouse)
    monkeypatch.setenv("STOREFLOW_MIN_PURCHASERS", "300")
    monkeypatch.setenv("STOREFLOW_BOOSTED_MIN_CUSTOMERS", "1500")  # the world has about 2,000 by the cutoff
    get_settings.cache_clear()
    orders, lines, as_of = make_world("gift_buyers", n=2500, seed=11)
    orders = orders.assign(source_system="store")
    _load(warehouse, orders, lines)
    yield warehouse, as_of
    get_settings.cache_clear()


@pytest.mark.slow
def test_boosted_model_serves_and_says_why(gift_warehouse, tmp_path):
    engine, as_of = gift_warehouse
    result = run_scoring(engine, as_of, n_partitions=2, landing=FakeLanding(tmp_path))
    run = result["model_run"]
    comp = run["metrics"]["comparison"]
    print("\n", comp["reason"], comp["info"], run["method"])
    assert set(comp["table"]) == {"bgnbd", "boosted", "recency_rule"}
    assert comp["winner"] == "boosted" and run["method"] == "boosted"
    scores = current_scores(engine)
    assert set(scores["method"]) <= {"boosted", "bgnbd"}
    served = scores[scores["method"] == "boosted"]
    assert len(served) > 0.9 * len(scores)
    assert served["method_reason"].str.startswith("boosted beats BG/NBD").all()
    # customers whose first order is on the as-of day keep BG/NBD and say so
    assert scores.loc[scores["method"] == "bgnbd", "method_reason"].str.contains("as-of day").all()
    p = served["churn_probability"].astype(float)
    assert p.between(0, 1).all() and p.nunique() > 20
    # the report shows the comparison table and the lift chart
    html = (tmp_path / "reports" / "scoring" / result["model_version"] / "index.html").read_text()
    assert "Model comparison (backtest)" in html and "recency-only rule" in html and "Lift chart" in html
    assert "buy-again AUC (one-time buyers)" in html


def test_small_retailers_keep_bgnbd_with_a_reason(gift_warehouse, monkeypatch):
    engine, as_of = gift_warehouse
    monkeypatch.setenv("STOREFLOW_BOOSTED_MIN_CUSTOMERS", "1000000")
    get_settings.cache_clear()
    result = run_scoring(engine, as_of)
    assert result["model_run"]["method"] == "bgnbd"
    scores = current_scores(engine)
    assert set(scores["method"]) == {"bgnbd"}
    assert scores["method_reason"].str.contains("too small to trust").all()
