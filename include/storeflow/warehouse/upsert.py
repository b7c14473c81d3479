"""Bulk upsert into warehouse tables.

PostgreSQL: ``COPY`` the rows into a temporary table, then one ``INSERT … SELECT … ON CONFLICT DO UPDATE``
that only touches rows whose values differ. SQLite: batched ``executemany`` of
``INSERT … ON CONFLICT DO UPDATE … WHERE`` (same change-only rule). Both deduplicate the input by key
(last row wins) so a page that repeats a record cannot make the statement fail, and both return how
many rows were inserted or changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.type_api import TypeEngine

from storeflow.warehouse.coltypes import JSONType, UTCDateTime

SQLITE_BATCH = 500


def _key_columns(table: Table, key: Sequence[str] | None) -> list[str]:
    cols = list(key) if key else [c.name for c in table.primary_key.columns]
    if not cols:
        raise ValueError(f"table {table.name} has no primary key; pass key=")
    return cols


def _dedupe(rows: Sequence[Mapping[str, Any]], key: list[str]) -> list[Mapping[str, Any]]:
    by_key: dict[tuple, Mapping[str, Any]] = {}
    for row in rows:
        try:
            by_key[tuple(row[k] for k in key)] = row
        except KeyError as exc:
            raise ValueError(f"row lacks key column {exc.args[0]!r}: {dict(row)!r:.200}") from None
    return list(by_key.values())


def upsert(
    conn: Connection | Engine,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
) -> int:
    """Insert ``rows`` into ``table`` or update the existing ones; return rows inserted or changed.

    ``key`` defaults to the primary key; ``update`` defaults to every other column present in the rows.
    All rows must have the same columns. A row whose values equal the stored ones is not rewritten.
    """
    if isinstance(conn, Engine):
        with conn.begin() as c:
            return upsert(c, table, rows, key=key, update=update)
    if not rows:
        return 0
    key_cols = _key_columns(table, key)
    rows = _dedupe(rows, key_cols)
    columns = list(rows[0].keys())
    update_cols = list(update) if update is not None else [c for c in columns if c not in key_cols]
    if conn.dialect.name == "postgresql":
        return _upsert_pg(conn, table, rows, columns, key_cols, update_cols)
    return _upsert_generic(conn, table, rows, key_cols, update_cols)


def _changed_clause(table: Table, excluded, update_cols: list[str]):
    # "loaded_at" style bookkeeping columns must not count as a change on their own
    compared = [c for c in update_cols if c != "loaded_at"]
    if not compared:
        return None
    return or_(*[table.c[c].is_distinct_from(excluded[c]) for c in compared])


def _upsert_generic(conn: Connection, table: Table, rows, key_cols, update_cols) -> int:
    dialect_insert = sqlite.insert if conn.dialect.name == "sqlite" else postgresql.insert
    stmt = dialect_insert(table)
    if update_cols:
        stmt = stmt.on_conflict_do_update(
            index_elements=key_cols,
            set_={c: stmt.excluded[c] for c in update_cols},
            where=_changed_clause(table, stmt.excluded, update_cols),
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=key_cols)
    changed = 0
    for start in range(0, len(rows), SQLITE_BATCH):
        batch = rows[start : start + SQLITE_BATCH]
        before = conn.connection.total_changes if conn.dialect.name == "sqlite" else None
        result = conn.execute(stmt, batch)
        if before is not None:
            changed += conn.connection.total_changes - before
        else:
            changed += max(result.rowcount, 0)
    return changed


def _copy_value(value: Any, col_type: TypeEngine) -> Any:
    if value is None:
        return None
    if isinstance(col_type, UTCDateTime) or isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: storeflow stores aware UTC timestamps only")
        return value.isoformat()
    if col_type is JSONType or type(col_type).__name__ in {"JSON", "JSONB", "Variant"} or isinstance(
        value, (dict, list)
    ):
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Decimal):
        return str(value)
    return value


def _upsert_pg(conn: Connection, table: Table, rows, columns, key_cols, update_cols) -> int:
    tmp = f"_upsert_{table.name}"
    quoted_cols = ", ".join(f'"{c}"' for c in columns)
    dbapi = conn.connection.driver_connection
    cur = dbapi.cursor()
    # identifiers come from the Table definition, never from input data
    cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{tmp}" (LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP')
    cur.execute(f'TRUNCATE "{tmp}"')
    types = [table.c[c].type for c in columns]
    with cur.copy(f'COPY "{tmp}" ({quoted_cols}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_copy_value(row[c], t) for c, t in zip(columns, types, strict=True)])
    src = Table(tmp, table.metadata.__class__(), *[c.copy() for c in table.columns if c.name in columns])
    ins = postgresql.insert(table).from_select(columns, select(*[src.c[c] for c in columns]))
    if update_cols:
        ins = ins.on_conflict_do_update(
            index_elements=key_cols,
            set_={c: ins.excluded[c] for c in update_cols},
            where=_changed_clause(table, ins.excluded, update_cols),
        )
    else:
        ins = ins.on_conflict_do_nothing(index_elements=key_cols)
    # run on the same DBAPI cursor as the COPY; the statement has no bound values
    cur.execute(str(ins.compile(dialect=conn.dialect)))
    return max(cur.rowcount, 0)

