"""Store (WooCommerce) streams: fetch raw pages for a window, load them into the warehouse.

* ``store_products`` - products in the ``modified`` window plus the variations of variable products.
  WooCommerce does not bump ``date_modified`` when an order (or a stock-only update) changes stock (bug
  #40060, reproduced by the simulator), so a windowed read sees price/status changes but not every stock
  change; ``Window.start is None`` means a **full scan**, which the reconcile job uses. Variations come
  from ``GET /variations`` (WooCommerce 10.3+, windowed); on older stores (404) the stream falls back to
  listing every variation of every variable product.
* ``store_orders`` - orders in the ``modified`` window (all statuses).
* ``store_customers`` - the customers endpoint has no date filter (§1.10), so every run is a full scan
  filtered client-side on ``date_modified_gmt`` (or ``date_created_gmt``) ``> window.start``; only
  changed customers are emitted.

The products table is shared with the POS: the POS owns name/price; this stream writes only the
``store_*`` columns (and inserts a row with the store's name when the SKU is new). Guests (``customer_id``
0) get ``customer_source_id`` None and ``email_norm`` from the billing email. Records that do not parse
go to quarantine (rule ``store_record_invalid``) without stopping the page; so do products whose price or
stock is beyond what the warehouse holds (``price_out_of_range``, ``quantity_out_of_range``). Orders pass
the order row rules with every line (quantity, unit price, subtotal, total, line id): a line with
quantity <= 0 or a negative amount quarantines the whole order, so no partial order reaches the POS.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from storeflow.connectors.woocommerce import WooClient
from storeflow.connectors.woocommerce_models import LineItem, Order, Product, parse_gmt
from storeflow.quality.records import MAX_MINOR, MAX_QUANTITY
from storeflow.quality.screen import reject, screen_batch
from storeflow.sync.customer_load import attach_customers
from storeflow.sync.customer_records import drop_erased_store, load_store_customers
from storeflow.sync.streams import LoadContext, LoadResult, StreamSpec, Window
from storeflow.warehouse.schema import order_lines, orders, products
from storeflow.warehouse.upsert import upsert

SOURCE = "store"
STORE_PRODUCT_COLUMNS = ["store_product_id", "store_variation_id", "store_price_minor", "store_stock",
                         "store_status", "store_updated_at", "loaded_at"]
INVALID_RULE = "store_record_invalid"
MAX_EMAIL = 320
ADS_MEDIA = {"cpc", "ppc", "paid", "ads", "display", "paid_social", "social_paid", "cpm"}


# --- fetch -----------------------------------------------------------------------------------------
def fetch_products(client: WooClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    """Products in the window (full scan when ``window.start`` is None) and their variations."""
    # only the variations of parents changed in the window when the store has no GET /variations (< 10.3):
    # on 10.x a variation's change moves its parent, so an hour with nothing changed costs a few requests
    yield from client.iter_catalog(window.start, window.end)


def fetch_orders(client: WooClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    """Orders (every status) modified inside the window."""
    yield from client.iter_orders(window.start, window.end, status="any")


def _customer_changed_at(row: dict[str, Any]) -> datetime | None:
    try:
        return parse_gmt(row.get("date_modified_gmt")) or parse_gmt(row.get("date_created_gmt"))
    except (TypeError, ValueError):
        return None


def fetch_customers(client: WooClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    """Full scan; keep customers changed after ``window.start`` (client-side; unparseable dates kept)."""
    for page in client.iter_customers(role="customer"):
        if window.start is None:
            yield page
            continue
        kept = []
        for row in page:
            changed = _customer_changed_at(row)
            if changed is None or changed > window.start:
                kept.append(row)
        if kept:
            yield kept


# --- load ------------------------------------------------------------------------------------------
#: what a malformed vendor record raises while parsing (ArithmeticError: "Infinity" prices overflow int())
PARSE_ERRORS = (ValidationError, TypeError, ValueError, ArithmeticError)


def _out_of_range(p: Product) -> tuple[str, str] | None:
    prices = {k: v for k, v in (("price", p.price_minor), ("regular_price", p.regular_price_minor),
                                ("sale_price", p.sale_price_minor)) if v is not None}
    big = [k for k, v in prices.items() if abs(v) > MAX_MINOR]
    if big:
        return "price_out_of_range", f"{', '.join(big)} exceeds {MAX_MINOR} minor units"
    if p.stock_quantity is not None and abs(p.stock_quantity) > MAX_QUANTITY:
        return "quantity_out_of_range", f"stock_quantity exceeds {MAX_QUANTITY} units"
    return None


def load_products(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    """Store columns of ``products`` keyed by SKU (variable parents and SKU-less rows are skipped)."""
    rows, bad = [], 0
    parent_names: dict[int, str] = ctx.memo.setdefault("parent_names", {})
    for raw in page:
        try:
            p = Product.model_validate(raw)
        except PARSE_ERRORS as exc:
            reject(conn, ctx, raw, INVALID_RULE, exc)
            bad += 1
            continue
        problem = _out_of_range(p)
        if problem is not None:
            reject(conn, ctx, raw, problem[0], problem[1])
            bad += 1
            continue
        if p.type == "variable":
            ctx.count("variable_parents")
            parent_names[p.id] = p.name
            continue
        if not p.sku:
            ctx.count("without_sku")
            continue
        variation = p.type == "variation"
        name = p.name or p.sku
        if variation and parent_names.get(p.parent_id):  # a variation's name is its attribute summary ("BLUE, M")
            name = f"{parent_names[p.parent_id]} - {p.name}" if p.name else parent_names[p.parent_id]
        rows.append({
            "sku": p.sku, "name": name, "is_deleted": False, "loaded_at": ctx.loaded_at,
            "store_product_id": p.parent_id if variation else p.id,
            "store_variation_id": p.id if variation else None,
            "store_price_minor": p.regular_price_minor,
            "store_stock": p.stock_quantity if p.manage_stock else None,
            "store_status": p.status,
            "store_updated_at": p.date_modified_gmt,
        })
    changed = upsert(conn, products, rows, update=STORE_PRODUCT_COLUMNS) if rows else 0
    return LoadResult(read=len(page), changed=changed, quarantined=bad)


def acquisition_channel(order: Order) -> str | None:
    """Marketing channel from WooCommerce order-attribution meta, else ``coupon`` when a coupon was used."""
    source_type = str(order.meta("_wc_order_attribution_source_type") or "").lower()
    medium = str(order.meta("_wc_order_attribution_utm_medium") or "").lower()
    if source_type == "utm":
        return "ads" if medium in ADS_MEDIA or not medium else medium[:32]
    if source_type in ("referral", "organic"):
        return source_type
    if any(c.code for c in order.coupon_lines):
        return "coupon"
    return None


def _version(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _unit_price(li: LineItem) -> int | None:
    """Unit price before discounts (minor units): the line subtotal over its quantity."""
    if li.subtotal_minor is None or not li.quantity:
        return None
    return int((Decimal(li.subtotal_minor) / li.quantity).to_integral_value(ROUND_HALF_EVEN))


def _neutral_line(li: LineItem) -> dict[str, Any]:
    """A store line in the order rules' shape: the subtotal adds up, quantity and amounts are checked."""
    return {"line_id": str(li.id), "sku": li.sku or None, "quantity": li.quantity,
            "subtotal_minor": li.subtotal_minor or 0, "unit_price_minor": _unit_price(li),
            "total_minor": li.total_minor}


def load_orders(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    """``orders`` + ``order_lines`` (source ``store``, channel ``online``).

    An order whose row rules fail (a line with quantity <= 0 or a negative amount, a date before
    ``settings.earliest_order_date``, totals that do not add up...) is quarantined whole with its lines.
    """
    order_rows, line_rows, neutral, payloads, bad = [], [], [], {}, 0
    for raw in page:
        try:
            o = Order.model_validate(raw)
            if o.date_created_gmt is None:
                raise ValueError("order has no date_created_gmt")
        except PARSE_ERRORS as exc:
            reject(conn, ctx, raw, INVALID_RULE, exc)
            bad += 1
            continue
        email = (o.billing.email or "").strip().lower() or None
        if email is not None and len(email) > MAX_EMAIL:  # cannot be an address (RFC 5321); the column holds 320
            email = None
            ctx.count("billing_email_too_long")
        order_rows.append({
            "source_system": SOURCE, "order_id": str(o.id),
            "customer_source_id": None if o.is_guest else str(o.customer_id), "email_norm": email,
            "location_id": None, "channel": "online", "status": o.status, "currency": o.currency,
            "total_minor": o.total_minor, "tax_minor": o.total_tax_minor, "discount_minor": o.discount_total_minor,
            "shipping_minor": o.shipping_total_minor, "created_at": o.date_created_gmt,
            "updated_at": o.date_modified_gmt, "paid_at": o.date_paid_gmt, "version": _version(o.date_modified_gmt),
            "created_via": o.created_via, "user_agent": (o.customer_user_agent or None) and o.customer_user_agent[:512],
            "acquisition_channel": acquisition_channel(o), "loaded_at": ctx.loaded_at,
        })
        payloads[str(o.id)] = raw
        neutral.append({"order_id": str(o.id), "status": o.status, "currency": o.currency,
                        "total_minor": o.total_minor, "tax_minor": o.total_tax_minor,
                        "discount_minor": o.discount_total_minor, "shipping_minor": o.shipping_total_minor,
                        "created_at": o.date_created_gmt,
                        "lines": [_neutral_line(li) for li in o.line_items]})
        for li in o.line_items:
            unit = _unit_price(li)
            line_rows.append({
                "source_system": SOURCE, "order_id": str(o.id), "line_id": str(li.id), "sku": li.sku or None,
                "name": li.name, "quantity": Decimal(li.quantity), "unit_price_minor": unit,
                "total_minor": li.total_minor, "loaded_at": ctx.loaded_at,
            })
    rejected = screen_batch(conn, ctx, "orders", neutral, "order_id", payloads=payloads).rejected
    order_rows = [r for r in order_rows if r["order_id"] not in rejected]
    attach_customers(conn, SOURCE, order_rows)
    line_rows = [r for r in line_rows if r["order_id"] not in rejected]
    changed = upsert(conn, orders, order_rows) if order_rows else 0
    if line_rows:
        ctx.count("order_lines_changed", upsert(conn, order_lines, line_rows))
    return LoadResult(read=len(page), changed=changed, quarantined=bad + len(rejected))


STORE_STREAMS: dict[str, StreamSpec] = {
    "store_products": StreamSpec(
        name="store_products", source_system=SOURCE, fetch=fetch_products, load=load_products,
        cursor_field="date_modified_gmt",
    ),
    "store_orders": StreamSpec(
        name="store_orders", source_system=SOURCE, fetch=fetch_orders, load=load_orders, dq_suite="orders",
        cursor_field="date_modified_gmt",
    ),
    "store_customers": StreamSpec(
        name="store_customers", source_system=SOURCE, fetch=fetch_customers, load=load_store_customers,
        pre_land=drop_erased_store, dq_suite="customers",
        cursor_field="date_modified_gmt (client-side filter over a full scan)",
    ),
}
