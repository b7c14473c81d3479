"""Summary from transactions, category affinity, churn calibration/AUC and the minimum-data gate."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from storeflow.scoring.affinity import category_affinity
from storeflow.scoring.btyd import BGNBDModel
from storeflow.scoring.churn import IsotonicCalibrator, auc, fit_isotonic
from storeflow.scoring.data_sufficiency import decide
from storeflow.scoring.hashing import partition_of
from storeflow.scoring.predict import discounted_clv, monthly_rate
from storeflow.scoring.summary import customer_summary


def test_customer_summary_counts_days_for_btyd_and_orders_for_rfm():
    orders = pd.DataFrame({
        "customer_id": ["x", "x", "x", "x", "y"],
        "created_at": pd.to_datetime(["2026-01-01T09:00Z", "2026-01-01T17:00Z", "2026-01-11T12:00Z",
                                      "2026-01-31T12:00Z", "2026-02-05T00:00Z"], utc=True),
        "total_minor": [100, 50, 200, 300, 80],
    })
    s = customer_summary(orders, datetime(2026, 2, 10, 12, tzinfo=UTC)).set_index("customer_id")
    x = s.loc["x"]
    assert (x["frequency"], x["recency"], x["T"]) == (2, 30, 40)  # purchase days Jan 1, 11, 31
    assert x["monetary"] == 250  # mean of the repeat days (200, 300)
    assert (x["n_orders"], x["total_minor"], x["aov_minor"]) == (4, 650, 162.5)
    assert x["avg_days_between_orders"] == pytest.approx((30 + 3 / 24) / 3)
    assert x["recency_days"] == pytest.approx(10.0)
    y = s.loc["y"]
    assert (y["frequency"], y["recency"], y["T"], y["monetary"]) == (0, 0, 5, 0)
    assert np.isnan(y["avg_days_between_orders"])
    # orders after as_of are ignored
    early = customer_summary(orders, datetime(2026, 1, 5, tzinfo=UTC))
    assert early["customer_id"].tolist() == ["x"] and early["n_orders"].tolist() == [2]


def test_category_affinity_decays_with_age():
    as_of = datetime(2026, 6, 30, tzinfo=UTC)
    lines = pd.DataFrame({
        "customer_id": ["a", "a", "a"],
        "created_at": pd.to_datetime(["2025-07-05T00:00Z", "2026-06-30T00:00Z", "2026-06-30T00:00Z"], utc=True),
        "category": ["Office", "Kitchen", None],
        "value": [1000.0, 500.0, 999.0],
    })
    out = category_affinity(lines, as_of, half_life_days=180.0).set_index("customer_id")
    # Office: 1000 x 0.5^(360/180) = 250; Kitchen 500 today -> 2/3 vs 1/3 (the uncategorised line is ignored)
    assert out.loc["a", "top_category"] == "Kitchen"
    assert out.loc["a", "category_affinity"] == {"Kitchen": 0.6667, "Office": 0.3333}
    slow = category_affinity(lines, as_of, half_life_days=100000.0).set_index("customer_id")
    assert slow.loc["a", "top_category"] == "Office"


def test_auc_and_isotonic_calibration():
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auc([0.5, 0.5], [0, 1]) == pytest.approx(0.5)
    cal = fit_isotonic([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0, 1, 0, 1, 1, 1])
    # pool adjacent violators: (1, 0) -> 0.5, 0.5
    np.testing.assert_allclose(cal([0.1, 0.2, 0.3, 0.45, 0.6]), [0, 0.5, 0.5, 1, 1])
    assert IsotonicCalibrator.from_dict(cal.to_dict()) == cal
    assert IsotonicCalibrator.from_dict(None)([0.3]) == pytest.approx([0.3])


def test_gate():
    assert decide(600, 200, 500, 180).method == "bgnbd"
    low = decide(499, 400, 500, 180)
    assert low.method == "heuristic" and "499 purchasers" in low.reason
    assert decide(900, 100, 500, 180).method == "heuristic"


def test_partitions_are_stable_and_cover_everyone():
    ids = [f"cust-{i}" for i in range(3000)]
    parts = [partition_of(i, 4) for i in ids]
    assert set(parts) == {0, 1, 2, 3} and min(np.bincount(parts)) > 600
    # blake2b of the id, not Python's salted hash(): the same in every process
    assert partition_of("cust-1", 1000) == 604


def test_discounted_clv_matches_the_monthly_sum():
    bg = BGNBDModel(r=0.8, alpha=30.0, a=0.9, b=3.0, log_likelihood=0.0)
    x, tx, T = np.array([2.0]), np.array([50.0]), np.array([80.0])
    d = monthly_rate(0.1)
    assert (1 + d) ** 12 == pytest.approx(1.1)
    month = 365 / 12
    manual = sum((bg.expected_purchases(k * month, x, tx, T) - bg.expected_purchases((k - 1) * month, x, tx, T))
                 * 40.0 / (1 + d) ** k for k in range(1, 13))
    assert discounted_clv(bg, x, tx, T, [40.0], 0.1)[0] == pytest.approx(manual[0])
    undiscounted = discounted_clv(bg, x, tx, T, [40.0], 0.0)[0]
    assert undiscounted == pytest.approx(40.0 * bg.expected_purchases(365.0, x, tx, T)[0])


def test_vectorised_summary_matches_a_plain_groupby():
    rng = np.random.default_rng(4)
    n = 3000
    orders = pd.DataFrame({
        "customer_id": rng.choice([f"k{i}" for i in range(400)], n),
        "created_at": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 400 * 86400, n), "s"),
        "total_minor": rng.integers(100, 5000, n).astype(float),
    })
    as_of = datetime(2026, 3, 1, tzinfo=UTC)
    fast = customer_summary(orders, as_of).set_index("customer_id").sort_index()
    o = orders.assign(day=orders["created_at"].dt.floor("D"))
    days = o.groupby(["customer_id", "day"])["total_minor"].sum().reset_index()
    g = days.groupby("customer_id")
    first = g["day"].min()
    slow = pd.DataFrame({
        "frequency": g.size() - 1,
        "recency": (g["day"].max() - first).dt.days,
        "T": (pd.Timestamp(as_of).floor("D") - first).dt.days,
        "monetary": (g["total_minor"].sum() - g.apply(lambda d: d.loc[d["day"].idxmin(), "total_minor"],
                                                      include_groups=False))
        / (g.size() - 1).where(g.size() > 1),
        "n_orders": orders.groupby("customer_id").size(),
    }).sort_index()
    np.testing.assert_array_equal(fast["frequency"], slow["frequency"])
    np.testing.assert_array_equal(fast["recency"], slow["recency"])
    np.testing.assert_array_equal(fast["T"], slow["T"])
    np.testing.assert_array_equal(fast["n_orders"], slow["n_orders"])
    np.testing.assert_allclose(fast["monetary"], slow["monetary"].fillna(0.0))
