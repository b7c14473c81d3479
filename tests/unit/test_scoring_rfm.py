"""RFM quintile scores (with ties) and the pinned R x F segment table, cell by cell."""

from __future__ import annotations

import numpy as np
import pytest

from storeflow.scoring.rfm import (
    quintile_score,
    quintile_thresholds,
    rfm_scores,
    score_with_thresholds,
    segment,
)

# The pinned table from the issue, written out cell by cell (R, F) -> segment.
EXPECTED = {
    (5, 1): "New Customers", (5, 2): "Potential Loyalist", (5, 3): "Potential Loyalist",
    (5, 4): "Champions", (5, 5): "Champions",
    (4, 1): "Promising", (4, 2): "Potential Loyalist", (4, 3): "Potential Loyalist",
    (4, 4): "Loyal", (4, 5): "Loyal",
    (3, 1): "About to Sleep", (3, 2): "About to Sleep", (3, 3): "Need Attention",
    (3, 4): "Loyal", (3, 5): "Loyal",
    (2, 1): "Hibernating", (2, 2): "Hibernating", (2, 3): "At Risk", (2, 4): "At Risk",
    (2, 5): "Can't Lose Them",
    (1, 1): "Hibernating", (1, 2): "Hibernating", (1, 3): "At Risk", (1, 4): "At Risk",
    (1, 5): "Can't Lose Them",
}


@pytest.mark.parametrize(("r", "f"), sorted(EXPECTED))
def test_segment_table_cell(r, f):
    assert segment([r], [f])[0] == EXPECTED[(r, f)]


def test_segment_table_is_complete():
    assert len(EXPECTED) == 25


def test_distinct_values_split_into_equal_quintiles():
    np.testing.assert_array_equal(quintile_score(np.arange(10.0)), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    # lower is better (recency): the most recent get 5
    np.testing.assert_array_equal(quintile_score(np.arange(10.0), higher_is_better=False),
                                  [5, 5, 4, 4, 3, 3, 2, 2, 1, 1])


def test_ties_get_the_lowest_score_of_their_block():
    # 6 of 10 customers have one order: they are all F1; two orders -> 6 strictly below -> 1 + floor(3) = 4
    orders = np.array([1, 1, 1, 1, 1, 1, 2, 2, 3, 7])
    np.testing.assert_array_equal(quintile_score(orders), [1, 1, 1, 1, 1, 1, 4, 4, 5, 5])
    recency = np.array([3, 3, 3, 10, 10, 40, 40, 40, 40, 90])  # days since the last order
    np.testing.assert_array_equal(quintile_score(recency, higher_is_better=False), [4, 4, 4, 3, 3, 1, 1, 1, 1, 1])


def test_thresholds_reproduce_the_scores_for_any_subset():
    rng = np.random.default_rng(3)
    values = rng.integers(0, 6, 500).astype(float)
    for hib in (True, False):
        full = quintile_score(values, hib)
        th = quintile_thresholds(values, hib)
        part = rng.choice(500, 77, replace=False)
        np.testing.assert_array_equal(score_with_thresholds(values[part], th, hib), full[part])


def test_rfm_scores_frame():
    df = rfm_scores(recency_days=[1, 200, 30, 5, 400], n_orders=[9, 1, 3, 2, 6], total_spend=[90, 5, 30, 20, 60])
    assert df["r_score"].tolist() == [5, 2, 3, 4, 1]
    assert df["f_score"].tolist() == [5, 1, 3, 2, 4]
    assert df["m_score"].tolist() == [5, 1, 3, 2, 4]
    assert df["rfm_segment"].tolist() == ["Champions", "Hibernating", "Need Attention", "Potential Loyalist",
                                          "At Risk"]


def test_thresholds_of_a_tiny_population_survive_json():
    th = quintile_thresholds([3.0, 3.0])  # nobody is strictly worse: every cut point is unreachable
    assert th == [float("inf")] * 4
    np.testing.assert_array_equal(score_with_thresholds([3.0, 9.0], [None] * 4), [1, 1])
