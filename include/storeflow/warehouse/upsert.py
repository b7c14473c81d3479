"""Bulk upsert into warehouse tables.

PostgreSQL: ``COPY`` the rows into a temporary table, then one ``MERGE`` (PostgreSQL >= 15; falls back to
``INSERT … SELECT … ON CONFLICT DO UPDATE`` on a concurrent insert of the same key, and on older servers)
that only touches rows whose values differ. SQLite: batched ``executemany`` of
``INSERT … ON CONFLICT DO UPDATE … WHERE`` (same change-only rule). Both deduplicate the input by key
(last row wins) so a page that repeats a record cannot make the statement fail, and both return how
many rows were inserted or changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import Connection, DateTime, Engine, Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql.base import ReadOnlyColumnCollection
from sqlalchemy.sql.elements import ColumnElement, KeyedColumnElement
from sqlalchemy.sql.type_api import TypeEngine

from storeflow.warehouse.chunks import chunked
from storeflow.warehouse.coltypes import JSONType, UTCDateTime

if TYPE_CHECKING:
    from psycopg import sql

SQLITE_BATCH = 500
#: Rows per COPY + INSERT round on PostgreSQL (bounds the temp table for very large inputs).
PG_CHUNK_ROWS = 500_000

_Rows = Sequence[Mapping[str, Any]]


def _key_columns(table: Table, key: Sequence[str] | None) -> list[str]:
    cols = list(key) if key else [c.name for c in table.primary_key.columns]
    if not cols:
        raise ValueError(f"table {table.name} has no primary key; pass key=")
    return cols


def _dedupe(rows: Sequence[Mapping[str, Any]], key: list[str]) -> list[Mapping[str, Any]]:
    if not isinstance(rows, list):
        rows = list(rows)  # generators and other iterables: zip below reads the rows twice
    key_of = itemgetter(*key)  # a tuple for composite keys, the value itself for one column
    try:
        by_key = dict(zip(map(key_of, rows), rows, strict=True))  # C-speed loop; later rows win
    except KeyError as exc:
        bad = next(r for r in rows if any(k not in r for k in key))
        raise ValueError(f"row lacks key column {exc.args[0]!r}: {dict(bad)!r:.200}") from None
    return rows if len(by_key) == len(rows) else list(by_key.values())


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


def _changed_clause(
    table: Table, excluded: ReadOnlyColumnCollection[str, KeyedColumnElement[Any]], update_cols: list[str]
) -> ColumnElement[bool] | None:
    # "loaded_at" style bookkeeping columns must not count as a change on their own
    compared = [c for c in update_cols if c != "loaded_at"]
    if not compared:
        return None
    return or_(*[table.c[c].is_distinct_from(excluded[c]) for c in compared])


def _upsert_generic(
    conn: Connection, table: Table, rows: _Rows, key_cols: list[str], update_cols: list[str]
) -> int:
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
    for batch in chunked(rows, SQLITE_BATCH):
        before = conn.connection.total_changes if conn.dialect.name == "sqlite" else None
        result = conn.execute(stmt, batch)
        if before is not None:
            changed += conn.connection.total_changes - before
        else:
            changed += max(result.rowcount, 0)
    return changed


def _copy_value(value: Any, col_type: TypeEngine[Any]) -> Any:
    """One value as COPY (text format) accepts it; psycopg adapts the rest (str, int, Decimal, bool…)."""
    if value is None:
        return None
    convert = _converter(col_type)
    if convert is not None:
        return convert(value)
    return _generic_value(value)


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: storeflow stores aware UTC timestamps only")
    return value


def _json_text(value: Any) -> Any:
    return None if value is None else json.dumps(value, default=str)


def _generic_value(value: Any) -> Any:
    # values of unusual types in plain columns: JSON for containers, aware datetimes, numpy scalars
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return value


def _is_json(col_type: TypeEngine[Any]) -> bool:
    return col_type is JSONType or type(col_type).__name__ in {"JSON", "JSONB", "Variant"}


def _converter(col_type: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """The per-column conversion needed before COPY, or ``None`` when psycopg's own adaptation is right."""
    if _is_json(col_type):
        return _json_text
    if isinstance(col_type, UTCDateTime | DateTime):
        return _aware
    return None


_PLAIN_TYPES = (str, int, float, Decimal, bool, date, time, timedelta, UUID, bytes)
_SAMPLE = 100


def _all_aware(values: Iterable[Any]) -> bool:
    """True when every non-null value is an aware datetime (checked at C speed); False if unsure."""
    try:
        return None not in map(_TZINFO, filter(None, values))
    except AttributeError:  # not datetimes at all: let the per-value path decide
        return False


_TZINFO = attrgetter("tzinfo")


def _copy_rows(
    rows: _Rows, columns: list[str], types: list[TypeEngine[Any]]
) -> Iterator[tuple[Any, ...]] | Iterator[list[Any]]:
    """Return an iterable of COPY rows (tuples/lists), converting only the columns that need it.

    JSON columns are serialised; datetime columns must hold aware values (validated in one C-speed
    pass, falling back to per-value checks); other columns go to psycopg as they are unless a sample
    of the rows shows unusual values there (dicts, datetimes…), which then get the generic conversion.
    """
    convs = [_converter(t) for t in types]
    for i, conv in enumerate(convs):
        col = columns[i]
        if conv is _aware and _all_aware(map(itemgetter(col), rows)):
            convs[i] = None
        elif conv is None and any(
            (v := row[col]) is not None and type(v) not in _PLAIN_TYPES for row in rows[:_SAMPLE]
        ):
            convs[i] = _generic_value
    getter = itemgetter(*columns) if len(columns) > 1 else (lambda r, _c=columns[0]: (r[_c],))
    converters = [(i, conv) for i, conv in enumerate(convs) if conv is not None]
    if not converters:
        return map(getter, rows)
    return _converted(map(getter, rows), converters)


def _converted(
    tuples: Iterable[tuple[Any, ...]], converters: list[tuple[int, Callable[[Any], Any]]]
) -> Iterator[list[Any]]:
    for t in tuples:
        values = list(t)
        for i, conv in converters:
            values[i] = conv(values[i])
        yield values


def _python_defaults(table: Table, columns: list[str]) -> dict[str, Any]:
    """Values of Python-side column defaults for columns absent from the rows (evaluated once per call)."""
    out: dict[str, Any] = {}
    for col in table.columns:
        d = col.default
        if col.name in columns or not isinstance(d, ColumnDefault) or not (d.is_scalar or d.is_callable):
            continue
        try:
            value = d.arg(None) if d.is_callable else d.arg
        except Exception:  # a default that needs a real execution context: leave it to the server
            continue
        out[col.name] = _copy_value(value, col.type)
    return out


def _pg_statements(
    table_id: sql.Identifier, tmp_id: sql.Identifier, insert_cols: list[str], key_cols: list[str],
    update_cols: list[str],
) -> tuple[sql.Composed, sql.Composed]:
    """(MERGE, INSERT … ON CONFLICT) from the temp table, composed with ``psycopg.sql`` (identifiers only)."""
    from psycopg import sql

    ident = sql.Identifier

    def join(template: str, names: Iterable[str], sep: str = ", ") -> sql.Composed:
        return sql.SQL(sep).join(sql.SQL(template).format(c=ident(c)) for c in names)

    cols = join("{c}", insert_cols)
    compared = [c for c in update_cols if c != "loaded_at"]  # bookkeeping alone is not a change
    merge = sql.SQL("MERGE INTO {t} AS t USING {s} AS s ON {on}").format(
        t=table_id, s=tmp_id, on=join("t.{c} = s.{c}", key_cols, " AND ")
    )
    onconf = sql.SQL("INSERT INTO {t} AS t ({cols}) SELECT {cols} FROM {s} ON CONFLICT ({keys}) ").format(
        t=table_id, s=tmp_id, cols=cols, keys=join("{c}", key_cols)
    )
    if update_cols:
        if compared:
            merge += sql.SQL(" WHEN MATCHED AND ({}) THEN UPDATE SET ").format(
                join("t.{c} IS DISTINCT FROM s.{c}", compared, " OR ")
            )
        else:
            merge += sql.SQL(" WHEN MATCHED THEN UPDATE SET ")
        merge += join("{c} = s.{c}", update_cols)
        onconf += sql.SQL("DO UPDATE SET ") + join("{c} = EXCLUDED.{c}", update_cols)
        if compared:
            onconf += sql.SQL(" WHERE ") + join("t.{c} IS DISTINCT FROM EXCLUDED.{c}", compared, " OR ")
    else:
        onconf += sql.SQL("DO NOTHING")
    merge += sql.SQL(" WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})").format(cols, join("s.{c}", insert_cols))
    return merge, onconf


def _upsert_pg(
    conn: Connection, table: Table, rows: _Rows, columns: list[str], key_cols: list[str], update_cols: list[str]
) -> int:
    """COPY (text format) into a temp table, then apply it to ``table`` in chunks of ``PG_CHUNK_ROWS``.

    On PostgreSQL >= 15 each chunk is applied with one ``MERGE`` (a join: no per-row speculative
    insertion, several times faster than ``ON CONFLICT`` when most rows already exist) inside a
    savepoint; if a concurrent writer inserts the same key meanwhile (unique violation) the chunk is
    redone with ``INSERT … ON CONFLICT DO UPDATE … WHERE changed``, which older servers always use.
    Rows are already deduplicated over the whole input, so chunking keeps "last wins".
    """
    import psycopg.errors as pg_errors
    from psycopg import sql

    tmp_id = sql.Identifier(f"_upsert_{table.name}")
    table_id = sql.Identifier(table.schema, table.name) if table.schema else sql.Identifier(table.name)
    extra = _python_defaults(table, columns)
    insert_cols = columns + list(extra)
    merge, onconf = _pg_statements(table_id, tmp_id, insert_cols, key_cols, update_cols)
    use_merge = (conn.dialect.server_version_info or (0,)) >= (15,)
    if not conn.in_transaction():
        conn.begin()  # what autobegin would do: the caller's commit() must cover this work
    driver_conn = conn.connection.driver_connection
    assert driver_conn is not None, "a live psycopg connection"
    cur = driver_conn.cursor()
    cur.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
        tmp_id, table_id))
    types = [table.c[c].type for c in columns]
    extra_values = tuple(extra.values())
    copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(tmp_id, sql.SQL(", ").join(map(sql.Identifier, insert_cols)))
    truncate = sql.SQL("TRUNCATE {}").format(tmp_id)
    changed = 0
    for batch in chunked(rows, PG_CHUNK_ROWS):
        cur.execute(truncate)
        with cur.copy(copy_sql) as copy:
            values_iter = _copy_rows(batch, columns, types)
            if extra_values:
                values_iter = (tuple(v) + extra_values for v in values_iter)
            for values in values_iter:
                copy.write_row(values)
        if not use_merge:
            cur.execute(onconf)
            changed += max(cur.rowcount, 0)
            continue
        cur.execute("SAVEPOINT storeflow_upsert")
        try:
            cur.execute(merge)
            n = cur.rowcount
        except (pg_errors.UniqueViolation, pg_errors.SerializationFailure):
            cur.execute("ROLLBACK TO SAVEPOINT storeflow_upsert")
            cur.execute(onconf)
            n = cur.rowcount
        cur.execute("RELEASE SAVEPOINT storeflow_upsert")
        changed += max(n, 0)
    return changed
