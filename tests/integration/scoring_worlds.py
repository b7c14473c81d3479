"""Seeded synthetic retailers with buying patterns BG/NBD does not describe (for the model comparison).

Each world returns ``(orders, lines)`` frames shaped like :func:`storeflow.scoring.pipeline.load_orders`
/ ``load_lines`` (customer_id, created_at aware UTC, total_minor, channel; lines with category).
Customers arrive uniformly over ``years`` before ``as_of``; every world mixes two or three kinds of
customer whose kind shows, imperfectly, in what they buy and where:

* ``replenishers``: most customers restock on a personal cycle (gamma gaps with shape 10, so
  regular) and lapse with a small chance after each order; the rest buy durables now and then;
* ``gift_buyers``: half buy gifts in the weeks before Christmas in most years and seldom otherwise,
  half are ordinary Poisson buyers who may drop out;
* ``declining``: purchase rates decay exponentially from the first order (half-lives 2-24 months),
  with spend falling too; a minority keep a steady rate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

WORLDS = ("replenishers", "gift_buyers", "declining")
DAY = np.timedelta64(1, "D")


def _frames(rows: list[tuple], as_of: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    cust, day, amount, online, category = (np.array(v) for v in zip(*rows, strict=True))
    end = np.datetime64(as_of.replace(tzinfo=None), "s")
    created = end - (day * 86400).astype("timedelta64[s]") + np.timedelta64(0, "s")
    keep = created <= end
    ts = pd.to_datetime(created[keep]).tz_localize("UTC")
    orders = pd.DataFrame({
        "source_system": "store", "order_id": [f"o{i}" for i in range(int(keep.sum()))],
        "customer_id": cust[keep], "channel": np.where(online[keep], "online", "pos"),
        "total_minor": np.round(amount[keep]).astype(float), "created_at": ts, "acquisition_channel": None})
    lines = pd.DataFrame({"customer_id": cust[keep], "created_at": ts, "sku": category[keep],
                          "quantity": 1.0, "value": orders["total_minor"].to_numpy(),
                          "category": category[keep]})
    return orders, lines


def make_world(name: str, n: int = 3000, seed: int = 1, as_of: datetime | None = None, years: float = 3.0
               ) -> tuple[pd.DataFrame, pd.DataFrame, datetime]:
    """``(orders, lines, as_of)`` of the named world (see the module docstring)."""
    rng = np.random.default_rng([seed, WORLDS.index(name)])
    as_of = as_of or datetime(2026, 1, 2, 12, tzinfo=UTC)
    span = years * 365.0
    rows: list[tuple] = []
    for i in range(n):
        cid = f"{name[:3]}{i:05d}"
        start = rng.uniform(0, span)  # days before as_of of the first order
        t = 0.0  # days since the first order
        if name == "replenishers":
            regular = rng.random() < 0.7
            if regular:
                period, p_lapse, online = rng.uniform(20, 100), rng.beta(1, 14), rng.random() < 0.7
                cat = "consumables" if rng.random() < 0.9 else "durables"
                spend = rng.gamma(1.2, 2000)
            else:
                rate, p_lapse, online = rng.gamma(1.0, 1 / 250), rng.beta(2, 3), rng.random() < 0.3
                cat = "durables" if rng.random() < 0.9 else "consumables"
                spend = rng.gamma(1.2, 6000)
            while t <= start:
                rows.append((cid, start - t, spend * rng.gamma(10, 0.1), online, cat))
                if rng.random() < p_lapse:
                    break
                t += rng.gamma(10, period / 10) if regular else rng.exponential(1 / rate)
        elif name == "gift_buyers":
            gift = rng.random() < 0.5
            online = rng.random() < (0.8 if gift else 0.4)
            cat = ("gifts" if rng.random() < 0.85 else "home") if gift else ("home" if rng.random() < 0.85
                                                                                else "gifts")
            spend = rng.gamma(1.2, 5000) if gift else rng.gamma(1.2, 2500)
            if gift:  # the first order falls in a gift season too
                seasons = [y for y in range(as_of.year - int(np.ceil(years)), as_of.year + 1)
                           if as_of - timedelta(days=span) <= datetime(y, 11, 10, tzinfo=UTC) <= as_of]
                first = datetime(int(rng.choice(seasons)), 11, 10, tzinfo=UTC) + \
                    timedelta(days=float(rng.uniform(0, 44)))
                first = min(first, as_of)
                start = (as_of - first).total_seconds() / 86400
                keen = rng.beta(6, 2)
                year = first.year
                days = [start]
                while True:
                    year += 1
                    season = datetime(year, 11, 10, tzinfo=UTC) + timedelta(days=float(rng.uniform(0, 44)))
                    if season > as_of:
                        break
                    if rng.random() < keen:
                        days.append((as_of - season).total_seconds() / 86400)
                    if rng.random() < 0.15:
                        break
                    if rng.random() < 0.1:  # an occasional off-season order
                        days.append(float(rng.uniform(0, start)))
                for d in days:
                    rows.append((cid, d, spend * rng.gamma(10, 0.1), online, cat))
            else:
                rate, p_drop = rng.gamma(1.2, 1 / 80), rng.beta(1, 6)
                while t <= start:
                    rows.append((cid, start - t, spend * rng.gamma(10, 0.1), online, cat))
                    if rng.random() < p_drop:
                        break
                    t += rng.exponential(1 / rate)
        elif name == "declining":
            steady = rng.random() < 0.3
            online = rng.random() < (0.3 if steady else 0.7)
            cat = ("staples" if rng.random() < 0.8 else "fashion") if steady else \
                ("fashion" if rng.random() < 0.8 else "staples")
            lam0 = rng.gamma(2.0, 1 / 40)
            tau = np.inf if steady else rng.uniform(60, 720) / np.log(2)
            spend = rng.gamma(1.2, 3000)
            while t <= start:  # thinning: rate lam0·exp(-t/tau) <= lam0
                decay = np.exp(-t / tau)
                if rng.random() < decay:
                    rows.append((cid, start - t, spend * (0.4 + 0.6 * decay) * rng.gamma(10, 0.1), online, cat))
                t += rng.exponential(1 / lam0)
        else:
            raise ValueError(name)
    orders, lines = _frames(rows, as_of)
    return orders, lines, as_of
