"""What the online store should show, computed from the warehouse (DESIGN §3-§4).

Store stock per SKU = max(0, sellable POS stock − safety buffer − unapplied online units), where

* *sellable POS stock* is the sum of the IN_STOCK counts of the variation at the locations that feed the
  web shop. A negative count (an in-store oversell: Square lets IN_STOCK go below 0) counts with its real
  negative value in the sum; only the result is floored at 0. Such SKUs are reported
  (``stock_state = 'negative'``) so the push can log a counted warning;
* *unapplied online units* are the units of paid online orders (since go-live) not yet applied to the POS,
  less the units of applied orders the store has since cancelled (and so restocked itself) that are not yet
  reversed in the POS.
  The store moves its own stock on both; without this term a catalog sync that runs before the orders sync
  would raise the store's stock back (an oversell window) or lower it for an hour. ``sync_catalog`` reads
  the store's orders itself, so orders placed since the last orders sync count too.

**Order independence.** Counts are joined to products by the POS variation id (``catalog_object_id``)
*when the desired state is computed*, never through the SKU copied into ``stock_levels`` at load time:
``pos_inventory`` and ``pos_catalog`` are extracted in parallel, so either may be loaded first, and a
SKU looked up at load time is NULL whenever the counts arrive before the catalog.

**Unknown is not zero.** A tracked SKU whose stock cannot be known yet gets ``desired_stock`` NULL and
``stock_state = 'unknown'`` and the push leaves the store's stock alone (it never writes 0 because a join
found nothing). Stock is known when the variation has at least one count row (any location or state), or
when a ``pos_inventory`` run committed after the catalog last changed the variation: Square returns no
count for a variation that never held stock, so after such a run "no row" really means 0.

Everything is one SQL query (:func:`desired_stock_query`), so the catalog diff can join it with what
was last pushed and bring back only the SKUs that changed, whatever the size of the catalogue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)

from storeflow.settings import Settings, get_settings
from storeflow.warehouse.runs import get_cursor
from storeflow.warehouse.schema import locations, order_line_sync, order_lines, orders, products, stock_levels

#: store order statuses in which the store has already taken the units out of its own stock
STOCK_REDUCING = ("processing", "completed", "on-hold")
#: store order statuses whose applied lines storeflow reverses in the POS
STOCK_RETURNING = ("cancelled", "refunded", "pending", "failed")
#: of those, the statuses in which the store itself has put the units back (WooCommerce restocks on cancelled
#: and pending; a refund restocks only items the merchant ticked, which the POS learns from the reversal)
STORE_RESTOCKED = ("cancelled", "pending")
GO_LIVE_STREAM = "orders_go_live"
INVENTORY_STREAM = ("pos_inventory", "pos")

#: values of the ``stock_state`` column of :func:`desired_stock_query`
STATE_OK = "ok"
STATE_NEGATIVE = "negative"  # sellable POS stock below 0 (oversell), pushed as 0
STATE_UNKNOWN = "unknown"  # tracked, but no count known yet: stock is not pushed
STATE_UNTRACKED = "untracked"  # the POS does not track this variation's stock: stock is not pushed
STATE_DELETED = "deleted"  # deleted in the POS: pushed as 0 (never deleted in the store)


def online_location_ids(conn: Connection, settings: Settings | None = None) -> list[str]:
    """POS locations feeding the web shop: the configured ones, else every ACTIVE location."""
    settings = settings or get_settings()
    if settings.online_locations:
        return list(settings.online_locations)
    rows = conn.execute(
        select(locations.c.location_id).where(locations.c.status == "ACTIVE").order_by(locations.c.location_id)
    )
    return [r[0] for r in rows]


def orders_go_live(conn: Connection) -> datetime | None:
    """From when online orders are pushed to the POS (orders before it are already in POS stock)."""
    return get_cursor(conn, GO_LIVE_STREAM, "store")


def _sellable(location_ids: list[str]) -> Subquery:
    """POS variation id → summed IN_STOCK quantity at the feeding locations (negative counts included)."""
    return (
        select(stock_levels.c.pos_variation_id, func.sum(stock_levels.c.quantity).label("units"))
        .where(and_(stock_levels.c.state == "IN_STOCK", stock_levels.c.location_id.in_(location_ids)))
        .group_by(stock_levels.c.pos_variation_id)
        .subquery("sellable")
    )


def _pending(go_live: datetime | None) -> Subquery:
    """SKU → net units the store and the POS disagree on because the orders sync has not run yet.

    Plus the units of paid online orders (since go-live) whose POS adjustment is not applied yet (the store
    already took them out); minus the units of applied lines whose order the store has since cancelled or
    refunded and whose reversal is not applied yet (the store already put them back).
    """
    sync = order_line_sync
    units = case(
        (and_(orders.c.status.in_(STOCK_REDUCING), sync.c.applied_at.is_(None)), order_lines.c.quantity),
        (and_(orders.c.status.in_(STORE_RESTOCKED), sync.c.applied_at.is_not(None), sync.c.reversed_at.is_(None)),
         -order_lines.c.quantity),
        else_=0,
    )
    query = (
        select(order_lines.c.sku, func.sum(units).label("units"))
        .join(orders, and_(orders.c.source_system == order_lines.c.source_system,
                           orders.c.order_id == order_lines.c.order_id))
        .outerjoin(sync, and_(sync.c.store_order_id == order_lines.c.order_id,
                              sync.c.line_id == order_lines.c.line_id))
        .where(and_(orders.c.source_system == "store", order_lines.c.sku.is_not(None)))
        .group_by(order_lines.c.sku)
    )
    if go_live is None:
        query = query.where(literal(False))
    else:
        query = query.where(orders.c.created_at >= go_live)
    return query.subquery("pending")


def _stock_known(inventory_cursor: datetime | None) -> ColumnElement[bool]:
    """SQL condition: the POS stock of the products row is known (see the module docstring)."""
    counted = exists(select(literal(1)).select_from(stock_levels).where(
        stock_levels.c.pos_variation_id == products.c.pos_variation_id))
    if inventory_cursor is None:
        return counted
    return or_(counted, products.c.pos_updated_at.is_(None), products.c.pos_updated_at <= inventory_cursor)


def desired_stock_query(conn: Connection, settings: Settings | None = None) -> Select[Any]:
    """SELECT sku, price_minor, desired_stock, stock_state, pos_units for every POS SKU.

    ``desired_stock`` is NULL when stock must not be pushed (``stock_state`` says why: ``untracked`` or
    ``unknown``); ``pos_units`` is the summed sellable POS stock (NULL without counts).
    """
    settings = settings or get_settings()
    sellable = _sellable(online_location_ids(conn, settings))
    pending = _pending(orders_go_live(conn))
    known = _stock_known(get_cursor(conn, *INVENTORY_STREAM))
    units = func.coalesce(sellable.c.units, 0)
    raw = func.floor(units) - settings.stock_buffer - func.coalesce(pending.c.units, 0)
    deleted = products.c.is_deleted.is_(True)
    untracked = products.c.track_inventory.is_(False)
    desired = case(
        (deleted, 0),  # deleted in the POS: out of stock online, never deleted
        (untracked, None),
        (~known, None),
        (raw < 0, 0),
        else_=raw,
    )
    state = case(
        (deleted, STATE_DELETED),
        (untracked, STATE_UNTRACKED),
        (~known, STATE_UNKNOWN),
        (units < 0, STATE_NEGATIVE),
        else_=STATE_OK,
    )
    return (
        select(products.c.sku, products.c.price_minor, cast(desired, Integer).label("desired_stock"),
               cast(state, String(16)).label("stock_state"), sellable.c.units.label("pos_units"))
        .select_from(products)
        .outerjoin(sellable, sellable.c.pos_variation_id == products.c.pos_variation_id)
        .outerjoin(pending, pending.c.sku == products.c.sku)
        .where(products.c.pos_variation_id.is_not(None))
    )


def desired_store_stock(conn: Connection, settings: Settings | None = None) -> dict[str, int]:
    """SKU → absolute stock the store should show, for every live POS SKU whose stock is tracked and known."""
    return {r.sku: int(r.desired_stock) for r in conn.execute(desired_stock_query(conn, settings))
            if r.desired_stock is not None}


def stock_state_counts(conn: Connection, settings: Settings | None = None) -> dict[str, int]:
    """How many POS SKUs are in each ``stock_state`` (``negative`` and ``unknown`` are worth a warning)."""
    desired = desired_stock_query(conn, settings).subquery("desired")
    rows = conn.execute(select(desired.c.stock_state, func.count()).group_by(desired.c.stock_state))
    return {state: int(n) for state, n in rows}


def negative_stock_skus(conn: Connection, settings: Settings | None = None, limit: int = 10) -> list[str]:
    """A few SKUs whose sellable POS stock is negative (for the warning line; SKUs are not personal data)."""
    desired = desired_stock_query(conn, settings).subquery("desired")
    return list(conn.execute(select(desired.c.sku).where(desired.c.stock_state == STATE_NEGATIVE)
                             .order_by(desired.c.sku).limit(limit)).scalars())


def unapplied_online_units(conn: Connection) -> dict[str, int]:
    """SKU → units of paid online orders not yet applied to the POS."""
    pending = _pending(orders_go_live(conn))
    return {r.sku: int(r.units) for r in conn.execute(select(pending.c.sku, pending.c.units))}

