"""Which warehouse rows are the person's (or mention them), and how erasure rewrites them.

A row is *owned* when a customer id, a (system, source id) pair, an email or an outbox message key of
the person is in it; in an owned row ids become keyed-HMAC pseudonyms and personal columns are blanked.
A row that merely *mentions* the person (another customer's record with a shared phone) has only those
mentions replaced. Non-personal facts (order totals, dates, SKUs) stay for accounting.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Connection,
    String,
    Table,
    Text,
    and_,
    cast,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy import delete as sa_delete
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from storeflow.privacy.scrub import ERASED, Subject
from storeflow.warehouse import schema as S
from storeflow.warehouse.upsert import upsert

CHANNELS = ("email", "sms")
PRIVACY_TABLES = frozenset({"erasure_log", "erased_subjects", "webhook_events"})
CUSTOMER_COLS = ("customer_id", "previous_customer_id", "candidate_customer_id")
SOURCE_PAIRS = (("source_system", "source_id"), ("source_system", "customer_source_id"),
                ("matched_source_system", "matched_source_id"),
                ("candidate_source_system", "candidate_source_id"))
PERSONAL_COLS = frozenset({"email", "email_norm", "phone", "phone_e164", "given_name", "family_name",
                           "address_line1", "city", "postcode", "user_agent", "address"})
EMAIL_COLS = ("email", "email_norm")

#: a warehouse table (spelled out: the default type arguments hold ``Any``)
WarehouseTable: TypeAlias = "Table[ReadOnlyColumnCollection[str, Column[object]]]"
#: one warehouse row, column → value
Row = dict[str, object]
#: table → [(row, owned by the person)]
Found = dict[str, list[tuple[Row, bool]]]


def existing_tables(conn: Connection) -> list[WarehouseTable]:
    """The warehouse tables present in this database, privacy bookkeeping tables left out."""
    present = set(inspect(conn).get_table_names())
    return [t for t in S.metadata.sorted_tables if t.name in present and t.name not in PRIVACY_TABLES]


def _is_json(col: ColumnElement[object]) -> bool:
    return isinstance(col.type, JSON)


def _is_text(col: ColumnElement[object]) -> bool:
    return isinstance(col.type, String) and not _is_json(col)


def _length(col: ColumnElement[object]) -> int | None:
    """The declared length of a text column (None: unbounded)."""
    length = getattr(col.type, "length", None)
    return length if isinstance(length, int) else None


def _owned_clause(table: WarehouseTable, subject: Subject,
                  message_keys: set[str]) -> ColumnElement[bool] | None:
    c = table.c
    parts: list[ColumnElement[bool]] = []
    cids = sorted(subject.customer_ids)
    for name in CUSTOMER_COLS:
        if name in c and cids:
            parts.append(c[name].in_(cids))
    for sys_col, id_col in SOURCE_PAIRS:
        if sys_col in c and id_col in c:
            for system, ids in (("pos", subject.pos_ids), ("store", subject.store_ids)):
                if ids:
                    clause = and_(c[sys_col] == system, c[id_col].in_(sorted(ids)))
                    if table.name == "quarantine":  # its source_id is a customer id only on customer streams
                        clause = and_(clause, c.stream.like("%customer%"))
                    parts.append(clause)
    emails = sorted({e.lower() for e in subject.emails})
    for name in EMAIL_COLS:
        if name in c and emails:
            parts.append(func.lower(c[name]).in_(emails))
    if "message_key" in c and message_keys:
        parts.append(c.message_key.in_(sorted(message_keys)))
    if table.name == "push_state":
        keys = [f"pos:{i}" for i in subject.pos_ids] + [f"store:{i}" for i in subject.store_ids]
        if keys:
            parts.append(c.key.in_(keys))
    return or_(*parts) if parts else None


def _mention_clause(table: WarehouseTable, needles: list[str]) -> ColumnElement[bool] | None:
    cols = [col for col in table.c if _is_json(col) or (_is_text(col) and (_length(col) or 999) >= 6)]
    parts = [cast(col, Text).icontains(n, autoescape=True) for col in cols for n in needles]
    return or_(*parts) if parts else None


def _row_system(row: Row) -> str | None:
    for key in ("source_system", "customer_source_system", "order_source_system"):
        value = row.get(key)
        if value in ("pos", "store"):
            return str(value)
    return None


def _transform(table: WarehouseTable, row: Row, subject: Subject, owned: bool) -> Row:
    """The changed columns of one row (empty when nothing changes)."""
    changes: Row = {}
    system = _row_system(row)
    id_cols = {id_col: sys_col for sys_col, id_col in SOURCE_PAIRS if sys_col in row and id_col in row}
    for col in table.c:
        name, value = col.name, row.get(col.name)
        if value is None:
            continue
        new = value
        if name in CUSTOMER_COLS and value in subject.customer_ids:
            new = subject.pseudo_customer(value)
        elif name in id_cols and owned and row.get(id_cols[name]) in ("pos", "store") and str(value) in (
                subject.pos_ids if row[id_cols[name]] == "pos" else subject.store_ids):
            if not (table.name == "quarantine" and "customer" not in str(row.get("stream"))):
                new = subject.pseudo_source(str(row[id_cols[name]]), str(value))
        elif table.name == "push_state" and name == "key" and owned:
            sys_name, _, sid = str(value).partition(":")
            if sys_name in ("pos", "store"):
                new = f"{sys_name}:{subject.pseudo_source(sys_name, sid)}"
        elif owned and name in PERSONAL_COLS:
            new = None if col.nullable else ERASED
        elif _is_json(col):
            new = subject.scrub_json(value, system=system, owned=owned)
        elif _is_text(col) and isinstance(value, str) and ((n := _length(col)) is None or n >= 32):
            if owned or subject.mentions(value):
                new = subject.replace_text(value, with_names=True)
        if new != value:
            changes[name] = new
    return changes


def collect_rows(conn: Connection, subject: Subject) -> Found:
    """table → [(row, owned)] for rows that are the person's or mention them."""
    message_keys: set[str] = set()
    tables = existing_tables(conn)
    if "messages" in {t.name for t in tables} and subject.customer_ids:
        message_keys = {r[0] for r in conn.execute(select(S.messages.c.message_key).where(
            S.messages.c.customer_id.in_(sorted(subject.customer_ids))))}
    needles = subject.strong_needles()
    found: Found = {}
    for table in tables:
        pk = [c.name for c in table.primary_key.columns]
        rows: dict[tuple[object, ...], tuple[Row, bool]] = {}
        owned_clause = _owned_clause(table, subject, message_keys)
        if owned_clause is not None:
            for r in conn.execute(select(table).where(owned_clause)):
                m = dict(r._mapping)
                rows[tuple(m[k] for k in pk)] = (m, True)
        mention = _mention_clause(table, needles) if needles else None
        if mention is not None:
            for r in conn.execute(select(table).where(mention)):
                m = dict(r._mapping)
                rows.setdefault(tuple(m[k] for k in pk), (m, False))
        if rows:
            found[table.name] = list(rows.values())
    return found


def apply_changes(conn: Connection, subject: Subject, found: Found) -> dict[str, int]:
    """Rewrite the rows :func:`collect_rows` found; table → rows changed."""
    counts: dict[str, int] = {}
    for name, rows in found.items():
        table = S.metadata.tables[name]
        pk = [c.name for c in table.primary_key.columns]
        for row, owned in rows:
            changes = _transform(table, row, subject, owned)
            if not changes:
                continue
            where = and_(*[table.c[k] == row[k] for k in pk])
            new_key = {k: changes.get(k, row[k]) for k in pk}
            if any(k in changes for k in pk) and conn.execute(
                    select(func.count()).select_from(table).where(
                        and_(*[table.c[k] == v for k, v in new_key.items()]))
            ).scalar():
                # the pseudonymised row exists (an earlier erasure)
                conn.execute(sa_delete(table).where(where))
            else:
                conn.execute(update(table).where(where).values(**changes))
            counts[name] = counts.get(name, 0) + 1
    return counts


def record_opt_outs(conn: Connection, subject: Subject, now: datetime) -> dict[str, int]:
    """Unsubscribe every channel (topic ``all``), add suppressions and set ``customers.erased_at``."""
    pseudos = sorted(subject.pseudo_customer(c) for c in subject.customer_ids)
    if not pseudos:
        return {}
    present = {t.name for t in existing_tables(conn)}
    channels = set(CHANNELS) | {r[0] for r in conn.execute(select(S.consents.c.channel).where(
        S.consents.c.customer_id.in_(pseudos)))}
    conn.execute(update(S.consents).where(S.consents.c.customer_id.in_(pseudos))
                 .values(status="unsubscribed", reason="gdpr erasure", changed_at=now))
    rows = [{"customer_id": p, "channel": ch, "topic": "all", "status": "unsubscribed",
             "source_system": "storeflow", "changed_at": now, "reason": "gdpr erasure"}
            for p in pseudos for ch in sorted(channels)]
    counts = {"consents_unsubscribed": upsert(conn, S.consents, rows)}
    if "suppressions" in present:
        sup = [{"customer_id": p, "channel": ch, "reason": "erasure", "address": None, "created_at": now}
               for p in pseudos for ch in sorted(channels)]
        counts["suppressions"] = upsert(conn, S.suppressions, sup, update=["reason", "address"])
    counts["customers_marked"] = conn.execute(update(S.customers).where(and_(
        S.customers.c.customer_id.in_(pseudos), S.customers.c.erased_at.is_(None)))
        .values(erased_at=now)).rowcount
    return counts
