"""Online orders → POS: stock movements (exactly once) and a receipt record per paid order.

Go-live: the first run records "now" as the moment storeflow takes over; older online orders are
already reflected in POS stock (that is how the shop ran before) and are not replayed.

Receipts: each paid online order becomes a COMPLETED POS order — created OPEN (the POS creates no
other way) and completed by recording the online store's payment as an EXTERNAL payment — with ad-hoc
line items (no catalog ids,
so the POS does not move stock a second time), ``reference_id`` = store order id, metadata
``storeflow_source=store`` (the POS extract skips these echoes) and idempotency keys
``sf-receipt-<order id>`` / ``sf-paid-<order id>``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, select

from storeflow.quality import quarantine
from storeflow.settings import Settings, get_settings
from storeflow.sync.order_movements import Movement, fulfilment_location, plan_movements, record_movement
from storeflow.sync.stock import GO_LIVE_STREAM, STOCK_REDUCING, orders_go_live
from storeflow.warehouse.runs import set_cursor
from storeflow.warehouse.schema import order_lines, orders, store_receipts
from storeflow.warehouse.upsert import upsert

log = logging.getLogger(__name__)
ECHO_MARK = {"storeflow_source": "store"}


def ensure_go_live(engine: Engine, now: datetime, run_id: str | None) -> datetime:
    """The go-live moment, recording ``now`` (whole seconds: store timestamps have no fraction) at first."""
    with engine.begin() as conn:
        go_live = orders_go_live(conn)
        if go_live is None:
            go_live = now.replace(microsecond=0)
            set_cursor(conn, GO_LIVE_STREAM, "store", go_live, run_id or "go-live")
            return go_live
    return go_live


def _change(m: Movement, when: datetime) -> dict[str, Any]:
    from_state, to_state = m.states
    return {"type": "ADJUSTMENT", "adjustment": {
        "reference_id": m.store_order_id, "catalog_object_id": m.pos_variation_id, "from_state": from_state,
        "to_state": to_state, "location_id": m.location_id, "quantity": format(m.quantity.normalize(), "f"),
        "occurred_at": when.isoformat().replace("+00:00", "Z"),
    }}


def push_movements(engine: Engine, client: Any, *, run_id: str | None = None, now: datetime | None = None,
                   settings: Settings | None = None) -> dict[str, int]:
    """Send every owed movement to the POS, one request per line (key = order id + line id)."""
    now = now or datetime.now(UTC)
    ensure_go_live(engine, now, run_id)
    with engine.begin() as conn:
        movements, unmapped = plan_movements(conn, settings)
        for line in unmapped:
            quarantine.record(conn, stream="store_orders", source_system="store",
                              source_id=f"{line.store_order_id}:{line.line_id}", rule="unknown_sku",
                              reason=line.reason, payload={"sku": line.sku}, run_id=run_id)
    sold = back = 0
    for m in movements:
        client.batch_change_inventory([_change(m, now)], key_prefix=m.idempotency_key)
        with engine.begin() as conn:
            record_movement(conn, m, now)
        sold += m.kind == "sold"
        back += m.kind == "back"
    return {"adjustments": sold, "reversals": back, "unmapped_lines": len(unmapped)}


def push_receipts(engine: Engine, client: Any, *, run_id: str | None = None,
                  settings: Settings | None = None) -> int:
    """Create a POS receipt for every paid online order (since go-live) that has none yet."""
    settings = settings or get_settings()
    with engine.connect() as conn:
        go_live = orders_go_live(conn)
        if go_live is None:
            return 0
        location = fulfilment_location(conn, settings)
        pending = conn.execute(
            select(orders).outerjoin(store_receipts, store_receipts.c.store_order_id == orders.c.order_id)
            .where(and_(orders.c.source_system == "store", orders.c.created_at >= go_live,
                        orders.c.status.in_(STOCK_REDUCING), store_receipts.c.store_order_id.is_(None)))
        ).all()
        lines = {}
        for o in pending:
            lines[o.order_id] = conn.execute(
                select(order_lines).where(and_(order_lines.c.source_system == "store",
                                               order_lines.c.order_id == o.order_id))
            ).all()
    created = 0
    for o in pending:
        currency = o.currency or settings.currency
        body = {
            "location_id": location, "reference_id": str(o.order_id)[:40], "state": "OPEN",
            "source": {"name": "storeflow (online store)"}, "metadata": {**ECHO_MARK, "store_order_id": o.order_id},
            "line_items": [{
                "name": f"{ln.name or ln.sku} ({ln.sku})", "quantity": format(ln.quantity.normalize(), "f"),
                "base_price_money": {"amount": int(ln.unit_price_minor or 0), "currency": currency},
            } for ln in lines[o.order_id]],
        }
        pos_order = client.create_order(body, idempotency_key=f"sf-receipt-{o.order_id}")
        current = client.get_order(pos_order["id"])  # a replayed create returns the original (OPEN) body
        due = int((current.get("net_amount_due_money") or current.get("total_money") or {}).get("amount", 0))
        if current["state"] == "OPEN" and due > 0:
            client.pay_order_externally(current["id"], due, currency, idempotency_key=f"sf-paid-{o.order_id}")
        upsert(engine, store_receipts, [{"store_order_id": o.order_id, "pos_order_id": pos_order["id"],
                                         "total_minor": o.total_minor, "created_at": datetime.now(UTC)}])
        created += 1
    return created
