"""Per-customer features beyond (x, t_x, T) for the boosted buy-again model, and holdout labels.

All features are computed from orders at or before a cutoff (no look-ahead), one row per customer with
at least one purchase day by then. Purchases are counted per calendar day (UTC) as in
:mod:`storeflow.scoring.summary`. Groups:

* BTYD inputs and outputs: ``frequency``, ``recency``, ``T``, ``recency_days`` and, with a fitted BG/NBD,
  ``bg_p_alive``, ``bg_expected`` (purchases in the horizon), ``bg_p_buy`` (P(at least one));
* inter-purchase regularity: mean / coefficient of variation / last gap, ``overdue`` (days since the
  last purchase over the mean gap);
* recent activity and trend: purchase days in the last 30/90/180/365 days, ``rate_trend`` (share of
  purchase days in the second half of the tenure), ``spend_trend`` (last purchase day's spend over the
  mean), mean spend;
* the customer's own seasonality: ``season_share`` (share of past purchase days whose time of year falls
  in the coming horizon) and ``same_window_last_year`` (purchase days in the same window a year ago);
* channel and category mix: ``online_share``, ``n_categories``, ``top_category_share``;
* the population's seasonality (same for everyone at a cutoff): ``pop_season_ratio``, purchase days in
  the coming window a year earlier over purchase days in the last window.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from storeflow.scoring.btyd import BGNBDModel
from storeflow.scoring.summary import DAY_NS, _epoch_ns, as_of_ns

FEATURE_COLUMNS = [
    "frequency", "recency", "T", "recency_days", "bg_p_alive", "bg_expected", "bg_p_buy",
    "gap_mean", "gap_cv", "gap_last", "overdue", "n_30", "n_90", "n_180", "n_365", "rate_trend",
    "spend_mean", "spend_trend", "season_share", "same_window_last_year", "online_share", "n_categories",
    "top_category_share", "pop_season_ratio",
]


def _day_frame(orders: pd.DataFrame, cutoff_ns: int) -> pd.DataFrame:
    ts = _epoch_ns(orders["created_at"])
    day = ts // DAY_NS
    keep = ts <= cutoff_ns
    online = (orders["channel"].astype(str).to_numpy() == "online") if "channel" in orders else \
        np.zeros(len(orders), dtype=bool)
    df = pd.DataFrame({"customer_id": orders["customer_id"].to_numpy()[keep], "day": day[keep],
                       "spend": orders["total_minor"].fillna(0).to_numpy(dtype=float)[keep],
                       "online": online[keep].astype(float)})
    return (df.groupby(["customer_id", "day"], sort=True)
            .agg(spend=("spend", "sum"), online=("online", "mean")).reset_index())


def customer_features(orders: pd.DataFrame, cutoff: datetime, horizon_days: float, *,
                      lines: pd.DataFrame | None = None, bg: BGNBDModel | None = None) -> pd.DataFrame:
    """Feature frame (index ``customer_id``, columns :data:`FEATURE_COLUMNS`) at ``cutoff``.

    ``orders`` needs ``customer_id``, ``created_at``, ``total_minor`` (and optionally ``channel``);
    ``lines`` (optional) ``customer_id``, ``created_at``, ``category``. Without ``bg`` the BG/NBD columns
    are NaN (the boosted model handles missing values natively).
    """
    cutoff_ns = as_of_ns(cutoff)
    cutoff_day = int(cutoff_ns // DAY_NS)
    d = _day_frame(orders, cutoff_ns)
    if d.empty:
        return pd.DataFrame(columns=FEATURE_COLUMNS, index=pd.Index([], name="customer_id"))
    cust = d["customer_id"].to_numpy()
    day = d["day"].to_numpy(dtype=np.int64)
    spend = d["spend"].to_numpy(dtype=float)
    start = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
    ids = cust[start]
    n_days = np.diff(np.r_[start, cust.size])
    code = np.repeat(np.arange(start.size), n_days)
    first = day[start]
    last = day[np.r_[start[1:], cust.size] - 1]
    x = (n_days - 1).astype(float)
    T = (cutoff_day - first).astype(float)
    recency = (last - first).astype(float)
    since = (cutoff_day - last).astype(float)
    gaps = np.diff(day).astype(float)
    same = code[1:] == code[:-1]
    gcode = code[1:][same]
    g = gaps[same]
    nseg = start.size
    gsum = np.bincount(gcode, weights=g, minlength=nseg)
    gsq = np.bincount(gcode, weights=g * g, minlength=nseg)
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_mean = np.where(x > 0, gsum / np.maximum(x, 1), np.nan)
        gap_var = np.where(x > 1, gsq / np.maximum(x, 1) - gap_mean**2, np.nan)
        gap_cv = np.sqrt(np.maximum(gap_var, 0.0)) / gap_mean
        overdue = since / gap_mean
    gap_last = np.full(nseg, np.nan)
    has_gap = x > 0
    last_idx = np.r_[start[1:], cust.size] - 1
    gap_last[has_gap] = (day[last_idx] - day[last_idx - 1])[has_gap]
    age = cutoff_day - day
    counts = {f"n_{w}": np.bincount(code, weights=(age < w).astype(float), minlength=nseg)
              for w in (30, 90, 180, 365)}
    half = (day - first[code]) * 2 > (cutoff_day - first[code])
    rate_trend = np.bincount(code, weights=half.astype(float), minlength=nseg) / n_days
    spend_mean = np.bincount(code, weights=spend, minlength=nseg) / n_days
    with np.errstate(invalid="ignore", divide="ignore"):
        spend_trend = spend[last_idx] / spend_mean
    phase = np.mod(day - cutoff_day, 365)  # 0..364: time of year relative to the cutoff
    in_window = (phase >= 1) & (phase <= horizon_days)  # same time of year as the coming horizon
    past_year = (age >= 365 - horizon_days) & (age < 365)
    season_share = np.bincount(code, weights=in_window.astype(float), minlength=nseg) / n_days
    same_window = np.bincount(code, weights=past_year.astype(float), minlength=nseg)
    # the population's own seasonality: purchase days in the coming window a year ago over the last window
    recent_window = float(np.sum(age < horizon_days))
    pop_season_ratio = float(np.sum(past_year)) / recent_window if recent_window else np.nan
    online_share = np.bincount(code, weights=d["online"].to_numpy(dtype=float), minlength=nseg) / n_days
    out = pd.DataFrame({
        "frequency": x, "recency": recency, "T": T, "recency_days": since,
        "gap_mean": gap_mean, "gap_cv": gap_cv, "gap_last": gap_last, "overdue": overdue, **counts,
        "rate_trend": rate_trend, "spend_mean": spend_mean, "spend_trend": spend_trend,
        "season_share": season_share, "same_window_last_year": same_window, "online_share": online_share,
        "pop_season_ratio": pop_season_ratio,
    }, index=pd.Index(ids, name="customer_id"))
    if bg is not None:
        pos = T > 0
        Tq = np.where(pos, T, 1.0)
        out["bg_p_alive"] = bg.p_alive(x, np.minimum(recency, Tq), Tq)
        table, inv = bg.expected_purchases_table([horizon_days], x, np.minimum(recency, Tq), Tq)
        out["bg_expected"] = table[inv, 0]
        out["bg_p_buy"] = 1.0 - bg.prob_no_purchase(horizon_days, x, np.minimum(recency, Tq), Tq)
    else:
        out["bg_p_alive"] = out["bg_expected"] = out["bg_p_buy"] = np.nan
    cats = _category_mix(lines, cutoff_ns) if lines is not None and len(lines) else None
    if cats is not None:
        out = out.join(cats)
    else:
        out["n_categories"] = np.nan
        out["top_category_share"] = np.nan
    return out[FEATURE_COLUMNS]


def _category_mix(lines: pd.DataFrame, cutoff_ns: int) -> pd.DataFrame:
    ts = _epoch_ns(lines["created_at"])
    sub = pd.DataFrame({"customer_id": lines["customer_id"].to_numpy(),
                        "category": lines["category"].fillna("(none)").astype(str).to_numpy()})[ts <= cutoff_ns]
    per = sub.groupby(["customer_id", "category"]).size()
    tot = per.groupby(level=0).sum()
    return pd.DataFrame({"n_categories": per.groupby(level=0).size().astype(float),
                         "top_category_share": per.groupby(level=0).max() / tot})


def holdout_labels(orders: pd.DataFrame, cutoff: datetime, horizon_days: float) -> pd.DataFrame:
    """Per customer: ``purchases`` (distinct UTC purchase days) and ``revenue`` of the orders placed in
    (cutoff, cutoff + horizon]."""
    ts = _epoch_ns(orders["created_at"])
    c = as_of_ns(cutoff)
    day = ts // DAY_NS
    sel = (ts > c) & (ts <= c + int(horizon_days * DAY_NS))
    sub = pd.DataFrame({"customer_id": orders["customer_id"].to_numpy()[sel], "day": day[sel],
                        "revenue": orders["total_minor"].fillna(0).to_numpy(dtype=float)[sel]})
    if sub.empty:
        return pd.DataFrame({"purchases": [], "revenue": []}, index=pd.Index([], name="customer_id"))
    return sub.groupby("customer_id").agg(purchases=("day", "nunique"), revenue=("revenue", "sum"))
