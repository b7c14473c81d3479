"""Typed WooCommerce v3 records (pydantic) for the fields storeflow uses.

Money strings (``"21.99"``, ``""``) become integer minor units (``None`` when empty); ``*_gmt`` naive
timestamps become aware UTC datetimes; ``manage_stock`` is ``True | False | "parent"``. Unknown fields
are ignored, so newer stores with extra fields still parse.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

#: customer meta keys holding storeflow's consent record, ``{"optout": bool, "changed_at_gmt": "..."}``.
#: WooCommerce has no consent field. Keys starting with ``_`` are protected WordPress meta: the REST API
#: answers 200 to a write and stores nothing, so the keys are unprefixed (issue 11 item 7).
CONSENT_META = {"email": "storeflow_email_optout", "sms": "storeflow_sms_optout"}
#: the keys of storeflow before session 3: still read (the simulator and some hosts kept them), never written
LEGACY_CONSENT_META = {"email": "_storeflow_email_optout", "sms": "_storeflow_sms_optout"}


def money_to_minor(value: Any, decimals: int = 2) -> int | None:
    """``"21.99"`` -> 2199; ``""``/``None`` -> ``None``; rejects non-numeric text and sub-minor fractions."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("money must be a string or number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a money amount: {value!r}") from None
    minor = amount.scaleb(decimals)
    if minor != minor.to_integral_value():
        raise ValueError(f"money amount {value!r} has more than {decimals} decimals")
    return int(minor)


def parse_gmt(value: Any) -> datetime | None:
    """A WooCommerce ``*_gmt`` value (naive UTC ``YYYY-MM-DDTHH:MM:SS``) -> aware UTC; ``None``/``""`` -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    dt = datetime.fromisoformat(str(value).strip())
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_consent(value: Any) -> tuple[bool, datetime | None] | None:
    """A consent meta value -> (opted out?, when); ``None`` when it is not a consent record."""
    if not isinstance(value, dict) or "optout" not in value:
        return None
    optout = value["optout"]
    if isinstance(optout, str):  # PHP round trips may turn booleans into "1"/"" strings
        optout = optout.strip().lower() in ("1", "true", "yes")
    try:
        when = parse_gmt(value.get("changed_at_gmt"))
    except (TypeError, ValueError):
        when = None
    return bool(optout), when


def consent_meta(channel: str, optout: bool, changed_at: datetime) -> dict[str, Any]:
    """The customer ``meta_data`` item that records an explicit marketing choice (see :data:`CONSENT_META`)."""
    return {"key": CONSENT_META[channel], "value": {"optout": bool(optout), "changed_at_gmt": format_gmt(changed_at)}}


def format_gmt(value: datetime) -> str:
    """Aware datetime -> the naive UTC form to send with ``dates_are_gmt=true`` (the safe rule, §1.5)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


Minor = Annotated[int | None, BeforeValidator(money_to_minor)]
GmtDateTime = Annotated[datetime | None, BeforeValidator(parse_gmt)]


def _manage_stock(value: Any) -> bool | str:
    if value == "parent":
        return "parent"
    if isinstance(value, bool):
        return value
    if value in (None, "", 0, "0", "no", "false"):
        return False
    if value in (1, "1", "yes", "true"):
        return True
    raise ValueError(f"manage_stock must be true, false or 'parent', got {value!r}")


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MetaData(_Base):
    id: int | None = None
    key: str
    value: Any = None


class Address(_Base):
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address_1: str = ""
    address_2: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""
    email: str | None = None
    phone: str | None = None


class Product(_Base):
    """A product, or a variation (``type == "variation"``, ``parent_id`` set)."""

    id: int
    name: str = ""
    type: str = "simple"
    status: str = "publish"
    sku: str = ""
    parent_id: int = 0
    price_minor: Minor = Field(None, alias="price")
    regular_price_minor: Minor = Field(None, alias="regular_price")
    sale_price_minor: Minor = Field(None, alias="sale_price")
    manage_stock: Annotated[bool | Literal["parent"], BeforeValidator(_manage_stock)] = False
    stock_quantity: int | None = None
    stock_status: str = "instock"
    variations: list[int] = Field(default_factory=list)
    attributes: list[dict[str, Any]] = Field(default_factory=list)
    date_created_gmt: GmtDateTime = None
    date_modified_gmt: GmtDateTime = None
    meta_data: list[MetaData] = Field(default_factory=list)

    @property
    def is_variation(self) -> bool:
        return self.type == "variation"

    def meta(self, key: str, default: Any = None) -> Any:
        return next((m.value for m in self.meta_data if m.key == key), default)


Variation = Product  # same fields; variations carry ``type="variation"`` once tagged by the connector


class LineItem(_Base):
    id: int
    name: str = ""
    product_id: int = 0
    variation_id: int = 0
    quantity: int
    sku: str | None = None
    subtotal_minor: Minor = Field(None, alias="subtotal")
    total_minor: Minor = Field(None, alias="total")
    total_tax_minor: Minor = Field(None, alias="total_tax")
    price: float | None = None
    meta_data: list[MetaData] = Field(default_factory=list)


class CouponLine(_Base):
    id: int | None = None
    code: str = ""
    discount_minor: Minor = Field(None, alias="discount")


class Order(_Base):
    id: int
    number: str | None = None
    status: str
    currency: str | None = None
    customer_id: int = 0
    total_minor: Minor = Field(None, alias="total")
    total_tax_minor: Minor = Field(None, alias="total_tax")
    discount_total_minor: Minor = Field(None, alias="discount_total")
    shipping_total_minor: Minor = Field(None, alias="shipping_total")
    billing: Address = Field(default_factory=Address)
    shipping: Address = Field(default_factory=Address)
    payment_method: str = ""
    created_via: str | None = None
    customer_user_agent: str | None = None
    date_created_gmt: GmtDateTime = None
    date_modified_gmt: GmtDateTime = None
    date_paid_gmt: GmtDateTime = None
    date_completed_gmt: GmtDateTime = None
    line_items: list[LineItem] = Field(default_factory=list)
    coupon_lines: list[CouponLine] = Field(default_factory=list)
    meta_data: list[MetaData] = Field(default_factory=list)

    @property
    def is_guest(self) -> bool:
        return self.customer_id == 0

    def meta(self, key: str, default: Any = None) -> Any:
        return next((m.value for m in self.meta_data if m.key == key), default)


class Customer(_Base):
    id: int
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    role: str = "customer"
    billing: Address = Field(default_factory=Address)
    shipping: Address = Field(default_factory=Address)
    is_paying_customer: bool = False
    date_created_gmt: GmtDateTime = None
    date_modified_gmt: GmtDateTime = None
    meta_data: list[MetaData] = Field(default_factory=list)

    def meta(self, key: str, default: Any = None) -> Any:
        return next((m.value for m in self.meta_data if m.key == key), default)

    @property
    def changed_at(self) -> datetime | None:
        """When the record last changed (``date_modified_gmt``, else ``date_created_gmt``)."""
        return self.date_modified_gmt or self.date_created_gmt

    def consent(self, channel: str) -> tuple[bool, datetime | None] | None:
        """The explicit marketing choice stored by storeflow: (opted out?, when) or ``None`` if none.

        Reads the current key and the legacy ``_``-prefixed one; when both hold a choice the later wins
        (the current key on a tie or when the legacy record has no time)."""
        current = self.stored_consent(channel)
        legacy = parse_consent(self.meta(LEGACY_CONSENT_META[channel]))
        if legacy is None:
            return current
        if current is None:
            return legacy
        if legacy[1] is not None and (current[1] is None or legacy[1] > current[1]):
            return legacy
        return current

    def stored_consent(self, channel: str) -> tuple[bool, datetime | None] | None:
        """The choice under the current key only (what a consent write must read back)."""
        return parse_consent(self.meta(CONSENT_META[channel]))


class BatchItemError(_Base):
    """A per-item failure from a ``/batch`` call (returned, not raised)."""

    action: str  # create | update | delete
    id: int | None = None
    code: str
    message: str
    status: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    item: dict[str, Any] | None = None
