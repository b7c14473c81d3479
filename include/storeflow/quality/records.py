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
- stock: ``pos_variation_id`` or ``sku``, ``location_id``, ``state``, ``quantity``. Negative sellable
  stock (an in-store oversell) is data: it loads with a ``stock_negative`` *warning*.
- orders: ``order_id, status, currency, created_at, total_minor, tax_minor, discount_minor,
  shipping_minor, fees_minor, lines=[{line_id?, sku, quantity, unit_price_minor | subtotal_minor,
  total_minor?}]``; line amounts are *before* order discounts, so
  ``total = sum(lines) - discount + tax + shipping + fees``. A line with quantity <= 0 or a negative
  amount quarantines the whole order (no partial order may reach the POS); the reason names the line.
- invoices: ``invoice_id, status, total_minor, currency``.

Every stream first passes :func:`unstorable_issues`: a NUL byte or lone surrogate in any text, a
non-finite number or an integer beyond 64 bits anywhere in the record quarantines it whole
(``value_unstorable``) - PostgreSQL text/JSONB cannot hold them and BIGINT overflows. Amounts beyond
:data:`MAX_MINOR`, counts beyond :data:`MAX_QUANTITY` and order dates before
``settings.earliest_order_date`` are quarantined by the stream's own rules.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from storeflow.quality.codes import ISO_CURRENCIES
from storeflow.quality.countries import clean_country
from storeflow.quality.emails import clean_email, email_key
from storeflow.quality.names import clean_name
from storeflow.quality.phones import clean_phone
from storeflow.quality.postcodes import clean_postcode, fallback
from storeflow.quality.results import CleanResult, FieldResult, Issue, Severity

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
#: Largest amount in minor units accepted (10^13 major units): far beyond any real order, far below BIGINT.
MAX_MINOR = 10**15
#: Largest stock count or line quantity accepted (absolute value).
MAX_QUANTITY = 10**9
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SUSPECT_JSON = re.compile(r"\\u(?:0000|[dD][89a-fA-F])|[0-9]{19}")
#: text a customer field cannot keep: NUL, lone surrogates, and U+FFFD (what an undecodable character became)
BROKEN_TEXT = re.compile("[\x00\ud800-\udfff\ufffd]")


def _unstorable_value(value: Any) -> str | None:
    if isinstance(value, str):
        if _UNSTORABLE_TEXT.search(value):
            return "contains a NUL byte" if "\x00" in value else "contains a lone surrogate (invalid Unicode)"
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return f"integer of {len(str(abs(value)))} digits overflows 64 bits"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"is {value!r} (not a finite number)"
    if isinstance(value, Decimal):
        return None if value.is_finite() else f"is {value} (not a finite number)"
    return None


def _finite_or_raise(value: Any) -> str:
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError("not finite")
    return str(value)


def unstorable_issues(record: Any, *, limit: int = 5, text: bool = True) -> list[Issue]:
    """Values no warehouse column can hold, anywhere in ``record`` (nested dicts/lists, keys included).

    NUL bytes and lone surrogates (PostgreSQL text and JSONB refuse them; UTF-8 cannot encode a lone
    surrogate), NaN/infinity and integers beyond 64 bits. One ``value_unstorable`` issue naming up to
    ``limit`` bad values by field path, never the value itself (it may be personal data); [] when clean.
    ``text=False`` checks numbers only (customers: text is judged field by field in :func:`clean_customer`).
    """
    try:  # fast path (C encoder): clean records have no escape or 19-digit run that could be a problem
        encoded: str | None = json.dumps(record, allow_nan=False, default=_finite_or_raise)
    except (ValueError, TypeError):
        encoded = None
    if encoded is not None and not _SUSPECT_JSON.search(encoded):
        return []
    found: list[str] = []
    stack: list[tuple[str, Any]] = [("", record)]
    while stack and len(found) < limit:
        path, value = stack.pop()
        if isinstance(value, Mapping):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if text and isinstance(key, str) and _UNSTORABLE_TEXT.search(key):
                    found.append(f"a field name under {path or 'the record'} contains a NUL byte or lone surrogate")
                    name = f"{path}.<field>" if path else "<field>"
                stack.append((name, item))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif text or not isinstance(value, str):
            problem = _unstorable_value(value)
            if problem:
                found.append(f"{_printable(path) or 'value'} {problem}")
    return [Issue("value_unstorable", "; ".join(found[:limit]), None)] if found else []


def replace_lone_surrogates(value: Any) -> Any:
    """``value`` (nested) with every lone surrogate replaced by U+FFFD: encodable as UTF-8, visibly broken."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, Mapping):
        return {replace_lone_surrogates(k): replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_lone_surrogates(v) for v in value]
    return value


def _printable(text: str) -> str:
    """``text`` with NUL bytes and lone surrogates shown as escapes (safe to store and log)."""
    return _UNSTORABLE_TEXT.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(out: dict[str, Any], issues: list[Issue], key: str, changed: list[str], limit: int = MAX_TEXT,
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
    kept = cleaned or None
    if kept != out.get(key):
        out[key] = kept
        changed.append(key)


def _issue(res: FieldResult, key: str, severity: Severity) -> Issue:
    """The issue of a rejected result (:func:`~storeflow.quality.results.reject` sets rule and reason)."""
    assert res.rule is not None and res.reason is not None, "an accepted result has no issue"
    return Issue(res.rule, res.reason, key, severity)


def _apply(out: dict[str, Any], issues: list[Issue], changed: list[str], key: str, res: FieldResult,
           severity: Severity = "field") -> None:
    """Store an accepted value; a rejected one is quarantined at field level (value dropped)."""
    if res.ok:
        if res.changed:
            out[key] = res.value
            changed.append(key)
    else:
        issues.append(_issue(res, key, severity))
        if out.get(key) is not None:
            out[key] = None
            changed.append(key)


def clean_customer(record: dict[str, Any], default_region: str = "GB") -> CleanResult:
    """Clean one customer record.

    A missing source id quarantines the row. A value that cannot be cleaned (broken email, unparseable
    phone, unknown country, over-long text, a NUL byte or broken Unicode as the source sent it) is
    quarantined at *field* level: the field is dropped, the
    rest of the customer is loaded, and the quarantine row keeps the raw payload and the reason, so a
    customer is never lost over one bad field. An invalid postcode is kept as typed (upper case) with a
    warning; a customer with no email, phone or name gets a warning.
    """
    out = dict(record)
    issues: list[Issue] = []
    changed: list[str] = []
    if _blank(out.get("source_id")):
        issues.append(Issue("missing_source_id", "customer record has no source id", "source_id"))
    # a NUL byte or broken Unicode as the source sent it quarantines the field (the customer still loads),
    # before a cleaner could strip it and hide that the source holds a value no system should hold
    for key, value in list(out.items()):
        if key in ("source_id", "consents") or not isinstance(value, str) or not BROKEN_TEXT.search(value):
            continue
        issues.append(Issue("value_unstorable", f"{key} contains a NUL byte or invalid Unicode", key, "field"))
        out[key] = None
        changed.append(key)
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
        issues.append(_issue(pc, "postcode", "warning"))
        kept = fallback(str(out["postcode"]))
        if kept != out["postcode"]:
            out["postcode"] = kept
            changed.append("postcode")
    else:
        _apply(out, issues, changed, "postcode", pc)
    if isinstance(out.get("source_id"), str) and BROKEN_TEXT.search(out["source_id"]):
        issues.append(Issue("value_unstorable", "source_id contains a NUL byte or invalid Unicode", "source_id"))
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


def _currency(out: dict[str, Any], issues: list[Issue], changed: list[str]) -> str | None:
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
            elif minor > MAX_MINOR:
                issues.append(Issue("price_out_of_range", f"price {minor} (minor units) exceeds {MAX_MINOR}", "price"))
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
    """Row rules for a stock count: key present, whole-unit quantity within range.

    Negative sellable stock (Square lets IN_STOCK go below 0 after an oversell) is data, not an error: the
    count loads unchanged with a ``stock_negative`` warning (the store gets ``max(0, ...)``).
    """
    out = dict(record)
    issues: list[Issue] = []
    if _blank(out.get("pos_variation_id")) and _blank(out.get("sku")):
        issues.append(Issue("stock_key_missing", "stock count has neither variation id nor SKU", "sku"))
    try:
        qty = _qty(out.get("quantity"))
    except ValueError as exc:
        issues.append(Issue("quantity_not_numeric", f"quantity: {exc}", "quantity"))
    else:
        if abs(qty) > MAX_QUANTITY:
            issues.append(Issue("quantity_out_of_range", f"quantity exceeds {MAX_QUANTITY} units", "quantity"))
        elif qty != qty.to_integral_value():
            issues.append(Issue("quantity_not_integer", f"quantity {qty} is not a whole number of units", "quantity"))
        else:
            if qty < 0 and (out.get("state") or "IN_STOCK") in STOCK_STATES_SELLABLE:
                issues.append(Issue("stock_negative", f"sellable stock {qty} is negative (oversold)", "quantity",
                                    "warning"))
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


def _earliest_order_date() -> datetime:
    from storeflow.settings import get_settings

    day = get_settings().earliest_order_date
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _line_name(line: Mapping[str, Any], index: int) -> str:
    line_id = line.get("line_id")
    return f"line {_printable(str(line_id))[:64]}" if line_id not in (None, "") else f"line #{index}"


def _check_lines(lines: list[Any], issues: list[Issue]) -> int:
    """Sum of the lines (minor units, before discounts); adds line issues; raises ValueError on non-numbers."""
    line_sum = 0
    bad_qty: list[str] = []
    zero_qty: list[str] = []
    negative: list[str] = []
    too_big: list[str] = []
    for i, line in enumerate(lines):
        if not isinstance(line, Mapping):
            raise ValueError(f"line #{i} is not an object")
        name = _line_name(line, i)
        amounts = {k: _int_minor(line[k]) for k in ("unit_price_minor", "subtotal_minor", "total_minor")
                   if line.get(k) is not None}
        negative += [f"{name} {k[:-6].replace('_', ' ')} {v} is negative" for k, v in amounts.items() if v < 0]
        too_big += [f"{name} {k[:-6].replace('_', ' ')} exceeds {MAX_MINOR}" for k, v in amounts.items()
                    if abs(v) > MAX_MINOR]
        qty = _qty(line.get("quantity")) if "quantity" in line or "subtotal_minor" not in line else None
        if qty is not None:
            if abs(qty) > MAX_QUANTITY:
                too_big.append(f"{name} quantity exceeds {MAX_QUANTITY}")
            elif qty < 0:
                bad_qty.append(f"{name} quantity {qty} is negative")
            elif qty == 0:
                zero_qty.append(f"{name} quantity is 0")
        if "subtotal_minor" in line and line.get("subtotal_minor") is not None:
            line_sum += amounts["subtotal_minor"]
        elif qty is not None and not too_big:
            line_sum += int(qty * amounts.get("unit_price_minor", _int_minor(line.get("unit_price_minor"))))
    for rule, found in (("line_quantity_negative", bad_qty), ("line_quantity_zero", zero_qty),
                        ("line_amount_negative", negative), ("amount_out_of_range", too_big)):
        if found:
            issues.append(Issue(rule, "; ".join(found)[:1000], "lines"))
    return line_sum


def check_order(record: dict[str, Any], now: datetime | None = None, earliest: datetime | None = None) -> CleanResult:
    """Row rules for an order: id, known status, currency, plausible date, sound lines that add up to the total.

    The order date must lie between ``earliest`` (default ``settings.earliest_order_date``) and now (plus
    a few minutes of clock skew). A line with quantity <= 0, a negative unit price/subtotal/total, or an
    amount beyond :data:`MAX_MINOR` quarantines the whole order, the reason naming the line.
    """
    out = dict(record)
    issues: list[Issue] = []
    changed: list[str] = []
    now = now or datetime.now(UTC)
    if _blank(out.get("order_id")):
        issues.append(Issue("order_id_missing", "order has no id", "order_id"))
    status = out.get("status")
    if not isinstance(status, str) or status not in ORDER_STATUSES:
        issues.append(Issue("status_unknown", f"order status {str(status)[:40]!r} is not a known status", "status"))
    _currency(out, issues, changed)
    try:
        created = parse_timestamp(out.get("created_at"))
    except (ValueError, TypeError, OverflowError) as exc:
        issues.append(Issue("date_invalid", f"created_at: {exc}", "created_at"))
    else:
        earliest = earliest or _earliest_order_date()
        if created > now + FUTURE_SKEW:
            issues.append(Issue("date_in_future", f"created_at {created.isoformat()} is in the future", "created_at"))
        elif created < earliest:
            issues.append(Issue("date_out_of_range", f"created_at {created.isoformat()} is before "
                                f"{earliest.date().isoformat()}", "created_at"))
        if created != out.get("created_at"):
            out["created_at"] = created
            changed.append("created_at")
    try:
        parts = {k: _int_minor(out.get(k) or 0)
                 for k in ("tax_minor", "discount_minor", "shipping_minor", "fees_minor")}
        total = _int_minor(out.get("total_minor"))
        line_issues: list[Issue] = []
        line_sum = _check_lines(list(out.get("lines") or []), line_issues)
    except (ValueError, TypeError) as exc:
        issues.append(Issue("amount_not_numeric", f"order amounts: {exc}", "total_minor"))
    else:
        issues.extend(line_issues)
        big = [k for k, v in {**parts, "total_minor": total}.items() if abs(v) > MAX_MINOR]
        if big and not any(i.rule == "amount_out_of_range" for i in line_issues):
            issues.append(Issue("amount_out_of_range", f"{', '.join(big)} exceeds {MAX_MINOR}", "total_minor"))
        expected = (line_sum - parts["discount_minor"] + parts["tax_minor"] + parts["shipping_minor"]
                    + parts["fees_minor"])
        if not big and not any(i.rule == "amount_out_of_range" for i in line_issues) and abs(expected - total) > 1:
            issues.append(Issue(  # 1 = 0.01 in a two-decimal currency
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
    if not isinstance(out.get("status"), str) or out["status"] not in INVOICE_STATUSES:
        issues.append(Issue("status_unknown", f"invoice status {str(out.get('status'))[:40]!r} is not known", "status"))
    _currency(out, issues, changed)
    try:
        total = _int_minor(out.get("total_minor"))
    except ValueError as exc:
        issues.append(Issue("amount_not_numeric", f"total: {exc}", "total_minor"))
    else:
        if total < 0:
            issues.append(Issue("amount_negative", f"invoice total {total} is negative", "total_minor"))
        elif total > MAX_MINOR:
            issues.append(Issue("amount_out_of_range", f"invoice total exceeds {MAX_MINOR}", "total_minor"))
    return _result(out, issues, changed)


def _result(out: dict[str, Any], issues: list[Issue], changed: list[str]) -> CleanResult:
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
    """Row rules for a whole batch, plus batch rules (a SKU used by several products quarantines them all).

    A record holding an unstorable value (:func:`unstorable_issues`) is quarantined whole before its rules run
    (customers: broken text is quarantined field by field by :func:`clean_customer`).
    """
    check = row_checker(stream, default_region, now)
    results = []
    for record in records:
        unstorable = unstorable_issues(record, text=stream != "customers")
        results.append(CleanResult(None, unstorable) if unstorable else check(record))
    if stream == "products":
        counts = Counter(r.record["sku"] for r in results if r.record is not None)
        for res in results:
            if res.record is not None and counts[res.record["sku"]] > 1:
                sku = res.record["sku"]
                res.issues.append(Issue("sku_duplicate", f"SKU {sku[:60]!r} is used by {counts[sku]} products", "sku"))
                res.record = None
    return results
