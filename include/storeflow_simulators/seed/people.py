"""People: behaviour only (names and addresses are drawn later, only for generate_world)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storeflow_simulators.seed.catalogue import _CAT_POPULARITY, CATEGORIES
from storeflow_simulators.seed.params import (
    A_BETA,
    ACQ_P,
    ALPHA_RATE,
    B_BETA,
    DAY_S,
    PROSPECT_SHARE,
    R_SHAPE,
    TZ_P,
    WINDOW_DAYS,
    _rng,
)

_GB_CITIES = [
    "London",
    "Manchester",
    "Bristol",
    "Leeds",
    "Birmingham",
    "Edinburgh",
    "Glasgow",
    "Cardiff",
    "Oxford",
    "Brighton",
]
_GB_CITY_P = [0.45, 0.18, 0.12, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03, 0.03]
_GB_CITY_HOME = [0, 1, 2, 1, 0, 1, 1, 2, 0, 0]  # nearest shop


@dataclass
class _People:
    n: int
    tz: np.ndarray
    city: np.ndarray  # index into _GB_CITIES for GB, else 0
    home_loc: np.ndarray
    lam: np.ndarray
    p: np.ndarray
    t0: np.ndarray  # first purchase / sign-up, epoch seconds (float)
    prospect: np.ndarray
    has_email: np.ndarray
    has_phone: np.ndarray
    membership: np.ndarray  # 0 pos_only, 1 store_only, 2 both
    guest: np.ndarray  # buys online without an account
    online_share: np.ndarray
    mobile_share: np.ndarray
    pref_hour: np.ndarray
    pref_wd: np.ndarray
    nfav: np.ndarray
    fav_before: np.ndarray
    fav_after: np.ndarray
    switch_t: np.ndarray  # inf = no drift
    speed: np.ndarray
    email_consent: np.ndarray
    sms_consent: np.ndarray
    acq: np.ndarray  # index into ACQ_CHANNELS


def _draw_favourites(rng: np.random.Generator, n: int) -> np.ndarray:
    keys = np.log(_CAT_POPULARITY)[None, :] + rng.gumbel(size=(n, len(CATEGORIES)))
    return np.argsort(-keys, axis=1)[:, :3]


def _build_people(seed: int, n: int, now_s: int) -> _People:
    rng = _rng(seed, "people")
    tz = rng.choice(4, size=n, p=TZ_P)
    city = np.where(tz == 0, rng.choice(len(_GB_CITIES), size=n, p=_GB_CITY_P), 0)
    home_loc = np.where(tz == 0, np.array(_GB_CITY_HOME)[city], 0)
    lam = rng.gamma(R_SHAPE, 1.0 / ALPHA_RATE, size=n)
    p = rng.beta(A_BETA, B_BETA, size=n)
    x = rng.random(n) ** (1.0 / 1.5)
    t0 = now_s - WINDOW_DAYS * DAY_S * (1.0 - x) - 3600.0
    prospect = rng.random(n) < PROSPECT_SHARE
    has_email = rng.random(n) >= 0.03
    has_phone = rng.random(n) < np.where(tz == 2, 0.5, 0.72)
    membership = rng.choice(3, size=n, p=[0.30, 0.35, 0.35])
    membership[~has_email] = 0
    guest = (membership == 1) & ~prospect & (rng.random(n) < 0.12)
    online_share = np.select([membership == 0, membership == 1], [0.0, 1.0], rng.beta(2.0, 2.0, size=n))
    mobile_share = rng.beta(1.6, 1.4, size=n)
    mix = rng.choice(4, size=n, p=[0.40, 0.20, 0.20, 0.20])
    pref_hour = np.select(
        [mix == 0, mix == 1, mix == 2],
        [rng.integers(19, 22, size=n), rng.integers(12, 14, size=n), rng.integers(7, 10, size=n)],
        rng.integers(0, 24, size=n),
    )
    pref_wd = rng.choice(7, size=n, p=[0.12, 0.12, 0.13, 0.13, 0.14, 0.19, 0.17])
    nfav = rng.choice([1, 2, 3], size=n, p=[0.3, 0.45, 0.25])
    fav_before = _draw_favourites(rng, n)
    fav_after = _draw_favourites(rng, n)
    drift = rng.random(n) < 0.35
    switch_t = np.where(drift, t0 + rng.random(n) * (now_s - t0), np.inf)
    speed = rng.lognormal(0.0, 0.2, size=n)
    email_consent = has_email & (rng.random(n) < 0.72)
    sms_consent = has_phone & (rng.random(n) < 0.55)
    acq = rng.choice(4, size=n, p=ACQ_P)
    return _People(
        n,
        tz,
        city,
        home_loc,
        lam,
        p,
        t0,
        prospect,
        has_email,
        has_phone,
        membership,
        guest,
        online_share,
        mobile_share,
        pref_hour,
        pref_wd,
        nfav,
        fav_before,
        fav_after,
        switch_t,
        speed,
        email_consent,
        sms_consent,
        acq,
    )
