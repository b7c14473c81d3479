"""Replenishment: when will a customer run out of a product they buy repeatedly?

For each customer x SKU, purchases on the same UTC day are merged (quantities summed). Between two
consecutive purchases the customer used up the earlier purchase's quantity, so one unit lasted
``gap_days / quantity``.

* ``basis = "own"`` (the customer bought the SKU at least twice): days per unit = sum of the gaps /
  sum of the quantities bought before each gap; confidence = n/(n+1) / (1 + cv), n = number of gaps,
  cv = coefficient of variation of the per-unit gaps (0 for one gap).
* ``basis = "population"`` (bought once, but the SKU's buyers have at least ``min_population_intervals``
  gaps): days per unit = median per-unit gap of all buyers; confidence = 0.5 · m/(m+5) / (1 + cv_pop),
  m = number of population gaps.
* Predicted run-out = last purchase + days per unit x last quantity (two bottles last twice as long).
  Predictions whose run-out lies more than ``max_overdue_days`` before ``as_of`` are dropped (the customer
  evidently stopped buying it).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from storeflow.scoring.summary import DAY_NS, _epoch_ns, as_of_ns

COLUMNS = ["customer_id", "sku", "last_purchase_at", "last_quantity", "days_per_unit",
           "predicted_runout_date", "confidence", "basis", "n_intervals"]


def sku_intervals(lines: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-(customer, sku) purchase events and consecutive per-unit gaps.

    ``lines`` needs customer_id, sku, created_at (aware), quantity. Returns ``(events, gaps)``.
    """
    ts = _epoch_ns(lines["created_at"])
    ev = pd.DataFrame({
        "customer_id": lines["customer_id"].to_numpy(),
        "sku": lines["sku"].to_numpy(),
        "day": ts // DAY_NS,
        "ts": ts,
        "quantity": pd.to_numeric(lines["quantity"]).to_numpy(dtype=float),
    })
    ev = ev[(ev["quantity"] > 0) & ev["sku"].notna() & ev["customer_id"].notna()]
    ev = (ev.groupby(["customer_id", "sku", "day"], sort=True)
            .agg(ts=("ts", "max"), quantity=("quantity", "sum")).reset_index())
    same = (ev["customer_id"].to_numpy()[1:] == ev["customer_id"].to_numpy()[:-1]) & (
        ev["sku"].to_numpy()[1:] == ev["sku"].to_numpy()[:-1])
    gap_days = (ev["ts"].to_numpy()[1:] - ev["ts"].to_numpy()[:-1]) / DAY_NS
    prev_q = ev["quantity"].to_numpy()[:-1]
    gaps = pd.DataFrame({
        "customer_id": ev["customer_id"].to_numpy()[1:][same],
        "sku": ev["sku"].to_numpy()[1:][same],
        "gap_days": gap_days[same],
        "prev_quantity": prev_q[same],
    })
    gaps["per_unit"] = gaps["gap_days"] / gaps["prev_quantity"]
    return ev, gaps


def population_intervals(gaps: pd.DataFrame) -> pd.DataFrame:
    """Per SKU: median per-unit gap, number of gaps, and coefficient of variation."""
    if gaps.empty:
        return pd.DataFrame(columns=["sku", "pop_days_per_unit", "pop_n", "pop_cv"])
    g = gaps.groupby("sku")["per_unit"]
    out = pd.DataFrame({"pop_days_per_unit": g.median(), "pop_n": g.size(),
                        "pop_mean": g.mean(), "pop_std": g.std(ddof=0)})
    out["pop_cv"] = (out["pop_std"] / out["pop_mean"]).where(out["pop_mean"] > 0, 0.0).fillna(0.0)
    return out.drop(columns=["pop_mean", "pop_std"]).reset_index()


def predict_replenishment(lines: pd.DataFrame, as_of: datetime, *, population: pd.DataFrame | None = None,
                          min_population_intervals: int = 3, max_overdue_days: float = 90.0) -> pd.DataFrame:
    """Run-out predictions per customer x SKU (see the module docstring for the rules).

    ``population`` (from :func:`population_intervals`) may be passed in when ``lines`` holds only a
    partition of the customers; by default it is computed from ``lines``.
    """
    if lines.empty:
        return pd.DataFrame(columns=COLUMNS)
    ev, gaps = sku_intervals(lines)
    pop = population_intervals(gaps) if population is None else population
    last = ev.groupby(["customer_id", "sku"], sort=False).agg(
        ts=("ts", "last"), quantity=("quantity", "last"), n_events=("ts", "size")).reset_index()
    if not gaps.empty:
        own = gaps.assign(pu_sq=gaps["per_unit"] ** 2).groupby(["customer_id", "sku"]).agg(
            gap_sum=("gap_days", "sum"), q_sum=("prev_quantity", "sum"), n=("per_unit", "size"),
            pu_mean=("per_unit", "mean"), pu_sq=("pu_sq", "mean")).reset_index()
        # population standard deviation (ddof=0); tiny negative rounding errors clipped
        own["pu_std"] = np.sqrt(np.maximum(own["pu_sq"] - own["pu_mean"] ** 2, 0.0))
        own.loc[own["n"] == 1, "pu_std"] = 0.0
    else:
        own = pd.DataFrame(columns=["customer_id", "sku", "gap_sum", "q_sum", "n", "pu_mean", "pu_std"])
    df = last.merge(own, on=["customer_id", "sku"], how="left").merge(pop, on="sku", how="left")
    has_own = df["n"].fillna(0).to_numpy() > 0
    has_pop = df["pop_n"].fillna(0).to_numpy() >= min_population_intervals
    own_dpu = (df["gap_sum"] / df["q_sum"]).to_numpy(dtype=float)
    own_cv = (df["pu_std"] / df["pu_mean"]).fillna(0.0).to_numpy(dtype=float)
    n = df["n"].fillna(0).to_numpy(dtype=float)
    pop_n = df["pop_n"].fillna(0).to_numpy(dtype=float)
    dpu = np.where(has_own, own_dpu, df["pop_days_per_unit"].to_numpy(dtype=float))
    conf = np.where(has_own, n / (n + 1.0) / (1.0 + own_cv),
                    0.5 * pop_n / (pop_n + 5.0) / (1.0 + df["pop_cv"].fillna(0.0).to_numpy(dtype=float)))
    basis = np.where(has_own, "own", np.where(has_pop, "population", np.asarray(None, dtype=object)))
    runout_ns = df["ts"].to_numpy(dtype=float) + dpu * df["quantity"].to_numpy(dtype=float) * DAY_NS
    keep = (has_own | has_pop) & np.isfinite(runout_ns) & (dpu > 0)
    keep &= runout_ns >= as_of_ns(as_of) - max_overdue_days * DAY_NS
    out = pd.DataFrame({
        "customer_id": df["customer_id"].to_numpy()[keep],
        "sku": df["sku"].to_numpy()[keep],
        "last_purchase_at": pd.to_datetime(df["ts"].to_numpy()[keep].astype(np.int64), utc=True),
        "last_quantity": df["quantity"].to_numpy(dtype=float)[keep],
        "days_per_unit": dpu[keep],
        "predicted_runout_date": pd.to_datetime(runout_ns[keep].astype(np.int64), utc=True).date,
        "confidence": np.round(conf[keep], 4),
        "basis": basis[keep],
        "n_intervals": np.where(has_own, n, pop_n)[keep].astype(int),
    })
    return out.sort_values(["customer_id", "sku"]).reset_index(drop=True)
