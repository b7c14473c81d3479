"""A small hand-made :class:`World` for POS tests and quick demos (no seed generator needed).

``sample_world(now, n_products=6)``: two active shops and one closed one, a few categories, items with
one to three variations, stock at the active shops, five POS customers (one with an upper-case email,
one with a national-format phone, one email-unsubscribed, one SMS-opted-out, one without email), and a
handful of in-store orders spread over the last 60 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storeflow_simulators import world as w

_CATS = ["Coffee", "Pet food", "Toner"]


def sample_world(now: datetime, n_products: int = 6) -> w.World:
    """A deterministic small world anchored at ``now`` (aware UTC)."""
    locations = [
        w.Location("LOC1MAINSTREET", "High Street", "Europe/London"),
        w.Location("LOC2STATION", "Station Kiosk", "Europe/London"),
        w.Location("LOC3CLOSED", "Old Market", "Europe/London", status="INACTIVE", feeds_online=False),
    ]
    products: list[w.Product] = []
    for i in range(n_products):
        cat = _CATS[i % len(_CATS)]
        n_var = 1 + i % 3
        variations = [
            w.Variation(
                variation_id=f"VAR{i:03d}X{j}",
                sku=f"SKU-{i:03d}-{j}",
                name=["Regular", "Large", "Family"][j],
                price_minor=499 + 250 * i + 100 * j,
                attributes={"Size": ["S", "M", "L"][j]} if n_var > 1 else {},
            )
            for j in range(n_var)
        ]
        products.append(w.Product(f"ITEM{i:03d}", f"{cat} product {i}", cat, variations,
                                replenish_days=30.0 + i))
    stock = [
        w.StockCount(v.variation_id, loc.location_id, 5 + (k * 7) % 23)
        for k, (p, v, loc) in enumerate(
            (p, v, loc) for p in products for v in p.variations for loc in locations[:2]
        )
    ]
    base = now - timedelta(days=300)
    customers = [
        w.SourceCustomer("CUSTA", "pA", "Ada", "Lovelace", "ada@example.com", "+447700900001", "1 Road", "London",
                       "N1 1AA", "GB", base, base + timedelta(days=10)),
        w.SourceCustomer("CUSTB", "pB", "Bob", "Stone", " Bob.Stone@Example.COM ", "07700 900002", "2 Road",
                       "leeds", "ls11aa", "GB", base, base + timedelta(days=20),
                       dirty=["email_case", "postcode_nospace"]),
        w.SourceCustomer("CUSTC", "pC", "Cleo", "Park", "cleo@example.com", None, "3 Road", "York", "YO1 1AA",
                       "GB", base, base + timedelta(days=30), email_unsubscribed=True),
        w.SourceCustomer("CUSTD", "pD", "Dan", "Wu", None, "+44 7700 900004", "4 Road", "Bath", "BA1 1AA",
                       "GB", base, base + timedelta(days=40), sms_unsubscribed=True),
        w.SourceCustomer("CUSTE", "pE", "Eve", "Moss", "eve(at)example", "+447700900005", "5 Road", "Hull",
                       "HU1 1AA", "GB", base, base + timedelta(days=50), dirty=["bad_email"]),
    ]
    orders: list[w.Order] = []
    all_vars = [(p, v) for p in products for v in p.variations]
    for k in range(8):
        p, v = all_vars[k % len(all_vars)]
        p2, v2 = all_vars[(k * 3 + 1) % len(all_vars)]
        lines = [w.OrderLine(v.sku, v.variation_id, p.name, 1 + k % 2, v.price_minor)]
        if k % 3 == 0:
            lines.append(w.OrderLine(v2.sku, v2.variation_id, p2.name, 1, v2.price_minor))
        cust = customers[k % len(customers)] if k % 4 != 3 else None
        orders.append(w.Order(
            order_id=f"ORDERINSTORE{k:04d}", channel="in_store", person_id=cust.person_id if cust else None,
            customer_source_id=cust.source_id if cust else None, location_id=locations[k % 2].location_id,
            created_at=now - timedelta(days=60 - 7 * k, hours=k), status="COMPLETED", lines=lines,
            tax_minor=0, discount_minor=50 if k == 2 else 0,
        ))
    return w.World(
        now=now, currency="GBP", store_timezone="Europe/London", locations=locations, categories=list(_CATS),
        products=products, stock=stock, people=[], pos_customers=customers, store_customers=[], orders=orders,
        truth=w.Truth(seed=0, scale="sample", duplicate_pairs=[], person_of={}, true_rates={}, planted_defects={}),
    )
