"""Per-customer summary (RFM and BTYD inputs) from an order table, vectorised.

BTYD convention (as in the literature and ``lifetimes``): purchases are counted per calendar day (UTC),
so several orders on one day are one transaction; ``frequency`` = purchase days - 1, ``recency`` = days
from the first to the last purchase day, ``T`` = days from the first purchase day to the as-of day,
``monetary`` = mean spend of the repeat purchase days (the first day is excluded, Gamma-Gamma's input).
The RFM/descriptive columns (``n_orders``, ``total_minor``, ``aov_minor`` ...) count orders, not days.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt
import pandas as pd

DAY_NS = 86_400 * 10**9

SUMMARY_COLUMNS = [
    "customer_id", "first_at", "last_at", "n_orders", "total_minor", "aov_minor", "frequency", "recency",
    "T", "monetary", "recency_days", "avg_days_between_orders",
]


def _epoch_ns(values: pd.Series) -> npt.NDArray[np.int64]:
    ts = pd.to_datetime(values, utc=True)
    return np.asarray(ts.astype("datetime64[ns, UTC]").astype("int64"), dtype=np.int64)


def _ns_to_utc(ns: npt.NDArray[np.int64]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize("UTC")


def as_of_ns(as_of: datetime) -> int:
    """As-of timestamp in ns since the epoch (aware datetimes only)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return int(pd.Timestamp(as_of).tz_convert("UTC").value)


def customer_summary(orders: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One row per customer with at least one order at or before ``as_of``.

    ``orders`` needs ``customer_id``, ``created_at`` (aware) and ``total_minor``; cancelled/refunded
    orders must already be removed. Orders after ``as_of`` are ignored.
    """
    if orders.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    end_ns = as_of_ns(as_of)
    ts = _epoch_ns(orders["created_at"])
    keep = ts <= end_ns
    cust = orders["customer_id"].to_numpy()[keep]
    ts = ts[keep]
    spend = orders["total_minor"].fillna(0).to_numpy(dtype=float)[keep]
    return summary_from_arrays(cust, ts, spend, end_ns)


def summary_from_arrays(customer: npt.ArrayLike, ts_ns: npt.ArrayLike, spend: npt.ArrayLike,
                        end_ns: int) -> pd.DataFrame:
    """:func:`customer_summary` on plain arrays (customer ids, ns timestamps, spend); one sort in all."""
    codes, uniques = pd.factorize(np.asarray(customer), sort=False)
    ncust = len(uniques)
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    spend = np.asarray(spend, dtype=float)
    day = ts_ns // DAY_NS
    end_day = int(end_ns // DAY_NS)
    if ncust == 0:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    dmin = int(day.min())
    key = codes.astype(np.int64) * (end_day - dmin + 2) + (day - dmin)
    order = np.argsort(key, kind="stable")
    key_s = key[order]
    ts_s = ts_ns[order]
    spend_s = spend[order]
    codes_s = key_s // (end_day - dmin + 2)  # arithmetic instead of a fourth gather
    cust_start = np.flatnonzero(np.r_[True, codes_s[1:] != codes_s[:-1]])  # codes are 0..ncust-1
    day_start = np.flatnonzero(np.r_[True, key_s[1:] != key_s[:-1]])
    n_orders = np.diff(np.r_[cust_start, codes_s.size])
    total = np.add.reduceat(spend_s, cust_start)
    first_ts = np.minimum.reduceat(ts_s, cust_start)
    last_ts = np.maximum.reduceat(ts_s, cust_start)
    day_spend = np.add.reduceat(spend_s, day_start)
    day_cust = codes_s[day_start]
    n_days = np.bincount(day_cust, minlength=ncust)
    first_day_idx = np.searchsorted(day_start, cust_start)  # each customer's first purchase day
    first_spend = day_spend[first_day_idx]
    # results are in code order (codes_s sorted), which is the order of ``uniques``
    first_day = first_ts // DAY_NS
    last_day = last_ts // DAY_NS
    frequency = n_days - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total - first_spend) / np.maximum(frequency, 1), 0.0)
        avg_gap = np.where(n_orders > 1, (last_ts - first_ts) / DAY_NS / (n_orders - 1), np.nan)
    # copy=False: the columns are fresh arrays; consolidating them into one block would copy them all
    return pd.DataFrame(copy=False, data={
        "customer_id": uniques,
        "first_at": _ns_to_utc(first_ts),
        "last_at": _ns_to_utc(last_ts),
        "n_orders": n_orders,
        "total_minor": total,
        "aov_minor": total / n_orders,
        "frequency": frequency.astype(float),
        "recency": (last_day - first_day).astype(float),
        "T": (end_day - first_day).astype(float),
        "monetary": monetary,
        "recency_days": (end_ns - last_ts) / DAY_NS,
        "avg_days_between_orders": avg_gap,
    })


def holdout_counts(orders: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """Per customer: purchase days and spend in ``(start, end]`` (backtest actuals)."""
    ts = _epoch_ns(orders["created_at"])
    s, e = as_of_ns(start), as_of_ns(end)
    sel = (ts > s) & (ts <= e)
    sub = pd.DataFrame({
        "customer_id": orders["customer_id"].to_numpy()[sel],
        "day": ts[sel] // DAY_NS,
        "total_minor": orders["total_minor"].fillna(0).to_numpy(dtype=float)[sel],
    })
    if sub.empty:
        return pd.DataFrame({"customer_id": [], "purchases": [], "spend": []})
    agg = sub.groupby("customer_id").agg(purchases=("day", "nunique"), spend=("total_minor", "sum"))
    return agg.reset_index()
