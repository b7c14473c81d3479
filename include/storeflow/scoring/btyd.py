"""BG/NBD and Gamma-Gamma models ("buy till you die"), numpy/scipy only.

Conventions of the BTYD literature: ``frequency`` (x) = repeat purchases, ``recency`` (t_x) = time from
the first to the last purchase, ``T`` = time from the first purchase to the end of the observation
period, all in one time unit of the caller's choice (storeflow uses days).

Fitting maximises the Fader-Hardie-Lee (2005) likelihoods with an analytic gradient, in log-parameter
space (L-BFGS-B). Identical (x, t_x, T) rows are compressed into weights first, so fitting a million
customers costs about as much as fitting the few thousand distinct histories they have. Times are
rescaled internally so that the median T is 1 (alpha is rescaled back), which keeps the optimiser
well conditioned whatever the unit.

References: Fader, Hardie & Lee, "Counting your customers the easy way" (Marketing Science 2005) and
the notes at brucehardie.com (notes 004, 025).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1, roots_jacobi

__all__ = [
    "BGNBDModel",
    "ConvergenceError",
    "GammaGammaModel",
    "compress_rows",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
#: an objective for the optimiser: log-parameters -> (value, gradient)
Objective = Callable[[FloatArray], tuple[float, FloatArray]]

_LOG_BOUND = 20.0  # search space of the log-parameters (internal time/money scale: median = 1)
_LOG_DEGENERATE = 15.0  # a fitted |log parameter| beyond this (e^15 ~ 3e6) is a runaway, not an estimate


_PILOT_ROWS = 20_000  # above this many (distinct) rows, fits start from a fit on a random subsample


def _pilot_counts(counts: FloatArray, share: float) -> FloatArray:
    """Binomial thinning of row weights (a random share of the customers; fixed seed: reproducible)."""
    rng = np.random.default_rng(20260601)
    return rng.binomial(np.round(counts).astype(np.int64), min(share, 1.0)).astype(float)


class ConvergenceError(RuntimeError):
    """The optimiser did not reach a (finite, interior) maximum of the likelihood."""


def compress_rows(*columns: npt.ArrayLike) -> tuple[tuple[FloatArray, ...], FloatArray, IndexArray]:
    """Distinct rows of the given equal-length columns (in no particular order).

    Returns ``(unique_columns, weights, inverse)`` so that ``unique_columns[k][inverse]`` restores the
    input. Integer-valued inputs (the usual case: whole days) are packed into one int64 key, which is
    much faster than ``np.unique(axis=0)``, and found by hashing (``pandas.factorize``) instead of sorting.
    """
    cols = [np.asarray(c, dtype=float) for c in columns]
    n = len(cols[0])
    if n == 0:
        return tuple(np.empty(0) for _ in cols), np.empty(0), np.empty(0, dtype=np.intp)
    packable = all(np.all(c >= 0) and np.all(c == np.floor(c)) for c in cols)
    if packable:
        spans = [int(c.max()) + 1 for c in cols]
        if float(np.prod([float(s) for s in spans])) < 2**62:
            key = np.zeros(n, dtype=np.int64)
            for c, span in zip(cols, spans, strict=True):
                key = key * span + c.astype(np.int64)
            # hash-based (no sort): the order of the distinct rows is the order of first appearance
            inverse, uniq = pd.factorize(key, sort=False)
            first = np.empty(uniq.size, dtype=np.intp)
            first[inverse] = np.arange(n)  # any occurrence will do: the rows are identical
            counts = np.bincount(inverse, minlength=uniq.size)
            return tuple(c[first] for c in cols), counts.astype(float), inverse.astype(np.intp, copy=False)
    stacked = np.column_stack(cols)
    uniq, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    return tuple(uniq[:, k] for k in range(len(cols))), counts.astype(float), inverse.ravel()


def _as_arrays(*values: npt.ArrayLike) -> list[FloatArray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    return list(np.broadcast_arrays(*arrays))


def _hessian(fun: Objective, x0: FloatArray, h: float = 1e-4) -> FloatArray:
    """Hessian by central differences of the analytic gradient (2·k gradient evaluations)."""
    k = x0.size
    H = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        H[:, i] = (fun(x0 + e)[1] - fun(x0 - e)[1]) / (2 * h)
    return 0.5 * (H + H.T)


def _optimise(fun: Objective, x0: FloatArray, what: str, names: tuple[str, ...],
              pilot: Objective | None = None) -> FloatArray:
    """Minimise ``fun`` (value, gradient) over log-parameters.

    With ``pilot`` (the same objective on a random subsample of the data) the pilot is minimised first
    and the full problem is solved in coordinates where the pilot's Hessian at its optimum is the
    identity: a few full-data evaluations instead of a dozen or more.
    """
    if pilot is not None:
        try:
            x0 = _optimise(pilot, x0, f"{what} pilot", names)
            C = np.linalg.cholesky(_hessian(pilot, x0))
        except (ConvergenceError, np.linalg.LinAlgError):
            pass
        else:
            M = np.linalg.inv(C).T  # lp = x0 + M y  =>  Hessian in y is about the identity
            base = x0

            def in_y(y: FloatArray) -> tuple[float, FloatArray]:
                val, g = fun(base + M @ y)
                return val, M.T @ g

            yres = minimize(in_y, np.zeros(x0.size), jac=True, method="L-BFGS-B",
                            options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-9, "maxcor": 20})
            lp = base + M @ yres.x
            if np.all(np.abs(lp) < _LOG_BOUND) and np.all(np.isfinite(lp)):
                _, grad = fun(lp)
                if yres.success or np.max(np.abs(grad)) <= 1e-5:
                    return _check(lp, yres.fun, grad, yres.success, yres.message, what, names)
            x0 = np.clip(lp, -_LOG_BOUND, _LOG_BOUND) if np.all(np.isfinite(lp)) else x0
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8, "maxcor": 20})
    _, grad = fun(res.x)
    return _check(res.x, res.fun, grad, res.success, res.message, what, names)


def _check(x: FloatArray, fval: float, grad: FloatArray, success: bool, message: str, what: str,
           names: tuple[str, ...]) -> FloatArray:
    """Raise :class:`ConvergenceError` unless ``x`` is a finite interior optimum; return ``x``."""
    at_bound = np.abs(x) >= _LOG_DEGENERATE
    if not np.all(np.isfinite(x)) or not np.isfinite(fval):
        raise ConvergenceError(f"{what}: non-finite likelihood ({message})")
    if np.any(at_bound):
        bad = [n for n, b in zip(names, at_bound, strict=True) if b]
        raise ConvergenceError(
            f"{what}: parameter(s) {bad} ran to the edge of the search space (degenerate data?);"
            " add an L2 penalty or more data"
        )
    # L-BFGS-B sometimes stops with 'ABNORMAL' at machine precision although the gradient is ~0.
    if not success and np.max(np.abs(grad)) > 1e-5:
        raise ConvergenceError(f"{what} did not converge: {message} (|grad|={np.max(np.abs(grad)):.2e})")
    return x


# --- BG/NBD ------------------------------------------------------------------------------------
@dataclass
class _BGNBDData:
    """Rows split into one-time buyers (only T matters) and repeat buyers, with per-x groupings."""

    T0: FloatArray
    w0: FloatArray
    x1: FloatArray
    tx1: FloatArray
    T1: FloatArray
    w1: FloatArray
    xu: FloatArray  # distinct x among repeat buyers
    xi: IndexArray  # index of each repeat row's x in xu
    wx: FloatArray  # total weight per distinct x
    W: float

    @classmethod
    def build(cls, x: FloatArray, tx: FloatArray, T: FloatArray, w: FloatArray) -> _BGNBDData:
        zero = x == 0
        x1 = x[~zero]
        xu, xi = np.unique(x1, return_inverse=True)
        w1 = w[~zero]
        # numpy's stubs type bincount as integer even with float weights (then it returns float64)
        wx = cast(FloatArray, np.bincount(xi.ravel(), weights=w1, minlength=xu.size))
        return cls(T[zero], w[zero], x1, tx[~zero], T[~zero], w1, xu, xi.ravel(), wx, float(w.sum()))


def _bgnbd_core(log_params: npt.ArrayLike, d: _BGNBDData, penalty: float) -> tuple[float, FloatArray]:
    r, alpha, a, b = np.exp(log_params)
    log_alpha = np.log(alpha)
    # one-time buyers: ll = r log(alpha) - r log(alpha + T)
    lA0 = np.log(alpha + d.T0)
    ll = np.sum(d.w0 * (r * log_alpha - r * lA0))
    g_r = np.sum(d.w0 * (log_alpha - lA0))
    g_alpha = np.sum(d.w0 * (r / alpha - r / (alpha + d.T0)))
    g_a = 0.0
    g_b = 0.0
    if d.x1.size:
        xu, xi = d.xu, d.xi
        const_u = gammaln(r + xu) - gammaln(r) + r * log_alpha + betaln(a, b + xu) - betaln(a, b)
        lbx1 = np.log(b + xu - 1.0)
        rx = r + d.x1
        lA = np.log(alpha + d.T1)
        lt = np.log(alpha + d.tx1)
        dlt = lt - lA
        z = np.log(a) - lbx1[xi] - rx * dlt  # log odds of "dropped out at t_x" vs "alive at T"
        w = d.w1
        ll += d.wx @ const_u + np.sum(w * (np.logaddexp(0.0, z) - rx * lA))
        w2 = expit(z)
        ww2 = w * w2
        d_ab = digamma(a + b)
        d_abx = digamma(a + b + xu)
        g_r += d.wx @ (digamma(r + xu) - digamma(r) + log_alpha) - np.sum(w * lA) - np.sum(ww2 * dlt)
        inv_T = 1.0 / (alpha + d.T1)
        inv_t = 1.0 / (alpha + d.tx1)
        g_alpha += np.sum(w) * r / alpha - np.sum(w * rx * (inv_T + w2 * (inv_t - inv_T)))
        sw2 = np.sum(ww2)
        g_a = d.wx @ (d_ab - d_abx) + sw2 / a
        g_b = d.wx @ (digamma(b + xu) - digamma(b) + d_ab - d_abx) - np.bincount(xi, weights=ww2,
                                                                                  minlength=xu.size) @ (
            1.0 / (b + xu - 1.0))
    params = np.array([r, alpha, a, b])
    nll = -ll / d.W + penalty * np.sum(params**2)
    grads = np.array([g_r, g_alpha, g_a, g_b]) / d.W
    return nll, -grads * params + 2.0 * penalty * params**2


def _bgnbd_nll(log_params: npt.ArrayLike, x: npt.ArrayLike, tx: npt.ArrayLike, T: npt.ArrayLike,
               w: npt.ArrayLike, penalty: float) -> tuple[float, FloatArray]:
    """Weighted mean negative log-likelihood and its gradient w.r.t. the log-parameters.

    The special functions depend on x only, so they are evaluated once per distinct x; one-time buyers
    contribute r·log(alpha/(alpha+T)) only.
    """
    return _bgnbd_core(log_params, _BGNBDData.build(*(np.asarray(v, dtype=float) for v in (x, tx, T, w))),
                       penalty)


@dataclass(frozen=True)
class BGNBDModel:
    """A fitted BG/NBD model (parameters in the caller's time unit)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float  # total (weighted) log-likelihood of the data at the optimum
    n: int = 0
    extra: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def params(self) -> dict[str, float]:
        """Parameters as a dict (JSON friendly)."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    @classmethod
    def from_params(cls, params: dict[str, float]) -> BGNBDModel:
        """Rebuild a model from :attr:`params` (e.g. read back from ``model_runs``)."""
        return cls(r=params["r"], alpha=params["alpha"], a=params["a"], b=params["b"],
                   log_likelihood=float(params.get("log_likelihood", np.nan)))

    def _log_odds_dead(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        """log of P(dead)/P(alive) given the history (-inf for x == 0)."""
        pos = x > 0
        bx1 = np.where(pos, self.b + x - 1.0, 1.0)
        val = (np.log(self.a) - np.log(bx1)
               + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + tx)))
        return np.where(pos, val, -np.inf)

    def p_alive(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """P(customer still alive at T | x, t_x, T); exactly 1 for x == 0 (a BG/NBD property)."""
        x, tx, T = _as_arrays(frequency, recency, T)
        return expit(-self._log_odds_dead(x, tx, T))

    def expected_purchases(self, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike,
                           T: npt.ArrayLike) -> FloatArray:
        """E[number of purchases in (T, T+t] | x, t_x, T] = p_alive(x, t_x, T) · E[purchases | alive, x, T].

        The second factor (closed form with 2F1, see :meth:`expected_given_alive`) does not depend on t_x,
        so the hypergeometric function is evaluated once per distinct (t, x, T), not per customer.
        """
        t, x, tx, T = _as_arrays(t, frequency, recency, T)
        shape = x.shape
        t, x, tx, T = (np.atleast_1d(v).astype(float).ravel() for v in (t, x, tx, T))
        (ut, ux, uT), _, inv = compress_rows(t, x, T)
        given = self.expected_given_alive(ut, ux, uT)[inv]
        res = np.where(t > 0, given * self.p_alive(x, tx, T), 0.0)
        return res.reshape(shape)

    def expected_given_alive(self, t: npt.ArrayLike, frequency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
        """E[purchases in (T, T+t] | alive at T, x, T] (no t_x: it only enters through p_alive).

        Closed form (a-1)^-1 (a+b+x-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))].
        At a = 1 the closed form has a removable singularity: there it is the mean of the closed form at
        a ± 1e-4 (error O(1e-8)). Where 2F1 is not finite, a Gauss-Jacobi quadrature is used.
        Broadcasts; pass distinct rows (see :func:`compress_rows`) for speed.
        """
        t, x, T = _as_arrays(t, frequency, T)
        shape = x.shape
        t, x, T = (np.atleast_1d(v).astype(float).ravel() for v in (t, x, T))
        if abs(self.a - 1.0) < 1e-4:
            res = 0.5 * (self._given_alive_closed(t, x, T, self.a - 1e-4)
                         + self._given_alive_closed(t, x, T, self.a + 1e-4))
        else:
            res = self._given_alive_closed(t, x, T, self.a)
        bad = (t > 0) & (~np.isfinite(res) | (res < 0))
        if np.any(bad):
            res[bad] = self._expected_purchases_quadrature(t[bad], x[bad], T[bad])
        return np.where(t > 0, res, 0.0).reshape(shape)

    def _given_alive_closed(self, t: FloatArray, x: FloatArray, T: FloatArray, a: float) -> FloatArray:
        r, alpha, b = self.r, self.alpha, self.b
        z = t / (alpha + T + t)
        with np.errstate(all="ignore"):
            f = hyp2f1(r + x, b + x, a + b + x - 1.0, z)
            ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
            return (a + b + x - 1.0) / (a - 1.0) * (1.0 - ratio * f)

    def expected_purchases_table(self, ts: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike,
                                 T: npt.ArrayLike) -> tuple[FloatArray, IndexArray]:
        """Expected purchases for several horizons at once on distinct histories.

        Returns ``(table, inverse)``: ``table[k, j]`` is E[purchases in ``ts[j]``] of the k-th distinct
        (x, t_x, T) row and ``table[inverse]`` the per-customer matrix. 2F1 is evaluated once per distinct
        (x, T) and horizon; p_alive once per distinct (x, t_x, T).
        """
        x, tx, T = (np.asarray(v, dtype=float).ravel() for v in _as_arrays(frequency, recency, T))
        ts = np.asarray(ts, dtype=float).ravel()
        (ux, utx, uT), _, inv = compress_rows(x, tx, T)
        (vx, vT), _, inv2 = compress_rows(ux, uT)
        given = self.expected_given_alive(ts[None, :], vx[:, None], vT[:, None])
        table = given[inv2] * self.p_alive(ux, utx, uT)[:, None]
        return table, inv

    def _expected_purchases_quadrature(self, t: FloatArray, x: FloatArray, T: FloatArray, nodes: int = 200
                                       ) -> FloatArray:
        """E[purchases in t | alive] by Gauss-Jacobi quadrature over p ~ Beta(a, b + x).

        Given alive, lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x) independently, and an
        alive customer with (lambda, p) makes (1 - exp(-lambda p t)) / p purchases in expectation.
        Used where the hypergeometric closed form is unstable (a close to 1, extreme arguments).
        """
        t, x, T = _as_arrays(t, x, T)
        out = np.empty_like(x)
        for k in np.ndindex(x.shape):
            aa, bb = self.a, self.b + x[k]
            # Beta(aa, bb) on [0,1] <-> Jacobi weight (1-s)^(bb-1)(1+s)^(aa-1) on [-1,1]
            s, wts = roots_jacobi(nodes, bb - 1.0, aa - 1.0)
            p = (s + 1.0) / 2.0
            wts = wts / wts.sum()
            surv = np.exp((self.r + x[k]) * (np.log(self.alpha + T[k]) - np.log(self.alpha + T[k] + p * t[k])))
            out[k] = np.sum(wts * (1.0 - surv) / p)
        return out

    def prob_no_purchase(self, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike,
                         T: npt.ArrayLike) -> FloatArray:
        """P(no purchase in (T, T+t] | history) = P(dead) + P(alive)·((α+T)/(α+T+t))^(r+x).

        Unlike :meth:`p_alive` this depends on T for one-time buyers, so it ranks them sensibly: a
        one-time buyer whose single order is old is less likely to order soon.
        """
        t, x, tx, T = _as_arrays(t, frequency, recency, T)
        pa = self.p_alive(x, tx, T)
        surv = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + t)))
        return 1.0 - pa + pa * surv

    def median_time_to_next_purchase(self, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
                                     ) -> FloatArray:
        """Median time until the next purchase of a customer who is still alive.

        Given alive, P(no purchase in t) = ((α+T)/(α+T+t))^(r+x), which is 1/2 at
        t = (α+T)(2^(1/(r+x)) - 1).
        """
        x, _tx, T = _as_arrays(frequency, recency, T)
        return (self.alpha + T) * np.expm1(np.log(2.0) / (self.r + x))


def fit_bgnbd(frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike, *,
              weights: npt.ArrayLike | None = None, penalizer: float = 0.0,
              initial: dict[str, float] | None = None) -> BGNBDModel:
    """Fit BG/NBD by maximum likelihood.

    ``penalizer`` adds ``penalizer * sum(params**2)`` (params in internal time scale, median T = 1) to
    the mean negative log-likelihood, a small L2 penalty that keeps degenerate data finite.
    Raises :class:`ConvergenceError` when no finite interior optimum is found.
    """
    x, tx, T = _as_arrays(frequency, recency, T)
    x, tx, T = x.ravel(), tx.ravel(), T.ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("fit_bgnbd needs at least one customer")
    if np.any(x < 0) or np.any(tx < 0) or np.any(tx > T + 1e-9) or np.any(T <= 0):
        raise ValueError("need frequency >= 0, 0 <= recency <= T and T > 0")
    if np.any((x == 0) & (tx != 0)):
        raise ValueError("recency must be 0 for customers without repeat purchases")
    if np.any(x != np.floor(x)):
        raise ValueError("frequency must be whole numbers")
    if not np.any((x > 0) & (w > 0)):
        raise ConvergenceError("BG/NBD: no repeat purchases, so the dropout parameters a, b are not identifiable")
    (ux, utx, uT), counts, _ = compress_rows(x, tx, T)
    if weights is not None:  # weights given: fall back to the weighted rows without compression
        ux, utx, uT, counts = x, tx, T, w
    scale = 1.0 / float(np.median(T))
    sx, stx, sT = ux, utx * scale, uT * scale
    x0 = np.log([initial[k] * (scale if k == "alpha" else 1.0) for k in ("r", "alpha", "a", "b")]) \
        if initial else np.zeros(4)
    pilot_fun: Objective | None = None
    if not initial and sx.size > _PILOT_ROWS:  # start from a fit on a random share of the customers
        keep = _pilot_counts(counts, _PILOT_ROWS / sx.size)
        pick = keep > 0
        if np.any(pick & (sx > 0)):
            pilot = _BGNBDData.build(sx[pick], stx[pick], sT[pick], keep[pick])
            pilot_fun = lambda lp: _bgnbd_core(lp, pilot, penalizer)  # noqa: E731
    data = _BGNBDData.build(sx, stx, sT, counts)
    fun = lambda lp: _bgnbd_core(lp, data, penalizer)  # noqa: E731
    best = _optimise(fun, x0, "BG/NBD", ("r", "alpha", "a", "b"), pilot=pilot_fun)
    r, alpha, a, b = np.exp(best)
    alpha /= scale
    # log-likelihood in the caller's time unit: rescaling time by s multiplies each row's likelihood by
    # s^-x, so ll(unit) = ll(internal) + log(s)·Σ w·x
    ll = -_bgnbd_core(best, data, 0.0)[0] * data.W + np.log(scale) * float(counts @ ux)
    return BGNBDModel(r=float(r), alpha=float(alpha), a=float(a), b=float(b), log_likelihood=float(ll),
                      n=int(counts.sum()), extra={"unique_rows": int(ux.size)})


# --- Gamma-Gamma --------------------------------------------------------------------------------
def _gg_nll(log_params: npt.ArrayLike, x: FloatArray, m: FloatArray, w: FloatArray, penalty: float,
            xs: tuple[FloatArray, IndexArray] | None = None) -> tuple[float, FloatArray]:
    """Weighted mean negative log-likelihood of Gamma-Gamma and its gradient (log-parameters)."""
    p, q, v = np.exp(log_params)
    xu, xi = xs if xs is not None else np.unique(x, return_inverse=True)
    pxu = p * xu
    px = p * x
    lxmv = np.log(x * m + v)
    lm = np.log(m)
    ll = ((gammaln(pxu + q) - gammaln(pxu) + pxu * np.log(xu))[xi] - gammaln(q) + q * np.log(v)
          + (px - 1.0) * lm - (px + q) * lxmv)
    W = w.sum()
    d_pxq = digamma(pxu + q)
    g_p = x * ((d_pxq - digamma(pxu) + np.log(xu))[xi] + lm - lxmv)
    g_q = d_pxq[xi] - digamma(q) + np.log(v) - lxmv
    g_v = q / v - (px + q) / (x * m + v)
    params = np.array([p, q, v])
    nll = -(np.sum(w * ll)) / W + penalty * np.sum(params**2)
    grads = np.array([np.sum(w * g_p), np.sum(w * g_q), np.sum(w * g_v)]) / W
    return nll, -grads * params + 2.0 * penalty * params**2


@dataclass(frozen=True)
class GammaGammaModel:
    """A fitted Gamma-Gamma spend model (v in the caller's money unit)."""

    p: float
    q: float
    v: float
    log_likelihood: float
    n: int = 0

    @property
    def params(self) -> dict[str, float]:
        """Parameters as a dict (JSON friendly)."""
        return {"p": self.p, "q": self.q, "v": self.v}

    @classmethod
    def from_params(cls, params: dict[str, float]) -> GammaGammaModel:
        """Rebuild a model from :attr:`params`."""
        return cls(p=params["p"], q=params["q"], v=params["v"],
                   log_likelihood=float(params.get("log_likelihood", np.nan)))

    @property
    def population_mean_spend(self) -> float:
        """E[spend per order] of a customer without repeat purchases: p·v/(q-1) (inf if q <= 1)."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1 else float("inf")

    def expected_spend(self, frequency: npt.ArrayLike, monetary_value: npt.ArrayLike) -> FloatArray:
        """E[mean spend per order | x, m_x] = (p(v + x·m_x)) / (p·x + q - 1).

        For x == 0 (no repeat purchases, m_x undefined) this is the population mean p·v/(q-1).
        """
        x, m = _as_arrays(frequency, monetary_value)
        m = np.where(x > 0, m, 0.0)
        return self.p * (self.v + x * m) / (self.p * x + self.q - 1.0)


def fit_gamma_gamma(frequency: npt.ArrayLike, monetary_value: npt.ArrayLike, *,
                    weights: npt.ArrayLike | None = None, penalizer: float = 0.0,
                    q_constraint: bool = True) -> GammaGammaModel:
    """Fit the Gamma-Gamma spend model on repeat buyers (x > 0, m_x > 0 = mean of repeat orders).

    Rows with x == 0 or m_x <= 0 are ignored. With ``q_constraint`` (default) a fit with q <= 1 (infinite
    population mean spend) raises :class:`ConvergenceError`.
    """
    x, m = _as_arrays(frequency, monetary_value)
    x, m = x.ravel(), m.ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
    keep = (x > 0) & (m > 0) & np.isfinite(m)
    x, m, w = x[keep], m[keep], w[keep]
    if x.size < 2:
        raise ValueError("fit_gamma_gamma needs at least two repeat buyers with positive spend")
    # no row compression here: mean spend is continuous, so rows rarely repeat; the special functions are
    # evaluated once per distinct x instead (see _gg_nll)
    scale = 1.0 / float(np.median(m))
    sm = m * scale
    pilot_fun: Objective | None = None
    if x.size > _PILOT_ROWS:  # start from a fit on a random share of the rows
        thinned = _pilot_counts(w, _PILOT_ROWS / x.size)
        pick = thinned > 0
        px, pm, pw = x[pick], sm[pick], thinned[pick]
        pxs = np.unique(px, return_inverse=True)
        pilot_fun = lambda lp: _gg_nll(lp, px, pm, pw, penalizer, pxs)  # noqa: E731
    xs = np.unique(x, return_inverse=True)
    fun = lambda lp: _gg_nll(lp, x, sm, w, penalizer, xs)  # noqa: E731
    best = _optimise(fun, np.zeros(3), "Gamma-Gamma", ("p", "q", "v"), pilot=pilot_fun)
    p, q, v = np.exp(best)
    if q_constraint and q <= 1.0:
        raise ConvergenceError(f"Gamma-Gamma: q={q:.3f} <= 1 gives an infinite mean spend")
    ll = -_gg_nll(np.log([p, q, v / scale]), x, m, w, 0.0, xs)[0] * w.sum()
    return GammaGammaModel(p=float(p), q=float(q), v=float(v / scale), log_likelihood=float(ll),
                           n=int(w.sum()))


# --- simulation (tests and benchmark) -----------------------------------------------------------
def simulate_bgnbd(n: int, r: float, alpha: float, a: float, b: float, T: npt.ArrayLike, rng: np.random.Generator
                   ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Draw ``(frequency, recency, T, lam, alive)`` for ``n`` customers from the BG/NBD generative story.

    Each customer has a purchase rate lam ~ Gamma(r, scale 1/alpha) and a dropout probability
    p ~ Beta(a, b); repeat purchases form a Poisson(lam) process from the first purchase on, and after each
    repeat purchase the customer drops out with probability p. Vectorised: the number of events in
    (0, T] is Poisson(lam·T), the number before dropout is Geometric(p), and the time of the x-th of N
    uniform events is T·Beta(x, N - x + 1).
    """
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    events = rng.poisson(lam * T)
    until_drop = rng.geometric(np.clip(p, 1e-12, 1.0))
    x = np.minimum(events, until_drop)
    pos = x > 0
    tx = np.zeros(n)
    tx[pos] = T[pos] * rng.beta(x[pos], events[pos] - x[pos] + 1)
    alive = events < until_drop
    return x.astype(float), tx, T, lam, alive


def simulate_gamma_gamma(frequency: npt.ArrayLike, p: float, q: float, v: float, rng: np.random.Generator
                         ) -> FloatArray:
    """Mean spend of each customer's ``frequency`` transactions under Gamma-Gamma (nan for x == 0).

    nu ~ Gamma(q, rate v); each transaction ~ Gamma(p, rate nu), so the sum of x ~ Gamma(p·x, rate nu).
    """
    x = np.asarray(frequency, dtype=float)
    nu = rng.gamma(q, 1.0 / v, x.size)
    out = np.full(x.size, np.nan)
    pos = x > 0
    out[pos] = rng.gamma(p * x[pos], 1.0 / nu[pos]) / x[pos]
    return out
