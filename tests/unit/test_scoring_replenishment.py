"""Replenishment run-out dates on hand-made order lines with exact expected outputs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from storeflow.scoring.replenishment import predict_replenishment


def _lines(rows):
    return pd.DataFrame(rows, columns=["customer_id", "sku", "created_at", "quantity"]).assign(
        created_at=lambda d: pd.to_datetime(d["created_at"], utc=True))


AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def test_own_intervals_scaled_by_quantity_and_population_fallback():
    lines = _lines([
        # alice: 1 unit on Jan 1, 2 units on Jan 11 (10 days for 1 unit), 1 unit on Jan 31 (20 days for 2)
        ("alice", "TONER", "2026-01-01T10:00Z", 1), ("alice", "TONER", "2026-01-11T10:00Z", 2),
        ("alice", "TONER", "2026-01-31T10:00Z", 1),
        # bob: two purchases 30 days apart, 3 units the second time
        ("bob", "TONER", "2026-01-05T09:00Z", 1), ("bob", "TONER", "2026-02-04T09:00Z", 3),
        # carol bought TONER once, 2 units: population fallback
        ("carol", "TONER", "2026-02-20T12:00Z", 2),
        # dave bought a mug once: no repeat buyers of mugs -> no prediction
        ("dave", "MUG", "2026-02-01T12:00Z", 1),
        # two lines on one day are one purchase (quantities add up)
        ("erin", "TONER", "2026-02-01T08:00Z", 1), ("erin", "TONER", "2026-02-01T18:00Z", 1),
        ("erin", "TONER", "2026-02-21T18:00Z", 1),
    ])
    out = predict_replenishment(lines, AS_OF, min_population_intervals=3).set_index("customer_id")
    assert set(out.index) == {"alice", "bob", "carol", "erin"}

    a = out.loc["alice"]
    # per unit: (10 + 20) days / (1 + 2) units = 10 days; last bought 1 -> run-out Feb 10
    assert a["basis"] == "own" and a["days_per_unit"] == pytest.approx(10.0)
    assert a["predicted_runout_date"] == date(2026, 2, 10)
    # per-unit gaps 10 and 10 -> cv 0 -> confidence 2/3
    assert a["confidence"] == pytest.approx(round(2 / 3, 4)) and a["n_intervals"] == 2

    b = out.loc["bob"]
    # 30 days per unit, last bought 3 -> 90 days after Feb 4 = May 5
    assert b["predicted_runout_date"] == date(2026, 5, 5) and b["confidence"] == pytest.approx(0.5)

    e = out.loc["erin"]
    # 20 days after a 2-unit purchase: 10 days per unit; last 1 unit -> Mar 3 (the 18:00 purchase time kept)
    assert e["days_per_unit"] == pytest.approx(10.0) and e["predicted_runout_date"] == date(2026, 3, 3)

    c = out.loc["carol"]
    # population per-unit gaps: alice 10, 10; bob 30; erin 10 -> median 10, 4 gaps, cv = std/mean
    assert c["basis"] == "population" and c["days_per_unit"] == pytest.approx(10.0)
    assert c["predicted_runout_date"] == date(2026, 3, 12)  # Feb 20 + 2 units x 10 days
    gaps = pd.Series([10.0, 10.0, 30.0, 10.0])
    cv = gaps.std(ddof=0) / gaps.mean()
    assert c["confidence"] == pytest.approx(round(0.5 * 4 / 9 / (1 + cv), 4))
    assert c["n_intervals"] == 4


def test_population_fallback_needs_enough_intervals_and_stale_predictions_are_dropped():
    lines = _lines([
        ("a", "TEA", "2025-01-01T10:00Z", 1), ("a", "TEA", "2025-01-21T10:00Z", 1),
        ("b", "TEA", "2026-02-25T10:00Z", 1),
    ])
    out = predict_replenishment(lines, AS_OF, min_population_intervals=2, max_overdue_days=90)
    # b has no own interval and TEA has only 1 population gap (< 2); a's run-out (2025-02-10) is stale
    assert out.empty
    out = predict_replenishment(lines, AS_OF, min_population_intervals=1, max_overdue_days=1000)
    assert out.set_index("customer_id").loc["b", "predicted_runout_date"] == date(2026, 3, 17)
    assert out.set_index("customer_id").loc["a", "predicted_runout_date"] == date(2025, 2, 10)
