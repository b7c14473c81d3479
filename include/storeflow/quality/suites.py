"""Great Expectations suites, one per stream, each expectation tagged with a rule id and a severity.

``critical`` expectations fail the run's verdict (:mod:`storeflow.quality.judge`: the task fails and
alerts); ``warning`` ones are only reported. The suites validate the frame that is about to be loaded
(after row-level quarantine, see :mod:`storeflow.quality.screen`) plus a few derived columns computed
by :func:`frame_for` (e.g. the difference between an order's lines and its total), so every row-level
rule is also checked as a batch contract. GX is imported inside functions only (it is slow to import).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from storeflow.quality.codes import ISO_COUNTRIES, ISO_CURRENCIES
from storeflow.quality.phones import E164_PATTERN
from storeflow.quality.records import (
    FUTURE_SKEW,
    INVOICE_STATUSES,
    ORDER_STATUSES,
    STOCK_STATES_SELLABLE,
    parse_timestamp,
)

if TYPE_CHECKING:
    from great_expectations import ExpectationSuite
    from great_expectations.expectations.expectation import Expectation

ExpSeverity = Literal["critical", "warning"]
STREAMS = ("products", "stock", "orders", "customers", "invoices")
#: Loose email shape for the batch contract (the strict check is email-validator in the cleaner).
EMAIL_SHAPE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: GX class name + kwargs, our rule id and severity."""

    rule: str
    severity: ExpSeverity
    expectation: str  # class name in great_expectations.expectations
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def build(self) -> Expectation:
        """The GX expectation object, with rule and severity in its ``meta``."""
        import great_expectations.expectations as gxe

        cls = getattr(gxe, self.expectation)
        return cls(**self.kwargs, meta={"rule": self.rule, "severity": self.severity,
                                        "description": self.description})


def _spec(rule: str, severity: ExpSeverity, expectation: str, description: str, **kwargs: Any) -> ExpectationSpec:
    return ExpectationSpec(rule, severity, expectation, kwargs, description)


SUITES: dict[str, list[ExpectationSpec]] = {
    "products": [
        _spec("sku_present", "critical", "ExpectColumnValuesToNotBeNull", "every product has a SKU", column="sku"),
        _spec("sku_unique", "critical", "ExpectColumnValuesToBeUnique", "no SKU is used twice", column="sku"),
        _spec("name_present", "critical", "ExpectColumnValuesToNotBeNull", "every product has a name", column="name"),
        _spec("price_non_negative", "critical", "ExpectColumnValuesToBeBetween", "price >= 0",
              column="price_minor", min_value=0),
        _spec("currency_iso4217", "critical", "ExpectColumnValuesToBeInSet", "currency is ISO 4217",
              column="currency", value_set=sorted(ISO_CURRENCIES)),
        _spec("price_present", "warning", "ExpectColumnValuesToNotBeNull", "products have a fixed price",
              column="price_minor", mostly=0.95),
    ],
    "stock": [
        _spec("stock_key_present", "critical", "ExpectColumnValuesToNotBeNull", "variation id or SKU present",
              column="stock_key"),
        _spec("quantity_integer", "critical", "ExpectColumnValuesToBeInSet", "counts are whole units",
              column="quantity_is_integer", value_set=[True]),
        _spec("sellable_non_negative", "critical", "ExpectColumnValuesToBeBetween", "no negative sellable stock",
              column="sellable_quantity", min_value=0),
    ],
    "orders": [
        _spec("order_id_present", "critical", "ExpectColumnValuesToNotBeNull", "every order has an id",
              column="order_id"),
        _spec("order_id_unique", "critical", "ExpectColumnValuesToBeUnique", "one row per order", column="order_id"),
        _spec("status_known", "critical", "ExpectColumnValuesToBeInSet", "known order statuses",
              column="status", value_set=sorted(ORDER_STATUSES)),
        _spec("currency_iso4217", "critical", "ExpectColumnValuesToBeInSet", "currency is ISO 4217",
              column="currency", value_set=sorted(ISO_CURRENCIES)),
        _spec("lines_sum_to_total", "critical", "ExpectColumnValuesToBeBetween",
              "lines - discount + tax + shipping + fees = total within 0.01", column="total_delta_minor",
              min_value=-1, max_value=1),
        _spec("date_not_in_future", "critical", "ExpectColumnValuesToBeBetween", "created_at not in the future",
              column="created_in_future_seconds", max_value=int(FUTURE_SKEW.total_seconds())),
        _spec("has_lines", "warning", "ExpectColumnValuesToBeBetween", "orders have at least one line",
              column="line_count", min_value=1, mostly=0.99),
    ],
    "customers": [
        _spec("source_id_present", "critical", "ExpectColumnValuesToNotBeNull", "every customer has a source id",
              column="source_id"),
        _spec("source_id_unique", "critical", "ExpectColumnValuesToBeUnique", "one row per source id",
              column="source_id"),
        _spec("email_syntax", "critical", "ExpectColumnValuesToMatchRegex", "emails are addresses",
              column="email", regex=EMAIL_SHAPE),
        _spec("phone_e164", "critical", "ExpectColumnValuesToMatchRegex", "phones are E.164",
              column="phone", regex=f"^{E164_PATTERN}$"),
        _spec("country_iso3166", "critical", "ExpectColumnValuesToBeInSet", "country is ISO 3166 alpha-2",
              column="country", value_set=sorted(ISO_COUNTRIES)),
        _spec("email_present", "warning", "ExpectColumnValuesToNotBeNull", "most customers have an email",
              column="email", mostly=0.5),
        _spec("name_present", "warning", "ExpectColumnValuesToNotBeNull", "customers have a family name",
              column="family_name", mostly=0.9),
    ],
    "invoices": [
        _spec("invoice_id_present", "critical", "ExpectColumnValuesToNotBeNull", "every invoice has an id",
              column="invoice_id"),
        _spec("invoice_id_unique", "critical", "ExpectColumnValuesToBeUnique", "one row per invoice",
              column="invoice_id"),
        _spec("status_known", "critical", "ExpectColumnValuesToBeInSet", "known invoice statuses",
              column="status", value_set=sorted(INVOICE_STATUSES)),
        _spec("total_non_negative", "critical", "ExpectColumnValuesToBeBetween", "total >= 0",
              column="total_minor", min_value=0),
        _spec("currency_iso4217", "critical", "ExpectColumnValuesToBeInSet", "currency is ISO 4217",
              column="currency", value_set=sorted(ISO_CURRENCIES)),
    ],
}


def columns_of(stream: str) -> list[str]:
    """Columns a stream's suite reads."""
    return sorted({s.kwargs["column"] for s in SUITES[stream]})


def _stock_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    key = out["pos_variation_id"] if "pos_variation_id" in out else pd.Series(None, index=out.index, dtype=object)
    if "sku" in out:
        key = key.where(key.notna(), out["sku"])
    out["stock_key"] = key
    qty = pd.to_numeric(out.get("quantity"), errors="coerce")
    out["quantity_is_integer"] = qty.notna() & (qty == qty.round())
    state = out["state"] if "state" in out else pd.Series("IN_STOCK", index=out.index)
    sellable = state.fillna("IN_STOCK").isin(STOCK_STATES_SELLABLE)
    out["sellable_quantity"] = qty.where(sellable)
    return out


def _order_delta(record: dict[str, Any]) -> float | None:
    try:
        lines = 0
        for line in record.get("lines") or []:
            if "subtotal_minor" in line:
                lines += int(line["subtotal_minor"])
            else:
                lines += int(float(line["quantity"]) * int(line["unit_price_minor"]))
        expected = (lines - int(record.get("discount_minor") or 0) + int(record.get("tax_minor") or 0)
                    + int(record.get("shipping_minor") or 0) + int(record.get("fees_minor") or 0))
        return float(expected - int(record["total_minor"]))
    except (TypeError, ValueError, KeyError):
        return float("inf")


def _future_seconds(value: Any, now: datetime) -> float:
    try:
        return (parse_timestamp(value) - now).total_seconds()
    except (TypeError, ValueError):
        return float("inf")


def frame_for(stream: str, records: Sequence[dict[str, Any]] | pd.DataFrame,
              now: datetime | None = None) -> pd.DataFrame:
    """The DataFrame a stream's suite validates: the records plus the derived columns it needs."""
    df = records.copy() if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))
    if stream == "stock":
        df = _stock_frame(df)
    elif stream == "orders":
        now = now or datetime.now(UTC)
        rows = df.to_dict("records") if len(df) else []
        df["total_delta_minor"] = [_order_delta(r) for r in rows]
        df["created_in_future_seconds"] = [_future_seconds(r.get("created_at"), now) for r in rows]
        df["line_count"] = [len(r.get("lines") or []) if isinstance(r.get("lines"), list) else 0 for r in rows]
        df = df.drop(columns=[c for c in ("lines",) if c in df])
    for column in columns_of(stream):
        if column not in df:
            df[column] = pd.Series([None] * len(df), index=df.index, dtype=object)
    return df


def suite_specs(stream: str) -> list[ExpectationSpec]:
    """The expectation specs of a stream (raises KeyError for an unknown stream)."""
    return SUITES[stream]


def build_suite(stream: str, name: str | None = None, extra: Sequence[ExpectationSpec] = ()) -> ExpectationSuite:
    """A GX ``ExpectationSuite`` for ``stream`` (plus ``extra`` specs)."""
    import great_expectations as gx

    return gx.ExpectationSuite(name=name or f"storeflow_{stream}",
                               expectations=[s.build() for s in [*SUITES[stream], *extra]])


