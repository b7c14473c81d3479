"""Scales, calendar and generator hyper-parameters, and the seeded random streams."""

from __future__ import annotations

import numpy as np

SCALES: dict[str, tuple[int, int]] = {  # scale -> (people, products)
    "tiny": (300, 60),
    "small": (5_000, 60),
    "medium": (50_000, 300),
    "large": (1_000_000, 300),
}
_OBJECT_ORDER_LIMIT = 200_000  # people above which generate_world skips per-order objects

YEAR_S = 365.25 * 86400.0
DAY_S = 86400
WINDOW_DAYS = 730
VAT_RATE = 0.20
SHIPPING_MINOR = 395
FREE_SHIPPING_FROM_MINOR = 4000

# BG/NBD hyper-parameters (lambda per year).
R_SHAPE, ALPHA_RATE = 0.9, 0.225
A_BETA, B_BETA = 1.0, 3.0
PROSPECT_SHARE = 0.04
# replenishment chains start with probability START_MAX * lambda / (lambda + HALF_RATE): engaged buyers
# adopt re-buy habits more often (keeps order counts ranked by lambda)
REPLENISH_START_MAX, REPLENISH_HALF_RATE, REPLENISH_CONTINUE_P = 0.9, 8.0, 0.8

STORE_TIMEZONE = "Europe/London"
TIMEZONES = ["Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York"]
TZ_COUNTRY = ["GB", "FR", "DE", "US"]
TZ_P = [0.85, 0.05, 0.04, 0.06]
MEMBERSHIP = ["pos_only", "store_only", "both"]
ACQ_CHANNELS = ["ads", "referral", "coupon", "organic"]
ACQ_P = [0.30, 0.15, 0.20, 0.35]

_STREAMS = {
    "catalog": 1,
    "people": 2,
    "orders": 3,
    "identity": 4,
    "records": 5,
    "ids": 6,
    "pos_customer_ids": 7,
    "pos_order_ids": 8,
}


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, _STREAMS[stream]]))
