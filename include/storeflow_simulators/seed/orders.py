"""Orders as arrays: purchases (BG/NBD), replenishment, baskets, channels and times."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from storeflow_simulators.seed.catalogue import _CAT_POPULARITY, CATEGORIES, _build_catalog, _Catalog
from storeflow_simulators.seed.params import (
    ACQ_CHANNELS,
    DAY_S,
    FREE_SHIPPING_FROM_MINOR,
    REPLENISH_CONTINUE_P,
    REPLENISH_HALF_RATE,
    REPLENISH_START_MAX,
    SHIPPING_MINOR,
    TIMEZONES,
    VAT_RATE,
    YEAR_S,
    _rng,
)
from storeflow_simulators.seed.people import _build_people, _People

_MOBILE_UA = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 "
    "Mobile Safari/537.36",
]
_DESKTOP_UA = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
]
_ONLINE_STATUS_RECENT = (["processing", "completed", "cancelled"], [0.55, 0.41, 0.04])
_ONLINE_STATUS_OLD = (["completed", "cancelled", "refunded"], [0.93, 0.035, 0.035])
_COUPONS = [("SPRING15", 0.15, 0), ("LOYAL5", 0.0, 500), ("THANKYOU10", 0.10, 0)]


def _pick_lines(
    rng: np.random.Generator,
    cat: _Catalog,
    pop: _People,
    person: np.ndarray,
    t: np.ndarray,
    online: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Variation index and quantity for lines of the given persons / times / channels."""
    m = len(person)
    drifted = t > pop.switch_t[person]
    slot = np.floor(rng.random(m) * pop.nfav[person]).astype(int)
    fav = np.where(drifted, pop.fav_after[person, slot], pop.fav_before[person, slot])
    rand_cat = rng.choice(len(CATEGORIES), size=m, p=_CAT_POPULARITY / _CAT_POPULARITY.sum())
    category = np.where(rng.random(m) < 0.75, fav, rand_cat)
    prod = np.empty(m, dtype=np.int64)
    for ci in range(len(CATEGORIES)):
        for on in (False, True):
            mask = (category == ci) & (online == on)
            k = int(mask.sum())
            if not k:
                continue
            cand = np.flatnonzero((cat.prod_cat == ci) & (cat.prod_online | (not on)))
            w = cat.prod_weight[cand]
            prod[mask] = rng.choice(cand, size=k, p=w / w.sum())
    var = cat.prod_var_off[prod] + np.floor(rng.random(m) * cat.prod_var_n[prod]).astype(np.int64)
    qty = rng.choice([1, 2, 3], size=m, p=[0.8, 0.15, 0.05])
    qty[cat.prod_cat[prod] == CATEGORIES.index("Apparel")] = 1
    return var, qty


def _local_seconds(t: np.ndarray, tz: str) -> np.ndarray:
    idx = pd.to_datetime(t.astype(np.int64), unit="s", utc=True).tz_convert(tz).tz_localize(None)
    return idx.values.astype("datetime64[s]").astype(np.int64)


def _utc_seconds(local: np.ndarray, tz: str) -> np.ndarray:
    idx = pd.to_datetime(local, unit="s").tz_localize(
        tz, ambiguous=np.ones(len(local), dtype=bool), nonexistent="shift_forward"
    )
    return idx.tz_convert(None).values.astype("datetime64[s]").astype(np.int64)


def _place_times(
    rng: np.random.Generator, pop: _People, person: np.ndarray, t: np.ndarray, online: np.ndarray, now_s: int
) -> np.ndarray:
    """Move raw event times to plausible clock times: preferred hours online, shop hours in store."""
    m = len(t)
    out = np.empty(m, dtype=np.int64)
    snap = rng.random(m) < 0.30
    hour_noise = np.rint(rng.normal(0.0, 1.3, size=m)).astype(np.int64)
    minute = rng.integers(0, 60, size=m)
    second = rng.integers(0, 60, size=m)
    shop_hour = rng.choice(np.arange(9, 18), size=m, p=np.array([4, 6, 8, 11, 11, 9, 8, 8, 6]) / 71)
    sunday_hour = rng.integers(10, 16, size=m)
    sunday_move = rng.random(m) < 0.30
    tz_of = np.where(online, pop.tz[person], 0)
    for zi, zone in enumerate(TIMEZONES):
        for on in (True, False):
            mask = (tz_of == zi) & (online == on)
            if not mask.any():
                continue
            local = _local_seconds(t[mask], zone)
            day = local // DAY_S
            wd = (day + 3) % 7  # 1970-01-01 was a Thursday
            pm = person[mask]
            if on:
                day = np.where(snap[mask], day + (pop.pref_wd[pm] - wd), day)
                hour = (pop.pref_hour[pm] + hour_noise[mask]) % 24
            else:
                sunday = wd == 6
                day = np.where(sunday & sunday_move[mask], day - 1, day)
                hour = np.where(sunday & ~sunday_move[mask], sunday_hour[mask], shop_hour[mask])
            local_new = day * DAY_S + hour * 3600 + minute[mask] * 60 + second[mask]
            out[mask] = _utc_seconds(local_new, zone)
    for _ in range(3):
        late = out >= now_s
        out[late] -= 7 * DAY_S
    return out


def _simulate(seed: int, pop: _People, cat: _Catalog, now_s: int) -> dict[str, np.ndarray]:
    """All orders and lines as arrays, sorted by time."""
    rng = _rng(seed, "orders")
    n = pop.n
    alive_years = (now_s - pop.t0) / YEAR_S
    n_window = rng.poisson(pop.lam * alive_years)
    k = rng.geometric(pop.p)  # purchases until (and including) the one after which the person drops out
    n_repeat = np.where(pop.prospect, 0, np.minimum(n_window, k - 1))
    dropped = (k - 1 < n_window) & ~pop.prospect
    grp = np.repeat(np.arange(n), n_window)
    u = rng.random(len(grp))
    u = u[np.lexsort((u, grp))]
    starts = np.cumsum(n_window) - n_window
    keep = (np.arange(len(grp)) - starts[grp]) < n_repeat[grp]
    rep_person = grp[keep]
    rep_t = pop.t0[rep_person] + u[keep] * alive_years[rep_person] * YEAR_S
    last_t = pop.t0.copy()
    np.maximum.at(last_t, rep_person, rep_t)
    death = np.where(dropped, last_t, np.inf)
    buyers = np.flatnonzero(~pop.prospect)
    b_person = np.concatenate([buyers, rep_person])
    b_t = np.concatenate([pop.t0[buyers], rep_t])
    b_online = rng.random(len(b_person)) < pop.online_share[b_person]
    n_lines = rng.choice([1, 2, 3, 4], size=len(b_person), p=[0.5, 0.28, 0.14, 0.08])
    l_order = np.repeat(np.arange(len(b_person)), n_lines)
    l_var, l_qty = _pick_lines(rng, cat, pop, b_person[l_order], b_t[l_order], b_online[l_order])

    # replenishment chains from the first purchase of each replenishable product
    l_prod = cat.var_product[l_var]
    repl = ~np.isnan(cat.prod_replenish[l_prod])
    cp, ct, cprod = b_person[l_order][repl], b_t[l_order][repl], l_prod[repl]
    cvar, cq = l_var[repl], l_qty[repl]
    srt = np.lexsort((ct, cprod, cp))
    cp, ct, cprod, cvar, cq = cp[srt], ct[srt], cprod[srt], cvar[srt], cq[srt]
    first = np.ones(len(cp), dtype=bool)
    first[1:] = (cp[1:] != cp[:-1]) | (cprod[1:] != cprod[:-1])
    p_start = REPLENISH_START_MAX * pop.lam[cp] / (pop.lam[cp] + REPLENISH_HALF_RATE)
    start = first & (rng.random(len(cp)) < p_start)
    cp, ct, cprod, cvar, cq = cp[start], ct[start], cprod[start], cvar[start], cq[start]
    ev = {"person": [], "t": [], "var": [], "qty": []}
    end = np.minimum(death, float(now_s))
    while len(cp):
        gap = cat.prod_replenish[cprod] * cq * pop.speed[cp] * rng.lognormal(0.0, 0.15, size=len(cp)) * DAY_S
        ct = ct + gap
        go = (ct < end[cp]) & (rng.random(len(cp)) < REPLENISH_CONTINUE_P)
        cp, ct, cprod, cvar, cq = cp[go], ct[go], cprod[go], cvar[go], cq[go]
        newq = rng.choice([1, 2, 3], size=len(cp), p=[0.7, 0.22, 0.08])
        cq = np.where(rng.random(len(cp)) < 0.75, cq, newq)
        for key, val in (("person", cp), ("t", ct), ("var", cvar), ("qty", cq)):
            ev[key].append(val)
    r_person = np.concatenate(ev["person"]) if ev["person"] else np.zeros(0, np.int64)
    r_t = np.concatenate(ev["t"]) if ev["t"] else np.zeros(0)
    r_var = np.concatenate(ev["var"]).astype(np.int64) if ev["var"] else np.zeros(0, np.int64)
    r_qty = np.concatenate(ev["qty"]) if ev["qty"] else np.zeros(0, np.int64)
    r_prod_online = cat.prod_online[cat.var_product[r_var]]
    r_online = rng.random(len(r_person)) < pop.online_share[r_person]
    r_online &= r_prod_online
    r_online |= pop.membership[r_person] == 1  # store-only persons only ever bought online products
    extra = rng.random(len(r_person)) < 0.2
    e_order = np.flatnonzero(extra)
    e_var, e_qty = _pick_lines(rng, cat, pop, r_person[e_order], r_t[e_order], r_online[e_order])

    nb = len(b_person)
    o_person = np.concatenate([b_person, r_person])
    o_raw_t = np.concatenate([b_t, r_t])
    o_online = np.concatenate([b_online, r_online])
    o_kind = np.concatenate([np.zeros(nb, np.int8), np.ones(len(r_person), np.int8)])
    li_order = np.concatenate([l_order, nb + np.arange(len(r_person)), nb + e_order])
    li_var = np.concatenate([l_var, r_var, e_var])
    li_qty = np.concatenate([l_qty, r_qty, e_qty]).astype(np.int64)

    o_t = _place_times(rng, pop, o_person, o_raw_t, o_online, now_s)
    perm = np.argsort(o_t, kind="stable")
    inv = np.empty_like(perm)
    inv[perm] = np.arange(len(perm))
    o_person, o_t, o_online, o_kind = o_person[perm], o_t[perm], o_online[perm], o_kind[perm]
    li_order = inv[li_order]
    # merge repeated variations inside one order, keep lines grouped by order
    nv = len(cat.var_sku)
    key = li_order.astype(np.int64) * nv + li_var
    ukey, first_idx, inverse = np.unique(key, return_index=True, return_inverse=True)
    qty = np.bincount(inverse, weights=li_qty).astype(np.int64)
    li_order, li_var, li_qty = ukey // nv, ukey % nv, qty
    li_price = cat.var_price[li_var]

    no = len(o_person)
    subtotal = np.bincount(li_order, weights=li_qty * li_price, minlength=no).astype(np.int64)
    # location (in-store): home shop unless it was closed at the time; some visits elsewhere
    loc = pop.home_loc[o_person].copy()
    loc[(loc == 2) & (o_t >= cat.bristol_closed_s)] = 0
    away = rng.random(no) < 0.10
    loc[away] = rng.integers(0, 2, size=int(away.sum()))
    loc[away & (o_t < cat.bristol_closed_s) & (rng.random(no) < 0.2)] = 2
    loc = np.where(o_online, -1, loc)
    # first online order per person carries the acquisition channel
    first_online = np.zeros(no, dtype=bool)
    on_idx = np.flatnonzero(o_online)
    _, fo = np.unique(o_person[on_idx], return_index=True)
    first_online[on_idx[fo]] = True
    acq = np.where(first_online, pop.acq[o_person], -1)
    # coupons / discounts
    coupon = np.full(no, -1)  # -1 none, 0 WELCOME10, 1.. _COUPONS index+1
    coupon[first_online & (acq == ACQ_CHANNELS.index("coupon"))] = 0
    other = o_online & (coupon < 0) & (rng.random(no) < 0.06)
    coupon[other] = 1 + rng.integers(0, len(_COUPONS), size=int(other.sum()))
    pct = np.zeros(no)
    fixed = np.zeros(no, dtype=np.int64)
    pct[coupon == 0] = 0.10
    for ci, (_, cpct, cfix) in enumerate(_COUPONS, start=1):
        pct[coupon == ci] = cpct
        fixed[coupon == ci] = cfix
    pos_disc = ~o_online & (rng.random(no) < 0.03)
    pct[pos_disc] = 0.10
    discount = np.minimum(np.rint(subtotal * pct).astype(np.int64) + fixed, subtotal)
    discount[(fixed > 0) & (subtotal < 2500)] = 0
    coupon[(fixed > 0) & (subtotal < 2500)] = -1
    shipping = np.where(o_online & (subtotal - discount < FREE_SHIPPING_FROM_MINOR), SHIPPING_MINOR, 0)
    tax = np.rint((subtotal - discount + shipping) * VAT_RATE).astype(np.int64)
    total = subtotal - discount + tax + shipping
    # statuses: 0 completed, 1 processing, 2 cancelled, 3 refunded (online); POS always COMPLETED
    recent = (now_s - o_t) < 3 * DAY_S
    st_recent = rng.choice([1, 0, 2], size=no, p=_ONLINE_STATUS_RECENT[1])
    st_old = rng.choice([0, 2, 3], size=no, p=_ONLINE_STATUS_OLD[1])
    status = np.where(o_online, np.where(recent, st_recent, st_old), 0)
    mobile = o_online & (rng.random(no) < pop.mobile_share[o_person])
    ua = np.where(o_online, rng.integers(0, 3, size=no), -1)
    guest_order = np.where(o_online, pop.guest[o_person] | (rng.random(no) < 0.05), rng.random(no) < 0.05)
    return {
        "order_person": o_person,
        "order_time": o_t,
        "order_online": o_online,
        "order_kind": o_kind,
        "order_location": loc,
        "order_subtotal": subtotal,
        "order_discount": discount,
        "order_shipping": shipping,
        "order_tax": tax,
        "order_total": total,
        "order_status": status,
        "order_mobile": mobile,
        "order_ua": ua,
        "order_acq": acq,
        "order_coupon": coupon,
        "order_guest": guest_order,
        "line_order": li_order,
        "line_var": li_var,
        "line_qty": li_qty,
        "line_price": li_price,
        "death": death,
        "dropped": dropped,
    }


def _now_seconds(now: datetime | None) -> tuple[datetime, int]:
    if now is None:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    return now, int(math.floor(now.timestamp()))


def generate_transactions(seed: int, n_customers: int, now: datetime | None = None) -> dict[str, np.ndarray]:
    """Array form of the order history of ``n_customers`` people (no Python objects; for benchmarks).

    Line-level arrays: ``customer`` (person index), ``order`` (order index), ``timestamp`` (UTC epoch
    seconds), ``amount`` (quantity x unit price, pence, pre-discount), ``quantity``, ``sku`` (str),
    ``channel`` (0 in-store, 1 online). Order-level: ``order_customer``, ``order_timestamp``,
    ``order_total`` (pence incl. VAT and shipping), ``order_channel``, ``order_status`` (0 completed,
    1 processing, 2 cancelled, 3 refunded). Person-level: ``true_rate_per_year``, ``true_p_dropout``,
    ``first_seen`` (epoch seconds), ``alive`` (bool). Same seed and ``n_customers`` as a scale reproduce
    that scale's ``generate_world`` orders exactly.
    """
    _, now_s = _now_seconds(now)
    n_products = 60 if n_customers <= 20_000 else 300
    cat = _build_catalog(seed, n_products, now_s)
    pop = _build_people(seed, n_customers, now_s)
    sim = _simulate(seed, pop, cat, now_s)
    lo = sim["line_order"]
    return {
        "customer": sim["order_person"][lo],
        "order": lo,
        "timestamp": sim["order_time"][lo],
        "amount": sim["line_qty"] * sim["line_price"],
        "quantity": sim["line_qty"],
        "sku": np.array(cat.var_sku)[sim["line_var"]],
        "channel": sim["order_online"][lo].astype(np.int8),
        "order_customer": sim["order_person"],
        "order_timestamp": sim["order_time"],
        "order_total": sim["order_total"],
        "order_channel": sim["order_online"].astype(np.int8),
        "order_status": sim["order_status"],
        "true_rate_per_year": pop.lam,
        "true_p_dropout": pop.p,
        "first_seen": pop.t0.astype(np.int64),
        "alive": ~sim["dropped"],
    }
