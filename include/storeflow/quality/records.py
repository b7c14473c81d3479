"""Row-level cleaning and validation rules, one entry point per stream.

Each function takes one vendor-neutral staged record (a dict, keys as in the warehouse tables) and
returns a :class:`CleanResult`: the cleaned record, or the issues that send it to quarantine (for
customers, a bad field is quarantined on its own and the rest of the record is loaded, see
:func:`clean_customer`). Batch-level
row rules (duplicated SKUs) are applied by :func:`clean_batch`. Unknown keys pass through untouched.

Record shapes (extra keys are kept):

- customers: ``source_id, email, phone, given_name, family_name, address_line1, city, postcode,
  country`` -> adds ``email_norm`` (identity key) and ``phone`` in E.164.
- products: ``sku, name, price_minor`` *or* ``price`` (decimal text in major units), ``currency``.
- stock: ``pos_variation_id`` or ``sku``, ``location_id``, ``state``, ``quantity``.
- orders: ``order_id, status, currency, created_at, total_minor, tax_minor, discount_minor,
  shipping_minor, fees_minor, lines=[{sku, quantity, unit_price_minor | subtotal_minor}]``; line amounts are
  *before* order discounts, so ``total = sum(lines) - discount + tax + shipping + fees``.
- invoices: ``invoice_id, status, total_minor, currency``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from storeflow.quality.codes import ISO_CURRENCIES
from storeflow.quality.countries import clean_country
from storeflow.quality.emails import clean_email, email_key
from storeflow.quality.names import clean_name
from storeflow.quality.phones import clean_phone
from storeflow.quality.postcodes import clean_postcode, fallback
from storeflow.quality.results import CleanResult, Issue, Severity

MAX_TEXT = 255
FUTURE_SKEW = timedelta(minutes=5)
#: ISO 4217 minor-unit exponents that are not 2.
CURRENCY_EXPONENT = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "UGX": 0, "XAF": 0, "XOF": 0, "XPF": 0,
                     "PYG": 0, "RWF": 0, "KMF": 0, "GNF": 0, "DJF": 0, "BIF": 0, "VUV": 0,
                     "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "IQD": 3, "LYD": 3, "TND": 3}
STORE_ORDER_STATUSES = frozenset(
    {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash", "checkout-draft"}
)
POS_ORDER_STATES = frozenset({"OPEN", "COMPLETED", "CANCELED", "DRAFT"})
ORDER_STATUSES = STORE_ORDER_STATUSES | POS_ORDER_STATES
INVOICE_STATUSES = frozenset({"DRAFT", "UNPAID", "SCHEDULED", "PARTIALLY_PAID", "PAID", "PARTIALLY_REFUNDED",
                              "REFUNDED", "CANCELED", "FAILED", "PAYMENT_PENDING"})
STOCK_STATES_SELLABLE = frozenset({"IN_STOCK"})


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(out: dict, issues: list[Issue], key: str, changed: list[str], limit: int = MAX_TEXT,
          severity: Severity = "error") -> None:
    value = out.get(key)
    if value is None:
        return
    if not isinstance(value, str):
        value = str(value)
    cleaned = " ".join(value.split())
    if len(cleaned) > limit:
        issues.append(Issue("field_too_long", f"{key} is {len(cleaned)} characters long (max {limit})", key, severity))
        if severity == "field":
            out[key] = None
            changed.append(key)
        return
    cleaned = cleaned or None
    if cleaned != out.get(key):
        out[key] = cleaned
        changed.append(key)


def _apply(out: dict, issues: list[Issue], changed: list[str], key: str, res, severity: Severity = "field") -> None:
    """Store an accepted value; a rejected one is quarantined at field level (value dropped)."""
    if res.ok:
        if res.changed:
            out[key] = res.value
            changed.append(key)
    else:
        issues.append(Issue(res.rule, res.reason, key, severity))
        if out.get(key) is not None:
            out[key] = None
            changed.append(key)


def clean_customer(record: dict[str, Any], default_region: str = "GB") -> CleanResult:
    """Clean one customer record.

    A missing source id quarantines the row. A value that cannot be cleaned (broken email, unparseable
    phone, unknown country, over-long text) is quarantined at *field* level: the field is dropped, the
    rest of the customer is loaded, and the quarantine row keeps the raw payload and the reason, so a
    customer is never lost over one bad field. An invalid postcode is kept as typed (upper case) with a
    warning; a customer with no email, phone or name gets a warning.
    """
    out = dict(record)
    issues: list[Issue] = []
    changed: list[str] = []
    if _blank(out.get("source_id")):
        issues.append(Issue("missing_source_id", "customer record has no source id", "source_id"))
    country = clean_country(out.get("country"))
    _apply(out, issues, changed, "country", country)
    region = country.value if country.ok else None
    _apply(out, issues, changed, "email", clean_email(out.get("email")))
    _apply(out, issues, changed, "phone", clean_phone(out.get("phone"), region, default_region))
    for key in ("given_name", "family_name"):
        _apply(out, issues, changed, key, clean_name(out.get(key)))
    for key in ("address_line1", "city"):
        _text(out, issues, key, changed, severity="field")
    pc = clean_postcode(out.get("postcode"), region)
    if pc.rule == "postcode_invalid":
        issues.append(Issue(pc.rule, pc.reason, "postcode", "warning"))
        kept = fallback(str(out["postcode"]))
        if kept != out["postcode"]:
            out["postcode"] = kept
            changed.append("postcode")
    else:
        _apply(out, issues, changed, "postcode", pc)
    out["email_norm"] = email_key(out.get("email"))
    contact_keys = ("email", "phone", "given_name", "family_name")
    if all(_blank(out.get(k)) for k in contact_keys) and not any(i.field in contact_keys for i in issues):
        issues.append(Issue("no_contact", "customer has no email, phone or name", None, "warning"))
    res = CleanResult(out, issues, changed)
    if not res.ok:
        res.record = None
    return res


def to_minor(value: Any, currency: str | None) -> int:
    """Major-unit amount (text or number) to integer minor units; raises ValueError when not numeric."""
    if isinstance(value, bool):
        raise ValueError("boolean is not an amount")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{str(value)[:40]!r} is not a number") from exc
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    exp = CURRENCY_EXPONENT.get((currency or "").upper(), 2)
    scaled = amount.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more decimals than {currency or 'the currency'} allows")
    return int(scaled)


def _int_minor(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean is not an amount")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"{str(value)[:40]!r} is not an integer amount in minor units")


def _currency(out: dict, issues: list[Issue], changed: list[str]) -> str | None:
    cur = out.get("currency")
    norm = cur.strip().upper() if isinstance(cur, str) else None
    if norm not in ISO_CURRENCIES:
        issues.append(Issue("currency_invalid", f"currency {str(cur)[:20]!r} is not an ISO 4217 code", "currency"))
        return None
    if norm != cur:
        out["currency"] = norm
        changed.append("currency")
    return norm


def check_product(record: dict[str, Any]) -> CleanResult:
    """Row rules for a product/variation: SKU present, name present, price numeric and >= 0, currency."""
    out = dict(record)
    issues: list[Issue] = []
    changed: list[str] = []
    sku = out.get("sku")
    if _blank(sku):
        issues.append(Issue("sku_missing", "product has no SKU", "sku"))
    elif not isinstance(sku, str) or sku != sku.strip() or len(sku) > MAX_TEXT:
        if isinstance(sku, str) and len(sku.strip()) <= MAX_TEXT:
            out["sku"] = sku.strip()
            changed.append("sku")
        else:
            issues.append(Issue("sku_invalid", f"SKU {str(sku)[:40]!r} is not a text of at most {MAX_TEXT}", "sku"))
    if _blank(out.get("name")):
        issues.append(Issue("name_missing", "product has no name", "name"))
    else:
        _text(out, issues, "name", changed, 512)
    cur = _currency(out, issues, changed)
    price = out.get("price_minor", out.get("price"))
    if price is None or (isinstance(price, str) and not price.strip()):
        issues.append(Issue("price_missing", "product has no price (variable pricing?)", "price", "warning"))
    else:
        try:
            minor = _int_minor(price) if "price_minor" in out else to_minor(price, cur)
        except ValueError as exc:
            issues.append(Issue("price_not_numeric", f"price: {exc}", "price"))
        else:
            if minor < 0:
                issues.append(Issue("price_negative", f"price {minor} (minor units) is negative", "price"))
            elif out.get("price_minor") != minor:
                out["price_minor"] = minor
                changed.append("price_minor")
    return _result(out, issues, changed)


def _qty(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a quantity")
    try:
        qty = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{str(value)[:40]!r} is not a number") from exc
    if not qty.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return qty


def check_stock(record: dict[str, Any]) -> CleanResult:
    """Row rules for a stock count: key present, integer quantity, no negative sellable stock."""
    out = dict(record)
    issues: list[Issue] = []
    if _blank(out.get("pos_variation_id")) and _blank(out.get("sku")):
        issues.append(Issue("stock_key_missing", "stock count has neither variation id nor SKU", "sku"))
    try:
        qty = _qty(out.get("quantity"))
    except ValueError as exc:
        issues.append(Issue("quantity_not_numeric", f"quantity: {exc}", "quantity"))
    else:
        if qty != qty.to_integral_value():
            issues.append(Issue("quantity_not_integer", f"quantity {qty} is not a whole number of units", "quantity"))
        elif qty < 0 and (out.get("state") or "IN_STOCK") in STOCK_STATES_SELLABLE:
            issues.append(Issue("stock_negative", f"sellable stock {qty} is negative", "quantity"))
        else:
            out["quantity"] = int(qty)
    return _result(out, issues, [])


def parse_timestamp(value: Any) -> datetime:
    """ISO 8601 text or datetime to aware UTC (naive values are taken as UTC, as in ``*_gmt`` fields)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    else:
        raise ValueError(f"{value!r} is not a timestamp")
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def check_order(record: dict[str, Any], now: datetime | None = None) -> CleanResult:
    """Row rules for an order: id, known status, currency, date not in the future, lines add up to the total."""
    out = dict(record)
    issues: list[Issue] = []
    changed: list[str] = []
    now = now or datetime.now(UTC)
    if _blank(out.get("order_id")):
        issues.append(Issue("order_id_missing", "order has no id", "order_id"))
    status = out.get("status")
    if status not in ORDER_STATUSES:
        issues.append(Issue("status_unknown", f"order status {str(status)[:40]!r} is not a known status", "status"))
    _currency(out, issues, changed)
    try:
        created = parse_timestamp(out.get("created_at"))
    except (ValueError, TypeError) as exc:
        issues.append(Issue("date_invalid", f"created_at: {exc}", "created_at"))
    else:
        if created > now + FUTURE_SKEW:
            issues.append(Issue("date_in_future", f"created_at {created.isoformat()} is in the future", "created_at"))
        if created != out.get("created_at"):
            out["created_at"] = created
            changed.append("created_at")
    try:
        parts = {k: _int_minor(out.get(k) or 0) for k in ("tax_minor", "discount_minor", "shipping_minor", "fees_minor")}
        total = _int_minor(out.get("total_minor"))
        line_sum = 0
        negative: list[str] = []
        for i, line in enumerate(out.get("lines") or []):
            if "subtotal_minor" in line:
                line_sum += _int_minor(line["subtotal_minor"])
                continue
            qty = _qty(line.get("quantity"))
            if qty < 0:
                negative.append(f"line {i} quantity {qty} is negative")
            line_sum += int(qty * _int_minor(line.get("unit_price_minor")))
    except (ValueError, TypeError) as exc:
        issues.append(Issue("amount_not_numeric", f"order amounts: {exc}", "total_minor"))
    else:
        if negative:
            issues.append(Issue("line_quantity_negative", "; ".join(negative), "lines"))
        expected = line_sum - parts["discount_minor"] + parts["tax_minor"] + parts["shipping_minor"] + parts["fees_minor"]
        if abs(expected - total) > 1:  # 0.01 in a two-decimal currency
            issues.append(Issue(
                "total_mismatch",
                f"lines {line_sum} - discount {parts['discount_minor']} + tax {parts['tax_minor']} + shipping "
                f"{parts['shipping_minor']} + fees {parts['fees_minor']} = {expected}, but total is {total}",
                "total_minor",
            ))
    return _result(out, issues, changed)


def check_invoice(record: dict[str, Any]) -> CleanResult:
    """Row rules for an invoice: id, known status, non-negative integer total, currency."""
    out = dict(record)
    issues: list[Issue] = []
    changed: list[str] = []
    if _blank(out.get("invoice_id")):
        issues.append(Issue("invoice_id_missing", "invoice has no id", "invoice_id"))
    if out.get("status") not in INVOICE_STATUSES:
        issues.append(Issue("status_unknown", f"invoice status {str(out.get('status'))[:40]!r} is not known", "status"))
    _currency(out, issues, changed)
    try:
        total = _int_minor(out.get("total_minor"))
    except ValueError as exc:
        issues.append(Issue("amount_not_numeric", f"total: {exc}", "total_minor"))
    else:
        if total < 0:
            issues.append(Issue("amount_negative", f"invoice total {total} is negative", "total_minor"))
    return _result(out, issues, changed)


def _result(out: dict, issues: list[Issue], changed: list[str]) -> CleanResult:
    res = CleanResult(out, issues, changed)
    if not res.ok:
        res.record = None
    return res


def row_checker(stream: str, default_region: str = "GB", now: datetime | None = None) -> Callable[[dict], CleanResult]:
    """The row rule function of ``stream`` (customers, products, stock, orders, invoices)."""
    if stream == "customers":
        return lambda r: clean_customer(r, default_region)
    if stream == "orders":
        return lambda r: check_order(r, now)
    return {"products": check_product, "stock": check_stock, "invoices": check_invoice}[stream]


def clean_batch(
    stream: str, records: Iterable[dict[str, Any]], default_region: str = "GB", now: datetime | None = None
) -> list[CleanResult]:
    """Row rules for a whole batch, plus batch rules (a SKU used by several products quarantines them all)."""
    check = row_checker(stream, default_region, now)
    results = [check(r) for r in records]
    if stream == "products":
        counts = Counter(r.record["sku"] for r in results if r.record is not None)
        for res in results:
            if res.record is not None and counts[res.record["sku"]] > 1:
                sku = res.record["sku"]
                res.issues.append(Issue("sku_duplicate", f"SKU {sku[:60]!r} is used by {counts[sku]} products", "sku"))
                res.record = None
    return results
