"""The extract/load runner shared by every stream (DESIGN §4).

For one stream and one run: read the committed cursor, freeze the window's upper bound, fetch raw pages,
land each page (gzip JSON lines) *before* parsing it, load it into the warehouse in its own
transaction, and advance the cursor only after the whole window succeeded. A run killed half way
re-reads from the old cursor next time; loads are idempotent upserts, so the end state is the same.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from storeflow.sync.streams import LoadContext, StreamSpec, Window
from storeflow.warehouse.runs import RunRecord, finish_run, get_cursor, set_cursor, start_run

log = logging.getLogger(__name__)


def run_stream(
    engine: Engine,
    landing: Any,
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
    record = start_run(engine, RunRecord(
        stream=spec.name, source_system=spec.source_system, run_id=run_id, dag_id=dag_id, task_id=task_id,
        window_start=window.start, window_end=window.end,
    ))
    ctx = LoadContext(run_id=run_id, stream=spec.name, source_system=spec.source_system, loaded_at=now)
    stats = getattr(client, "stats", None)
    before = stats.as_dict() if stats else {}
    pages: list[str] = []
    try:
        for page_no, page in enumerate(spec.fetch(client, window), start=1):
            if spec.pre_land is not None:
                with engine.connect() as conn:
                    kept = spec.pre_land(conn, page)
                ctx.count("erased_skipped", len(page) - len(kept))
                page = kept
            pages.append(landing.write_page(spec.name, run_id, page_no, page, logical_date))
            with engine.begin() as conn:
                result = spec.load(conn, page, ctx)
            record.rows_read += result.read
            record.rows_changed += result.changed
            record.quarantined += result.quarantined
        if spec.dq_suite:
            record.details["dq"] = quality_gate(engine, landing, spec, ctx, record)
        if since is None:
            with engine.begin() as conn:
                set_cursor(conn, spec.name, spec.source_system, window.end, run_id)
    except BaseException as exc:
        _close(engine, record, stats, before, ctx, pages, "failed", f"{type(exc).__name__}: {exc}")
        raise
    return _close(engine, record, stats, before, ctx, pages, "success", None)


def quality_gate(engine: Engine, landing: Any, spec: StreamSpec, ctx: LoadContext, record: RunRecord) -> dict:
    """End-of-run DQ gate: the stream's GX suite over the run's records, Data Docs, bad-row threshold.

    Row rules already quarantined bad records page by page (they never block the rest); here the whole
    run is judged once: a critical expectation failing or a bad-row share above
    ``settings.quarantine_threshold`` raises :class:`~storeflow.quality.quarantine.QualityGateFailed`
    (the task fails and alerts with the Data Docs location; the cursor does not move, so the window is
    read again once the source is fixed).
    """
    from storeflow.quality.datadocs import write_data_docs
    from storeflow.quality.quarantine import check_threshold
    from storeflow.quality.validate import validate_frame

    summary = {"suite": spec.dq_suite, "source": spec.source_system, "rows_in": record.rows_read,
               "rows_quarantined": record.quarantined,
               "quarantined_by_reason": {k[len("quarantined_"):]: v for k, v in ctx.counters.items()
                                         if k.startswith("quarantined_")}}
    if not ctx.staged:  # nothing new in this window: nothing to validate
        check_threshold(record.rows_read, record.quarantined, summary=summary)
        return summary
    validation = validate_frame(spec.dq_suite, ctx.staged)
    summary["validation"] = validation.as_dict()
    docs = write_data_docs(landing, validation, run_id=ctx.run_id, source_system=spec.source_system,
                           summary=summary)
    summary["data_docs"] = docs
    log.info("[storeflow] DQ %s: %s rows, %s quarantined, Data Docs: %s", spec.name, record.rows_read,
             record.quarantined, docs)
    check_threshold(record.rows_read, record.quarantined, failed_critical=[o.rule for o in validation.failed_critical],
                    summary=summary, docs_location=docs)
    return summary


def _close(engine, record: RunRecord, stats, before, ctx: LoadContext, pages, status, error) -> dict[str, Any]:
    if stats:
        after = stats.as_dict()
        record.requests = after["requests"] - before.get("requests", 0)
        record.retries = after["retries"] - before.get("retries", 0)
    record.details = {**record.details, "pages": len(pages), "first_page": pages[0] if pages else None,
                      **ctx.counters}
    finish_run(engine, record, status, error)
    log.info(record.summary_line(status))
    return {
        "stream": record.stream, "status": status, "rows_read": record.rows_read,
        "rows_changed": record.rows_changed, "quarantined": record.quarantined, "requests": record.requests,
        "retries": record.retries, "pages": len(pages),
        "window_start": record.window_start.isoformat() if record.window_start else None,
        "window_end": record.window_end.isoformat(),
    }
