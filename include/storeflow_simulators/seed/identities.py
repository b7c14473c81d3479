"""Identities: names, addresses, emails and phones of the people."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from storeflow_simulators.seed.params import TZ_COUNTRY, _rng
from storeflow_simulators.seed.people import _GB_CITIES, _People

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
