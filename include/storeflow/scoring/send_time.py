"""Preferred send hour and weekday per customer, in the customer's own time zone.

Signals are weighted events (online orders, message opens/clicks) binned by local hour-of-week
(weekday·24 + hour, Monday = 0). The population's counts, Laplace-smoothed, form a Dirichlet prior:
a customer's posterior is ``counts + strength · population_share``, so a customer with one event is
pulled towards the population's habits and a customer with many events keeps their own. The preferred
hour (weekday) is the argmax of the posterior's hour (weekday) marginal; ties go to the earliest.

A stated preference (``customers.preferred_hour`` / ``preferred_weekday``) overrides the model. So that
the model does not only learn the hours we already send at, a share ``exploration`` of customers (a
deterministic draw per customer and as-of date) get a random ``send_hour`` inside the allowed window for
that date; customers with a stated preference are never explored.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from storeflow.scoring.hashing import stable_hash, uniform

HOURS_OF_WEEK = 168
COLUMNS = ["customer_id", "preferred_hour", "preferred_weekday", "send_hour", "send_time_source",
           "send_time_explore", "send_time_events"]


def local_hour_of_week(at: pd.Series, tz: pd.Series, default_tz: str) -> np.ndarray:
    """Hour-of-week (0..167, Monday 00h = 0) of aware timestamps in each row's time zone."""
    at = pd.to_datetime(at, utc=True)
    zones = tz.fillna(default_tz).replace("", default_tz).to_numpy()
    out = np.empty(len(at), dtype=np.int64)
    for zone in pd.unique(zones):
        sel = zones == zone
        try:
            local = at[sel].dt.tz_convert(zone)
        except Exception:  # unknown zone name: fall back to the shop's zone
            local = at[sel].dt.tz_convert(default_tz)
        out[sel] = local.dt.dayofweek.to_numpy() * 24 + local.dt.hour.to_numpy()
    return out


def population_prior(how: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Laplace-smoothed population share per hour-of-week (sums to 1)."""
    counts = np.bincount(how, weights=weight, minlength=HOURS_OF_WEEK)
    return (counts + 1.0) / (counts.sum() + HOURS_OF_WEEK)


def preferred_send_times(customers: pd.DataFrame, events: pd.DataFrame, as_of: date, *,
                         prior: np.ndarray | None = None, prior_strength: float = 5.0,
                         exploration: float = 0.1, window: tuple[int, int] = (8, 21),
                         default_tz: str = "Europe/London", salt: str = "send-time") -> pd.DataFrame:
    """One row per customer in ``customers`` (columns customer_id, timezone, preferred_hour,
    preferred_weekday). ``events`` has customer_id, at (aware), weight. ``prior`` (168 shares) may be
    passed when ``events`` covers only a partition; by default it is the population of ``events``."""
    cust = customers.reset_index(drop=True)
    idx = pd.Index(cust["customer_id"])
    ev = events[events["customer_id"].isin(idx)] if len(events) else events
    tz_of = cust.set_index("customer_id")["timezone"] if "timezone" in cust else pd.Series(dtype=object)
    if len(ev):
        how = local_hour_of_week(ev["at"], ev["customer_id"].map(tz_of), default_tz)
        weight = ev["weight"].to_numpy(dtype=float)
        row = idx.get_indexer(ev["customer_id"])
    else:
        how = np.empty(0, dtype=np.int64)
        weight = np.empty(0)
        row = np.empty(0, dtype=np.int64)
    if prior is None:
        prior = population_prior(how, weight)
    n = len(cust)
    # only the hour and weekday marginals of the posterior are needed: n x 24 and n x 7, not n x 168
    prior_grid = np.asarray(prior).reshape(7, 24)
    by_hour = np.zeros((n, 24))
    np.add.at(by_hour, (row, how % 24), weight)
    by_day = np.zeros((n, 7))
    np.add.at(by_day, (row, how // 24), weight)
    model_hour = (by_hour + prior_strength * prior_grid.sum(axis=0)[None, :]).argmax(axis=1)
    model_weekday = (by_day + prior_strength * prior_grid.sum(axis=1)[None, :]).argmax(axis=1)
    n_events = by_hour.sum(axis=1)

    stated_h = pd.to_numeric(cust.get("preferred_hour"), errors="coerce") if "preferred_hour" in cust \
        else pd.Series(np.nan, index=cust.index)
    stated_w = pd.to_numeric(cust.get("preferred_weekday"), errors="coerce") if "preferred_weekday" in cust \
        else pd.Series(np.nan, index=cust.index)
    has_h = stated_h.notna().to_numpy()
    has_w = stated_w.notna().to_numpy()
    hour = np.where(has_h, stated_h.fillna(0).to_numpy(), model_hour).astype(int)
    weekday = np.where(has_w, stated_w.fillna(0).to_numpy(), model_weekday).astype(int)
    source = np.where(has_h | has_w, "stated", np.where(n_events > 0, "model", "prior")).astype(object)

    lo, hi = window
    span = max(hi - lo, 1)
    day = as_of.isoformat()
    ids = cust["customer_id"].astype(str).tolist()
    draws = np.array([uniform(salt, cid, day) for cid in ids]) if ids else np.empty(0)
    explore = (draws < exploration) & ~(has_h | has_w)
    explore_hour = np.array([lo + stable_hash(salt, "hour", cid, day) % span for cid in ids], dtype=int) \
        if ids else np.empty(0, dtype=int)
    send_hour = np.where(explore, explore_hour, hour)
    source = np.where(explore, "explore", source)
    return pd.DataFrame({
        "customer_id": cust["customer_id"].to_numpy(),
        "preferred_hour": hour,
        "preferred_weekday": weekday,
        "send_hour": send_hour.astype(int),
        "send_time_source": source,
        "send_time_explore": explore,
        "send_time_events": n_events,
    })
