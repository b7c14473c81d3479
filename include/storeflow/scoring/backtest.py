"""Backtest on a calibration/holdout split of the warehouse's own orders.

The models are fitted on orders up to ``cutoff = as_of - holdout_days`` and judged on what the same
customers did in ``(cutoff, as_of]``:

* ``aggregate_error``: (Σ predicted - Σ actual purchase days) / Σ actual;
* ``mae``: mean absolute error of predicted vs actual purchases per customer;
* ``auc_buy_again``: AUC of P(at least one purchase) for "bought again in the holdout";
* ``auc_buy_again_one_time`` / ``auc_p_alive_one_time``: the same on one-time buyers only, for the
  churn score and for p_alive (which is constant 1 there, so 0.5 - the reason for the churn treatment);
* ``top_decile_revenue_capture``: share of holdout revenue from the 10 % of customers with the highest
  predicted holdout value (expected purchases x expected spend);
* churn calibration: isotonic map of P(no purchase in the holdout) to the observed rate (stored, applied to
  the production scores), Brier score raw / calibrated and reliability tables (deciles) raw and
  calibrated; the calibrated figures are 2-fold cross-fitted, so they are not in-sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from storeflow.scoring.btyd import ConvergenceError, fit_bgnbd, fit_gamma_gamma
from storeflow.scoring.churn import IsotonicCalibrator, auc, fit_isotonic, reliability
from storeflow.scoring.summary import customer_summary, holdout_counts


@dataclass
class BacktestResult:
    """Metrics (JSON friendly), the churn calibrator, and per-customer data for plots."""

    metrics: dict
    calibrator: IsotonicCalibrator = field(default_factory=lambda: IsotonicCalibrator((), ()))
    reliability: list[dict] = field(default_factory=list)


def run_backtest(orders: pd.DataFrame, as_of: datetime, holdout_days: int, *, penalizer: float = 0.0
                 ) -> BacktestResult:
    """Fit on the calibration period, predict the holdout, compare (see the module docstring)."""
    cutoff = as_of - timedelta(days=holdout_days)
    cal = customer_summary(orders, cutoff)
    cal = cal[cal["T"] > 0]  # first purchase on the cutoff day: nothing to learn a rate from
    metrics: dict = {"holdout_days": holdout_days, "cutoff": cutoff.isoformat(), "customers": len(cal)}
    if len(cal) < 10:
        metrics["error"] = "too few customers before the cutoff"
        return BacktestResult(metrics)
    x = cal["frequency"].to_numpy(dtype=float)
    tx = cal["recency"].to_numpy(dtype=float)
    T = cal["T"].to_numpy(dtype=float)
    try:
        bg = fit_bgnbd(x, tx, T, penalizer=penalizer)
    except (ConvergenceError, ValueError) as exc:
        metrics["error"] = f"BG/NBD did not fit on the calibration period: {exc}"
        return BacktestResult(metrics)
    try:
        gg = fit_gamma_gamma(x, cal["monetary"].to_numpy(dtype=float), penalizer=penalizer)
        spend = gg.expected_spend(x, cal["monetary"].to_numpy(dtype=float))
    except (ConvergenceError, ValueError):
        spend = cal["aov_minor"].to_numpy(dtype=float)
    actual = holdout_counts(orders, cutoff, as_of).set_index("customer_id")
    act_n = cal["customer_id"].map(actual["purchases"]).fillna(0).to_numpy(dtype=float)
    act_rev = cal["customer_id"].map(actual["spend"]).fillna(0).to_numpy(dtype=float)
    pred = bg.expected_purchases(holdout_days, x, tx, T)
    p0 = bg.prob_no_purchase(holdout_days, x, tx, T)
    bought = act_n > 0
    one = x == 0
    total_actual = act_n.sum()
    value = pred * spend
    top = np.argsort(-value, kind="mergesort")[: max(1, int(np.ceil(0.1 * len(cal))))]
    calibrator = fit_isotonic(p0, ~bought)
    # honest calibration figures: 2-fold cross-fitting (each half calibrated by the other half's map)
    fold = np.arange(len(cal)) % 2 == 0
    churn = np.empty_like(p0)
    for half in (fold, ~fold):
        churn[half] = fit_isotonic(p0[~half], ~bought[~half])(p0[half])
    metrics.update({
        "bgnbd": bg.params,
        "predicted_purchases": float(pred.sum()),
        "actual_purchases": float(total_actual),
        "aggregate_error": float((pred.sum() - total_actual) / total_actual) if total_actual else None,
        "mae": float(np.mean(np.abs(pred - act_n))),
        "auc_buy_again": auc(1.0 - p0, bought),
        "auc_buy_again_one_time": auc(1.0 - p0[one], bought[one]),
        "auc_p_alive_one_time": auc(bg.p_alive(x[one], tx[one], T[one]), bought[one]),
        "one_time_buyers": int(one.sum()),
        "top_decile_revenue_capture": float(act_rev[top].sum() / act_rev.sum()) if act_rev.sum() else None,
        "brier_raw": float(np.mean((p0 - (~bought)) ** 2)),
        "brier_calibrated": float(np.mean((churn - (~bought)) ** 2)),
        "churn_rate": float(np.mean(~bought)),
    })
    metrics = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in metrics.items()}
    metrics["reliability_raw"] = reliability(p0, ~bought)
    return BacktestResult(metrics, calibrator, reliability(churn, ~bought))
