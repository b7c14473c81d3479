"""GDPR: export everything storeflow holds about one person, or erase it (Art. 15 and 17).

**Export** (:func:`export_customer`): the golden record, identities in both systems (raw records
included), consents, orders and their lines, invoices, scores, outbox messages and their events,
suppressions, merges, quarantine rows and raw landing-zone records that mention the person, as one
JSON document, also stored at ``exports/<customer_id>/<timestamp>.json`` in the landing zone.

**Erasure** (:func:`erase_customer`), in this order so that a failure at any step can simply be re-run
(the warehouse keeps the identifiers needed until the last step commits):

1. resolve the person (golden id and/or email → golden records, identities in both systems, contacts);
2. record the opt-out in the POS (``sms_opt_out: yes`` and ``email_opt_out: yes`` note lines: Square's
   API cannot write ``preferences``) and in the store (``storeflow_email_optout`` and
   ``storeflow_sms_optout`` customer meta, read back after the write: WooCommerce silently drops
   ``_``-prefixed meta; the legacy ``_`` keys are still read). The customers are **not** deleted there: the retailer's
   own systems keep their accounting records; storeflow records the opt-out and erases its copies;
3. pseudonymise the person's records in raw landing pages (customer, order and invoice streams),
   replace mentions in other text objects of the zone (Data Docs with samples of failing values,
   reports) and overwrite earlier exports;
4. in one warehouse transaction: replace their ids by keyed-HMAC pseudonyms (secret from
   ``STOREFLOW_PSEUDONYM_SECRET``) in every table, blank personal columns and personal fields of JSON
   (raw records, quarantine payloads, message payloads and errors), keep non-personal facts (order
   totals, dates, SKUs) for accounting, set ``customers.erased_at``, record ``unsubscribed`` with topic
   ``all`` on every channel plus a suppression (nothing is ever sent again), remember keyed hashes of
   the identifiers in ``erased_subjects`` and write an ``erasure_log`` row (no personal data).

Running it twice is safe: the second run finds nothing personal and logs ``already_erased``.

The POS and the store keep the person's records, so a later extract reads them again (the opt-out
itself bumps their ``updated_at``); :func:`erased_values` tells loaders which source ids / emails belong
to erased people so they can be skipped. Rows that merely *mention* the person in another customer's
record (a shared phone number) have those mentions replaced too.

CLI: ``python -m storeflow.gdpr erase|export (--customer-id ID | --email E) [--dry-run]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
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

from storeflow.privacy.scrub import ERASED, Subject, keyed_hash, pseudonym, pseudonym_secret
from storeflow.warehouse import schema as S
from storeflow.warehouse.upsert import upsert

__all__ = ["ErasureFailed", "ErasureReport", "erase_customer", "erased_values", "export_customer", "main", "resolve_subject"]

log = logging.getLogger(__name__)

CHANNELS = ("email", "sms")
PRIVACY_TABLES = frozenset({"erasure_log", "erased_subjects", "webhook_events"})
#: landed streams that never contain customers
NON_PERSONAL_STREAMS = frozenset({"pos_catalog", "pos_inventory", "pos_locations", "store_products"})
CUSTOMER_COLS = ("customer_id", "previous_customer_id", "candidate_customer_id")
SOURCE_PAIRS = (("source_system", "source_id"), ("source_system", "customer_source_id"),
                ("matched_source_system", "matched_source_id"), ("candidate_source_system", "candidate_source_id"))
PERSONAL_COLS = frozenset({"email", "email_norm", "phone", "phone_e164", "given_name", "family_name",
                           "address_line1", "city", "postcode", "user_agent", "address"})
EMAIL_COLS = ("email", "email_norm")
TEXT_SUFFIXES = (".html", ".htm", ".json", ".txt", ".csv", ".md")


# --- results ----------------------------------------------------------------------------------------
@dataclass
class ErasureReport:
    """What one erasure did (counts and pseudonyms only: no personal data)."""

    status: str  # erased | already_erased | not_found | dry_run
    subjects: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    landing_pages: int = 0
    exports_overwritten: int = 0
    external: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    erasure_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- helpers ----------------------------------------------------------------------------------------
def _existing_tables(conn: Connection) -> list[Table]:
    present = set(inspect(conn).get_table_names())
    return [t for t in S.metadata.sorted_tables if t.name in present and t.name not in PRIVACY_TABLES]


def _is_json(col) -> bool:
    return isinstance(col.type, JSON)


def _is_text(col) -> bool:
    return isinstance(col.type, String) and not _is_json(col)


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


# --- resolution ---------------------------------------------------------------------------------------
def resolve_subject(conn: Connection, *, customer_id: str | None = None, email: str | None = None,
                    secret: bytes | None = None) -> Subject:
    """Everything that identifies the person: golden ids, source ids, emails, phones, names."""
    if not customer_id and not email:
        raise ValueError("pass customer_id or email")
    subject = Subject(secret=secret if secret is not None else pseudonym_secret())
    present = {t.name for t in _existing_tables(conn)}
    ci, cu = S.customer_identities, S.customers
    if customer_id:
        subject.customer_ids.add(customer_id)
    if email:
        e = email.strip().lower()
        subject.emails.add(email.strip())
        subject.customer_ids |= {r[0] for r in conn.execute(select(cu.c.customer_id).where(
            func.lower(cu.c.email) == e))}
        for r in conn.execute(select(ci.c.source_system, ci.c.source_id, ci.c.customer_id).where(
                func.lower(ci.c.email_norm) == e)):
            subject.add_identity(r.source_system, r.source_id)
            if r.customer_id:
                subject.customer_ids.add(r.customer_id)
        if "orders" in present:
            subject.customer_ids |= {r[0] for r in conn.execute(select(S.orders.c.customer_id).where(and_(
                func.lower(S.orders.c.email_norm) == e, S.orders.c.customer_id.is_not(None))))}
    cids = sorted(subject.customer_ids)
    for chunk in _chunks(cids):
        for r in conn.execute(select(cu).where(cu.c.customer_id.in_(chunk))):
            subject.add_values(email=r.email, phone=r.phone, names=(r.given_name, r.family_name))
        for r in conn.execute(select(ci.c.source_system, ci.c.source_id).where(ci.c.customer_id.in_(chunk))):
            subject.add_identity(r.source_system, r.source_id)
    for system, ids in (("pos", sorted(subject.pos_ids)), ("store", sorted(subject.store_ids))):
        for chunk in _chunks(ids):
            for r in conn.execute(select(ci).where(and_(ci.c.source_system == system, ci.c.source_id.in_(chunk)))):
                subject.add_values(email=r.email_norm, phone=r.phone_e164, names=(r.given_name, r.family_name))
                subject.add_contacts_from(r.raw)
    return subject


# --- which rows are the person's -----------------------------------------------------------------------
def _owned_clause(table: Table, subject: Subject, message_keys: set[str]):
    c = table.c
    parts = []
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


def _mention_clause(table: Table, needles: list[str]):
    cols = [col for col in table.c if _is_json(col) or (_is_text(col) and (col.type.length or 999) >= 6)]
    parts = [cast(col, Text).icontains(n, autoescape=True) for col in cols for n in needles]
    return or_(*parts) if parts else None


def _row_system(row: dict[str, Any]) -> str | None:
    for key in ("source_system", "customer_source_system", "order_source_system"):
        if row.get(key) in ("pos", "store"):
            return row[key]
    return None


def _transform(table: Table, row: dict[str, Any], subject: Subject, owned: bool) -> dict[str, Any]:
    """The changed columns of one row (empty when nothing changes)."""
    changes: dict[str, Any] = {}
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
                new = subject.pseudo_source(row[id_cols[name]], str(value))
        elif table.name == "push_state" and name == "key" and owned:
            sys_name, _, sid = str(value).partition(":")
            if sys_name in ("pos", "store"):
                new = f"{sys_name}:{subject.pseudo_source(sys_name, sid)}"
        elif owned and name in PERSONAL_COLS:
            new = None if col.nullable else ERASED
        elif _is_json(col):
            new = subject.scrub_json(value, system=system, owned=owned)
        elif _is_text(col) and isinstance(value, str) and (col.type.length is None or col.type.length >= 32):
            if owned or subject.mentions(value):
                new = subject.replace_text(value, with_names=True)
        if new != value:
            changes[name] = new
    return changes


def _collect_rows(conn: Connection, subject: Subject) -> dict[str, list[tuple[dict[str, Any], bool]]]:
    """table → [(row, owned)] for rows that are the person's or mention them."""
    message_keys: set[str] = set()
    tables = _existing_tables(conn)
    if "messages" in {t.name for t in tables} and subject.customer_ids:
        message_keys = {r[0] for r in conn.execute(select(S.messages.c.message_key).where(
            S.messages.c.customer_id.in_(sorted(subject.customer_ids))))}
    needles = subject.strong_needles()
    found: dict[str, list[tuple[dict[str, Any], bool]]] = {}
    for table in tables:
        pk = [c.name for c in table.primary_key.columns]
        rows: dict[tuple, tuple[dict[str, Any], bool]] = {}
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


def _apply(conn: Connection, subject: Subject, found: dict[str, list[tuple[dict[str, Any], bool]]]) -> dict[str, int]:
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
                    select(func.count()).select_from(table).where(and_(*[table.c[k] == v for k, v in new_key.items()]))
            ).scalar():
                conn.execute(sa_delete(table).where(where))  # the pseudonymised row exists (an earlier erasure)
            else:
                conn.execute(update(table).where(where).values(**changes))
            counts[name] = counts.get(name, 0) + 1
    return counts


def _opt_out_rows(conn: Connection, subject: Subject, now: datetime) -> dict[str, int]:
    pseudos = sorted(subject.pseudo_customer(c) for c in subject.customer_ids)
    if not pseudos:
        return {}
    present = {t.name for t in _existing_tables(conn)}
    channels = set(CHANNELS) | {r[0] for r in conn.execute(select(S.consents.c.channel).where(
        S.consents.c.customer_id.in_(pseudos)))}
    conn.execute(update(S.consents).where(S.consents.c.customer_id.in_(pseudos))
                 .values(status="unsubscribed", reason="gdpr erasure", changed_at=now))
    rows = [{"customer_id": p, "channel": ch, "topic": "all", "status": "unsubscribed", "source_system": "storeflow",
             "changed_at": now, "reason": "gdpr erasure"} for p in pseudos for ch in sorted(channels)]
    counts = {"consents_unsubscribed": upsert(conn, S.consents, rows)}
    if "suppressions" in present:
        sup = [{"customer_id": p, "channel": ch, "reason": "erasure", "address": None, "created_at": now}
               for p in pseudos for ch in sorted(channels)]
        counts["suppressions"] = upsert(conn, S.suppressions, sup, update=["reason", "address"])
    counts["customers_marked"] = conn.execute(update(S.customers).where(and_(
        S.customers.c.customer_id.in_(pseudos), S.customers.c.erased_at.is_(None))).values(erased_at=now)).rowcount
    return counts


def _subject_label(subject: Subject) -> list[str]:
    labels = sorted(subject.pseudo_customer(c) for c in subject.customer_ids)
    if not labels:
        labels = sorted(pseudonym("email", e.lower(), subject.secret) for e in subject.emails)
    return labels


def _already_erased(conn: Connection, *, customer_id: str | None, email: str | None, secret: bytes) -> bool:
    keys = []
    if customer_id:
        keys.append(keyed_hash("customer", customer_id, secret))
    if email:
        keys.append(keyed_hash("email", email.strip().lower(), secret))
    if "erased_subjects" not in set(inspect(conn).get_table_names()):
        return False
    return bool(conn.execute(select(func.count()).select_from(S.erased_subjects)
                             .where(S.erased_subjects.c.key_hash.in_(keys))).scalar())


# --- landing zone ----------------------------------------------------------------------------------------
def _personal_streams(landing: Any) -> list[str]:
    return [s for s in landing.list_streams() if s not in NON_PERSONAL_STREAMS]


def _stream_shape(stream: str) -> tuple[str | None, str | None]:
    system = stream.split("_", 1)[0] if stream.split("_", 1)[0] in ("pos", "store") else None
    return system, ("id" if stream.endswith("_customers") else None)


def _rewrite_landing(landing: Any, subject: Subject, dry_run: bool) -> int:
    pages = 0
    for stream in _personal_streams(landing):
        system, top = _stream_shape(stream)

        def fn(records: list[dict], system: str | None = system, top: str | None = top) -> list[dict] | None:
            nonlocal pages
            new = subject.scrub_json(records, system=system, top_id_key=top)
            if new == records:
                return None
            pages += 1
            return None if dry_run else new

        landing.rewrite_pages(stream, fn)
    return pages


def _landing_records(landing: Any, subject: Subject) -> list[dict[str, Any]]:
    out = []
    for stream in _personal_streams(landing):
        system, top = _stream_shape(stream)
        for run in landing.list_runs(stream):
            for uri, records in landing.iter_pages(stream, run):
                mine = [r for r in records if subject.scrub_json(r, system=system, top_id_key=top) != r]
                if mine:
                    out.append({"stream": stream, "page": uri, "records": mine})
    return out


def _scrub_objects(landing: Any, subject: Subject, dry_run: bool) -> int:
    """Reports and Data Docs (GX samples of failing values can hold emails/phones) that mention the person."""
    n = 0
    for key in landing.list_keys():
        parts = key.split("/")
        if parts[0] == "exports" or (len(parts) == 6 and parts[5].endswith(".jsonl.gz")):
            continue
        if not key.endswith(TEXT_SUFFIXES):
            continue
        text = landing.get_bytes(key).decode("utf-8", "replace")
        if not subject.mentions(text):
            continue
        n += 1
        if not dry_run:
            ctype = "text/html" if key.endswith((".html", ".htm")) else "application/octet-stream"
            landing.put_bytes(key, subject.replace_text(text).encode("utf-8"), ctype)
    return n


def _guest_folder(email: str, secret: bytes) -> str:
    return pseudonym("email", email.strip().lower(), secret)


def _overwrite_exports(landing: Any, subject: Subject, now: datetime, dry_run: bool) -> int:
    n = 0
    folders = sorted(subject.customer_ids) + sorted(_guest_folder(e, subject.secret) for e in subject.emails)
    for folder in folders:
        for key in landing.list_keys(f"exports/{folder}"):
            n += 1
            if not dry_run:
                body = json.dumps({"erased": True, "erased_at": now.isoformat()}).encode()
                landing.put_bytes(key, body, "application/json")
    return n


# --- POS and store -------------------------------------------------------------------------------------
def _store_opt_out(store: Any, customer_id: str, now: datetime) -> bool:
    from storeflow.connectors.woocommerce_models import Customer

    current = Customer.model_validate(store.call("GET", f"/customers/{int(customer_id)}"))
    missing = [ch for ch in CHANNELS if (current.stored_consent(ch) or (False, None))[0] is not True]
    if not missing:
        return False
    # writes storeflow_<channel>_optout and reads it back; ConsentNotStored on a mismatch
    store.set_customer_consents(int(customer_id), dict.fromkeys(missing, True), now)
    return True


def _external_opt_outs(subject: Subject, pos: Any, store: Any, now: datetime) -> dict[str, Any]:
    result: dict[str, Any] = {}
    errors: list[str] = []
    if pos is None:
        result["pos"] = "skipped (no client)" if subject.pos_ids else "no record"
    else:
        done = 0
        for pid in sorted(subject.pos_ids):
            try:
                for channel in ("sms", "email"):
                    pos.set_opt_out(pid, channel, True)
                done += 1
            except Exception as exc:
                errors.append(f"pos:{subject.pseudo_source('pos', pid)}: {type(exc).__name__} "
                              f"{getattr(exc, 'status', '')}".strip())
        result["pos"] = {"records": len(subject.pos_ids), "opted_out": done}
    if store is None:
        result["store"] = "skipped (no client)" if subject.store_ids else "no record"
    else:
        done = 0
        for sid in sorted(subject.store_ids, key=lambda s: (len(s), s)):
            try:
                _store_opt_out(store, sid, now)
                done += 1
            except Exception as exc:
                errors.append(f"store:{subject.pseudo_source('store', sid)}: {type(exc).__name__} "
                              f"{getattr(exc, 'status', '')}".strip())
        result["store"] = {"records": len(subject.store_ids), "opted_out": done}
    if errors:
        result["errors"] = errors
    return result


def _log_erasure(conn: Connection, report: ErasureReport, requested_by: str, started: datetime,
                 error: str | None = None) -> int | None:
    if "erasure_log" not in set(inspect(conn).get_table_names()):
        return None
    row = {"subject": ",".join(report.subjects)[:64] or "-", "requested_by": requested_by[:255],
           "requested_at": started, "finished_at": datetime.now(UTC), "status": report.status,
           "counts": {**report.counts, "landing_pages": report.landing_pages,
                      "exports_overwritten": report.exports_overwritten},
           "external": report.external, "error": error}
    return conn.execute(S.erasure_log.insert().values(**row)).inserted_primary_key[0]


# --- for loaders: do not re-import erased people ----------------------------------------------------------
def erased_values(conn: Connection, kind: str, values: Iterable[str], secret: bytes | None = None) -> set[str]:
    """The ``values`` (source ids for kind ``pos``/``store``, or ``email``) that belong to erased people.

    The POS and the store keep their records (and storeflow's opt-out bumps their ``updated_at``), so the
    next extract reads them again: loaders should drop these records (and not land them) so an erased
    person does not come back. Without ``STOREFLOW_PSEUDONYM_SECRET`` nothing can have been erased.
    """
    values = [str(v) for v in values if v is not None and str(v) != ""]
    if not values or "erased_subjects" not in set(inspect(conn).get_table_names()):
        return set()
    if secret is None:
        if not os.environ.get("STOREFLOW_PSEUDONYM_SECRET"):
            return set()
        secret = pseudonym_secret()
    norm = (lambda v: v.strip().lower()) if kind == "email" else (lambda v: v)
    by_hash = {keyed_hash(kind, norm(v), secret): v for v in values}
    found: set[str] = set()
    for chunk in _chunks(sorted(by_hash)):
        found |= {by_hash[h] for (h,) in conn.execute(select(S.erased_subjects.c.key_hash).where(
            S.erased_subjects.c.key_hash.in_(chunk)))}
    return found


# --- entry points ---------------------------------------------------------------------------------------
class ErasureFailed(RuntimeError):
    """An external opt-out failed; nothing was erased in storeflow yet (re-run after fixing)."""


def erase_customer(
    engine: Engine,
    landing: Any,
    *,
    customer_id: str | None = None,
    email: str | None = None,
    pos_client: Any = None,
    store_client: Any = None,
    requested_by: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> ErasureReport:
    """Erase one person from storeflow and record their opt-out in the POS and the store (see module doc)."""
    if not requested_by:
        raise ValueError("requested_by is required (who asked for the erasure)")
    started = _now(now)
    secret = pseudonym_secret()
    with engine.connect() as conn:
        subject = resolve_subject(conn, customer_id=customer_id, email=email, secret=secret)
        found = _collect_rows(conn, subject)
        erased_before = _already_erased(conn, customer_id=customer_id, email=email, secret=secret)
    live = bool(found) or bool(subject.pos_ids or subject.store_ids)
    report = ErasureReport(status="dry_run" if dry_run else "erased", subjects=_subject_label(subject),
                           dry_run=dry_run)
    if not live:
        report.status = "already_erased" if erased_before else "not_found"
        if landing is not None:
            report.landing_pages = _rewrite_landing(landing, subject, dry_run)
        if not dry_run:
            with engine.begin() as conn:
                report.erasure_id = _log_erasure(conn, report, requested_by, started)
        log.info("gdpr erasure %s: %s", report.status, report.subjects)
        return report

    if dry_run:
        report.counts.update({name: len(rows) for name, rows in found.items()})
        report.external = {"pos": {"records": len(subject.pos_ids)}, "store": {"records": len(subject.store_ids)}}
    else:
        report.external = _external_opt_outs(subject, pos_client, store_client, started)
        if report.external.get("errors"):
            report.status = "failed"
            with engine.begin() as conn:
                report.erasure_id = _log_erasure(conn, report, requested_by, started, "external opt-out failed")
            raise ErasureFailed(f"opt-out failed in {len(report.external['errors'])} record(s); re-run the erasure: "
                                f"{report.external['errors']}")
    if landing is not None:
        report.landing_pages = _rewrite_landing(landing, subject, dry_run)
        report.exports_overwritten = _overwrite_exports(landing, subject, started, dry_run)
        report.counts["landing_objects"] = _scrub_objects(landing, subject, dry_run)
    if dry_run:
        log.info("gdpr erasure dry run for %s: %s", report.subjects, report.counts)
        return report
    with engine.begin() as conn:
        from storeflow.scoring.pipeline import forget_customer

        # profiling derived from the person goes entirely (scores, replenishment predictions)
        report.counts["scores_deleted"] = sum(forget_customer(conn, cid) for cid in sorted(subject.customer_ids))
        found = _collect_rows(conn, subject)  # re-read inside the transaction
        report.counts.update(_apply(conn, subject, found))
        report.counts.update(_opt_out_rows(conn, subject, started))
        upsert(conn, S.erased_subjects, [
            {"key_hash": h, "kind": kind, "subject": report.subjects[0] if report.subjects else "-",
             "erased_at": started} for kind, h in subject.erased_keys()], update=[])
        report.erasure_id = _log_erasure(conn, report, requested_by, started)
    log.info("gdpr erasure done for %s: %d tables, %d landing pages", report.subjects, len(report.counts),
             report.landing_pages)
    return report


def export_customer(engine: Engine, landing: Any, *, customer_id: str | None = None,
                    email: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Everything storeflow holds about one person (JSON-able); also stored in the landing zone."""
    started = _now(now)
    with engine.connect() as conn:
        subject = resolve_subject(conn, customer_id=customer_id, email=email,
                                  secret=os.environ.get("STOREFLOW_PSEUDONYM_SECRET", "export").encode())
        found = _collect_rows(conn, subject)
        # a row of another customer that merely mentions this person (a shared phone) is not exported
        tables = {name: [row for row, owned in rows if owned or "customer_id" not in S.metadata.tables[name].c]
                  for name, rows in found.items()}
        tables = {name: rows for name, rows in tables.items() if rows}
        order_keys = [(r["source_system"], r["order_id"]) for r in tables.get("orders", [])]
        lines = []
        for system in ("pos", "store"):
            ids = sorted({o for s, o in order_keys if s == system})
            for chunk in _chunks(ids):
                lines += [dict(r._mapping) for r in conn.execute(select(S.order_lines).where(and_(
                    S.order_lines.c.source_system == system, S.order_lines.c.order_id.in_(chunk))))]
        if lines:
            tables["order_lines"] = lines
    subject_id = sorted(subject.customer_ids)[0] if subject.customer_ids else _guest_folder(email or "", subject.secret)
    document = {
        "exported_at": started.isoformat(),
        "subject": {"customer_ids": sorted(subject.customer_ids),
                    "identities": {"pos": sorted(subject.pos_ids), "store": sorted(subject.store_ids)},
                    "emails": sorted(subject.emails), "phones": sorted(subject.phones)},
        "warehouse": tables,
        "landing": _landing_records(landing, subject) if landing is not None else [],
    }
    document = json.loads(json.dumps(document, default=_jsonable))
    if landing is not None:
        key = f"exports/{subject_id}/{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        document["export_uri"] = landing.put_bytes(
            key, json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"), "application/json")
    log.info("gdpr export: %d warehouse tables, %d landing pages", len(tables), len(document["landing"]))
    return document


# --- CLI -----------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m storeflow.gdpr erase|export (--customer-id ID | --email E) [--dry-run]``.

    The POS and store clients come from ``AIRFLOW_CONN_STOREFLOW_POS`` / ``AIRFLOW_CONN_STOREFLOW_STORE`` (the
    connections the DAGs use, in Airflow's JSON or URI form), else from the ``STOREFLOW_*`` settings; outside
    the demo profile a missing credential stops the erasure before anything changes.
    """
    parser = argparse.ArgumentParser(prog="python -m storeflow.gdpr", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("erase", "export"))
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id")
    who.add_argument("--email")
    parser.add_argument("--dry-run", action="store_true", help="erase: report what would change, change nothing")
    parser.add_argument("--requested-by", default=os.environ.get("USER") or "cli")
    parser.add_argument("--no-external", action="store_true", help="erase: do not record opt-outs in POS/store")
    parser.add_argument("--print", dest="print_export", action="store_true", help="export: print the document")
    args = parser.parse_args(argv)

    from storeflow.landing import LandingZone
    from storeflow.warehouse.db import connect_warehouse

    engine = connect_warehouse()
    landing = LandingZone.from_settings()
    try:
        if args.action == "export":
            doc = export_customer(engine, landing, customer_id=args.customer_id, email=args.email)
            print(json.dumps(doc if args.print_export else {"export_uri": doc.get("export_uri")}, indent=1))
            return 0
        pos = store = None
        if not args.no_external and not args.dry_run:
            from storeflow.resources import Resources

            # the same connections the DAGs use (AIRFLOW_CONN_STOREFLOW_POS / _STORE), else STOREFLOW_* settings
            resources = Resources.from_env()
            pos, store = resources.pos_client(), resources.store_client()
        report = erase_customer(engine, landing, customer_id=args.customer_id, email=args.email, pos_client=pos,
                                store_client=store, requested_by=args.requested_by, dry_run=args.dry_run)
        print(json.dumps(report.as_dict(), indent=1))
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
