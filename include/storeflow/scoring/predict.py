"""Per-customer predictions from a :func:`~storeflow.scoring.summary.customer_summary` frame.

Two methods, and every output row says which one produced it:

* ``bgnbd``: BG/NBD + Gamma-Gamma (p_alive, expected orders, expected spend, discounted CLV, churn as
  calibrated P(no order in the horizon), next order = as-of + median time to the next order if alive).
  Predictions depend only on (x, t_x, T), so they are computed once per distinct history and expanded.
* ``heuristic`` (below the minimum-data gate): a smoothed per-customer rate
  ``(purchase days) / (T + population median gap)``; expected orders = rate x t, churn = exp(-rate x
  horizon) (Poisson), spend = the customer's AOV, next order = last order + own average gap (population
  median gap for one-time buyers), not before as-of; p_alive is left empty.

Discounted CLV: 12 months of ``month_days`` each (default 365/12, i.e. 365 days), month k's expected
orders x expected spend discounted by (1 + monthly rate)^k, monthly rate = (1 + annual rate)^(1/12) - 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from storeflow.scoring.btyd import BGNBDModel, GammaGammaModel, compress_rows
from storeflow.scoring.churn import IsotonicCalibrator

PREDICTION_COLUMNS = [
    "p_alive", "expected_orders_30", "expected_orders_90", "expected_orders_365", "expected_spend",
    "clv_365", "churn_raw", "churn_probability", "days_to_next_order",
]


def monthly_rate(annual_rate: float) -> float:
    """Monthly discount rate equivalent to ``annual_rate``."""
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


def clv_weights(annual_rate: float, months: int = 12, month_days: float = 365.0 / 12.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(horizons, weights)`` so that discounted CLV = spend · Σ_j weights[j] · E[Y(horizons[j])].

    Σ_k (E[Y(k·m)] - E[Y((k-1)·m)]) / (1+d)^k telescopes into Σ_k E[Y(k·m)] · (δ_k - δ_{k+1}) with
    δ_k = (1+d)^-k and δ_{months+1} = 0.
    """
    d = monthly_rate(annual_rate)
    k = np.arange(1, months + 1)
    delta = (1.0 + d) ** -k.astype(float)
    return k * month_days, delta - np.r_[delta[1:], 0.0]


def discounted_clv(bg: BGNBDModel, x: npt.ArrayLike, tx: npt.ArrayLike, T: npt.ArrayLike, spend: npt.ArrayLike,
                   annual_rate: float, months: int = 12, month_days: float = 365.0 / 12.0
                   ) -> npt.NDArray[np.float64]:
    """Σ_k spend · (E[Y(k·month)] - E[Y((k-1)·month)]) / (1 + monthly rate)^k (time unit = days).

    One matrix product over the distinct histories (:meth:`BGNBDModel.expected_purchases_table`).
    """
    horizons, weights = clv_weights(annual_rate, months, month_days)
    table, inv = bg.expected_purchases_table(horizons, x, tx, T)
    return (table @ weights)[inv] * np.asarray(spend, dtype=float)


def model_predictions(summary: pd.DataFrame, bg: BGNBDModel, gg: GammaGammaModel | None,
                      calibrator: IsotonicCalibrator, *, annual_rate: float, horizon_days: float = 90.0
                      ) -> pd.DataFrame:
    """BG/NBD + Gamma-Gamma predictions aligned with ``summary`` rows.

    Everything that depends only on (x, t_x, T) is computed once per distinct history (2F1 once per
    distinct (x, T) and horizon) and scattered back.
    """
    x = summary["frequency"].to_numpy(dtype=float)
    tx = summary["recency"].to_numpy(dtype=float)
    T = summary["T"].to_numpy(dtype=float)
    horizons, weights = clv_weights(annual_rate)
    fixed = np.array([30.0, 90.0, 365.0])
    table, inv = bg.expected_purchases_table(np.r_[fixed, horizons], x, tx, T)
    (ux, utx, uT), _, _ = compress_rows(x, tx, T)
    out = pd.DataFrame(index=summary.index)
    out["p_alive"] = bg.p_alive(ux, utx, uT)[inv]
    for j, days in enumerate((30, 90, 365)):
        out[f"expected_orders_{days}"] = table[inv, j]
    if gg is not None:
        spend = gg.expected_spend(x, summary["monetary"].to_numpy(dtype=float))
    else:  # no usable spend model: the customer's own AOV
        spend = summary["aov_minor"].to_numpy(dtype=float)
    out["expected_spend"] = spend
    out["clv_365"] = (table[:, fixed.size:] @ weights)[inv] * spend
    raw = bg.prob_no_purchase(horizon_days, ux, utx, uT)[inv]
    out["churn_raw"] = raw
    out["churn_probability"] = calibrator(raw)
    out["days_to_next_order"] = bg.median_time_to_next_purchase(ux, utx, uT)[inv]
    return out


def population_gap_days(summary: pd.DataFrame, default: float = 365.0) -> float:
    """Median average gap between orders of repeat customers (``default`` when there are none)."""
    gaps = summary["avg_days_between_orders"].dropna()
    gaps = gaps[gaps > 0]
    return float(gaps.median()) if len(gaps) else default


def heuristic_predictions(summary: pd.DataFrame, *, pop_gap_days: float, annual_rate: float,
                          horizon_days: float = 90.0) -> pd.DataFrame:
    """Heuristic predictions aligned with ``summary`` rows (see the module docstring)."""
    n_days = summary["frequency"].to_numpy(dtype=float) + 1.0
    T = summary["T"].to_numpy(dtype=float)
    rate = n_days / (T + pop_gap_days)
    aov = summary["aov_minor"].to_numpy(dtype=float)
    out = pd.DataFrame(index=summary.index)
    out["p_alive"] = np.nan
    for days in (30, 90, 365):
        out[f"expected_orders_{days}"] = rate * days
    out["expected_spend"] = aov
    d = monthly_rate(annual_rate)
    month = 365.0 / 12.0
    factor = sum(month / (1.0 + d) ** k for k in range(1, 13))
    out["clv_365"] = rate * factor * aov
    out["churn_raw"] = np.exp(-rate * horizon_days)
    out["churn_probability"] = out["churn_raw"]
    gap = summary["avg_days_between_orders"].fillna(pop_gap_days).to_numpy(dtype=float)
    since_last = summary["recency_days"].to_numpy(dtype=float)
    out["days_to_next_order"] = np.maximum(gap - since_last, 0.0)
    return out
