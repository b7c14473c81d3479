"""Online orders → POS stock movements, exactly once (DESIGN §3).

Every line of a paid online order becomes one POS inventory ADJUSTMENT ``IN_STOCK → SOLD`` at the
fulfilment location, sent with the idempotency key ``sf-sold-<order>-<line>`` and
``reference_id = <store order id>``. A cancelled or refunded order whose lines were applied gets one
reversal per line (``sf-back-<order>-<line>``). ``order_line_sync`` records what was applied; the POS
idempotency store makes a retry after a crash (between the POS write and our record) a no-op, so a
rerun or a killed task never moves stock twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, select

from storeflow.settings import Settings, get_settings
from storeflow.sync.stock import STOCK_REDUCING, STOCK_RETURNING, online_location_ids, orders_go_live
from storeflow.warehouse.schema import order_line_sync, order_lines, orders, products
from storeflow.warehouse.upsert import upsert


@dataclass(frozen=True)
class Movement:
    """One stock movement to send to the POS."""

    kind: str  # "sold" | "back"
    store_order_id: str
    line_id: str
    sku: str
    pos_variation_id: str
    location_id: str
    quantity: Decimal

    @property
    def idempotency_key(self) -> str:
        return f"sf-{self.kind}-{self.store_order_id}-{self.line_id}"

    @property
    def states(self) -> tuple[str, str]:
        """(from_state, to_state) of the ADJUSTMENT."""
        return ("IN_STOCK", "SOLD") if self.kind == "sold" else ("SOLD", "IN_STOCK")


@dataclass(frozen=True)
class UnmappedLine:
    """A line that cannot move POS stock (unknown SKU) — quarantined with this reason."""

    store_order_id: str
    line_id: str
    sku: str | None
    reason: str


def fulfilment_location(conn: Connection, settings: Settings | None = None) -> str:
    """The POS location that ships online orders: the first online-feeding location."""
    ids = online_location_ids(conn, settings)
    if not ids:
        raise RuntimeError("no ACTIVE POS location feeds the online store; set STOREFLOW_ONLINE_LOCATIONS")
    return ids[0]


def plan_movements(conn: Connection, settings: Settings | None = None) -> tuple[list[Movement], list[UnmappedLine]]:
    """The movements still owed to the POS, and the lines that cannot be mapped to a POS variation."""
    settings = settings or get_settings()
    go_live = orders_go_live(conn)
    if go_live is None:
        return [], []
    location = fulfilment_location(conn, settings)
    rows = conn.execute(
        select(orders.c.order_id, orders.c.status, order_lines.c.line_id, order_lines.c.sku,
               order_lines.c.quantity, products.c.pos_variation_id, order_line_sync.c.applied_at,
               order_line_sync.c.reversed_at, order_line_sync.c.location_id.label("applied_location"))
        .join(order_lines, and_(order_lines.c.source_system == orders.c.source_system,
                                order_lines.c.order_id == orders.c.order_id))
        .outerjoin(products, products.c.sku == order_lines.c.sku)
        .outerjoin(order_line_sync, and_(order_line_sync.c.store_order_id == orders.c.order_id,
                                         order_line_sync.c.line_id == order_lines.c.line_id))
        .where(and_(orders.c.source_system == "store", orders.c.created_at >= go_live))
        .order_by(orders.c.order_id, order_lines.c.line_id)
    ).all()
    movements: list[Movement] = []
    unmapped: list[UnmappedLine] = []
    for r in rows:
        if r.status in STOCK_REDUCING and r.applied_at is None:
            if not r.pos_variation_id:
                unmapped.append(UnmappedLine(r.order_id, r.line_id, r.sku,
                                             f"SKU {r.sku!r} is not a POS variation; stock not moved"))
                continue
            movements.append(Movement("sold", r.order_id, r.line_id, r.sku, r.pos_variation_id, location,
                                      Decimal(str(r.quantity))))
        elif r.status in STOCK_RETURNING and r.applied_at is not None and r.reversed_at is None:
            movements.append(Movement("back", r.order_id, r.line_id, r.sku, r.pos_variation_id,
                                      r.applied_location or location, Decimal(str(r.quantity))))
    return movements, unmapped


def record_movement(conn: Connection, movement: Movement, when: datetime) -> None:
    """Remember that ``movement`` reached the POS."""
    row = {"store_order_id": movement.store_order_id, "line_id": movement.line_id, "sku": movement.sku,
           "pos_variation_id": movement.pos_variation_id, "location_id": movement.location_id,
           "quantity": movement.quantity, "updated_at": when}
    if movement.kind == "sold":
        row.update(applied_key=movement.idempotency_key, applied_at=when)
    else:
        row.update(reversed_key=movement.idempotency_key, reversed_at=when)
    upsert(conn, order_line_sync, [row])
