"""Quarantine rows: records that failed a rule, kept with the reason so nothing is lost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, update

from storeflow.warehouse.schema import quarantine
from storeflow.warehouse.upsert import upsert


def record(
    conn: Connection,
    *,
    stream: str,
    source_system: str,
    source_id: str,
    rule: str,
    reason: str,
    payload: Any,
    run_id: str | None = None,
) -> None:
    """Quarantine one record for one rule (re-quarantining the same record and rule refreshes it)."""
    upsert(
        conn,
        quarantine,
        [
            {
                "stream": stream,
                "source_system": source_system,
                "source_id": str(source_id),
                "rule": rule,
                "reason": reason,
                "payload": payload,
                "run_id": run_id,
                "created_at": datetime.now(UTC),
                "resolved_at": None,
            }
        ],
        key=["stream", "source_system", "source_id", "rule"],
    )


def resolve(conn: Connection, *, stream: str, source_system: str, source_id: str) -> int:
    """Mark the open quarantine rows of a record resolved (it came back clean); return how many."""
    result = conn.execute(
        update(quarantine)
        .where(
            and_(
                quarantine.c.stream == stream,
                quarantine.c.source_system == source_system,
                quarantine.c.source_id == str(source_id),
                quarantine.c.resolved_at.is_(None),
            )
        )
        .values(resolved_at=datetime.now(UTC))
    )
    return result.rowcount
