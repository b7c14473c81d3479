"""Typed records (pydantic) for the parts of the Square API storeflow uses.

Timestamps become aware UTC datetimes whatever their fractional precision (0-9 digits: Square mixes
them, and Python keeps microseconds, so nanoseconds are truncated); money stays integer minor units;
quantities become :class:`~decimal.Decimal`. Unknown fields are ignored, unknown enum values kept as
strings (Square adds values over time).

Consent: storeflow's opt-out lines in a customer's ``note`` are read and written by
:mod:`storeflow.contracts.square_note` (shared with the POS simulator).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from storeflow.contracts.square_note import note_opt_outs

_FRACTION = re.compile(r"^(?P<head>[^.]+?)(?:\.(?P<frac>\d+))?(?P<tz>Z|z|[+-]\d{2}:?\d{2})?$")


def parse_square_ts(value: Any) -> datetime | None:
    """Parse a Square RFC 3339 timestamp (0-9 fractional digits, ``Z`` or an offset) to aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    m = _FRACTION.match(value.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    tz = m.group("tz")
    if not tz:
        raise ValueError(f"timestamp without offset: {value!r}")
    frac = m.group("frac") or ""
    text = m.group("head") + (f".{frac[:6].ljust(6, '0')}" if frac else "") + ("+00:00" if tz in "Zz" else tz)
    return datetime.fromisoformat(text).astimezone(UTC)


def format_square_ts(dt: datetime) -> str:
    """Render an aware datetime as RFC 3339 UTC with microseconds (what storeflow sends)."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


Timestamp = Annotated[datetime, BeforeValidator(parse_square_ts)]
OptTimestamp = Annotated[datetime | None, BeforeValidator(parse_square_ts)]


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if not isinstance(value, (str, int)):
        raise ValueError(f"quantity must be a decimal string, got {value!r}")
    try:
        qty = Decimal(str(value))
    except Exception:
        raise ValueError(f"non-numeric quantity {value!r}") from None
    if not qty.is_finite():
        raise ValueError(f"non-numeric quantity {value!r}")
    return qty


Quantity = Annotated[Decimal, BeforeValidator(_decimal)]


class SquareModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=False)


class Money(SquareModel):
    amount: int
    currency: str


class Location(SquareModel):
    id: str
    name: str | None = None
    status: str | None = None
    timezone: str | None = None
    currency: str | None = None


class CatalogVariation(SquareModel):
    """An ITEM_VARIATION (flattened from ``item_variation_data``)."""

    id: str
    version: int | None = None
    is_deleted: bool = False
    updated_at: OptTimestamp = None
    item_id: str | None = None
    name: str | None = None
    sku: str | None = None
    pricing_type: str | None = None
    price_money: Money | None = None
    track_inventory: bool | None = None
    attributes: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "item_variation_data" in raw:
            data = raw.get("item_variation_data") or {}
            attrs = {
                k: v.get("string_value") for k, v in (raw.get("custom_attribute_values") or {}).items()
                if isinstance(v, dict) and v.get("string_value") is not None
            }
            return {**{k: v for k, v in raw.items() if k != "item_variation_data"}, **data, "attributes": attrs}
        return raw


class CatalogItem(SquareModel):
    """An ITEM with its nested variations (flattened from ``item_data``)."""

    id: str
    version: int | None = None
    is_deleted: bool = False
    updated_at: OptTimestamp = None
    name: str | None = None
    description: str | None = None
    category_ids: list[str] = Field(default_factory=list)
    variations: list[CatalogVariation] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "item_data" in raw:
            data = raw.get("item_data") or {}
            cats = [c["id"] for c in data.get("categories") or [] if isinstance(c, dict) and c.get("id")]
            if not cats and data.get("category_id"):
                cats = [data["category_id"]]
            rep = (data.get("reporting_category") or {}).get("id")
            if rep and rep not in cats:
                cats.insert(0, rep)
            return {
                **{k: v for k, v in raw.items() if k != "item_data"},
                "name": data.get("name"),
                "description": data.get("description"),
                "category_ids": cats,
                "variations": data.get("variations") or [],
            }
        return raw


class CatalogCategory(SquareModel):
    id: str
    version: int | None = None
    is_deleted: bool = False
    updated_at: OptTimestamp = None
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "category_data" in raw:
            return {**raw, "name": (raw.get("category_data") or {}).get("name")}
        return raw


def parse_catalog_object(raw: dict[str, Any]) -> CatalogItem | CatalogVariation | CatalogCategory | None:
    """The typed record for a raw CatalogObject (None for types storeflow does not use)."""
    kind = raw.get("type")
    if kind == "ITEM":
        return CatalogItem.model_validate(raw)
    if kind == "ITEM_VARIATION":
        return CatalogVariation.model_validate(raw)
    if kind == "CATEGORY":
        return CatalogCategory.model_validate(raw)
    return None


class InventoryCount(SquareModel):
    catalog_object_id: str
    catalog_object_type: str | None = None
    state: str
    location_id: str
    quantity: Quantity
    calculated_at: OptTimestamp = None


class InventoryChange(SquareModel):
    """One history entry (PHYSICAL_COUNT or ADJUSTMENT, flattened)."""

    type: str
    id: str | None = None
    reference_id: str | None = None
    catalog_object_id: str
    location_id: str
    quantity: Quantity
    state: str | None = None  # physical counts
    from_state: str | None = None  # adjustments
    to_state: str | None = None
    occurred_at: OptTimestamp = None
    created_at: OptTimestamp = None

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            body = raw.get("physical_count") or raw.get("adjustment") or raw.get("transfer")
            if body is not None:
                return {**body, "type": raw.get("type")}
        return raw


class OrderLineItem(SquareModel):
    uid: str | None = None
    name: str | None = None
    quantity: Quantity
    catalog_object_id: str | None = None
    variation_name: str | None = None
    base_price_money: Money | None = None
    gross_sales_money: Money | None = None
    total_money: Money | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class OrderSource(SquareModel):
    name: str | None = None


class Order(SquareModel):
    id: str
    location_id: str | None = None
    state: str
    version: int | None = None
    created_at: Timestamp
    updated_at: OptTimestamp = None
    closed_at: OptTimestamp = None
    reference_id: str | None = None
    customer_id: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    source: OrderSource | None = None
    line_items: list[OrderLineItem] = Field(default_factory=list)
    total_money: Money | None = None
    total_tax_money: Money | None = None
    total_discount_money: Money | None = None
    total_tip_money: Money | None = None
    total_service_charge_money: Money | None = None


class CustomerPreferences(SquareModel):
    email_unsubscribed: bool | None = None


class Address(SquareModel):
    address_line_1: str | None = None
    locality: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Customer(SquareModel):
    id: str
    created_at: OptTimestamp = None
    updated_at: OptTimestamp = None
    version: int | None = None
    given_name: str | None = None
    family_name: str | None = None
    company_name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    reference_id: str | None = None
    note: str | None = None
    address: Address | None = None
    preferences: CustomerPreferences | None = None

    @property
    def email_unsubscribed(self) -> bool | None:
        return self.preferences.email_unsubscribed if self.preferences else None

    @property
    def sms_opt_out(self) -> bool | None:
        return note_opt_outs(self.note).get("sms")


class InvoiceRecipient(SquareModel):
    customer_id: str | None = None


class Invoice(SquareModel):
    id: str
    version: int | None = None
    location_id: str | None = None
    order_id: str | None = None
    status: str | None = None
    invoice_number: str | None = None
    title: str | None = None
    primary_recipient: InvoiceRecipient | None = None
    created_at: OptTimestamp = None
    updated_at: OptTimestamp = None
    next_payment_amount_money: Money | None = None
