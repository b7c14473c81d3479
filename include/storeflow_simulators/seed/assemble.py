"""World: assembles catalogue, people, orders and records into a World."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import numpy as np

from storeflow_simulators.seed.catalogue import CATEGORIES, _build_catalog
from storeflow_simulators.seed.identities import _build_identities
from storeflow_simulators.seed.ids import _square_ids
from storeflow_simulators.seed.orders import _COUPONS, _DESKTOP_UA, _MOBILE_UA, _now_seconds, _simulate
from storeflow_simulators.seed.params import (
    _OBJECT_ORDER_LIMIT,
    A_BETA,
    ACQ_CHANNELS,
    ALPHA_RATE,
    B_BETA,
    R_SHAPE,
    REPLENISH_CONTINUE_P,
    REPLENISH_HALF_RATE,
    REPLENISH_START_MAX,
    SCALES,
    STORE_TIMEZONE,
    TIMEZONES,
    TZ_COUNTRY,
    VAT_RATE,
    WINDOW_DAYS,
    _rng,
)
from storeflow_simulators.seed.people import _build_people
from storeflow_simulators.seed.records import _dt, _make_record, _PersonLists, _Rec
from storeflow_simulators.world import (
    Order,
    OrderLine,
    Person,
    Truth,
    World,
)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: building millions of small acyclic objects triggers costly GC passes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate_world(seed: int = 42, scale: str = "small", now: datetime | None = None) -> World:
    """Build the deterministic simulated world for ``(seed, scale, now)``.

    ``now`` defaults to the current UTC time truncated to the hour (a naive ``now`` is taken as UTC).
    Scales: tiny (300 people), small (5,000), medium (50,000), large (1,000,000). At "large" per-order
    objects are skipped (``World.orders_omitted``); use :func:`generate_transactions` for them.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}")
    with _gc_paused():
        return _generate_world(seed, scale, now)


def _generate_world(seed: int, scale: str, now: datetime | None) -> World:
    now, now_s = _now_seconds(now)
    n_people, n_products = SCALES[scale]
    cat = _build_catalog(seed, n_products, now_s)
    pop = _build_people(seed, n_people, now_s)
    sim = _simulate(seed, pop, cat, now_s)
    ident = _build_identities(seed, pop)
    rng = _rng(seed, "records")
    n = pop.n
    o_person, o_t, o_online = sim["order_person"], sim["order_time"], sim["order_online"]
    no = len(o_person)

    # first activity per system (orders are time-sorted, so the first index per person is the earliest)
    def first_time(mask: np.ndarray) -> np.ndarray:
        out = np.full(n, -1, dtype=np.int64)
        idx = np.flatnonzero(mask)
        pers, fi = np.unique(o_person[idx], return_index=True)
        out[pers] = o_t[idx[fi]]
        return out

    first_online = first_time(o_online & ~sim["order_guest"])
    first_store = first_time(~o_online & ~sim["order_guest"])
    has_pos = (pop.membership != 1) & ~pop.guest
    has_store = (pop.membership != 0) & ~pop.guest
    lead = rng.integers(60, 1800, size=n)
    spread = rng.random(n)
    t0 = pop.t0.astype(np.int64)

    def created(first: np.ndarray) -> np.ndarray:
        fallback = t0 + (spread * 0.3 * (now_s - t0)).astype(np.int64)
        return np.where(first >= 0, first - lead, np.minimum(fallback, now_s - 60))

    pos_created, store_created = created(first_store).tolist(), created(first_online).tolist()
    dup_pos = (has_pos & ~pop.prospect & (rng.random(n) < 0.02)).tolist()
    dup_store = (has_store & ~pop.prospect & (rng.random(n) < 0.01)).tolist()
    dup_u = rng.random(n).tolist()
    recs: list[_Rec] = []
    for i in np.flatnonzero(has_pos).tolist():
        recs.append(_Rec("pos", i, int(pos_created[i]), False))
        if dup_pos[i]:
            recs.append(_Rec("pos", i, int(pos_created[i] + dup_u[i] * (now_s - 60 - pos_created[i])), True))
    for i in np.flatnonzero(has_store).tolist():
        recs.append(_Rec("store", i, int(store_created[i]), False))
        if dup_store[i]:
            recs.append(
                _Rec("store", i, int(store_created[i] + dup_u[i] * (now_s - 60 - store_created[i])), True)
            )
    pos_recs = sorted(
        (r for r in recs if r.system == "pos"), key=lambda r: (r.created_s, r.person, r.duplicate)
    )
    store_recs = sorted(
        (r for r in recs if r.system == "store"), key=lambda r: (r.created_s, r.person, r.duplicate)
    )
    pos_ids = _square_ids(_rng(seed, "pos_customer_ids"), len(pos_recs))
    store_ids = [str(k + 1) for k in range(len(store_recs))]
    # one-system opt-outs for people in both systems
    conflict = ((pop.membership == 2) & (rng.random(n) < 0.04)).tolist()
    conflict_sys = rng.integers(0, 2, size=n).tolist()  # 0 pos, 1 store
    conflict_kind = rng.integers(0, 2, size=n).tolist()  # 0 email, 1 sms
    uni = rng.random((len(pos_recs) + len(store_recs), 14)).tolist()
    plain = _PersonLists(pop.tz.tolist(), pop.email_consent.tolist(), pop.sms_consent.tolist())
    pos_customers, store_customers = [], []
    person_keys: dict[int, list[str]] = {}
    primary = {"pos": {}, "store": {}}
    dup_of = {"pos": {}, "store": {}}
    for k, (rec, sid) in enumerate(
        list(zip(pos_recs, pos_ids, strict=True)) + list(zip(store_recs, store_ids, strict=True))
    ):
        i = rec.person
        sys_code = 0 if rec.system == "pos" else 1
        here = conflict[i] and conflict_sys[i] == sys_code
        optout = (here and conflict_kind[i] == 0, here and conflict_kind[i] == 1)
        sc = _make_record(rec, sid, plain, ident, uni[k], now_s, optout)
        (pos_customers if rec.system == "pos" else store_customers).append(sc)
        person_keys.setdefault(i, []).append(f"{rec.system}:{sid}")
        (dup_of if rec.duplicate else primary)[rec.system][i] = (sid, rec.created_s)

    # orders -> objects
    orders: list[Order] = []
    orders_omitted = n > _OBJECT_ORDER_LIMIT
    n_orders = np.bincount(o_person, minlength=n)
    n_repl = np.bincount(o_person[sim["order_kind"] == 1], minlength=n)
    if not orders_omitted:
        pos_order_ids = _square_ids(_rng(seed, "pos_order_ids"), int((~o_online).sum()))
        pick = rng.random(no).tolist()
        bounds = np.searchsorted(sim["line_order"], np.arange(no + 1)).tolist()
        loc_ids = [loc.location_id for loc in cat.locations]
        status_online = ["completed", "processing", "cancelled", "refunded"]
        coupon_codes = ["WELCOME10"] + [c for c, _, _ in _COUPONS]
        var_id, var_sku, var_name, var_price = cat.var_id, cat.var_sku, cat.var_name, cat.var_price.tolist()
        all_lines = [
            OrderLine(var_sku[v], var_id[v], var_name[v], q, var_price[v])
            for v, q in zip(sim["line_var"].tolist(), sim["line_qty"].tolist(), strict=True)
        ]
        col = {k: v.tolist() for k, v in sim.items() if k.startswith("order_")}
        k_pos = 0
        k_store = 100
        for j in range(no):
            i = col["order_person"][j]
            online = col["order_online"][j]
            system = "store" if online else "pos"
            t = col["order_time"][j]
            src = None
            if not col["order_guest"][j] and i in primary[system]:
                src = primary[system][i][0]
                d = dup_of[system].get(i)
                if d and t >= d[1] and pick[j] < 0.5:
                    src = d[0]
            lines = all_lines[bounds[j] : bounds[j + 1]]
            if online:
                oid = str(k_store)
                k_store += 1
                ua_list = _MOBILE_UA if col["order_mobile"][j] else _DESKTOP_UA
                acq = col["order_acq"][j]
                cpn = col["order_coupon"][j]
                orders.append(
                    Order(
                        oid,
                        "online",
                        f"P{i + 1:07d}",
                        src,
                        None,
                        _dt(t),
                        status_online[col["order_status"][j]],
                        lines,
                        col["order_discount"][j],
                        col["order_tax"][j],
                        col["order_shipping"][j],
                        ua_list[col["order_ua"][j]],
                        "checkout",
                        coupon_codes[cpn] if cpn >= 0 else None,
                        ACQ_CHANNELS[acq] if acq >= 0 else None,
                    )
                )
            else:
                oid = pos_order_ids[k_pos]
                k_pos += 1
                orders.append(
                    Order(
                        oid,
                        "in_store",
                        f"P{i + 1:07d}",
                        src,
                        loc_ids[col["order_location"][j]],
                        _dt(t),
                        "COMPLETED",
                        lines,
                        col["order_discount"][j],
                        col["order_tax"][j],
                        0,
                    )
                )

    # people objects
    first_order_online = np.zeros(n, dtype=bool)
    pers, fi = np.unique(o_person, return_index=True)
    first_order_online[pers] = o_online[fi]
    acq_name = np.array(ACQ_CHANNELS, dtype=object)[pop.acq]
    acq_person = np.where(
        pop.prospect,
        np.where(pop.membership == 0, "in_store", acq_name),
        np.where(first_order_online, acq_name, "in_store"),
    ).tolist()
    pids = [f"P{i + 1:07d}" for i in range(n)]
    tz, lam, pdrop = pop.tz.tolist(), pop.lam.tolist(), pop.p.tolist()
    t0_l = pop.t0.astype(np.int64).tolist()
    cols = [
        pop.pref_hour.tolist(),
        pop.pref_wd.tolist(),
        pop.email_consent.tolist(),
        pop.sms_consent.tolist(),
        pop.mobile_share.tolist(),
    ]
    people = [
        Person(
            pids[i],
            ident.given[i],
            ident.family[i],
            ident.email[i],
            ph[0] if ph else None,
            ident.address[i],
            ident.city[i],
            ident.postcode[i],
            TZ_COUNTRY[tz[i]],
            TIMEZONES[tz[i]],
            cols[0][i],
            cols[1][i],
            cols[2][i],
            cols[3][i],
            acq_person[i],
            lam[i],
            pdrop[i],
            cols[4][i],
            _dt(t0_l[i]),
        )
        for i, ph in enumerate(ident.phone)
    ]

    # truth
    person_of: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for i, keys in person_keys.items():
        for key in keys:
            person_of[key] = pids[i]
        ks = sorted(keys)
        pairs.extend((ks[a], ks[b]) for a in range(len(ks)) for b in range(a + 1, len(ks)))
    pairs.sort()
    planted = {f"pos:{c.source_id}": list(c.dirty) for c in pos_customers if c.dirty}
    planted.update({f"store:{c.source_id}": list(c.dirty) for c in store_customers if c.dirty})
    death = np.where(np.isfinite(sim["death"]), sim["death"], -1.0).tolist()
    alive = (~sim["dropped"]).astype(float).tolist()
    n_orders_l, n_repl_l, share = (
        n_orders.astype(float).tolist(),
        n_repl.astype(float).tolist(),
        pop.online_share.tolist(),
    )
    true_rates = {
        pids[i]: {
            "rate_per_year": lam[i],
            "p_dropout": pdrop[i],
            "alive": alive[i],
            "dropout_at": death[i],
            "first_seen": float(t0_l[i]),
            "n_orders": n_orders_l[i],
            "n_replenishment_orders": n_repl_l[i],
            "online_share": share[i],
        }
        for i in range(n)
    }
    params = {
        "r": R_SHAPE,
        "alpha_per_year": ALPHA_RATE,
        "a": A_BETA,
        "b": B_BETA,
        "window_days": WINDOW_DAYS,
        "vat_rate": VAT_RATE,
        "replenish_start_max": REPLENISH_START_MAX,
        "replenish_half_rate": REPLENISH_HALF_RATE,
        "replenish_continue_p": REPLENISH_CONTINUE_P,
        "shared_phones": float(ident.shared_phones),
        "n_orders": float(no),
    }
    truth = Truth(seed, scale, pairs, person_of, true_rates, planted, params)
    return World(
        now,
        "GBP",
        STORE_TIMEZONE,
        cat.locations,
        list(CATEGORIES),
        cat.products,
        cat.stock,
        people,
        pos_customers,
        store_customers,
        orders,
        truth,
        orders_omitted,
    )
