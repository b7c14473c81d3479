"""Catalogue: categories, products, variations, prices, stock and shops."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from storeflow_simulators.seed.ids import _square_ids
from storeflow_simulators.seed.params import DAY_S, STORE_TIMEZONE, _rng
from storeflow_simulators.world import (
    Location,
    Product,
    StockCount,
    Variation,
)

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
    ],
    "Kitchen": [
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
    ],
    "Apparel": [
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
    ],
    "Gifts": [
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
