"""Bulk upsert: value conversion, chunking and defaults (the COPY path on PostgreSQL, same rules on SQLite)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from storeflow.warehouse import upsert as upsert_mod
from storeflow.warehouse.schema import order_lines, products, sync_runs
from storeflow.warehouse.upsert import upsert

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _line(i: int, total: int = 100, **extra) -> dict:
    return {"source_system": "store", "order_id": f"O{i // 3}", "line_id": str(i % 3), "sku": f"S{i}",
            "quantity": Decimal(1), "total_minor": total, "loaded_at": T0, **extra}


def test_chunked_load_keeps_last_wins_and_counts(warehouse, monkeypatch):
    monkeypatch.setattr(upsert_mod, "PG_CHUNK_ROWS", 4)
    monkeypatch.setattr(upsert_mod, "SQLITE_BATCH", 4)
    rows = [_line(i) for i in range(10)] + [_line(2, total=999)]  # duplicate key, last wins
    assert upsert(warehouse, order_lines, rows) == 10
    changed = [_line(i, total=101 if i in (0, 9) else 100) for i in range(10)]
    assert upsert(warehouse, order_lines, changed) == 3  # 0 and 9 changed, 2 back from 999 to 100
    with warehouse.connect() as c:
        totals = dict(c.execute(select(order_lines.c.sku, order_lines.c.total_minor)).all())
    assert totals == {f"S{i}": 101 if i in (0, 9) else 100 for i in range(10)}


def test_json_bool_and_odd_values(warehouse):
    rows = [
        {"sku": "A", "name": "Toner", "attributes": {"size": "L", "w": "1.5"}, "track_inventory": True,
         "pos_updated_at": T0, "is_deleted": False, "loaded_at": T0},
        {"sku": "B", "name": "Coffee", "attributes": None, "track_inventory": None, "pos_updated_at": None,
         "is_deleted": False, "loaded_at": T0},
    ]
    assert upsert(warehouse, products, rows) == 2
    assert upsert(warehouse, products, rows) == 0
    with warehouse.connect() as c:
        got = {r.sku: r for r in c.execute(select(products))}
    assert got["A"].attributes == {"size": "L", "w": "1.5"} and got["A"].track_inventory is True
    assert got["B"].attributes is None and got["B"].pos_updated_at is None
    assert got["A"].pos_updated_at == T0


def test_decimal_strings_into_numeric(warehouse):
    upsert(warehouse, order_lines, [_line(1, quantity="2.5")])
    with warehouse.connect() as c:
        assert c.execute(select(order_lines.c.quantity)).scalar_one() == Decimal("2.5")


def test_naive_datetime_late_in_batch_refused(warehouse):
    rows = [_line(i) for i in range(150)] + [_line(150, loaded_at=datetime(2026, 1, 1))]
    with pytest.raises(Exception, match="naive datetime"):  # StatementError wraps it on SQLite
        upsert(warehouse, order_lines, rows)
    with warehouse.connect() as c:
        assert c.execute(select(order_lines.c.sku)).all() == []


def test_python_defaults_of_absent_columns(warehouse):
    upsert(warehouse, sync_runs, [{"id": 1, "stream": "orders", "status": "running", "started_at": T0,
                                   "details": [1, 2]}])
    with warehouse.connect() as c:
        row = c.execute(select(sync_runs)).one()
    assert row.rows_read == 0 and row.details == [1, 2]


def test_missing_key_column_is_a_clear_error(warehouse):
    row = _line(1)
    del row["line_id"]
    with pytest.raises(ValueError, match="line_id"):
        upsert(warehouse, order_lines, [_line(2), row])


def test_on_conflict_path_same_results(pg_warehouse, monkeypatch):
    """PostgreSQL < 15 has no MERGE: the INSERT … ON CONFLICT statement gives the same results."""
    monkeypatch.setattr(pg_warehouse.dialect, "server_version_info", (14, 0))
    test_chunked_load_keeps_last_wins_and_counts(pg_warehouse, monkeypatch)
    test_python_defaults_of_absent_columns(pg_warehouse)


def test_concurrent_insert_of_same_key_falls_back(pg_warehouse):
    """A writer that inserts the same new key first makes MERGE fail; the chunk is redone with ON CONFLICT."""
    import threading
    import time

    result: dict = {}

    def second_writer():
        try:
            result["n"] = upsert(pg_warehouse, order_lines, [_line(1, total=222), _line(2, total=222)])
        except Exception as exc:  # surfaced below
            result["error"] = exc

    with pg_warehouse.connect() as first:
        tx = first.begin()
        upsert(first, order_lines, [_line(1, total=111)])
        thread = threading.Thread(target=second_writer)
        thread.start()
        time.sleep(1.0)  # the second writer is now waiting on the uncommitted key
        assert thread.is_alive()
        tx.commit()
    thread.join(30)
    assert "error" not in result, result.get("error")
    assert result["n"] == 2  # line 1 updated from 111, line 2 inserted
    with pg_warehouse.connect() as c:
        assert dict(c.execute(select(order_lines.c.sku, order_lines.c.total_minor)).all()) == {"S1": 222, "S2": 222}


def test_connection_without_explicit_transaction_commits(warehouse):
    with warehouse.connect() as c:
        assert upsert(c, order_lines, [_line(1)]) == 1
        c.commit()
    with warehouse.connect() as c:
        assert c.execute(select(order_lines.c.sku)).scalars().all() == ["S1"]


def test_numpy_scalars_on_postgresql(pg_warehouse):
    """pandas-built rows carry numpy scalars; the COPY path converts them (SQLite's path does not, yet)."""
    np = pytest.importorskip("numpy")
    warehouse = pg_warehouse
    upsert(warehouse, order_lines, [_line(1, total=np.int64(7), unit_price_minor=np.int64(7))])
    with warehouse.connect() as c:
        assert c.execute(select(order_lines.c.total_minor)).scalar_one() == 7
