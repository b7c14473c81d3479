"""Quarantine + resolve on a real warehouse (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storeflow.quality.quarantine import QualityGateFailed, QuarantineItem, apply_quarantine, check_threshold
from storeflow.quality.records import clean_batch
from storeflow.warehouse.schema import quarantine


def _rows(engine):
    with engine.connect() as conn:
        return {(r.source_id, r.rule): r for r in conn.execute(select(quarantine))}


def _items(results, records, key="source_id"):
    return [QuarantineItem(str(rec.get(key)), i.rule, i.reason, rec, i.field)
            for res, rec in zip(results, records, strict=True) for i in res.quarantined]


def test_quarantine_then_resolve_when_fixed_at_source(warehouse):
    batch1 = [
        {"source_id": "a", "email": "a@example.com"},
        {"source_id": "b", "email": "broken@@example.com", "phone": "call me"},
        {"source_id": "c", "email": "x'; DROP TABLE quarantine;--", "country": "Narnia"},
    ]
    res1 = clean_batch("customers", batch1)
    with warehouse.begin() as conn:
        out = apply_quarantine(conn, stream="customers", source_system="pos",
                               batch_ids=[r["source_id"] for r in batch1],
                               items=_items(res1, batch1), run_id="run-1")
    assert out.quarantined_records == 2 and out.quarantined_rows == 4
    assert out.by_rule == {"email_invalid": 2, "phone_unparseable": 1, "country_unknown": 1}
    rows = _rows(warehouse)
    assert set(rows) == {("b", "email_invalid"), ("b", "phone_unparseable"), ("c", "email_invalid"),
                         ("c", "country_unknown")}
    assert rows[("c", "email_invalid")].payload["email"] == "x'; DROP TABLE quarantine;--"  # stored verbatim
    assert "not a valid address" in rows[("b", "email_invalid")].reason
    assert all(r.resolved_at is None and r.run_id == "run-1" for r in rows.values())

    # next sync: b fixed its email but not its phone; c is fixed entirely; a unchanged
    batch2 = [
        {"source_id": "b", "email": "b@example.com", "phone": "call me"},
        {"source_id": "c", "email": "c@example.com", "country": "DE"},
    ]
    res2 = clean_batch("customers", batch2)
    with warehouse.begin() as conn:
        out2 = apply_quarantine(conn, stream="customers", source_system="pos", batch_ids=["b", "c"],
                                items=_items(res2, batch2), run_id="run-2")
    assert out2.resolved_rows == 3
    rows = _rows(warehouse)
    open_rows = {k for k, r in rows.items() if r.resolved_at is None}
    assert open_rows == {("b", "phone_unparseable")}
    assert rows[("b", "phone_unparseable")].run_id == "run-2"

    # the phone breaks again later -> the same row re-opens, no duplicate row
    with warehouse.begin() as conn:
        apply_quarantine(conn, stream="customers", source_system="pos", batch_ids=["c"],
                         items=[QuarantineItem("c", "country_unknown", "again", {"country": "Mordor"})])
    rows = _rows(warehouse)
    assert rows[("c", "country_unknown")].resolved_at is None
    assert len(rows) == 4


def test_other_stream_or_system_is_not_resolved(warehouse):
    with warehouse.begin() as conn:
        apply_quarantine(conn, stream="products", source_system="pos", batch_ids=["S1"],
                         items=[QuarantineItem("S1", "price_negative", "price -1", {"sku": "S1"})])
        out = apply_quarantine(conn, stream="products", source_system="store", batch_ids=["S1"], items=[])
        assert out.resolved_rows == 0
        out = apply_quarantine(conn, stream="stock", source_system="pos", batch_ids=["S1"], items=[])
        assert out.resolved_rows == 0
    assert _rows(warehouse)[("S1", "price_negative")].resolved_at is None


def test_threshold():
    check_threshold(100, 5, 0.05, min_rows=1)  # exactly at the threshold passes
    with pytest.raises(QualityGateFailed, match="6 of 100 rows"):
        check_threshold(100, 6, 0.05, min_rows=1)
    with pytest.raises(QualityGateFailed, match="critical expectations failed: sku_unique") as info:
        check_threshold(100, 0, 0.05, failed_critical=["sku_unique"], docs_location="file:///x/index.html")
    assert info.value.docs_location == "file:///x/index.html" and "file:///x/index.html" in str(info.value)
    check_threshold(0, 0)  # empty batch passes with the settings default
