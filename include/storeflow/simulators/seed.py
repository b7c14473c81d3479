"""Deterministic seed data for the storeflow simulators: a small GBP retailer and its customers.

``generate_world(seed, scale, now)`` returns a :class:`~storeflow.simulators.world.World`; the same
``(seed, scale, now)`` always gives the same world (numpy ``default_rng`` streams keyed by seed and purpose).

Generative model
----------------
*Catalogue.* Nine categories (Coffee, Tea, Printer Toner, Pet Food, Perfume, Stationery, Kitchen, Apparel,
Gifts); ~60 products (tiny/small) or ~300 (medium/large) built from per-category templates, each with 1-12
variations (grind, pack, toner colour, flavour, colour x size). Consumables carry ``replenish_days``
(coffee 14-30, tea 25-35, pet food 20-30, toner 60-90, perfume 90-120). Prices are pence, **net of VAT**:
every order adds 20 % VAT on goods + shipping in ``tax_minor``, so ``Order.total_minor`` (subtotal -
discount + tax + shipping) is exactly what a vendor shows. About 8 % of products are POS-only
(``online=False``). Stock per (variation, ACTIVE location) is uniform 0..80 with ~10 % forced zeros.
Three shops: two ACTIVE that feed online stock, one INACTIVE (closed 180 days before ``now``; its
historical in-store orders remain).

*Purchases (BG/NBD).* Person ``i`` has a purchase rate ``lambda_i ~ Gamma(r=0.9, rate=alpha=0.225/yr)``
(mean 4/yr, heavy tail) and a dropout probability ``p_i ~ Beta(a=1, b=3)`` (mean 0.25). The first
purchase ``T0_i`` falls in the two years before ``now`` (density rising towards ``now``: acquisition
grows). Repeat purchases form a Poisson(lambda_i) process; after each purchase the person drops out with
probability ``p_i`` (then buys nothing more). 4 % of people are prospects (registered, never bought).
*Replenishment* is layered on top: the first purchase of a replenishable product starts a re-buy
chain with probability ``0.9 * lambda_i / (lambda_i + 8)`` (engaged buyers adopt habits more often),
with gaps ``replenish_days * quantity * speed_i * LogNormal(0, 0.15)`` (two units last twice as long;
``speed_i ~ LogNormal(0, 0.2)``), continuing each cycle with probability 0.8 while the person is alive.
Observed order counts are therefore BG/NBD counts plus replenishment orders (~25-30 % of orders);
``Truth.true_rates[pid]`` holds ``rate_per_year``, ``p_dropout``, ``alive``, ``dropout_at`` (epoch s,
-1 if alive), ``first_seen``, ``n_orders``, ``n_replenishment_orders``, ``online_share``, and
``Truth.generator_params`` the hyper-parameters.

*Baskets.* 1-4 lines; each line's category is one of the person's 1-3 favourite categories (p=0.75) or
a popularity-weighted random one; 35 % of people change favourites at a random time (taste drift).
Products within a category follow a Zipf-like popularity; quantity 1 (80 %), 2 (15 %), 3 (5 %).

*Channels and time.* Each person is POS-only (30 %), store-only (35 %) or both (35 %; online share ~
Beta(2, 2)); 12 % of store-only buyers are guests with no account (orders with ``customer_source_id``
None, known only by billing email), and 5 % of other online / in-store orders are guest / anonymous.
Online orders are moved to the person's local ``preferred_hour`` (+- N(0, 1.3) h) and, 30 % of the time,
to their ``preferred_weekday`` of that week, in their own time zone (London 85 %, Paris, Berlin, New
York); in-store orders fall in shop hours (Europe/London). User agents follow ``mobile_share``;
``created_via`` is "checkout"; the first online order carries the acquisition channel (ads / referral /
coupon / organic) and, for coupon acquisitions, coupon WELCOME10. Online statuses: recent orders mostly
processing, older ones completed with a few cancelled / refunded; POS orders COMPLETED.

*Customer records.* One record per system the person uses (POS ids Square-like, store ids 1..N in
creation order), plus ~2 % same-system duplicates. Records differ in format (email case / whitespace,
phone national vs E.164 vs spaced, name case, postcode without space, country spelled out - store
records only: Square's ``address.country`` is an ISO 3166-1 alpha-2 enum, so POS records always carry
the code) and ~6 % carry planted defects (broken or missing email, unparseable phone, very long strings, swapped or
ASCII-folded names); unicode names are planted too. Every variant is listed in ``SourceCustomer.dirty``
and ``Truth.planted_defects`` (labels split into :data:`FORMAT_VARIANTS` and :data:`HARD_DEFECTS`);
``Truth.duplicate_pairs`` lists all pairs of keys of one person, and
``Truth.person_of`` maps every key ("pos:<id>" / "store:<id>") to its person. Consent follows the person,
with ~4 % opt-outs recorded in only one system. Emails use example.com/.org/.net; phones come from
fictional ranges (UK 07700 900xxx mobiles and Ofcom drama landlines, US NPA-555-01xx, FR 06 39 98 xx xx;
Berlin customers get UK numbers),
which all parse with ``phonenumbers`` (note: libphonenumber marks 07700 900xxx and 06 39 98 as *not
valid* - use ``is_possible_number``). The pool holds ~25k numbers, so only at medium/large scale are
some numbers shared by several people (``Truth.generator_params["shared_phones"]``).

At ``scale="large"`` (1M people) ``World.orders`` is left empty (``World.orders_omitted`` is True): use
:func:`generate_transactions` for array-based order data. ``generate_transactions(seed, n, now)`` with the
same ``n`` as a scale reproduces exactly that world's orders.
"""

from __future__ import annotations

import gc
import json
import math
import unicodedata
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from storeflow.simulators.world import (
    Location,
    Order,
    OrderLine,
    Person,
    Product,
    SourceCustomer,
    StockCount,
    Truth,
    Variation,
    World,
)

__all__ = [
    "FORMAT_VARIANTS",
    "HARD_DEFECTS",
    "SCALES",
    "generate_world",
    "generate_transactions",
    "world_to_json",
    "world_from_json",
    "write_truth",
    "read_truth",
]

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


# --------------------------------------------------------------------------------------------------
# ids
_ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)


def _square_ids(rng: np.random.Generator, n: int, length: int = 26, prefix: str = "") -> list[str]:
    """``n`` distinct Square-like ids: ``prefix`` + uppercase alphanumerics."""
    if n == 0:
        return []
    codes = _ALNUM[rng.integers(0, len(_ALNUM), size=(n, length))]
    raw = np.ascontiguousarray(codes).view(f"S{length}").ravel()
    ids = [prefix + b.decode() for b in raw.tolist()]
    if len(set(ids)) != n:  # astronomically unlikely; keep deterministic anyway
        seen: set[str] = set()
        for i, v in enumerate(ids):
            while v in seen:
                v = prefix + bytes(_ALNUM[rng.integers(0, len(_ALNUM), size=length)]).decode()
            seen.add(v)
            ids[i] = v
    return ids


# --------------------------------------------------------------------------------------------------
# catalogue
CATEGORIES = [
    "Coffee",
    "Tea",
    "Printer Toner",
    "Pet Food",
    "Perfume",
    "Stationery",
    "Kitchen",
    "Apparel",
    "Gifts",
]
_CAT_CODE = ["COF", "TEA", "TON", "PET", "PRF", "STA", "KIT", "APP", "GFT"]
_CAT_POPULARITY = np.array([0.20, 0.14, 0.08, 0.12, 0.07, 0.12, 0.10, 0.09, 0.08])
_CAT_SHARE = np.array([0.12, 0.12, 0.11, 0.11, 0.10, 0.12, 0.11, 0.09, 0.12])
_REPLENISH = {
    "Coffee": (14, 30),
    "Tea": (25, 35),
    "Printer Toner": (60, 90),
    "Pet Food": (20, 30),
    "Perfume": (90, 120),
}

# stems: (code, name, base price pence, variation scheme)
_STEMS: dict[str, list[tuple[str, str, int, str]]] = {
    "Coffee": [
        (c, n + " Coffee 250g", p, "grind")
        for c, n, p in [
            ("ETH", "Ethiopia Yirgacheffe", 950),
            ("COL", "Colombia Huila", 850),
            ("BRA", "Brazil Cerrado", 750),
            ("KEN", "Kenya AA", 1050),
            ("GUA", "Guatemala Antigua", 900),
            ("SUM", "Sumatra Mandheling", 900),
            ("PER", "Peru Cajamarca", 850),
            ("RWA", "Rwanda Nyamasheke", 1000),
            ("CRI", "Costa Rica Tarrazu", 950),
            ("HON", "Honduras Marcala", 800),
            ("MEX", "Mexico Chiapas", 800),
            ("IND", "India Monsooned Malabar", 900),
            ("PNG", "Papua New Guinea", 950),
            ("BUR", "Burundi Kayanza", 1000),
            ("NIC", "Nicaragua Jinotega", 850),
            ("ESP", "House Espresso", 750),
            ("DEC", "Swiss Water Decaf", 850),
        ]
    ],
    "Tea": [
        (c, n, p, "tea")
        for c, n, p in [
            ("EGR", "Earl Grey", 450),
            ("ENB", "English Breakfast", 400),
            ("DAR", "Darjeeling", 650),
            ("ASM", "Assam", 500),
            ("SEN", "Sencha Green", 600),
            ("CHA", "Chamomile", 400),
            ("PEP", "Peppermint", 380),
            ("ROO", "Rooibos", 420),
            ("JAS", "Jasmine Pearls", 850),
            ("LAP", "Lapsang Souchong", 600),
            ("OOL", "Milk Oolong", 800),
            ("CHI", "Masala Chai", 480),
            ("LEM", "Lemon & Ginger", 400),
            ("GUN", "Gunpowder Green", 450),
        ]
    ],
    "Printer Toner": [
        (c, n + " Toner", p, s)
        for c, n, p, s in [
            ("HP26A", "HP 26A", 8900, "single"),
            ("HP30A", "HP 30A", 6900, "single"),
            ("HP59A", "HP 59A", 9900, "single"),
            ("HP83A", "HP 83A", 5900, "single"),
            ("HP85A", "HP 85A", 5500, "single"),
            ("HP201A", "HP 201A", 6400, "cmyk"),
            ("HP203A", "HP 203A", 5900, "cmyk"),
            ("HP207A", "HP 207A", 6900, "cmyk"),
            ("HP410A", "HP 410A", 9400, "cmyk"),
            ("HP415A", "HP 415A", 9900, "cmyk"),
            ("TN2420", "Brother TN-2420", 5900, "single"),
            ("TN2410", "Brother TN-2410", 4500, "single"),
            ("TN243", "Brother TN-243", 4200, "cmyk"),
            ("TN247", "Brother TN-247", 6200, "cmyk"),
            ("TN421", "Brother TN-421", 6500, "cmyk"),
            ("TN3480", "Brother TN-3480", 8500, "single"),
            ("CRG052", "Canon 052", 7900, "single"),
            ("CRG055", "Canon 055", 6900, "cmyk"),
            ("CRG067", "Canon 067", 5900, "cmyk"),
            ("TK1150", "Kyocera TK-1150", 6900, "single"),
            ("TK5240", "Kyocera TK-5240", 8900, "cmyk"),
        ]
    ],
    "Pet Food": [
        (c, n, p, s)
        for c, n, p, s in [
            ("DOGADL", "Adult Dry Dog Food 2kg", 1400, "flavour"),
            ("DOGPUP", "Puppy Dry Dog Food 2kg", 1600, "flavour"),
            ("DOGSEN", "Senior Dry Dog Food 2kg", 1500, "flavour"),
            ("DOGGFR", "Grain-Free Dog Food 2kg", 1900, "flavour"),
            ("DOGWET", "Dog Wet Food 12x400g", 1800, "flavour"),
            ("CATADL", "Adult Dry Cat Food 2kg", 1300, "flavour"),
            ("CATKIT", "Kitten Dry Cat Food 2kg", 1500, "flavour"),
            ("CATWET", "Cat Pouches 12x85g", 900, "flavour"),
            ("CATSEN", "Senior Cat Food 2kg", 1400, "flavour"),
            ("CATLIT", "Light Cat Food 2kg", 1400, "flavour"),
            ("RABNUG", "Rabbit Nuggets 2kg", 900, "single"),
            ("BRDSEED", "Wild Bird Seed 4kg", 1100, "single"),
            ("GPNUG", "Guinea Pig Nuggets 2kg", 850, "single"),
        ]
    ],
    "Perfume": [
        (c, n, p, "single_ml")
        for c, n, p in [
            ("LUM", "Maison Lumière", 7900),
            ("VER", "Atelier Verre", 6500),
            ("SAU", "Rue Sauvage", 5900),
            ("LYS", "Nord & Lys", 6900),
            ("AMB", "Ambre Noir", 8900),
            ("JAR", "Jardin Secret", 5500),
            ("BOI", "Bois Fumé", 7500),
            ("CIE", "Ciel d'Été", 6200),
            ("FIG", "Figue Blanche", 5800),
            ("OUD", "Oud Royal", 11500),
            ("NER", "Néroli Riviera", 6400),
        ]
    ],
    "Stationery": [
        (c, n, p, s)
        for c, n, p, s in [
            ("NBK", "A5 Notebook", 1200, "colours"),
            ("PAD", "A4 Lined Pad", 450, "single"),
            ("GEL", "Gel Pens 10 Pack", 650, "single"),
            ("FNT", "Fountain Pen", 2400, "colours"),
            ("ENV", "C5 Envelopes 50 Pack", 550, "single"),
            ("STK", "Sticky Notes 12 Pack", 600, "single"),
            ("PCL", "HB Pencils 12 Pack", 350, "single"),
            ("DIA", "2027 Diary", 1600, "colours"),
            ("CRD", "Greeting Cards 10 Pack", 900, "single"),
            ("WRP", "Wrapping Paper Roll", 500, "pattern"),
            ("INK", "Fountain Pen Ink", 750, "colours"),
            ("PLN", "Desk Planner", 1400, "single"),
        ]
    ],
    "Kitchen": [
        (c, n, p, s)
        for c, n, p, s in [
            ("MUG", "Stoneware Mug", 1200, "colours"),
            ("TRV", "Travel Mug", 1800, "colours"),
            ("CAF", "Cafetière", 2600, "cups"),
            ("GRD", "Burr Grinder", 5900, "single"),
            ("DRP", "Pour-Over Dripper", 2200, "single"),
            ("KET", "Gooseneck Kettle", 4900, "single"),
            ("TPT", "Teapot", 3200, "colours"),
            ("INF", "Tea Infuser", 650, "single"),
            ("FRO", "Milk Frother", 2900, "single"),
            ("SCL", "Coffee Scale", 3400, "single"),
            ("CAN", "Storage Canister", 1500, "sizes"),
            ("ESC", "Espresso Cups Set", 2400, "single"),
        ]
    ],
    "Apparel": [
        (c, n, p, s)
        for c, n, p, s in [
            ("TEE", "Logo T-Shirt", 1800, "apparel"),
            ("HOD", "Hoodie", 4200, "apparel"),
            ("SWT", "Sweatshirt", 3500, "apparel"),
            ("APR", "Barista Apron", 2400, "colours"),
            ("CAP", "Baseball Cap", 1600, "colours"),
            ("SOC", "Socks 3 Pack", 1200, "sock"),
            ("BEA", "Beanie", 1500, "colours"),
            ("TOT", "Tote Bag", 1400, "colours"),
            ("POL", "Polo Shirt", 2800, "apparel"),
            ("JKT", "Rain Jacket", 6500, "apparel"),
            ("SCF", "Scarf", 2200, "colours"),
            ("LST", "Long Sleeve Tee", 2400, "apparel"),
        ]
    ],
    "Gifts": [
        (c, n, p, s)
        for c, n, p, s in [
            ("HMP", "Coffee Lover's Hamper", 4500, "single"),
            ("TSE", "Tea Tasting Set", 2800, "single"),
            ("CND", "Scented Candle", 1800, "scent"),
            ("BOX", "Gift Box", 3500, "single"),
            ("CHO", "Chocolate Selection", 1500, "single"),
            ("DIF", "Reed Diffuser", 2400, "scent"),
            ("BTH", "Bath Set", 2600, "scent"),
            ("PZL", "Jigsaw Puzzle 1000pc", 2000, "single"),
            ("MGS", "Gift Mug Set", 2200, "single"),
            ("SOA", "Soap Trio", 1400, "scent"),
            ("CAL", "2027 Wall Calendar", 1300, "single"),
            ("BOO", "Coffee Table Book", 3000, "single"),
        ]
    ],
}
# lines: (sku code suffix, name prefix, price factor)
_LINES: dict[str, list[tuple[str, str, float]]] = {
    "Coffee": [("", "", 1.0), ("O", "Organic ", 1.15), ("R", "Reserve ", 1.4)],
    "Tea": [("", "", 1.0), ("O", "Organic ", 1.15), ("P", "Premium ", 1.3)],
    "Printer Toner": [("", "", 1.0), ("HY", "High Yield ", 1.6), ("EC", "Eco Compatible ", 0.55)],
    "Pet Food": [("", "", 1.0), ("O", "Organic ", 1.25), ("V", "Vet Formula ", 1.45)],
    "Perfume": [
        ("EDP", "Eau de Parfum ", 1.0),
        ("EDT", "Eau de Toilette ", 0.75),
        ("INT", "Intense ", 1.3),
        ("COL", "Cologne ", 0.6),
    ],
    "Stationery": [("", "", 1.0), ("R", "Recycled ", 1.05), ("L", "Leather ", 2.2)],
    "Kitchen": [("", "", 1.0), ("D", "Deluxe ", 1.4), ("C", "Compact ", 0.8)],
    "Apparel": [("", "", 1.0), ("O", "Organic Cotton ", 1.2), ("H", "Heritage ", 1.3)],
    "Gifts": [("", "", 1.0), ("L", "Luxury ", 1.6), ("M", "Mini ", 0.6)],
}
_COLOURS = ["Black", "Navy", "Red", "Grey", "Green", "White", "Mustard"]
_SCENTS = ["Fig", "Cedar", "Lavender", "Amber", "Citrus"]
_CODE = {
    "Black": "BLK",
    "Navy": "NVY",
    "Red": "RED",
    "Grey": "GRY",
    "Green": "GRN",
    "White": "WHT",
    "Mustard": "MUS",
    "Fig": "FIG",
    "Cedar": "CED",
    "Lavender": "LAV",
    "Amber": "AMB",
    "Citrus": "CIT",
    "Stripe": "STR",
    "Floral": "FLO",
    "Kraft": "KRA",
    "Chicken": "CHK",
    "Salmon": "SAL",
    "Lamb": "LMB",
    "Turkey": "TRK",
    "Cyan": "CY",
    "Magenta": "MG",
    "Yellow": "YL",
}


def _variation_specs(scheme: str, rng: np.random.Generator) -> list[tuple[str, str, dict[str, str], float]]:
    """(sku suffix, name, attributes, price factor) for a variation scheme."""
    if scheme == "grind":
        return [("", "Whole Bean", {"Grind": "Whole Bean"}, 1.0), ("G", "Ground", {"Grind": "Ground"}, 1.0)]
    if scheme == "tea":
        return [
            ("50B", "50 Bags", {"Format": "50 Bags"}, 1.0),
            ("125L", "125g Loose", {"Format": "125g Loose"}, 1.1),
        ]
    if scheme == "cmyk":
        return [
            ("BK" if c == "Black" else _CODE[c], c, {"Colour": c}, 1.0)
            for c in ["Black", "Cyan", "Magenta", "Yellow"]
        ]
    if scheme == "flavour":
        flavours = ["Chicken", "Salmon", "Lamb", "Turkey"][: int(rng.integers(2, 5))]
        return [(_CODE[f], f, {"Flavour": f}, 1.0) for f in flavours]
    if scheme == "single_ml":
        return [("50", "50ml", {"Size": "50ml"}, 1.0)]
    if scheme in ("colours", "pattern", "scent"):
        pool = (
            _SCENTS
            if scheme == "scent"
            else (["Stripe", "Floral", "Kraft"] if scheme == "pattern" else _COLOURS)
        )
        k = int(rng.integers(2, min(5, len(pool)) + 1))
        picks = sorted(rng.choice(len(pool), size=k, replace=False).tolist())
        key = {"scent": "Scent", "pattern": "Pattern"}.get(scheme, "Colour")
        return [(_CODE[pool[i]], pool[i], {key: pool[i]}, 1.0) for i in picks]
    if scheme == "cups":
        return [("3C", "3 Cup", {"Size": "3 Cup"}, 1.0), ("8C", "8 Cup", {"Size": "8 Cup"}, 1.35)]
    if scheme == "sizes":
        return [(s, s, {"Size": s}, f) for s, f in [("S", 1.0), ("M", 1.2), ("L", 1.45)]]
    if scheme == "sock":
        return [(s.replace("-", ""), s, {"Size": s}, 1.0) for s in ["4-7", "8-11"]]
    if scheme == "apparel":
        k = int(rng.integers(2, 4))
        cols = [_COLOURS[i] for i in sorted(rng.choice(len(_COLOURS), size=k, replace=False).tolist())]
        return [
            (f"{_CODE[c]}-{s}", f"{c} / {s}", {"Colour": c, "Size": s}, 1.08 if s == "XL" else 1.0)
            for c in cols
            for s in ["S", "M", "L", "XL"]
        ]
    return [("", "Regular", {}, 1.0)]


def _price(x: float) -> int:
    """Shop-style price in pence: ...49 / ...99 endings."""
    return max(99, int(round(x / 50.0)) * 50 - 1)


@dataclass
class _Catalog:
    locations: list[Location]
    products: list[Product]
    stock: list[StockCount]
    var_product: np.ndarray  # variation index -> product index
    var_price: np.ndarray
    var_sku: list[str]
    var_id: list[str]
    var_name: list[str]
    prod_cat: np.ndarray
    prod_online: np.ndarray
    prod_replenish: np.ndarray  # nan = not replenishable
    prod_var_off: np.ndarray
    prod_var_n: np.ndarray
    prod_weight: np.ndarray  # popularity within category
    bristol_closed_s: int


def _build_catalog(seed: int, n_products: int, now_s: int) -> _Catalog:
    rng = _rng(seed, "catalog")
    id_rng = _rng(seed, "ids")
    loc_ids = _square_ids(id_rng, 3, length=12, prefix="L")
    locations = [
        Location(loc_ids[0], "Covent Garden", STORE_TIMEZONE, "ACTIVE", True),
        Location(loc_ids[1], "Manchester Northern Quarter", STORE_TIMEZONE, "ACTIVE", True),
        Location(loc_ids[2], "Bristol Harbourside", STORE_TIMEZONE, "INACTIVE", False),
    ]
    counts = np.maximum(1, np.round(_CAT_SHARE / _CAT_SHARE.sum() * n_products).astype(int))
    counts[0] += n_products - counts.sum()
    specs: list[tuple[int, str, str, float, str]] = []  # (cat, sku base, name, price, scheme)
    for ci, cat in enumerate(CATEGORIES):
        cands = []
        for lcode, lname, lf in _LINES[cat]:
            for code, name, price, scheme in _STEMS[cat]:
                full = f"{name} {lname.strip()}" if cat == "Perfume" else lname + name
                cands.append((ci, f"{_CAT_CODE[ci]}-{code}{lcode}", full, price * lf, scheme))
        order = rng.permutation(len(cands))
        # prefer plain lines first so small catalogues stay recognisable
        n_stems = len(_STEMS[cat])
        plain = [i for i in order.tolist() if i < n_stems]
        rest = [i for i in order.tolist() if i >= n_stems]
        chosen = (plain + rest)[: counts[ci]]
        specs.extend(cands[i] for i in sorted(chosen))
    n = len(specs)
    item_ids = _square_ids(id_rng, n)
    products: list[Product] = []
    var_product, var_price, var_sku, var_name = [], [], [], []
    prod_cat = np.array([s[0] for s in specs])
    offline = rng.random(n) < 0.08
    for ci in range(len(CATEGORIES)):  # every category keeps an online product
        idx = np.flatnonzero(prod_cat == ci)
        if offline[idx].all():
            offline[idx[0]] = False
    replenish = np.full(n, np.nan)
    for pi, (ci, sku_base, name, price, scheme) in enumerate(specs):
        cat = CATEGORIES[ci]
        base = price * rng.uniform(0.92, 1.08)
        vspecs = _variation_specs(scheme, rng)
        if cat in _REPLENISH:
            lo, hi = _REPLENISH[cat]
            replenish[pi] = round(float(rng.uniform(lo, hi)), 1)
        variations = []
        for suffix, vname, attrs, vf in vspecs:
            sku = f"{sku_base}-250" if cat == "Coffee" else sku_base
            sku = f"{sku}-{suffix}" if suffix else sku
            variations.append(Variation("", sku, vname, _price(base * vf), dict(attrs)))
            var_product.append(pi)
            var_price.append(variations[-1].price_minor)
            var_sku.append(sku)
            var_name.append(f"{name} - {vname}" if len(vspecs) > 1 else name)
        desc = f"{name}. {cat} from our shops in London and Manchester."
        if not math.isnan(replenish[pi]):
            desc += f" One unit lasts about {int(replenish[pi])} days."
        products.append(
            Product(
                item_ids[pi],
                name,
                cat,
                variations,
                None if math.isnan(replenish[pi]) else float(replenish[pi]),
                not bool(offline[pi]),
                desc,
            )
        )
    var_ids = _square_ids(id_rng, len(var_sku))
    k = 0
    for p in products:
        for v in p.variations:
            v.variation_id = var_ids[k]
            k += 1
    assert len(set(var_sku)) == len(var_sku), "SKUs must be unique"
    var_product_a = np.array(var_product)
    prod_var_n = np.bincount(var_product_a, minlength=n)
    prod_var_off = np.concatenate([[0], np.cumsum(prod_var_n)[:-1]])
    # popularity within category: Zipf-like over a random rank
    weight = np.empty(n)
    for ci in range(len(CATEGORIES)):
        idx = np.flatnonzero(prod_cat == ci)
        ranks = rng.permutation(len(idx))
        weight[idx] = 1.0 / (ranks + 1.0) ** 0.8
    stock = []
    active = [loc for loc in locations if loc.status == "ACTIVE"]
    qty = rng.integers(0, 81, size=(len(var_ids), len(active)))
    qty[rng.random(qty.shape) < 0.10] = 0
    for vi, vid in enumerate(var_ids):
        for li, loc in enumerate(active):
            stock.append(StockCount(vid, loc.location_id, int(qty[vi, li])))
    return _Catalog(
        locations,
        products,
        stock,
        var_product_a,
        np.array(var_price, dtype=np.int64),
        var_sku,
        var_ids,
        var_name,
        prod_cat,
        ~offline,
        replenish,
        prod_var_off,
        prod_var_n,
        weight,
        now_s - 180 * DAY_S,
    )


# --------------------------------------------------------------------------------------------------
# people (behaviour only; names and addresses are drawn later, only for generate_world)
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


# --------------------------------------------------------------------------------------------------
# orders (arrays)
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


# --------------------------------------------------------------------------------------------------
# identities
_GIVEN = {
    "GB": [
        "Oliver",
        "Amelia",
        "George",
        "Isla",
        "Harry",
        "Ava",
        "Jack",
        "Mia",
        "Charlie",
        "Emily",
        "Thomas",
        "Sophie",
        "James",
        "Grace",
        "William",
        "Lily",
        "Alfie",
        "Freya",
        "Joshua",
        "Ella",
        "Daniel",
        "Chloe",
        "Samuel",
        "Ruby",
        "Henry",
        "Evie",
        "Mohammed",
        "Aisha",
        "Priya",
        "Arjun",
        "Megan",
        "Rhys",
        "Eilidh",
        "Callum",
        "Hannah",
        "Lewis",
        "Fatima",
        "Kwame",
        "Niamh",
        "Ciaran",
        "Jessica",
        "Matthew",
    ],
    "FR": [
        "Camille",
        "Louis",
        "Léa",
        "Hugo",
        "Chloé",
        "Jules",
        "Manon",
        "Lucas",
        "Inès",
        "Gabriel",
        "Élodie",
        "Théo",
    ],
    "DE": [
        "Lukas",
        "Mia",
        "Leon",
        "Hannah",
        "Finn",
        "Lena",
        "Jonas",
        "Lea",
        "Paul",
        "Sophie",
        "Jürgen",
        "Anja",
    ],
    "US": [
        "Liam",
        "Olivia",
        "Noah",
        "Emma",
        "Ethan",
        "Ava",
        "Mason",
        "Sophia",
        "Logan",
        "Madison",
        "Tyler",
        "Brianna",
    ],
}
_FAMILY = {
    "GB": [
        "Smith",
        "Jones",
        "Taylor",
        "Brown",
        "Williams",
        "Wilson",
        "Johnson",
        "Davies",
        "Robinson",
        "Wright",
        "Thompson",
        "Evans",
        "Walker",
        "White",
        "Roberts",
        "Green",
        "Hall",
        "Wood",
        "Jackson",
        "Clarke",
        "Patel",
        "Khan",
        "Lewis",
        "James",
        "Phillips",
        "Mason",
        "Mitchell",
        "Rose",
        "Davis",
        "Campbell",
        "Kelly",
        "O'Brien",
        "MacDonald",
        "Hughes",
        "Edwards",
        "Ahmed",
        "Begum",
        "Singh",
        "Okafor",
        "Baker",
    ],
    "FR": [
        "Martin",
        "Bernard",
        "Dubois",
        "Thomas",
        "Robert",
        "Richard",
        "Petit",
        "Durand",
        "Leroy",
        "Moreau",
        "Lefèvre",
        "Girard",
    ],
    "DE": [
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Koch",
        "Bauer",
    ],
    "US": [
        "Johnson",
        "Miller",
        "Garcia",
        "Rodriguez",
        "Martinez",
        "Anderson",
        "Moore",
        "Jackson",
        "Lee",
        "Harris",
        "Clark",
        "Young",
    ],
}
_UNICODE_NAMES = [
    ("Zoë", "Hart"),
    ("Łukasz", "Nowak"),
    ("Siobhán", "Ní Bhriain"),
    ("José", "Núñez"),
    ("Björn", "Øster"),
    ("Chloë", "Brontë"),
    ("Renée", "Dvořák"),
    ("Søren", "Kierkegård"),
    ("花子", "山田"),
    ("太郎", "山田"),
    ("Ana", "Gonçalves"),
    ("Ayşe", "Şahin"),
]
_STREETS = {
    "GB": [
        "High Street",
        "Station Road",
        "Church Lane",
        "Victoria Road",
        "Park Avenue",
        "Mill Lane",
        "King Street",
        "Queen's Road",
        "Green Lane",
        "Manor Road",
        "Albert Street",
        "The Crescent",
    ],
    "FR": ["rue de la Paix", "avenue Victor Hugo", "rue des Lilas", "boulevard Voltaire", "rue Oberkampf"],
    "DE": ["Hauptstraße", "Schillerstraße", "Gartenweg", "Bahnhofstraße", "Lindenallee"],
    "US": ["Main St", "Oak Ave", "Maple Dr", "Broadway", "Park Pl", "Elm St"],
}
_GB_POSTCODE_AREAS = [
    ["E1", "N1", "SE1", "SW1A", "W1D", "EC1A", "NW3", "E8"],
    ["M1", "M4", "M14", "M20"],
    ["BS1", "BS6", "BS8"],
    ["LS1", "LS6"],
    ["B1", "B15"],
    ["EH1", "EH9"],
    ["G1", "G12"],
    ["CF10", "CF24"],
    ["OX1", "OX4"],
    ["BN1", "BN2"],
]
_POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
_US_AREA = [
    201,
    202,
    212,
    213,
    305,
    312,
    415,
    617,
    646,
    718,
    917,
    206,
    303,
    404,
    512,
    602,
    702,
    713,
    804,
    919,
]
_GB_LANDLINE_PREFIX = [
    "2079460",
    "1134960",
    "1144960",
    "1164960",
    "1174960",
    "1184960",
    "1214960",
    "1314960",
    "1414960",
    "1514960",
    "1614960",
    "1914980",
    "2920180",
]


def _phone_pool(country: str) -> list[tuple[str, str, str]]:
    """(E.164, national, international) numbers from fictional / reserved ranges."""
    out: list[tuple[str, str, str]] = []
    if country == "GB":
        for i in range(1000):
            out.append((f"+447700900{i:03d}", f"07700 900{i:03d}", f"+44 7700 900{i:03d}"))
        for pre in _GB_LANDLINE_PREFIX:
            for i in range(1000):
                digits = pre + f"{i:03d}"
                if digits.startswith("20") or digits.startswith("29"):
                    nat = f"0{digits[:2]} {digits[2:6]} {digits[6:]}"
                    intl = f"+44 {digits[:2]} {digits[2:6]} {digits[6:]}"
                else:
                    nat = f"0{digits[:3]} {digits[3:6]} {digits[6:]}"
                    intl = f"+44 {digits[:3]} {digits[3:6]} {digits[6:]}"
                out.append(("+44" + digits, nat, intl))
    elif country == "US":
        for a in _US_AREA:
            for i in range(100, 200):
                out.append((f"+1{a}555{i:04d}", f"({a}) 555-{i:04d}", f"+1 {a}-555-{i:04d}"))
    elif country == "FR":
        for i in range(10000):
            d = f"{i:04d}"
            out.append((f"+3363998{d}", f"06 39 98 {d[:2]} {d[2:]}", f"+33 6 39 98 {d[:2]} {d[2:]}"))
    return out


@lru_cache(maxsize=4096)
def _ascii(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if c.isascii() and (c.isalnum()))


@dataclass
class _Identity:
    given: list[str]
    family: list[str]
    email: list[str | None]
    phone: list[tuple[str, str, str] | None]
    address: list[str]
    city: list[str]
    postcode: list[str]
    unicode_name: list[bool]
    shared_phones: int


def _build_identities(seed: int, pop: _People) -> _Identity:
    rng = _rng(seed, "identity")
    n = pop.n
    country_a = np.array(TZ_COUNTRY)[pop.tz]
    country = country_a.tolist()
    uni = (rng.random(n) < 0.03).tolist()
    uni_pick = rng.integers(0, len(_UNICODE_NAMES), size=n).tolist()
    g_u, f_u = rng.random(n).tolist(), rng.random(n).tolist()
    givens, families = [], []
    for i in range(n):
        if uni[i]:
            g, f = _UNICODE_NAMES[uni_pick[i]]
        else:
            c = country[i]
            g = _GIVEN[c][int(g_u[i] * len(_GIVEN[c]))]
            f = _FAMILY[c][int(f_u[i] * len(_FAMILY[c]))]
        givens.append(g)
        families.append(f)
    uni_name = [not (g + f).isascii() for g, f in zip(givens, families, strict=True)]
    pattern = rng.choice(5, size=n, p=[0.35, 0.2, 0.15, 0.15, 0.15]).tolist()
    dom = rng.integers(0, 3, size=n).tolist()
    num = rng.integers(1, 99, size=n).tolist()
    has_email = pop.has_email.tolist()
    emails: list[str | None] = []
    seen: Counter[str] = Counter()
    for i in range(n):
        if not has_email[i]:
            emails.append(None)
            continue
        g, f = _ascii(givens[i]).lower(), _ascii(families[i]).lower()
        if not g or not f:
            g, f = "customer", f"{i + 1}"
        local = [f"{g}.{f}", f"{g}{f}", f"{g[0]}.{f}", f"{g}_{f}{num[i]}", f"{f}.{g}"][pattern[i]]
        seen[local] += 1
        if seen[local] > 1:
            local = f"{local}{seen[local]}"
        emails.append(f"{local}@{_EMAIL_DOMAINS[dom[i]]}")
    # phones: without replacement from each country's pool while it lasts
    phones: list[tuple[str, str, str] | None] = [None] * n
    shared = 0
    phone_country = np.where(country_a == "DE", "GB", country_a)
    for c in ("GB", "US", "FR"):
        pool = _phone_pool(c)
        who = np.flatnonzero(pop.has_phone & (phone_country == c))
        if c == "GB":  # mobiles first (most people give a mobile), then landlines
            order = np.concatenate([rng.permutation(1000), 1000 + rng.permutation(len(pool) - 1000)])
        else:
            order = rng.permutation(len(pool))
        order_l = order.tolist()
        for j, i in enumerate(who.tolist()):
            phones[i] = pool[order_l[j % len(order_l)]]
        shared += max(0, len(who) - len(order))
    street = rng.integers(0, 1000, size=n).tolist()
    house = rng.integers(1, 200, size=n).tolist()
    area = rng.integers(0, 100, size=n).tolist()
    sector = rng.integers(1, 10, size=n).tolist()
    l1 = rng.integers(0, len(_POSTCODE_LETTERS), size=n).tolist()
    l2 = rng.integers(0, len(_POSTCODE_LETTERS), size=n).tolist()
    city_idx = pop.city.tolist()
    addresses, cities, postcodes = [], [], []
    for i in range(n):
        c = country[i]
        streets = _STREETS[c]
        st = streets[street[i] % len(streets)]
        if c == "GB":
            city = _GB_CITIES[city_idx[i]]
            areas = _GB_POSTCODE_AREAS[city_idx[i]]
            unit = _POSTCODE_LETTERS[l1[i]] + _POSTCODE_LETTERS[l2[i]]
            pc = f"{areas[area[i] % len(areas)]} {sector[i]}{unit}"
            addr = f"{house[i]} {st}"
        elif c == "FR":
            city, pc, addr = "Paris", f"750{1 + area[i] % 20:02d}", f"{house[i]} {st}"
        elif c == "DE":
            city, pc, addr = "Berlin", f"10{115 + area[i] % 80:03d}", f"{st} {house[i]}"
        else:
            city, pc, addr = "New York", f"100{area[i] % 40:02d}", f"{house[i]} {st}"
        addresses.append(addr)
        cities.append(city)
        postcodes.append(pc)
    return _Identity(givens, families, emails, phones, addresses, cities, postcodes, uni_name, shared)


# --------------------------------------------------------------------------------------------------
# source customer records
#: labels in ``SourceCustomer.dirty``: harmless format differences a cleaner must normalise
FORMAT_VARIANTS = frozenset({
    "email_case", "email_whitespace", "phone_national", "phone_spaced", "name_upper", "name_lower",
    "postcode_nospace", "postcode_lower", "country_name", "unicode_name",
})  # fmt: skip
#: labels for real defects (bad or missing values, duplicates, conflicting opt-outs)
HARD_DEFECTS = frozenset({
    "email_broken", "email_missing", "phone_unparseable", "long_string", "name_swapped", "name_ascii_folded",
    "duplicate_record", "email_alias", "email_optout_only_here", "sms_optout_only_here",
})  # fmt: skip
_COUNTRY_NAMES = {
    "GB": ["United Kingdom", "uk", "U.K.", "England"],
    "FR": ["France", "fr"],
    "DE": ["Germany", "Deutschland"],
    "US": ["USA", "United States"],
}
_BROKEN_EMAIL = ["double_at", "no_at", "trailing_dot", "space_inside"]
_BAD_PHONES = ["n/a", "call after 5pm", "123", "tel: unknown", "+44 7700 900{d:03d} 456 789", "+0 000"]


def _break_email(email: str, kind: str) -> str:
    local, _, domain = email.partition("@")
    if kind == "double_at":
        return f"{local}@@{domain}"
    if kind == "no_at":
        return f"{local}.{domain}"
    if kind == "trailing_dot":
        return f"{email}."
    return f"{local} @{domain}"


def _email_case(email: str) -> str:
    local, _, domain = email.partition("@")
    parts = ".".join(p[:1].upper() + p[1:] for p in local.split("."))
    return f"{parts}@{domain.capitalize()}"


@dataclass
class _Rec:
    system: str  # "pos" | "store"
    person: int
    created_s: int
    duplicate: bool


def _dt(s: float | int) -> datetime:
    return datetime.fromtimestamp(int(s), UTC)


@dataclass
class _PersonLists:
    """Per-person values as Python lists (fast scalar access in the record loop)."""

    tz: list[int]
    email_consent: list[bool]
    sms_consent: list[bool]


def _make_record(
    rec: _Rec,
    source_id: str,
    pop: _PersonLists,
    ident: _Identity,
    u: list[float],
    now_s: int,
    optout_here: tuple[bool, bool],
) -> SourceCustomer:
    """One system's (possibly dirty) view of a person. ``u`` holds this record's uniforms."""
    i = rec.person
    pos = rec.system == "pos"
    dirty: list[str] = []
    given, family = ident.given[i], ident.family[i]
    email = ident.email[i]
    phone_t = ident.phone[i]
    country = TZ_COUNTRY[pop.tz[i]]
    address, postcode = ident.address[i], ident.postcode[i]
    if ident.unicode_name[i]:
        dirty.append("unicode_name")
    if rec.duplicate:
        dirty.append("duplicate_record")
        if not pos and email:  # a second store account needs its own email
            local, _, domain = email.partition("@")
            other_domain = _EMAIL_DOMAINS[(_EMAIL_DOMAINS.index(domain) + 1) % 3]
            email = f"{local}+shop@{domain}" if u[0] < 0.5 else f"{local}@{other_domain}"
            dirty.append("email_alias")
        elif pos and u[0] < 0.5:
            email = None
            dirty.append("email_missing")
    # format variants
    if email and u[1] < 0.12:
        email = _email_case(email)
        dirty.append("email_case")
    if email and u[2] < 0.04:
        email = f" {email} " if u[2] < 0.02 else f"{email} "
        dirty.append("email_whitespace")
    phone: str | None = None
    if phone_t:
        fmt = u[3]
        cut_e164, cut_nat = (0.6, 0.85) if pos else (0.3, 0.85)
        if fmt < cut_e164:
            phone = phone_t[0]
        elif fmt < cut_nat:
            phone = phone_t[1]
            dirty.append("phone_national")
        else:
            phone = phone_t[2]
            dirty.append("phone_spaced")
    if u[4] < 0.04:
        given, family = given.upper(), family.upper()
        dirty.append("name_upper")
    elif u[4] < 0.08:
        given, family = given.lower(), family.lower()
        dirty.append("name_lower")
    if country == "GB" and u[5] < 0.10:
        postcode = postcode.replace(" ", "")
        dirty.append("postcode_nospace")
    elif country == "GB" and u[5] < 0.13:
        postcode = postcode.lower()
        dirty.append("postcode_lower")
    if not pos and u[6] < 0.03:  # Square's address.country is an ISO 3166-1 alpha-2 enum: no dirt there
        names = _COUNTRY_NAMES[country]
        country = names[int(u[7] * len(names))]
        dirty.append("country_name")
    # planted defects (~6 %)
    if u[8] < 0.06:
        kinds = ["email_broken", "phone_unparseable", "long_string", "name_swapped"]
        if pos:
            kinds.append("email_missing")
        if ident.unicode_name[i]:
            kinds.append("name_ascii_folded")
        kind = kinds[int(u[9] * len(kinds))]
        applied = True
        if kind == "email_broken":
            applied = email is not None
            if email:
                email = _break_email(email, _BROKEN_EMAIL[int(u[10] * 4)])
        elif kind == "email_missing":
            applied = email is not None
            email = None
            dirty = [d for d in dirty if d not in ("email_case", "email_whitespace")]
        elif kind == "phone_unparseable":
            phone = _BAD_PHONES[int(u[10] * len(_BAD_PHONES))].format(d=int(u[11] * 1000))
            dirty = [d for d in dirty if d not in ("phone_national", "phone_spaced")]
        elif kind == "long_string":
            address = address + ", " + ", ".join(["Flat 2B, The Old Mill Buildings, Rear Entrance"] * 6)
        elif kind == "name_swapped":
            given, family = family, given
        elif kind == "name_ascii_folded":
            given, family = _ascii_fold(given), _ascii_fold(family)
        if applied and kind not in dirty:
            dirty.append(kind)
    email_unsub = not bool(pop.email_consent[i]) or optout_here[0]
    sms_unsub = not bool(pop.sms_consent[i]) or optout_here[1]
    if optout_here[0] and pop.email_consent[i]:
        dirty.append("email_optout_only_here")
    if optout_here[1] and pop.sms_consent[i]:
        dirty.append("sms_optout_only_here")
    created = rec.created_s
    updated = created + int(u[12] * (now_s - 1 - created)) if u[13] < 0.4 else created
    return SourceCustomer(
        source_id,
        f"P{i + 1:07d}",
        given,
        family,
        email,
        phone,
        address,
        ident.city[i],
        postcode,
        country,
        _dt(created),
        _dt(updated),
        email_unsub,
        sms_unsub,
        dirty,
    )


def _ascii_fold(s: str) -> str:
    folded = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    return folded.replace("Ł", "L").replace("ł", "l").replace("Ø", "O").replace("ø", "o")


# --------------------------------------------------------------------------------------------------
# world
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


# --------------------------------------------------------------------------------------------------
# JSON
_SCALAR = (str, int, float, bool, type(None))


def _enc(obj: Any) -> Any:
    if isinstance(obj, _SCALAR):
        return obj
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, list | tuple):
        return [v if isinstance(v, _SCALAR) else _enc(v) for v in obj]
    if isinstance(obj, dict):
        return {k: v if isinstance(v, _SCALAR) else _enc(v) for k, v in obj.items()}
    if hasattr(obj, "__dataclass_fields__"):
        return {k: v if isinstance(v, _SCALAR) else _enc(v) for k, v in vars(obj).items()}
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _pdt(v: str | None) -> datetime | None:
    if v is None:
        return None
    d = datetime.fromisoformat(v)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _dec(cls: type, d: dict[str, Any], **override: Any) -> Any:
    names = {f.name for f in fields(cls)}
    kw = {k: v for k, v in d.items() if k in names}
    kw.update(override)
    return cls(**kw)


def _truth_from_json(d: dict[str, Any]) -> Truth:
    return _dec(Truth, d, duplicate_pairs=[tuple(p) for p in d["duplicate_pairs"]])


def world_to_json(world: World) -> dict[str, Any]:
    """JSON-ready dict of ``world`` (datetimes as ISO 8601 strings with offset)."""
    with _gc_paused():
        return _enc(world)


def world_from_json(d: dict[str, Any]) -> World:
    """Inverse of :func:`world_to_json`."""
    with _gc_paused():
        return _world_from_json(d)


def _world_from_json(d: dict[str, Any]) -> World:
    def src(c: dict[str, Any]) -> SourceCustomer:
        return _dec(SourceCustomer, c, created_at=_pdt(c["created_at"]), updated_at=_pdt(c["updated_at"]))

    return _dec(
        World,
        d,
        now=_pdt(d["now"]),
        locations=[_dec(Location, x) for x in d["locations"]],
        categories=list(d["categories"]),
        products=[
            _dec(Product, p, variations=[_dec(Variation, v) for v in p["variations"]]) for p in d["products"]
        ],
        stock=[_dec(StockCount, s) for s in d["stock"]],
        people=[_dec(Person, p, first_seen=_pdt(p.get("first_seen"))) for p in d["people"]],
        pos_customers=[src(c) for c in d["pos_customers"]],
        store_customers=[src(c) for c in d["store_customers"]],
        orders=[
            _dec(Order, o, created_at=_pdt(o["created_at"]), lines=[_dec(OrderLine, ln) for ln in o["lines"]])
            for o in d["orders"]
        ],
        truth=_truth_from_json(d["truth"]),
    )


def write_truth(world: World, path: str | Path) -> Path:
    """Write ``world.truth`` as JSON to ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_enc(world.truth), ensure_ascii=False), encoding="utf-8")
    return path


def read_truth(path: str | Path) -> Truth:
    """Read a truth file written by :func:`write_truth`."""
    return _truth_from_json(json.loads(Path(path).read_text(encoding="utf-8")))
