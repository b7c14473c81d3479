"""Bulk upsert: same behaviour on SQLite and PostgreSQL."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from storeflow.quality import quarantine as q
from storeflow.warehouse.schema import order_lines, orders, quarantine
from storeflow.warehouse.upsert import upsert

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _order(i: int, status: str = "completed", total: int = 1000) -> dict:
    return {
        "source_system": "store",
        "order_id": str(i),
        "channel": "online",
        "status": status,
        "total_minor": total,
        "created_at": T0,
        "loaded_at": T0,
    }


def test_insert_update_and_change_count(warehouse):
    assert upsert(warehouse, orders, [_order(i) for i in range(10)]) == 10
    # identical rows (loaded_at changes alone) are not rewritten
    again = [dict(_order(i), loaded_at=datetime.now(UTC)) for i in range(10)]
    assert upsert(warehouse, orders, again) == 0
    changed = [_order(i) for i in range(10)]
    changed[3] = _order(3, status="refunded")
    changed.append(_order(10))
    assert upsert(warehouse, orders, changed) == 2
    with warehouse.connect() as c:
        rows = {r.order_id: r for r in c.execute(select(orders))}
    assert len(rows) == 11
    assert rows["3"].status == "refunded"
    assert rows["3"].created_at == T0  # aware UTC on both backends


def test_duplicate_keys_in_one_batch_last_wins(warehouse):
    assert upsert(warehouse, orders, [_order(1, total=1), _order(1, total=2)]) == 1
    with warehouse.connect() as c:
        assert c.execute(select(orders.c.total_minor)).scalar_one() == 2


def test_decimal_json_and_naive_datetime(warehouse):
    line = {
        "source_system": "pos",
        "order_id": "A",
        "line_id": "1",
        "sku": "X",
        "quantity": Decimal("1.5"),
        "loaded_at": T0,
    }
    upsert(warehouse, order_lines, [line])
    with warehouse.connect() as c:
        assert c.execute(select(order_lines.c.quantity)).scalar_one() == Decimal("1.5")
    with pytest.raises(Exception, match="naive datetime"):
        upsert(warehouse, orders, [dict(_order(5), created_at=datetime(2026, 1, 1))])


def test_quarantine_record_and_resolve(warehouse):
    with warehouse.begin() as c:
        q.record(c, stream="customers", source_system="pos", source_id="C1", rule="email_syntax",
                 reason="bad email", payload={"email": "a@@b"}, run_id="r1")
        q.record(c, stream="customers", source_system="pos", source_id="C1", rule="email_syntax",
                 reason="bad email again", payload={"email": "a@@b"}, run_id="r2")
    with warehouse.begin() as c:
        assert c.execute(select(quarantine.c.reason)).scalars().all() == ["bad email again"]
        assert q.resolve(c, stream="customers", source_system="pos", source_id="C1") == 1
        assert q.resolve(c, stream="customers", source_system="pos", source_id="C1") == 0
