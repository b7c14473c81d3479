"""What the online store should show, computed from the warehouse (DESIGN §3-§4).

Store stock per SKU = sellable POS stock (IN_STOCK at the locations that feed the web shop)
− safety buffer − units of paid online orders not yet applied to the POS, floored at 0. The last term
closes the oversell window when the catalog sync runs before the orders sync.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, func, select

from storeflow.settings import Settings, get_settings
from storeflow.warehouse.runs import get_cursor
from storeflow.warehouse.schema import locations, order_line_sync, order_lines, orders, products, stock_levels

#: store order statuses in which the store has already taken the units out of its own stock
STOCK_REDUCING = ("processing", "completed", "on-hold")
#: statuses that give the units back (the POS movement must be reversed)
STOCK_RESTORING = ("cancelled", "refunded")
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


def sellable_stock(conn: Connection, location_ids: list[str]) -> dict[str, int]:
    """SKU → whole units IN_STOCK across ``location_ids`` (fractions are not sellable online)."""
    rows = conn.execute(
        select(stock_levels.c.sku, func.sum(stock_levels.c.quantity))
        .where(and_(stock_levels.c.state == "IN_STOCK", stock_levels.c.location_id.in_(location_ids),
                    stock_levels.c.sku.is_not(None)))
        .group_by(stock_levels.c.sku)
    )
    return {sku: int(Decimal(str(qty or 0))) for sku, qty in rows}


def orders_go_live(conn: Connection) -> datetime | None:
    """From when online orders are pushed to the POS (orders before it are already in POS stock)."""
    return get_cursor(conn, GO_LIVE_STREAM, "store")


def unapplied_online_units(conn: Connection) -> dict[str, int]:
    """SKU → units of paid online orders (since go-live) whose POS adjustment is not applied yet."""
    go_live = orders_go_live(conn)
    if go_live is None:
        return {}
    applied = select(order_line_sync.c.store_order_id, order_line_sync.c.line_id).where(
        order_line_sync.c.applied_at.is_not(None)
    ).subquery()
    rows = conn.execute(
        select(order_lines.c.sku, order_lines.c.quantity)
        .join(orders, and_(orders.c.source_system == order_lines.c.source_system,
                           orders.c.order_id == order_lines.c.order_id))
        .outerjoin(applied, and_(applied.c.store_order_id == order_lines.c.order_id,
                                 applied.c.line_id == order_lines.c.line_id))
        .where(and_(orders.c.source_system == "store", orders.c.status.in_(STOCK_REDUCING),
                    orders.c.created_at >= go_live, applied.c.line_id.is_(None)))
    )
    out: dict[str, int] = defaultdict(int)
    for sku, qty in rows:
        if sku:
            out[sku] += int(Decimal(str(qty)))
    return dict(out)


def desired_store_stock(conn: Connection, settings: Settings | None = None) -> dict[str, int]:
    """SKU → absolute stock the store should show, for every live POS SKU that tracks inventory."""
    settings = settings or get_settings()
    sellable = sellable_stock(conn, online_location_ids(conn, settings))
    pending = unapplied_online_units(conn)
    live = conn.execute(
        select(products.c.sku, products.c.is_deleted, products.c.track_inventory).where(
            products.c.pos_variation_id.is_not(None)
        )
    ).all()
    out = {}
    for sku, is_deleted, track in live:
        if is_deleted:
            out[sku] = 0  # deleted in the POS: out of stock online, never silently deleted
        elif track is False:
            continue
        else:
            out[sku] = max(0, sellable.get(sku, 0) - settings.stock_buffer - pending.get(sku, 0))
    return out
