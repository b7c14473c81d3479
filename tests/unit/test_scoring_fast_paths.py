"""The fast paths of issue 15 give the same answers as the plain ones: hashed row compression, 2F1 once
per distinct (x, T), the preconditioned pilot fit, telescoped CLV, bincount quintiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from storeflow.scoring.btyd import (
    _PILOT_ROWS,
    BGNBDModel,
    compress_rows,
    fit_bgnbd,
    fit_gamma_gamma,
    simulate_bgnbd,
    simulate_gamma_gamma,
)
from storeflow.scoring.churn import IsotonicCalibrator
from storeflow.scoring.predict import discounted_clv, model_predictions
from storeflow.scoring.rfm import _strictly_below, quintile_score

BG = BGNBDModel(r=0.7, alpha=40.0, a=0.85, b=2.8, log_likelihood=0.0)


@pytest.fixture(scope="module")
def big():
    """Enough distinct histories that the fits take the pilot path."""
    rng = np.random.default_rng(7)
    n = 120_000
    T = rng.integers(1, 1100, n).astype(float)
    x, tx, T, _, _ = simulate_bgnbd(n, 0.6, 45.0, 0.8, 2.5, T=T, rng=rng)
    tx = np.round(tx)
    m = simulate_gamma_gamma(x, 5.0, 3.5, 800.0, rng)
    return x, tx, T, m


def test_compress_rows_restores_every_row_and_counts_them():
    rng = np.random.default_rng(1)
    cols = [rng.integers(0, 5, 5000).astype(float), rng.integers(0, 7, 5000).astype(float)]
    uniq, counts, inv = compress_rows(*cols)
    for u, c in zip(uniq, cols, strict=True):
        np.testing.assert_array_equal(u[inv], c)
    assert counts.sum() == 5000 and len({(a, b) for a, b in zip(*uniq, strict=True)}) == uniq[0].size
    # non-integer columns take the np.unique path and give the same rows
    uf, cf, invf = compress_rows(cols[0] + 0.5, cols[1])
    np.testing.assert_array_equal(uf[0][invf], cols[0] + 0.5)


def test_expected_purchases_table_matches_the_per_customer_closed_form(big):
    x, tx, T, _ = big
    x, tx, T = x[:3000], tx[:3000], T[:3000]
    table, inv = BG.expected_purchases_table([30.0, 90.0, 365.0], x, tx, T)
    for j, t in enumerate((30.0, 90.0, 365.0)):
        direct = BG.p_alive(x, tx, T) * BG._given_alive_closed(np.full(x.size, t), x, T, BG.a)
        np.testing.assert_allclose(table[inv, j], direct, rtol=1e-12)
        np.testing.assert_allclose(BG.expected_purchases(t, x, tx, T), direct, rtol=1e-12)


def test_model_predictions_equal_the_one_at_a_time_calls(big):
    x, tx, T, m = big
    s = pd.DataFrame({"frequency": x[:2000], "recency": tx[:2000], "T": T[:2000],
                      "monetary": np.nan_to_num(m[:2000]), "aov_minor": 1000.0})
    pred = model_predictions(s, BG, None, IsotonicCalibrator((), ()), annual_rate=0.1)
    for days in (30, 90, 365):
        np.testing.assert_allclose(pred[f"expected_orders_{days}"], BG.expected_purchases(days, x[:2000], tx[:2000],
                                                                                          T[:2000]), rtol=1e-12)
    manual = discounted_clv(BG, x[:2000], tx[:2000], T[:2000], s["aov_minor"], 0.1)
    np.testing.assert_allclose(pred["clv_365"], manual, rtol=1e-12)


def test_pilot_fits_reach_the_same_optimum_as_a_cold_start(big):
    x, tx, T, m = big
    assert compress_rows(x, tx, T)[0][0].size > _PILOT_ROWS  # the pilot path is taken
    fast = fit_bgnbd(x, tx, T)
    cold = fit_bgnbd(x, tx, T, initial={"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0})  # no pilot
    for k in ("r", "alpha", "a", "b"):
        assert fast.params[k] == pytest.approx(cold.params[k], rel=1e-6)
    assert fast.log_likelihood == pytest.approx(cold.log_likelihood, rel=1e-12)
    gg = fit_gamma_gamma(x, m)
    assert (gg.p, gg.q, gg.v) == pytest.approx((5.0, 3.5, 800.0), rel=0.08)


@pytest.mark.parametrize("values", [
    np.random.default_rng(2).integers(0, 40, 20_000).astype(float),  # order counts: bincount path
    -np.floor(np.random.default_rng(3).exponential(200, 20_000)),  # recency, negated: bincount path
    np.random.default_rng(4).gamma(1.0, 10.0, 20_000),  # fractional spend: sort path
    np.array([5.0, 5.0, 5.0]),
])
def test_quintiles_by_counting_equal_the_rank_definition(values):
    np.testing.assert_array_equal(_strictly_below(values), rankdata(values, method="min") - 1)
    expected = (1 + np.floor(5 * (rankdata(values, method="min") - 1) / values.size)).astype(int).clip(1, 5)
    np.testing.assert_array_equal(quintile_score(values), expected)
