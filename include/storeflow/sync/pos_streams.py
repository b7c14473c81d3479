"""POS (Square) streams: fetch raw pages for a window, load them into the warehouse.

* ``pos_locations`` - every location, every run (not incremental).
* ``pos_catalog`` - SearchCatalogObjects with ``begin_time = window.start`` (exclusive), tombstones
  included, related objects included (a changed variation brings its parent ITEM). One ``products``
  row per variation SKU; the row version is ``max(item.version, variation.version)`` so a renamed item
  or a re-priced variation both move it forward. Only POS-owned columns are written (the store stream
  owns ``store_*``).
* ``pos_inventory`` - BatchRetrieveInventoryCounts with ``updated_after = window.start`` → ``stock_levels``.
* ``pos_orders`` - SearchOrders on ``updated_at`` over every location (chunks of 10), with a long overlap
  (``settings.pos_orders_lookback_hours``, default 72 h: offline POS orders arrive late). Orders storeflow
  itself created in the POS for online orders (``metadata.storeflow_source == "store"``) are echoes of
  store orders and are skipped (counted as ``echo_skipped``), so they are never counted as in-store sales.
* ``pos_customers`` - SearchCustomers on ``updated_at`` (the overlap, 5 min by default, must exceed
  Square's search-index delay of up to about a minute) → cleaning, quarantine and identity resolution
  (:mod:`storeflow.sync.customer_records`, shared with the store).
* ``pos_invoices`` - full rescan (the Invoices API has no ``updated_at`` filter).

Known limitation: renaming a CATEGORY does not rewrite ``products.category`` until its items change
(the warehouse keeps the category name, not its id).

Every loader de-duplicates by id + version inside the page (highest version wins) and never overwrites
a newer stored version with an older one. Records that fail to parse go to quarantine with a rule and
a reason without stopping the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, select, tuple_, update

from storeflow.connectors.square import SquareClient
from storeflow.connectors.square_models import (
    CatalogCategory,
    CatalogItem,
    CatalogVariation,
    InventoryCount,
    Invoice,
    Location,
    Order,
)
from storeflow.quality.screen import reject, screen_batch
from storeflow.settings import get_settings
from storeflow.sync.customer_load import attach_customers
from storeflow.sync.customer_records import drop_erased_pos, load_pos_customers
from storeflow.sync.streams import LoadContext, LoadResult, StreamSpec, Window
from storeflow.warehouse.chunks import chunked
from storeflow.warehouse.schema import (
    invoices,
    locations,
    order_lines,
    orders,
    products,
    stock_levels,
)
from storeflow.warehouse.upsert import upsert

SOURCE = "pos"
ECHO_KEY = "storeflow_source"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: what a malformed record raises while parsing (ArithmeticError: e.g. a year-1 timestamp with an offset)
PARSE_ERRORS = (ValidationError, ArithmeticError)
_M = TypeVar("_M", bound=BaseModel)


# --- helpers ---------------------------------------------------------------------------------------
def _quarantine(conn: Connection, ctx: LoadContext, raw: Any, rule: str, reason: str) -> None:
    """:func:`~storeflow.quality.screen.reject` as the POS loaders count it (in ``quarantined`` only)."""
    reject(conn, ctx, raw, rule, reason, count_rule=False)


def _parse(conn: Connection, ctx: LoadContext, page: Iterable[dict[str, Any]], model: type[_M],
           rule: str) -> tuple[list[tuple[_M, dict[str, Any]]], int]:
    """Each raw record of ``page`` as ``model`` (with the raw record); one that does not parse is quarantined
    under ``rule``. Returns the parsed pairs and how many were quarantined."""
    parsed: list[tuple[_M, dict[str, Any]]] = []
    bad = 0
    for raw in page:
        try:
            parsed.append((model.model_validate(raw), raw))
        except PARSE_ERRORS as exc:
            _quarantine(conn, ctx, raw, rule, _reason(exc))
            bad += 1
    return parsed, bad


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)


def _stored(conn: Connection, column_key: ColumnElement[Any], columns: Sequence[ColumnElement[Any]],
            keys: Sequence[Any], where: ColumnElement[bool] | None = None) -> dict[Any, tuple[Any, ...]]:
    """Stored values of ``columns`` for rows whose ``column_key`` is in ``keys`` (and ``where``)."""
    out: dict[Any, tuple[Any, ...]] = {}
    for chunk in chunked(list(dict.fromkeys(keys))):
        query = select(column_key, *columns).where(column_key.in_(chunk))
        if where is not None:
            query = query.where(where)
        for row in conn.execute(query):
            out[row[0]] = tuple(row[1:])
    return out


_K = TypeVar("_K")


def _newest(records: Iterable[tuple[_K, tuple[float, ...], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Keep, per key, the record with the highest version tuple (ties: last wins)."""
    best: dict[_K, tuple[tuple[float, ...], dict[str, Any]]] = {}
    for key, version, row in records:
        if key not in best or version >= best[key][0]:
            best[key] = (version, row)
    return [row for _, row in best.values()]


def email_norm(value: str | None) -> str | None:
    """Lower-cased, trimmed email when it looks like one (finer cleaning happens in quality)."""
    if not value:
        return None
    text = value.strip().lower()
    return text if _EMAIL.match(text) else None






# --- fetch -----------------------------------------------------------------------------------------
def fetch_locations(client: SquareClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    page = client.list_locations_raw()
    if page:
        yield page


def fetch_catalog(client: SquareClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    yield from client.search_catalog(window.start, include_deleted=True)


def fetch_inventory(client: SquareClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    yield from client.retrieve_inventory_counts(updated_after=window.start)


def fetch_orders(client: SquareClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    loc_ids = [loc.id for loc in client.list_locations()]
    if loc_ids:
        yield from client.search_orders(loc_ids, window.start, window.end)


def fetch_customers(client: SquareClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    if window.start is None:
        yield from client.search_customers()
    else:
        # end is exclusive on SearchCustomers: nudge it so a change at exactly window.end is read now
        yield from client.search_customers(window.start, window.end + timedelta(microseconds=1))


def fetch_invoices(client: SquareClient, window: Window) -> Iterator[list[dict[str, Any]]]:
    for loc in client.list_locations():
        yield from client.list_invoices(loc.id)


# --- load: locations -------------------------------------------------------------------------------
def load_locations(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    parsed, bad = _parse(conn, ctx, page, Location, "pos_location_invalid")
    rows = [{"location_id": loc.id, "name": loc.name, "status": loc.status, "timezone": loc.timezone,
             "currency": loc.currency, "loaded_at": ctx.loaded_at} for loc, _raw in parsed]
    changed = upsert(conn, locations, rows) if rows else 0
    return LoadResult(read=len(page), changed=changed, quarantined=bad)


# --- load: catalog ---------------------------------------------------------------------------------
def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def load_catalog(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    """``products`` rows (one per variation SKU) from ITEM / ITEM_VARIATION / CATEGORY objects."""
    currency = get_settings().currency
    items: dict[str, CatalogItem] = {}
    variations: dict[str, CatalogVariation] = {}
    categories: dict[str, str] = {}
    bad = 0
    for raw in page:
        kind = raw.get("type") if isinstance(raw, dict) else None
        try:
            if kind == "ITEM":
                item = CatalogItem.model_validate(raw)
                if item.id not in items or (item.version or 0) >= (items[item.id].version or 0):
                    items[item.id] = item
                for var in item.variations:
                    if var.id not in variations or (var.version or 0) >= (variations[var.id].version or 0):
                        variations[var.id] = var
            elif kind == "ITEM_VARIATION":
                var = CatalogVariation.model_validate(raw)
                if var.id not in variations or (var.version or 0) >= (variations[var.id].version or 0):
                    variations[var.id] = var
            elif kind == "CATEGORY":
                cat = CatalogCategory.model_validate(raw)
                if cat.name:
                    categories[cat.id] = cat.name
        except PARSE_ERRORS as exc:
            _quarantine(conn, ctx, raw, "pos_catalog_invalid", _reason(exc))
            bad += 1
    # items we did not get in this page: fall back to what the warehouse knows about them
    missing_items = {v.item_id for v in variations.values() if v.item_id and v.item_id not in items}
    known_items: dict[str, tuple[Any, Any]] = {}
    for chunk in chunked(sorted(missing_items)):
        for known in conn.execute(select(products.c.pos_item_id, products.c.name, products.c.category)
                                  .where(products.c.pos_item_id.in_(chunk))):
            known_items[known[0]] = (known[1], known[2])
    item_cats = {i.id: next((categories[c] for c in i.category_ids if c in categories), None) for i in items.values()}
    unresolved = {c for i in items.values() for c in i.category_ids if c not in categories}
    if unresolved:
        known_cat = _stored(conn, products.c.pos_item_id, [products.c.category],
                            [i.id for i in items.values() if item_cats[i.id] is None])
        for item_id, (cat,) in known_cat.items():
            item_cats[item_id] = item_cats.get(item_id) or cat
    rows: list[dict[str, Any]] = []
    for var in variations.values():
        raw_var = {"id": var.id, "type": "ITEM_VARIATION", "item_id": var.item_id, "sku": var.sku}
        parent = items.get(var.item_id or "")
        if parent is not None:
            name, category, item_deleted = parent.name, item_cats.get(parent.id), parent.is_deleted
            version = max(parent.version or 0, var.version or 0)
            updated = _later(parent.updated_at, var.updated_at)
        elif var.item_id in known_items:
            name, category = known_items[var.item_id]
            item_deleted, version, updated = False, var.version or 0, var.updated_at
        else:
            _quarantine(conn, ctx, raw_var, "pos_variation_without_item",
                        f"variation {var.id} refers to item {var.item_id} that is neither in the page nor loaded")
            bad += 1
            continue
        sku = (var.sku or "").strip()
        if not sku:
            if not (var.is_deleted or item_deleted):
                _quarantine(conn, ctx, raw_var, "pos_missing_sku", f"variation {var.id} has no SKU")
                bad += 1
            continue
        if not name:
            _quarantine(conn, ctx, raw_var, "pos_missing_name", f"item {var.item_id} has no name")
            bad += 1
            continue
        price = var.price_money
        rows.append({
            "sku": sku, "pos_item_id": var.item_id, "pos_variation_id": var.id, "name": name,
            "variation_name": var.name, "category": category, "attributes": var.attributes or None,
            "price_minor": price.amount if price else None, "currency": price.currency if price else currency,
            "track_inventory": var.track_inventory, "pos_version": version, "pos_updated_at": updated,
            "is_deleted": bool(var.is_deleted or item_deleted), "loaded_at": ctx.loaded_at,
        })
    # one row per SKU: a SKU held by two live variations is a data problem, not a silent overwrite
    stored = _stored(conn, products.c.sku, [products.c.pos_variation_id, products.c.pos_version,
                                            products.c.is_deleted], [r["sku"] for r in rows])
    by_sku: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_sku.setdefault(row["sku"], []).append(row)
    keep = []
    for sku, candidates in by_sku.items():
        live = [r for r in candidates if not r["is_deleted"]]
        owners = {r["pos_variation_id"] for r in live}
        if len(owners) > 1:
            for r in live[1:]:
                _quarantine(conn, ctx, {"id": r["pos_variation_id"], "sku": sku}, "pos_duplicate_sku",
                            f"SKU {sku} is used by variations {sorted(owners)}")
                bad += 1
            candidates = [live[0]]
        row = max(candidates, key=lambda r: (not r["is_deleted"], r["pos_version"] or 0))
        prev = stored.get(sku)
        if prev is not None and prev[0] and prev[0] != row["pos_variation_id"]:
            if not prev[2] and not row["is_deleted"]:
                _quarantine(conn, ctx, {"id": row["pos_variation_id"], "sku": sku}, "pos_duplicate_sku",
                            f"SKU {sku} already belongs to variation {prev[0]}")
                bad += 1
                continue
            if row["is_deleted"] and not prev[2]:
                continue  # a deleted duplicate must not hide the live owner
        elif prev is not None and prev[1] is not None and (row["pos_version"] or 0) < prev[1]:
            ctx.count("stale_skipped")
            continue
        keep.append(row)
    live = [r for r in keep if not r.get("is_deleted")]
    rejected = screen_batch(conn, ctx, "products", [
        {"sku": r["sku"], "name": r["name"], "price_minor": r["price_minor"], "currency": r["currency"]}
        for r in live], "sku").rejected
    keep = [r for r in keep if r["sku"] not in rejected]
    changed = upsert(conn, products, keep) if keep else 0
    link_catalog_to_stock(conn, keep, ctx)
    return LoadResult(read=len(page), changed=changed, quarantined=bad + len(rejected))


def link_catalog_to_stock(conn: Connection, rows: list[dict[str, Any]], ctx: LoadContext) -> None:
    """After a catalog page: retire SKUs renamed away from their variation, repair ``stock_levels.sku``.

    The desired store stock joins counts by variation id when it is computed (:mod:`storeflow.sync.stock`),
    so it does not need this; other readers of ``stock_levels.sku`` (campaign planning) do, and counts may
    have been loaded before their catalog (parallel extracts). A SKU renamed in the POS leaves its old
    ``products`` row holding the same variation: that row is marked deleted (its store product goes to
    stock 0, never deleted), so one variation's stock is never counted under two SKUs.
    """
    live = [(r["sku"], r["pos_variation_id"]) for r in rows if not r.get("is_deleted") and r.get("pos_variation_id")]
    if not live:
        return
    retired = 0
    for chunk in chunked(live):
        owner = dict((var, sku) for sku, var in chunk)
        stale = [(sku, var) for sku, var in conn.execute(
            select(products.c.sku, products.c.pos_variation_id).where(and_(
                products.c.pos_variation_id.in_(list(owner)), products.c.is_deleted.is_(False))))
            if owner.get(var) != sku]
        if stale:
            retired += len(stale)
            conn.execute(update(products).where(and_(products.c.sku == bindparam("old_sku"),
                                                     products.c.pos_variation_id == bindparam("var"))),
                         [{"old_sku": sku, "var": var, "is_deleted": True} for sku, var in stale])
        fixes = sorted({(var, owner[var]) for var, sku in conn.execute(
            select(stock_levels.c.pos_variation_id, stock_levels.c.sku).distinct()
            .where(stock_levels.c.pos_variation_id.in_(list(owner)))) if sku != owner[var]})
        if fixes:
            conn.execute(update(stock_levels).where(stock_levels.c.pos_variation_id == bindparam("var")),
                         [{"var": var, "sku": sku} for var, sku in fixes])
            ctx.count("stock_sku_linked", len(fixes))
    if retired:
        ctx.count("sku_renamed_retired", retired)


# --- load: inventory -------------------------------------------------------------------------------
def load_inventory(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    """``stock_levels`` rows per (variation, location, state); older counts never replace newer ones."""
    pairs, bad = _parse(conn, ctx, page, InventoryCount, "pos_count_invalid")
    parsed = [count for count, _raw in pairs]
    # informational only (the desired stock joins by variation id); the catalog load repairs it when the
    # counts arrive first, and a renamed SKU's retired row must not win
    skus = _stored(conn, products.c.pos_variation_id, [products.c.sku], [c.catalog_object_id for c in parsed],
                   products.c.is_deleted.is_(False))
    keys = [(c.catalog_object_id, c.location_id, c.state) for c in parsed]
    stored: dict[tuple[str, str, str], datetime | None] = {}
    key_cols = tuple_(stock_levels.c.pos_variation_id, stock_levels.c.location_id, stock_levels.c.state)
    for chunk in chunked(list(dict.fromkeys(keys))):
        for level in conn.execute(select(stock_levels.c.pos_variation_id, stock_levels.c.location_id,
                                         stock_levels.c.state, stock_levels.c.calculated_at)
                                  .where(key_cols.in_(chunk))):
            stored[(level[0], level[1], level[2])] = level[3]
    records: list[tuple[tuple[str, str, str], tuple[float, ...], dict[str, Any]]] = []
    for c in parsed:
        key = (c.catalog_object_id, c.location_id, c.state)
        prev = stored.get(key)
        if prev is not None and c.calculated_at is not None and c.calculated_at < prev:
            ctx.count("stale_skipped")
            continue
        row = {"pos_variation_id": c.catalog_object_id, "location_id": c.location_id, "state": c.state,
               "sku": (skus.get(c.catalog_object_id) or (None,))[0], "quantity": c.quantity,
               "calculated_at": c.calculated_at, "loaded_at": ctx.loaded_at}
        records.append((key, (c.calculated_at.timestamp() if c.calculated_at else 0.0,), row))
    rows = _newest(records)
    label = {id(r): f"{r['pos_variation_id']}@{r['location_id']}:{r['state']}" for r in rows}
    rejected = screen_batch(conn, ctx, "stock", [
        {"id": label[id(r)], "pos_variation_id": r["pos_variation_id"], "sku": r["sku"], "quantity": r["quantity"],
         "state": r["state"]} for r in rows], "id").rejected
    rows = [r for r in rows if label[id(r)] not in rejected]
    changed = upsert(conn, stock_levels, rows) if rows else 0
    return LoadResult(read=len(page), changed=changed, quarantined=bad + len(rejected))


# --- load: orders ----------------------------------------------------------------------------------
def is_storeflow_echo(raw: dict[str, Any]) -> bool:
    """An order storeflow wrote into the POS for an online order (not an in-store sale)."""
    meta = raw.get("metadata") or {}
    return isinstance(meta, dict) and meta.get(ECHO_KEY) == "store"


def _order_version(o: Order) -> tuple[int, float]:
    return (o.version or 0, o.updated_at.timestamp() if o.updated_at else 0.0)


def load_orders(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    """``orders`` + ``order_lines`` (source ``pos``, channel ``in_store``), skipping storeflow's echoes."""
    currency = get_settings().currency
    echoes = [raw for raw in page if is_storeflow_echo(raw)]
    if echoes:
        ctx.count("echo_skipped", len(echoes))
    parsed, bad = _parse(conn, ctx, (raw for raw in page if not is_storeflow_echo(raw)), Order,
                         "pos_order_invalid")
    best = {o.id: (o, raw) for o, raw in sorted(parsed, key=lambda p: _order_version(p[0]))}
    stored = _stored(conn, orders.c.order_id, [orders.c.version, orders.c.updated_at, orders.c.source_system],
                     list(best), orders.c.source_system == SOURCE)
    fresh = []
    for order_id, (o, _raw) in best.items():
        prev = stored.get(order_id)
        if prev is not None and prev[2] == SOURCE and prev[0] is not None and (o.version or 0) < prev[0]:
            ctx.count("stale_skipped")
            continue
        fresh.append(o)
    var_ids = [li.catalog_object_id for o in fresh for li in o.line_items if li.catalog_object_id]
    skus = _stored(conn, products.c.pos_variation_id, [products.c.sku], var_ids)
    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    tips = {o.id: sum(m.amount for m in (o.total_tip_money, o.total_service_charge_money) if m) for o in fresh}
    for o in fresh:
        total = o.total_money
        order_rows.append({
            "source_system": SOURCE, "order_id": o.id, "customer_source_id": o.customer_id, "email_norm": None,
            "location_id": o.location_id, "channel": "in_store", "status": o.state,
            "currency": total.currency if total else currency, "total_minor": total.amount if total else None,
            "tax_minor": o.total_tax_money.amount if o.total_tax_money else None,
            "discount_minor": o.total_discount_money.amount if o.total_discount_money else None,
            "shipping_minor": 0, "created_at": o.created_at, "updated_at": o.updated_at,
            "paid_at": o.closed_at if o.state == "COMPLETED" else None, "version": o.version,
            "created_via": (o.source.name if o.source else None), "user_agent": None, "acquisition_channel": None,
            "reference_id": (o.reference_id or None) and o.reference_id[:64], "loaded_at": ctx.loaded_at,
        })
        for i, li in enumerate(o.line_items):
            line_rows.append({
                "source_system": SOURCE, "order_id": o.id, "line_id": li.uid or str(i),
                "sku": (skus.get(li.catalog_object_id) or (None,))[0] if li.catalog_object_id else None,
                "pos_variation_id": li.catalog_object_id, "name": li.name, "quantity": li.quantity,
                "unit_price_minor": li.base_price_money.amount if li.base_price_money else None,
                "total_minor": li.total_money.amount if li.total_money else None, "loaded_at": ctx.loaded_at,
            })
    neutral = [{"order_id": r["order_id"], "status": r["status"], "currency": r["currency"],
                "total_minor": r["total_minor"], "tax_minor": r["tax_minor"] or 0,
                "discount_minor": r["discount_minor"] or 0, "shipping_minor": 0,
                "fees_minor": tips.get(r["order_id"], 0), "created_at": r["created_at"],
                "lines": [{"quantity": ln["quantity"], "unit_price_minor": ln["unit_price_minor"] or 0}
                          for ln in line_rows if ln["order_id"] == r["order_id"]]} for r in order_rows]
    rejected = screen_batch(conn, ctx, "orders", neutral, "order_id",
                            payloads={o.id: raw for o, raw in best.values()}).rejected
    order_rows = [r for r in order_rows if r["order_id"] not in rejected]
    line_rows = [r for r in line_rows if r["order_id"] not in rejected]
    attach_customers(conn, SOURCE, order_rows)
    bad += len(rejected)
    changed = upsert(conn, orders, order_rows) if order_rows else 0
    if fresh:
        # lines removed from an order (edited OPEN order) disappear from the warehouse too
        keep = {(r["order_id"], r["line_id"]) for r in line_rows}
        for chunk in chunked([o.id for o in fresh]):
            existing = conn.execute(select(order_lines.c.order_id, order_lines.c.line_id).where(and_(
                order_lines.c.source_system == SOURCE, order_lines.c.order_id.in_(chunk)))).all()
            gone = [(r[0], r[1]) for r in existing if (r[0], r[1]) not in keep]
            if gone:
                conn.execute(delete(order_lines).where(and_(
                    order_lines.c.source_system == SOURCE,
                    tuple_(order_lines.c.order_id, order_lines.c.line_id).in_(gone))))
                ctx.count("order_lines_removed", len(gone))
    if line_rows:
        ctx.count("order_lines_changed", upsert(conn, order_lines, line_rows))
    return LoadResult(read=len(page), changed=changed, quarantined=bad)


# --- load: customers -------------------------------------------------------------------------------
# --- load: invoices --------------------------------------------------------------------------------
def load_invoices(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    parsed, bad = _parse(conn, ctx, page, Invoice, "pos_invoice_invalid")
    best = {i.id: (i, raw) for i, raw in sorted(parsed, key=lambda p: p[0].version or 0)}
    stored = _stored(conn, invoices.c.invoice_id, [invoices.c.updated_at, invoices.c.source_system], list(best),
                     invoices.c.source_system == SOURCE)
    rows = []
    for inv_id, (inv, raw) in best.items():
        prev = stored.get(inv_id)
        if prev is not None and prev[1] == SOURCE and prev[0] and inv.updated_at and inv.updated_at < prev[0]:
            ctx.count("stale_skipped")
            continue
        amounts = [
            (r.get("computed_amount_money") or {}) for r in raw.get("payment_requests") or [] if isinstance(r, dict)
        ]
        total = sum(int(a.get("amount") or 0) for a in amounts) if amounts else None
        money_cur = next((a.get("currency") for a in amounts if a.get("currency")), None)
        rows.append({
            "source_system": SOURCE, "invoice_id": inv.id, "order_source_system": SOURCE, "order_id": inv.order_id,
            "customer_source_id": inv.primary_recipient.customer_id if inv.primary_recipient else None,
            "status": inv.status, "total_minor": total, "currency": money_cur or get_settings().currency,
            "created_at": inv.created_at, "updated_at": inv.updated_at, "loaded_at": ctx.loaded_at,
        })
    changed = upsert(conn, invoices, rows) if rows else 0
    return LoadResult(read=len(page), changed=changed, quarantined=bad)


# --- specs -----------------------------------------------------------------------------------------
def _orders_overlap() -> timedelta:
    return timedelta(hours=get_settings().pos_orders_lookback_hours)


def _overlap() -> timedelta:
    return timedelta(minutes=get_settings().overlap_minutes)


def _build() -> dict[str, StreamSpec]:
    return {
        "pos_locations": StreamSpec(
            name="pos_locations", source_system=SOURCE, fetch=fetch_locations, load=load_locations,
            incremental=False,
        ),
        "pos_catalog": StreamSpec(
            name="pos_catalog", source_system=SOURCE, fetch=fetch_catalog, load=load_catalog, overlap=_overlap(),
            dq_suite="products",
            cursor_field="updated_at (SearchCatalogObjects begin_time, exclusive)",
        ),
        "pos_inventory": StreamSpec(
            name="pos_inventory", source_system=SOURCE, fetch=fetch_inventory, load=load_inventory, dq_suite="stock",
            overlap=_overlap(), cursor_field="calculated_at (updated_after, exclusive)",
        ),
        "pos_orders": StreamSpec(
            name="pos_orders", source_system=SOURCE, fetch=fetch_orders, load=load_orders, dq_suite="orders",
            overlap=_orders_overlap(), cursor_field="updated_at (SearchOrders, inclusive range)",
        ),
        "pos_customers": StreamSpec(
            name="pos_customers", source_system=SOURCE, fetch=fetch_customers, load=load_pos_customers,
            pre_land=drop_erased_pos,
            dq_suite="customers",
            overlap=_overlap(), cursor_field="updated_at (SearchCustomers)",
        ),
        "pos_invoices": StreamSpec(
            name="pos_invoices", source_system=SOURCE, fetch=fetch_invoices, load=load_invoices, incremental=False,
            cursor_field=None,
        ),
    }


POS_STREAMS: dict[str, StreamSpec] = _build()
