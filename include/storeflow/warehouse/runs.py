"""Run records (``sync_runs``) and incremental cursors (``sync_cursors``).

Every extract and every push records its run through one recorder, :func:`recorded_run`, so a job run
from Airflow, a test, the bench or a CLI leaves the same rows (and freshness does not depend on Airflow).

``window_start`` / ``window_end`` mean one thing: the span of *source changes* the run asked its source
for - an extract's window (``start`` = cursor − overlap, NULL for a full read; ``end`` = the upper bound
frozen at run start). A push reads no source window (it compares the whole warehouse with what was last
pushed), so its window is NULL.

``sync_runs.error`` never holds personal data: :func:`finish_run` passes the error through
:func:`storeflow.redaction.redact` (emails, phone numbers and values quoted by the database are masked);
rows are named by source id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from storeflow.redaction import redact
from storeflow.warehouse.schema import sync_cursors, sync_runs
from storeflow.warehouse.upsert import upsert

log = logging.getLogger(__name__)
COUNTERS = ("rows_read", "rows_changed", "rows_pushed", "requests", "retries", "quarantined")


def get_cursor(conn: Connection, stream: str, source_system: str) -> datetime | None:
    """The committed high-water mark of a stream, or None before its first successful run."""
    return conn.execute(
        select(sync_cursors.c.cursor_at).where(
            and_(sync_cursors.c.stream == stream, sync_cursors.c.source_system == source_system)
        )
    ).scalar_one_or_none()


def set_cursor(conn: Connection, stream: str, source_system: str, cursor_at: datetime, run_id: str) -> None:
    """Advance a stream's cursor (call only after the window's data is committed)."""
    upsert(
        conn,
        sync_cursors,
        [{"stream": stream, "source_system": source_system, "cursor_at": cursor_at, "run_id": run_id,
          "updated_at": datetime.now(UTC)}],
    )


@dataclass
class RunRecord:
    """Counters of one task run; written to ``sync_runs`` and logged as one summary line."""

    stream: str
    source_system: str | None
    run_id: str | None = None
    dag_id: str | None = None
    task_id: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    rows_read: int = 0
    rows_changed: int = 0
    rows_pushed: int = 0
    requests: int = 0
    retries: int = 0
    quarantined: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    error: str | None = None  # the message to record when the run fails (default: the exception's)

    def summary_line(self, status: str) -> str:
        """One line for the task log: stream, status and every counter."""
        took = (datetime.now(UTC) - self.started_at).total_seconds()
        counters = " ".join(f"{name}={getattr(self, name)}" for name in COUNTERS)
        return f"[storeflow] stream={self.stream} status={status} {counters} duration_s={took:.2f}"


def start_run(engine: Engine, record: RunRecord) -> RunRecord:
    """Insert a ``running`` row for ``record`` and remember its id."""
    with engine.begin() as conn:
        result = conn.execute(
            insert(sync_runs).values(
                run_id=record.run_id, dag_id=record.dag_id, task_id=record.task_id, stream=record.stream,
                source_system=record.source_system, status="running", window_start=record.window_start,
                window_end=record.window_end, started_at=record.started_at,
            )
        )
        key = result.inserted_primary_key
        assert key is not None, "a single-row INSERT reports its primary key"
        record.id = key[0]
    return record


def finish_run(engine: Engine, record: RunRecord, status: str, error: str | None = None) -> None:
    """Close the run row with its counters, details and (short, redacted) error."""
    values: dict[str, Any] = {name: getattr(record, name) for name in COUNTERS}
    values.update(status=status, finished_at=datetime.now(UTC), details=record.details,
                  error=(error or None) and redact(error)[:2000], window_start=record.window_start,
                  window_end=record.window_end)
    with engine.begin() as conn:
        conn.execute(update(sync_runs).where(sync_runs.c.id == record.id).values(**values))


@contextmanager
def recorded_run(engine: Engine, stream: str, source_system: str | None, *, run_id: str | None = None,
                 dag_id: str | None = None, task_id: str | None = None,
                 window: tuple[datetime | None, datetime | None] = (None, None),
                 echo: Callable[[str], Any] = log.info) -> Iterator[RunRecord]:
    """Record the work of the ``with`` block as one ``sync_runs`` row; yields its :class:`RunRecord` to count on.

    The row is ``running`` while the block runs, then ``success``, or ``failed`` with ``record.error`` (else
    the exception's type and message, redacted) when the block raises; the exception propagates. The
    one-line summary goes to ``echo`` (the log by default). ``window``: see the module docstring.
    """
    record = start_run(engine, RunRecord(stream=stream, source_system=source_system, run_id=run_id,
                                         dag_id=dag_id, task_id=task_id, window_start=window[0],
                                         window_end=window[1]))
    try:
        yield record
    except BaseException as exc:
        finish_run(engine, record, "failed", record.error or f"{type(exc).__name__}: {exc}")
        echo(record.summary_line("failed"))
        raise
    finish_run(engine, record, "success")
    echo(record.summary_line("success"))


def last_success(conn: Connection, stream: str) -> datetime | None:
    """When ``stream`` last finished successfully."""
    return conn.execute(
        select(sync_runs.c.finished_at)
        .where(and_(sync_runs.c.stream == stream, sync_runs.c.status == "success"))
        .order_by(sync_runs.c.finished_at.desc())
        .limit(1)
    ).scalar_one_or_none()
