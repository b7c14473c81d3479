"""BG/NBD and Gamma-Gamma: gradients, parameter recovery, closed forms against numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.optimize import approx_fprime

from storeflow.scoring.btyd import (
    BGNBDModel,
    ConvergenceError,
    _bgnbd_nll,
    _gg_nll,
    compress_rows,
    fit_bgnbd,
    fit_gamma_gamma,
    simulate_bgnbd,
    simulate_gamma_gamma,
)

TRUE_BG = {"r": 0.8, "alpha": 60.0, "a": 0.9, "b": 3.0}
TRUE_GG = {"p": 6.0, "q": 4.0, "v": 15.0}


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(20240501)
    n = 100_000
    T = rng.integers(30, 730, n).astype(float)
    x, tx, T, lam, alive = simulate_bgnbd(n, **TRUE_BG, T=T, rng=rng)
    spend = simulate_gamma_gamma(x, **TRUE_GG, rng=rng)
    return x, tx, T, spend


@pytest.mark.parametrize("log_params", [np.log([0.5, 1.2, 0.8, 2.5]), np.log([2.0, 0.3, 3.0, 0.7])])
def test_bgnbd_gradient_is_the_derivative_of_the_likelihood(log_params):
    rng = np.random.default_rng(1)
    x = rng.poisson(2, 500).astype(float)
    T = rng.uniform(1, 3, 500)
    tx = np.where(x > 0, rng.uniform(0, 1, 500) * T, 0)
    w = rng.integers(1, 4, 500).astype(float)
    value, grad = _bgnbd_nll(log_params, x, tx, T, w, 0.01)
    numeric = approx_fprime(log_params, lambda lp: _bgnbd_nll(lp, x, tx, T, w, 0.01)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_gamma_gamma_gradient_is_the_derivative_of_the_likelihood():
    rng = np.random.default_rng(2)
    x = rng.integers(1, 8, 400).astype(float)
    m = rng.gamma(3, 10, 400)
    w = np.ones(400)
    lp = np.log([3.0, 4.0, 5.0])
    _, grad = _gg_nll(lp, x, m, w, 0.01)
    numeric = approx_fprime(lp, lambda p: _gg_nll(p, x, m, w, 0.01)[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_bgnbd_recovers_the_simulation_parameters(simulated):
    x, tx, T, _ = simulated
    m = fit_bgnbd(x, tx, T)
    print("BG/NBD fit", m.params, "unique rows", m.extra["unique_rows"])
    for name, truth in TRUE_BG.items():
        assert getattr(m, name) == pytest.approx(truth, rel=0.08), name
    assert m.n == 100_000


def test_gamma_gamma_recovers_the_simulation_parameters(simulated):
    x, _, _, spend = simulated
    g = fit_gamma_gamma(x, np.nan_to_num(spend))
    print("Gamma-Gamma fit", g.params)
    for name, truth in TRUE_GG.items():
        assert getattr(g, name) == pytest.approx(truth, rel=0.12), name
    # the population mean spend p v / (q - 1) is much better determined than p and v separately
    assert g.population_mean_spend == pytest.approx(6.0 * 15.0 / 3.0, rel=0.02)


def test_compression_does_not_change_the_fit(simulated):
    x, tx, T, _ = simulated
    x, tx, T = x[:5000], np.floor(tx[:5000]), T[:5000]
    (ux, utx, uT), w, inv = compress_rows(x, tx, T)
    assert ux.size < x.size and w.sum() == x.size
    np.testing.assert_array_equal(ux[inv], x)
    np.testing.assert_array_equal(uT[inv], T)
    a = fit_bgnbd(x, tx, T)
    b = fit_bgnbd(ux, utx, uT, weights=w)
    for name in TRUE_BG:
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-5)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-9)


def test_time_unit_only_rescales_alpha(simulated):
    x, tx, T, _ = simulated
    x, tx, T = x[:20000], tx[:20000], T[:20000]
    days = fit_bgnbd(x, tx, T)
    weeks = fit_bgnbd(x, tx / 7, T / 7)
    assert weeks.alpha == pytest.approx(days.alpha / 7, rel=1e-4)
    assert weeks.r == pytest.approx(days.r, rel=1e-4) and weeks.b == pytest.approx(days.b, rel=1e-4)


def test_degenerate_data_raise_convergence_error():
    T = np.linspace(10, 100, 50)
    with pytest.raises(ConvergenceError, match="no repeat purchases"):
        fit_bgnbd(np.zeros(50), np.zeros(50), T)
    # everybody buys at exactly the same pace and nobody leaves: the dropout fit runs off to b -> inf
    with pytest.raises(ConvergenceError):
        fit_bgnbd(np.full(50, 10.0), T, T)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        fit_bgnbd([1, 2], [5, 20], [10, 10])  # recency > T
    with pytest.raises(ValueError):
        fit_bgnbd([0], [3], [10])  # recency without repeat purchases


# --- closed forms against direct numerical integration over (lambda, p) --------------------------
MODEL = BGNBDModel(r=0.8, alpha=30.0, a=0.9, b=3.0, log_likelihood=0.0)
CUSTOMERS = [(0, 0, 100), (1, 20, 100), (3, 80, 100), (5, 30, 200), (10, 300, 310), (2, 5, 400)]


def _integrate(fn, x, tx, T):
    """E[fn(lam, p) · 1{alive} | x, t_x, T] by brute-force quadrature of Bayes' rule over (lam, p).

    Likelihood: alive = lam^x (1-p)^x e^(-lam T); dead after the x-th repeat purchase (x > 0) =
    lam^x p (1-p)^(x-1) e^(-lam t_x); prior Gamma(r, alpha) x Beta(a, b). Trapezoid rule on a 2-D grid in
    log(lam) and logit(p), where the integrand decays exponentially at both ends (so the rule converges
    fast). Independent of the closed forms (no hypergeometric functions, no conjugacy).
    """
    r, alpha, a, b = MODEL.r, MODEL.alpha, MODEL.a, MODEL.b
    s = np.linspace(-45, 6, 1201)
    lam = np.exp(s) / (alpha + tx)
    z = np.linspace(-60, 60, 1201)
    p = 1 / (1 + np.exp(-z))
    log1mp = -np.logaddexp(0, z)  # log(1 - p), stable
    logp = -np.logaddexp(0, -z)
    # log prior densities times the Jacobians d lam = lam ds, dp = p (1-p) dz
    lam_prior = r * np.log(lam) - alpha * lam
    p_prior = a * logp + b * log1mp
    L = lam[:, None]
    log_alive = (x * np.log(lam) - lam * T + lam_prior)[:, None] + (x * log1mp + p_prior)[None, :]
    if x > 0:
        log_dead = (x * np.log(lam) - lam * tx + lam_prior)[:, None] + (logp + (x - 1) * log1mp + p_prior)[None, :]
    else:
        log_dead = np.full_like(log_alive, -np.inf)
    shift = max(log_alive.max(), log_dead.max())
    alive = np.exp(log_alive - shift)
    evidence = alive + np.exp(log_dead - shift)
    num = integrate.trapezoid(integrate.trapezoid(fn(L, p[None, :]) * alive, z, axis=1), s)
    den = integrate.trapezoid(integrate.trapezoid(evidence, z, axis=1), s)
    return num / den


@pytest.mark.parametrize(("x", "tx", "T"), CUSTOMERS)
def test_p_alive_matches_numerical_integration(x, tx, T):
    expected = _integrate(lambda lam, p: 1.0, x, tx, T)
    assert MODEL.p_alive(x, tx, T) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("x", "tx", "T"), CUSTOMERS)
def test_expected_purchases_match_numerical_integration(x, tx, T):
    t = 90.0
    # an alive customer with (lam, p) makes (1 - exp(-lam p t)) / p purchases in t on average
    expected = _integrate(lambda lam, p: -np.expm1(-lam * p * t) / p, x, tx, T)
    assert MODEL.expected_purchases(t, x, tx, T) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("x", "tx", "T"), CUSTOMERS)
def test_prob_no_purchase_matches_numerical_integration(x, tx, T):
    t = 90.0
    p_alive_and_none = _integrate(lambda lam, p: np.exp(-lam * t), x, tx, T)
    expected = 1 - MODEL.p_alive(x, tx, T) + p_alive_and_none
    assert MODEL.prob_no_purchase(t, x, tx, T) == pytest.approx(expected, rel=1e-5)


def test_one_time_buyers_have_p_alive_one_but_churn_grows_with_age():
    T = np.array([10.0, 100.0, 400.0])
    np.testing.assert_array_equal(MODEL.p_alive(0, 0, T), 1.0)
    p0 = MODEL.prob_no_purchase(90, 0, 0, T)
    assert np.all(np.diff(p0) > 0)


def test_expected_purchases_match_monte_carlo_of_the_population():
    """Unconditional check: E[X(t)] of a fresh customer (x=0, T→0) equals the simulated mean."""
    rng = np.random.default_rng(5)
    x, *_ = simulate_bgnbd(400_000, MODEL.r, MODEL.alpha, MODEL.a, MODEL.b, T=120.0, rng=rng)
    closed = MODEL.expected_purchases(120.0, 0, 0, 1e-9)
    assert x.mean() == pytest.approx(float(closed), rel=0.01)


def test_quadrature_fallback_agrees_with_closed_form_and_handles_a_equal_one():
    x = np.array([0.0, 2.0, 7.0])
    tx = np.array([0.0, 40.0, 150.0])
    T = np.array([60.0, 90.0, 200.0])
    quad = MODEL._expected_purchases_quadrature(np.full(3, 90.0), x, T) * MODEL.p_alive(x, tx, T)
    np.testing.assert_allclose(MODEL.expected_purchases(90.0, x, tx, T), quad, rtol=1e-8)
    near_one = BGNBDModel(r=0.8, alpha=30.0, a=1.0, b=3.0, log_likelihood=0.0)
    values = near_one.expected_purchases(90.0, x, tx, T)
    assert np.all(np.isfinite(values)) and np.all(values > 0)
    # continuity in a across the singular point of the closed form
    left = BGNBDModel(r=0.8, alpha=30.0, a=1.0 - 1e-4, b=3.0, log_likelihood=0.0).expected_purchases(90.0, x, tx, T)
    np.testing.assert_allclose(values, left, rtol=1e-3)


def test_median_time_to_next_purchase_halves_the_survival():
    x, T = 3.0, 120.0
    t = MODEL.median_time_to_next_purchase(x, 100.0, T)
    surv = ((MODEL.alpha + T) / (MODEL.alpha + T + t)) ** (MODEL.r + x)
    assert surv == pytest.approx(0.5)


def test_expected_spend_shrinks_towards_the_population_mean():
    rng = np.random.default_rng(9)
    x = rng.integers(1, 10, 3000).astype(float)
    g = fit_gamma_gamma(x, simulate_gamma_gamma(x, **TRUE_GG, rng=rng))
    pop = g.population_mean_spend
    assert g.expected_spend(0, 0) == pytest.approx(pop)
    # one order of 100 moves the estimate a little from the population mean, fifty orders nearly all the way
    one, many = g.expected_spend([1, 50], [100.0, 100.0])
    assert pop < one < many < 100.0
    assert many - 100.0 == pytest.approx((g.p * g.v - (g.q - 1) * 100.0) / (50 * g.p + g.q - 1))


def test_gamma_gamma_refuses_too_little_data():
    with pytest.raises(ValueError):
        fit_gamma_gamma([0, 0, 1], [0, 0, 10.0])


@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(0.02, 20), alpha=st.floats(0.1, 3000), a=st.floats(0.05, 20), b=st.floats(0.05, 100),
    x=st.integers(0, 200), frac=st.floats(0, 1), T=st.floats(1, 3000),
)
def test_closed_forms_hold_over_a_wide_parameter_range(r, alpha, a, b, x, frac, T):
    """Probabilities stay probabilities, expectations grow with the horizon, and the 2F1 closed form
    agrees with fine Gauss-Jacobi quadrature (time in days, at most one purchase day per day)."""
    assume(x <= T)
    m = BGNBDModel(r=r, alpha=alpha, a=a, b=b, log_likelihood=0.0)
    tx = frac * T if x > 0 else 0.0
    pa = float(m.p_alive(x, tx, T))
    assert 0.0 <= pa <= 1.0
    e = m.expected_purchases(np.array([30.0, 90.0, 365.0]), x, tx, T)
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert np.all(np.diff(e) >= -1e-9 * (1 + e[1:]))
    reference = m._expected_purchases_quadrature(np.array([365.0]), np.array([float(x)]), np.array([T]),
                                                 nodes=600)[0] * pa
    assert e[2] == pytest.approx(reference, rel=1e-4, abs=1e-9)
    p0 = m.prob_no_purchase(np.array([30.0, 90.0, 365.0]), x, tx, T)
    assert np.all((p0 >= 0) & (p0 <= 1 + 1e-12)) and np.all(np.diff(p0) <= 1e-12)
    assert p0[0] >= 1 - pa - 1e-12  # the dead never buy again


def test_scalar_inputs_give_scalar_shaped_outputs():
    near_one = BGNBDModel(r=0.8, alpha=30.0, a=1.0, b=3.0, log_likelihood=0.0)
    assert np.shape(near_one.expected_purchases(90.0, 2, 40.0, 90.0)) == ()
    assert np.shape(MODEL.expected_purchases(90.0, 2, 40.0, 90.0)) == ()
