"""Run records (``sync_runs``) and incremental cursors (``sync_cursors``).

``sync_runs.error`` never holds personal data: :func:`finish_run` passes the error through
:func:`storeflow.redaction.redact` (emails, phone numbers and values quoted by the database are masked);
rows are named by source id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update

from storeflow.redaction import redact
from storeflow.warehouse.schema import sync_cursors, sync_runs
from storeflow.warehouse.upsert import upsert

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
        record.id = result.inserted_primary_key[0]
    return record


def finish_run(engine: Engine, record: RunRecord, status: str, error: str | None = None) -> None:
    """Close the run row with its counters, details and (short, redacted) error."""
    values: dict[str, Any] = {name: getattr(record, name) for name in COUNTERS}
    values.update(status=status, finished_at=datetime.now(UTC), details=record.details,
                  error=(error or None) and redact(error)[:2000], window_start=record.window_start,
                  window_end=record.window_end)
    with engine.begin() as conn:
        conn.execute(update(sync_runs).where(sync_runs.c.id == record.id).values(**values))


def last_success(conn: Connection, stream: str) -> datetime | None:
    """When ``stream`` last finished successfully."""
    return conn.execute(
        select(sync_runs.c.finished_at)
        .where(and_(sync_runs.c.stream == stream, sync_runs.c.status == "success"))
        .order_by(sync_runs.c.finished_at.desc())
        .limit(1)
    ).scalar_one_or_none()
