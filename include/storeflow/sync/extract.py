"""The extract/load runner shared by every stream (DESIGN §4).

For one stream and one run: read the committed cursor, freeze the window's upper bound, fetch raw pages,
land each page (gzip JSON lines) *before* parsing it, load it into the warehouse in its own
transaction, and advance the cursor only after the whole window succeeded. A run killed half way
re-reads from the old cursor next time; loads are idempotent upserts, so the end state is the same.

Before a page is landed, :func:`guard_page` quarantines (rule ``value_unstorable``) every raw record
holding a value no warehouse can store - a NUL byte or lone surrogate in any text, NaN/infinity, an
integer beyond 64 bits - and takes it out of the page, so one such record never fails a stream on
PostgreSQL (or the landing encoder); the rest of the page loads. Customer streams keep their field-level
policy for broken text (see :func:`guard_page`). A failed run's error is recorded and
re-raised without personal data (:func:`storeflow.redaction.redact`), naming the page's source ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import StatementError

from storeflow.quality.judge import judge_run, quarantine_counts
from storeflow.redaction import redact
from storeflow.sync.streams import LoadContext, StreamSpec, Window
from storeflow.warehouse.runs import RunRecord, get_cursor, recorded_run, set_cursor

if TYPE_CHECKING:
    from storeflow.connectors.http import CallStats
    from storeflow.landing import LandingZone

log = logging.getLogger(__name__)
UNSTORABLE_RULE = "value_unstorable"


class LoadFailed(RuntimeError):
    """A stream's load failed; the message is the original error with personal data masked."""


def _without_personal_data(exc: Exception, safe: str) -> Exception:
    """``exc`` with its message redacted (same type, so retry/fail-fast decisions hold), or :class:`LoadFailed`.

    The cause chain is dropped: it repeats the personal data (database errors, HTTP error bodies).
    """
    try:
        exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
        exc.__cause__, exc.__context__, exc.__suppress_context__ = None, None, True
        if redact(str(exc)) == str(exc) and not isinstance(exc, StatementError):
            return exc
    except Exception:  # an exception type that refuses new args: fall through
        pass
    return LoadFailed(safe)


def raw_source_id(raw: Any) -> str:
    """The id a raw vendor record is quarantined under (``id``; inventory counts: variation@location:state)."""
    if isinstance(raw, dict):
        if raw.get("id") not in (None, ""):
            return str(raw["id"])
        if raw.get("catalog_object_id"):
            return f"{raw['catalog_object_id']}@{raw.get('location_id')}:{raw.get('state')}"
    digest = hashlib.sha1(json.dumps(raw, sort_keys=True, default=str).encode("utf-8", "backslashreplace"))
    return f"noid:{digest.hexdigest()[:16]}"


def guard_page(conn: Connection, page: list[Any], ctx: LoadContext, *, field_level_text: bool = False
               ) -> tuple[list[Any], int]:
    """Quarantine the records of ``page`` holding unstorable values; return (the rest, how many were taken out).

    ``field_level_text`` (customer streams): broken text does not take the record out - lone surrogates
    become U+FFFD (so the page can be landed) and the customer cleaner quarantines the broken *field*,
    so a customer, and an opt-out they just made, is never lost over one bad character; only unstorable
    numbers take a customer out. Records of the page that pass resolve their earlier ``value_unstorable``
    rows (fixed at the source).
    """
    from storeflow.quality.quarantine import QuarantineItem, quarantine_many, resolve_rule
    from storeflow.quality.records import replace_lone_surrogates, unstorable_issues

    kept, items = [], []
    for raw in page:
        issues = unstorable_issues(raw, text=not field_level_text)
        if not issues:
            kept.append(raw)
            continue
        reason = "; ".join(i.reason for i in issues)
        items.append(QuarantineItem(raw_source_id(raw), UNSTORABLE_RULE, reason, raw))
    if items:
        quarantine_many(conn, stream=ctx.stream, source_system=ctx.source_system, items=items, run_id=ctx.run_id)
        ctx.count(f"quarantined_{UNSTORABLE_RULE}", len(items))
        log.warning("[storeflow] %s: %d of %d records quarantined (%s): %s", ctx.stream, len(items), len(page),
                    UNSTORABLE_RULE, ", ".join(i.source_id for i in items[:20]))
    if field_level_text:  # customers: ingest resolves what a record no longer fails, whatever the rule
        kept = [replace_lone_surrogates(r) for r in kept]
    else:
        resolve_rule(conn, stream=ctx.stream, source_system=ctx.source_system, rule=UNSTORABLE_RULE,
                     source_ids=[raw_source_id(r) for r in kept])
    return kept, len(items)


def run_stream(
    engine: Engine,
    landing: LandingZone,
    client: Any,
    spec: StreamSpec,
    *,
    run_id: str,
    logical_date: datetime | None = None,
    now: datetime | None = None,
    full: bool = False,
    since: datetime | None = None,
    dag_id: str | None = None,
    task_id: str | None = None,
) -> dict[str, Any]:
    """Extract ``spec`` from ``client`` into the warehouse; return the run's counters.

    ``full`` re-reads everything; ``since`` re-reads from that moment (a look-back, e.g. for the nightly
    reconciliation) without moving the stream's cursor.
    """
    now = now or datetime.now(UTC)
    logical_date = logical_date or now
    with engine.connect() as conn:
        cursor = get_cursor(conn, spec.name, spec.source_system)
    start = None if (full or not spec.incremental or cursor is None) else cursor - spec.overlap
    if since is not None and not full:
        start = since
    window = Window(start=start, end=now)
    with recorded_run(engine, spec.name, spec.source_system, run_id=run_id, dag_id=dag_id, task_id=task_id,
                      window=(window.start, window.end)) as record:
        return _extract(engine, landing, client, spec, record, window, run_id=run_id, now=now,
                        logical_date=logical_date, since=since)


def _extract(engine: Engine, landing: LandingZone, client: Any, spec: StreamSpec, record: RunRecord, window: Window, *,
             run_id: str, now: datetime, logical_date: datetime, since: datetime | None) -> dict[str, Any]:
    """The body of :func:`run_stream` inside its run record: fetch, guard, land, load, judge, move the cursor."""
    ctx = LoadContext(run_id=run_id, stream=spec.name, source_system=spec.source_system, loaded_at=now)
    stats = getattr(client, "stats", None)
    before = stats.as_dict() if stats else {}
    pages: list[str] = []
    page_ids: list[str] = []
    current_page = 0
    try:
        for page_no, page in enumerate(spec.fetch(client, window), start=1):
            if spec.pre_land is not None:
                with engine.connect() as conn:
                    kept = spec.pre_land(conn, page)
                ctx.count("erased_skipped", len(page) - len(kept))
                page = kept
            with engine.begin() as conn:
                page, unstorable = guard_page(conn, page, ctx, field_level_text=spec.dq_suite == "customers")
            record.rows_read += unstorable
            record.quarantined += unstorable
            page_ids, current_page = [raw_source_id(r) for r in page], page_no
            pages.append(landing.write_page(spec.name, run_id, page_no, page, logical_date))
            with engine.begin() as conn:
                result = spec.load(conn, page, ctx)
            record.rows_read += result.read
            record.rows_changed += result.changed
            record.quarantined += result.quarantined
            page_ids = []
        record.details["dq"] = judge_run(landing, ctx, record, suite=spec.dq_suite).summary
        if since is None:
            with engine.begin() as conn:
                set_cursor(conn, spec.name, spec.source_system, window.end, run_id)
    except BaseException as exc:
        message = f"{type(exc).__name__}: {exc}"
        safe = redact(message)
        if page_ids:
            shown = ", ".join(page_ids[:20]) + (f" and {len(page_ids) - 20} more" if len(page_ids) > 20 else "")
            safe += f" [while loading page {current_page}; its source ids: {shown}]"
        record.error = safe
        _close(record, window, stats, before, ctx, pages, "failed")
        if isinstance(exc, Exception) and redact(message) != message:
            raise _without_personal_data(exc, f"{spec.name}: {safe}") from None
        raise
    return _close(record, window, stats, before, ctx, pages, "success")


def _close(record: RunRecord, window: Window, stats: CallStats | None, before: dict[str, int], ctx: LoadContext,
           pages: list[str], status: str) -> dict[str, Any]:
    """Put the run's final counters on ``record`` (its recorder writes them) and return the task's summary."""
    record.quarantined = quarantine_counts(record, ctx)["rows_quarantined"]  # after the gate weighed left-outs
    if stats:
        after = stats.as_dict()
        record.requests = after["requests"] - before.get("requests", 0)
        record.retries = after["retries"] - before.get("retries", 0)
    record.details = {**record.details, "pages": len(pages), "first_page": pages[0] if pages else None,
                      **ctx.counters}
    return {
        "stream": record.stream, "status": status, "rows_read": record.rows_read,
        "rows_changed": record.rows_changed, "quarantined": record.quarantined,
        "quarantined_by_reason": {k[len("quarantined_"):]: v for k, v in ctx.counters.items()
                                  if k.startswith("quarantined_")},
        "warnings": {k[len("warning_"):]: v for k, v in ctx.counters.items() if k.startswith("warning_")},
        "requests": record.requests,
        "retries": record.retries, "pages": len(pages),
        "window_start": window.start.isoformat() if window.start else None,
        "window_end": window.end.isoformat(),
    }
