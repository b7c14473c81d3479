"""The simulated retailer's world, in vendor-neutral form.

The seed generator (:mod:`storeflow_simulators.seed`) builds a :class:`World`; each simulator renders
its part in its vendor's shape (Square for the POS, WooCommerce for the store). The truth the tests
need (who is whose duplicate, each person's true purchase rates) lives in :class:`Truth` and is written
to a JSON file beside the simulator state.

All timestamps are aware UTC datetimes; money is integer minor units in ``World.currency``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Location:
    """A physical shop (a Square location)."""

    location_id: str
    name: str
    timezone: str
    status: str = "ACTIVE"  # ACTIVE | INACTIVE
    feeds_online: bool = True


@dataclass
class Variation:
    """A sellable unit (Square ITEM_VARIATION; WooCommerce simple product or variation)."""

    variation_id: str  # POS id
    sku: str
    name: str  # e.g. "Regular", "Red / M"
    price_minor: int
    attributes: dict[str, str] = field(default_factory=dict)  # {"Colour": "Red", "Size": "M"}


@dataclass
class Product:
    """A catalogue item with one or more variations."""

    item_id: str  # POS id
    name: str
    category: str
    variations: list[Variation]
    replenish_days: float | None = None  # typical days one unit lasts (None = not replenishable)
    online: bool = True  # published in the online store
    description: str = ""


@dataclass
class StockCount:
    """On-hand IN_STOCK quantity of one variation at one location."""

    variation_id: str
    location_id: str
    quantity: int


@dataclass
class Person:
    """A real customer (ground truth). Source records below may be duplicated and dirty."""

    person_id: str
    given_name: str
    family_name: str
    email: str | None
    phone: str | None  # E.164 truth
    address_line1: str
    city: str
    postcode: str
    country: str  # ISO 3166 alpha-2
    timezone: str
    preferred_hour: int  # local hour 0-23 at which they tend to order online / read messages
    preferred_weekday: int  # 0=Monday
    email_consent: bool
    sms_consent: bool
    acquisition_channel: str  # ads | referral | coupon | organic | in_store
    true_rate_per_year: float  # purchase rate while alive (BG/NBD lambda, per year)
    true_p_dropout: float  # probability of dropping out after each purchase (BG/NBD p)
    mobile_share: float  # share of online orders placed from a phone
    first_seen: datetime | None = None


@dataclass
class SourceCustomer:
    """A customer record as held by one system (possibly dirty, possibly a duplicate)."""

    source_id: str  # POS customer id (string) or store customer id (int as str)
    person_id: str
    given_name: str
    family_name: str
    email: str | None
    phone: str | None  # as typed: may be national format, spaced, broken
    address_line1: str
    city: str
    postcode: str
    country: str  # as typed: may be "United Kingdom", "uk", "GB"
    created_at: datetime
    updated_at: datetime
    email_unsubscribed: bool = False
    sms_unsubscribed: bool = False
    dirty: list[str] = field(default_factory=list)  # which defects were planted, e.g. ["email_case"]


@dataclass
class OrderLine:
    """One line of an order."""

    sku: str
    variation_id: str
    name: str
    quantity: int
    unit_price_minor: int


@dataclass
class Order:
    """An order in one system: in-store (POS) or online (store)."""

    order_id: str
    channel: str  # "in_store" (POS) | "online" (store)
    person_id: str | None
    customer_source_id: str | None  # id in the owning system; None = guest
    location_id: str | None  # POS location for in-store orders
    created_at: datetime
    status: str  # store: completed/processing/cancelled/refunded/...; POS: COMPLETED/OPEN/CANCELED
    lines: list[OrderLine]
    discount_minor: int = 0
    tax_minor: int = 0
    shipping_minor: int = 0
    user_agent: str | None = None
    created_via: str | None = None  # "checkout" | "rest-api" | "admin"
    coupon: str | None = None
    acquisition_channel: str | None = None  # utm source recorded on first orders

    @property
    def subtotal_minor(self) -> int:
        return sum(line.quantity * line.unit_price_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor - self.discount_minor + self.tax_minor + self.shipping_minor


@dataclass
class Truth:
    """What the generator knows and the tests may read."""

    seed: int
    scale: str
    duplicate_pairs: list[tuple[str, str]]  # ("pos:<id>" | "store:<id>", same) that are one person
    person_of: dict[str, str]  # "pos:<id>" / "store:<id>" -> person_id
    true_rates: dict[str, dict[str, float]]  # person_id -> {"rate_per_year", "p_dropout", ...}
    planted_defects: dict[str, list[str]]  # "pos:<id>" / "store:<id>" -> defects
    # generator hyper-parameters and counts (BG/NBD r, alpha, a, b, ...); optional, added by the seed module
    generator_params: dict[str, float] = field(default_factory=dict)


@dataclass
class World:
    """Everything both simulators start from."""

    now: datetime
    currency: str
    store_timezone: str
    locations: list[Location]
    categories: list[str]
    products: list[Product]
    stock: list[StockCount]
    people: list[Person]
    pos_customers: list[SourceCustomer]
    store_customers: list[SourceCustomer]
    orders: list[Order]  # both channels
    truth: Truth
    orders_omitted: bool = False  # True at very large scales: use seed.generate_transactions for orders
