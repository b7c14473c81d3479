"""Small hand-made worlds and helpers for store simulator tests (no seed generator needed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from storeflow_simulators.world import (
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

TEST_STORE_TIMEZONE = "Europe/Paris"  # a non-UTC site all year round (UTC+1 in winter, UTC+2 in summer)


def small_world(now: datetime | None = None, n_simple: int = 5, timezone: str = TEST_STORE_TIMEZONE) -> World:
    """A world with ``n_simple`` simple products, one variable T-shirt (4 variations), one offline product,
    two locations (one not feeding online), three store customers and four online orders (one guest).
    The store's site time zone is ``timezone`` (default Europe/Paris, like a real non-UTC shop)."""
    now = now or datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    locations = [Location("LOC1", "High Street", "Europe/London"),
                 Location("LOC2", "Warehouse", "Europe/London", feeds_online=False)]
    products = [
        Product(f"ITEM{i}", f"Coffee {i}", "Coffee", [Variation(f"VAR{i}", f"COF-{i:03d}", "Regular", 1000 + i * 50)],
                replenish_days=30)
        for i in range(1, n_simple + 1)
    ]
    tee = [Variation(f"TEE-{c}-{s}", f"TEE-{c}-{s}", f"{c} / {s}", 2000, {"Colour": c, "Size": s})
           for c in ("RED", "BLUE") for s in ("M", "L")]
    products.append(Product("ITEMTEE", "T-shirt", "Clothing", tee))
    products.append(Product("ITEMOFF", "Gift card", "Gifts", [Variation("VAROFF", "GIFT-01", "Regular", 2500)],
                            online=False))
    stock = []
    for p in products:
        for v in p.variations:
            stock.append(StockCount(v.variation_id, "LOC1", 10))
            stock.append(StockCount(v.variation_id, "LOC2", 100))
    people = [
        Person(f"P{i}", given, family, email, phone, "1 Road", "London", "SW1A 1AA", "GB", "Europe/London", 19, 2,
               True, i != 2, "ads" if i == 1 else "organic", 4.0, 0.1, 0.5)
        for i, (given, family, email, phone) in enumerate([
            ("Ann", "Lee", "ann@example.com", "+447700900001"),
            ("Bob", "Ray", "bob@example.com", "+447700900002"),
            ("Cat", "Doe", "cat@example.com", "+447700900003"),
            ("Dan", "Guest", "dan@example.com", "+447700900004"),
        ], start=1)
    ]
    created = now - timedelta(days=400)
    store_customers = [
        SourceCustomer("1", "P1", "Ann", "Lee", "Ann@Example.com ", "07700 900001", "1 Road", "London", "SW1A 1AA",
                       "United Kingdom", created, now - timedelta(days=10), dirty=["email_case"]),
        SourceCustomer("2", "P2", "Bob", "Ray", "bob@example.com", "+44 7700 900002", "1 Road", "London",
                       "SW1A 1AA", "GB", created, now - timedelta(days=5), email_unsubscribed=True),
        SourceCustomer("3", "P3", "Cat", "Doe", "cat@example.com", "", "1 Road", "London", "SW1A 1AA", "uk",
                       created, now - timedelta(days=1)),
    ]
    orders = [
        Order("5001", "online", "P1", "1", None, now - timedelta(days=30), "completed",
              [OrderLine("COF-001", "VAR1", "Coffee 1", 2, 1050)], shipping_minor=395,
              user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", created_via="checkout",
              acquisition_channel="ads"),
        Order("5002", "online", "P2", "2", None, now - timedelta(days=20), "processing",
              [OrderLine("TEE-RED-M", "TEE-RED-M", "T-shirt", 1, 2000), OrderLine("COF-002", "VAR2", "Coffee 2",
                                                                                   1, 1100)],
              discount_minor=300, coupon="WELCOME10", user_agent="Mozilla/5.0 (Windows NT 10.0)",
              created_via="checkout", acquisition_channel="coupon"),
        Order("5003", "online", "P4", None, None, now - timedelta(days=3), "completed",
              [OrderLine("COF-003", "VAR3", "Coffee 3", 3, 1150)], tax_minor=575,
              user_agent="Mozilla/5.0 (Linux; Android 14)", created_via="checkout"),
        Order("5004", "online", "P3", "3", None, now - timedelta(days=1), "cancelled",
              [OrderLine("COF-004", "VAR4", "Coffee 4", 1, 1200)], created_via="checkout"),
        Order("9001", "in_store", "P1", "POS1", "LOC1", now - timedelta(days=2), "COMPLETED",
              [OrderLine("COF-001", "VAR1", "Coffee 1", 1, 1050)]),
    ]
    truth = Truth(seed=0, scale="hand", duplicate_pairs=[], person_of={}, true_rates={}, planted_defects={})
    return World(now=now, currency="GBP", store_timezone=timezone, locations=locations,
                 categories=["Coffee", "Clothing", "Gifts"], products=products, stock=stock, people=people,
                 pos_customers=[], store_customers=store_customers, orders=orders, truth=truth)


def store_oauth1(key: str | None = None, secret: str | None = None) -> Any:
    """A ``requests`` auth signing every request with OAuth 1.0a (HMAC-SHA256, query string), as plain-HTTP
    callers of the store simulator (and of a real WooCommerce) must: ``requests.get(url, auth=store_oauth1())``.
    Defaults to the demo keys."""
    from requests_oauthlib import OAuth1

    from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET

    return OAuth1(key or DEMO_STORE_KEY, secret or DEMO_STORE_SECRET, signature_method="HMAC-SHA256",
                  signature_type="query")


@contextmanager
def running_store(state: Any, wrap: Callable[[Any], Any] | None = None, *, https: bool = False,
                  behind_tls_proxy: bool | None = None) -> Iterator[Any]:
    """Serve ``create_store_app(state)`` (optionally wrapped by ASGI middleware) on an ephemeral port.

    ``https=True`` serves TLS with the self-signed certificate of :func:`~storeflow_simulators.store.
    store_tls_files` (``handle.url`` is ``https://...``; pass ``handle.ca_file`` as CA bundle).
    ``behind_tls_proxy`` sets the option of that name (trust ``X-Forwarded-Proto: https``).
    """
    from storeflow_simulators.serve import serve_in_thread
    from storeflow_simulators.store import create_store_app, store_tls_files

    if behind_tls_proxy is not None:
        state.options.behind_tls_proxy = behind_tls_proxy
    app = create_store_app(state)
    handle = serve_in_thread(wrap(app) if wrap else app, tls=store_tls_files() if https else None,
                             proxy_headers=False)
    try:
        yield handle
    finally:
        handle.stop()
