"""What the online store should show, computed from the warehouse (DESIGN §3-§4).

Store stock per SKU = sellable POS stock (IN_STOCK at the locations that feed the web shop)
− safety buffer − units of paid online orders not yet applied to the POS, floored at 0. The last term
closes the oversell window when the catalog sync runs before the orders sync.

Everything is one SQL query (:func:`desired_stock_query`), so the catalog diff can join it with what
was last pushed and bring back only the SKUs that changed, whatever the size of the catalogue.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Integer, Select, and_, case, cast, func, literal, select

from storeflow.settings import Settings, get_settings
from storeflow.warehouse.runs import get_cursor
from storeflow.warehouse.schema import locations, order_line_sync, order_lines, orders, products, stock_levels

#: store order statuses in which the store has already taken the units out of its own stock
STOCK_REDUCING = ("processing", "completed", "on-hold")
GO_LIVE_STREAM = "orders_go_live"


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


def _sellable(location_ids: list[str]):
    return (
        select(stock_levels.c.sku, func.sum(stock_levels.c.quantity).label("units"))
        .where(and_(stock_levels.c.state == "IN_STOCK", stock_levels.c.location_id.in_(location_ids),
                    stock_levels.c.sku.is_not(None)))
        .group_by(stock_levels.c.sku)
        .subquery("sellable")
    )


def _pending(go_live: datetime | None):
    """SKU → units of paid online orders (since go-live) whose POS adjustment is not applied yet."""
    applied = select(order_line_sync.c.store_order_id, order_line_sync.c.line_id).where(
        order_line_sync.c.applied_at.is_not(None)).subquery("applied")
    query = (
        select(order_lines.c.sku, func.sum(order_lines.c.quantity).label("units"))
        .join(orders, and_(orders.c.source_system == order_lines.c.source_system,
                           orders.c.order_id == order_lines.c.order_id))
        .outerjoin(applied, and_(applied.c.store_order_id == order_lines.c.order_id,
                                 applied.c.line_id == order_lines.c.line_id))
        .where(and_(orders.c.source_system == "store", orders.c.status.in_(STOCK_REDUCING),
                    applied.c.line_id.is_(None), order_lines.c.sku.is_not(None)))
        .group_by(order_lines.c.sku)
    )
    if go_live is None:
        query = query.where(literal(False))
    else:
        query = query.where(orders.c.created_at >= go_live)
    return query.subquery("pending")


def desired_stock_query(conn: Connection, settings: Settings | None = None) -> Select:
    """SELECT sku, price_minor, desired_stock (NULL = stock not tracked) for every POS SKU."""
    settings = settings or get_settings()
    sellable = _sellable(online_location_ids(conn, settings))
    pending = _pending(orders_go_live(conn))
    raw = (func.floor(func.coalesce(sellable.c.units, 0)) - settings.stock_buffer
           - func.coalesce(pending.c.units, 0))
    desired = case(
        (products.c.is_deleted.is_(True), 0),  # deleted in the POS: out of stock online, never deleted
        (products.c.track_inventory.is_(False), None),
        (raw < 0, 0),
        else_=raw,
    )
    return (
        select(products.c.sku, products.c.price_minor, cast(desired, Integer).label("desired_stock"))
        .select_from(products)
        .outerjoin(sellable, sellable.c.sku == products.c.sku)
        .outerjoin(pending, pending.c.sku == products.c.sku)
        .where(products.c.pos_variation_id.is_not(None))
    )


def desired_store_stock(conn: Connection, settings: Settings | None = None) -> dict[str, int]:
    """SKU → absolute stock the store should show, for every live POS SKU that tracks inventory."""
    return {r.sku: int(r.desired_stock) for r in conn.execute(desired_stock_query(conn, settings))
            if r.desired_stock is not None}


def unapplied_online_units(conn: Connection) -> dict[str, int]:
    """SKU → units of paid online orders not yet applied to the POS."""
    pending = _pending(orders_go_live(conn))
    return {r.sku: int(r.units) for r in conn.execute(select(pending.c.sku, pending.c.units))}
