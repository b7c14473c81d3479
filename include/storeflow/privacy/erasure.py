"""GDPR erasure (Art. 17) of one person: :func:`erase_customer`.

The steps run in this order, so that a failure at any step can simply be re-run
(the warehouse keeps the identifiers needed until the last step commits):

1. resolve the person (golden id and/or email → golden records, identities in both systems, contacts);
2. record the opt-out in the POS (``sms_opt_out: yes`` and ``email_opt_out: yes`` note lines: Square's
   API cannot write ``preferences``) and in the store (``storeflow_email_optout`` and
   ``storeflow_sms_optout`` customer meta, read back after the write: WooCommerce silently drops
   ``_``-prefixed meta; the legacy ``_`` keys are still read). The customers are **not** deleted
   there: the retailer's own systems keep their accounting records; storeflow records the opt-out and
   erases its copies;
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
itself bumps their ``updated_at``); :func:`~storeflow.privacy.erased_values.erased_values` tells
loaders which source ids / emails belong to erased people so they can be skipped. Rows that merely
*mention* the person in another customer's record (a shared phone number) have those mentions replaced
too.

CLI: ``python -m storeflow.privacy erase (--customer-id ID | --email E) [--dry-run]``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, func, inspect, select

from storeflow.privacy.external_opt_outs import record_external_opt_outs
from storeflow.privacy.landing_scrub import overwrite_exports, rewrite_landing, scrub_objects
from storeflow.privacy.scrub import Subject, keyed_hash, pseudonym, pseudonym_secret
from storeflow.privacy.subject import resolve_subject
from storeflow.privacy.warehouse_rows import apply_changes, collect_rows, record_opt_outs
from storeflow.warehouse import schema as S
from storeflow.warehouse.upsert import upsert

if TYPE_CHECKING:
    from storeflow.connectors.square import SquareClient
    from storeflow.connectors.woocommerce import WooClient
    from storeflow.landing import LandingZone

log = logging.getLogger(__name__)


@dataclass
class ErasureReport:
    """What one erasure did (counts and pseudonyms only: no personal data)."""

    status: str  # erased | already_erased | not_found | dry_run
    subjects: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    landing_pages: int = 0
    exports_overwritten: int = 0
    external: dict[str, object] = field(default_factory=dict)
    dry_run: bool = False
    erasure_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        """The report as plain data (JSON-able)."""
        return asdict(self)


class ErasureFailed(RuntimeError):
    """An external opt-out failed; nothing was erased in storeflow yet (re-run after fixing)."""


def aware_now(now: datetime | None) -> datetime:
    """``now`` (default: the current time) in UTC; a naive datetime is refused."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


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


def _log_erasure(conn: Connection, report: ErasureReport, requested_by: str, started: datetime,
                 error: str | None = None) -> int | None:
    if "erasure_log" not in set(inspect(conn).get_table_names()):
        return None
    row = {"subject": ",".join(report.subjects)[:64] or "-", "requested_by": requested_by[:255],
           "requested_at": started, "finished_at": datetime.now(UTC), "status": report.status,
           "counts": {**report.counts, "landing_pages": report.landing_pages,
                      "exports_overwritten": report.exports_overwritten},
           "external": report.external, "error": error}
    key = conn.execute(S.erasure_log.insert().values(**row)).inserted_primary_key
    return None if key is None else key[0]


def erase_customer(
    engine: Engine,
    landing: LandingZone | None,
    *,
    customer_id: str | None = None,
    email: str | None = None,
    pos_client: SquareClient | None = None,
    store_client: WooClient | None = None,
    requested_by: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> ErasureReport:
    """Erase one person from storeflow and record their opt-out in the POS and the store (see module doc)."""
    if not requested_by:
        raise ValueError("requested_by is required (who asked for the erasure)")
    started = aware_now(now)
    secret = pseudonym_secret()
    with engine.connect() as conn:
        subject = resolve_subject(conn, customer_id=customer_id, email=email, secret=secret)
        found = collect_rows(conn, subject)
        erased_before = _already_erased(conn, customer_id=customer_id, email=email, secret=secret)
    live = bool(found) or bool(subject.pos_ids or subject.store_ids)
    report = ErasureReport(status="dry_run" if dry_run else "erased", subjects=_subject_label(subject),
                           dry_run=dry_run)
    if not live:
        report.status = "already_erased" if erased_before else "not_found"
        if landing is not None:
            report.landing_pages = rewrite_landing(landing, subject, dry_run)
        if not dry_run:
            with engine.begin() as conn:
                report.erasure_id = _log_erasure(conn, report, requested_by, started)
        log.info("gdpr erasure %s: %s", report.status, report.subjects)
        return report

    if dry_run:
        report.counts.update({name: len(rows) for name, rows in found.items()})
        report.external = {"pos": {"records": len(subject.pos_ids)},
                           "store": {"records": len(subject.store_ids)}}
    else:
        report.external = record_external_opt_outs(subject, pos_client, store_client, started)
        errors = report.external.get("errors")
        if isinstance(errors, list) and errors:
            report.status = "failed"
            with engine.begin() as conn:
                report.erasure_id = _log_erasure(conn, report, requested_by, started,
                                                 "external opt-out failed")
            raise ErasureFailed(f"opt-out failed in {len(errors)} record(s); re-run the erasure: {errors}")
    if landing is not None:
        report.landing_pages = rewrite_landing(landing, subject, dry_run)
        report.exports_overwritten = overwrite_exports(landing, subject, started, dry_run)
        report.counts["landing_objects"] = scrub_objects(landing, subject, dry_run)
    if dry_run:
        log.info("gdpr erasure dry run for %s: %s", report.subjects, report.counts)
        return report
    with engine.begin() as conn:
        from storeflow.scoring.pipeline import forget_customer

        # profiling derived from the person goes entirely (scores, replenishment predictions)
        report.counts["scores_deleted"] = sum(forget_customer(conn, cid)
                                              for cid in sorted(subject.customer_ids))
        found = collect_rows(conn, subject)  # re-read inside the transaction
        report.counts.update(apply_changes(conn, subject, found))
        report.counts.update(record_opt_outs(conn, subject, started))
        upsert(conn, S.erased_subjects, [
            {"key_hash": h, "kind": kind, "subject": report.subjects[0] if report.subjects else "-",
             "erased_at": started} for kind, h in subject.erased_keys()], update=[])
        report.erasure_id = _log_erasure(conn, report, requested_by, started)
    log.info("gdpr erasure done for %s: %d tables, %d landing pages", report.subjects, len(report.counts),
             report.landing_pages)
    return report
