"""Quarantine rows: records that failed a rule, kept with the reason so nothing is lost.

Whatever a source sent must be storable here, on SQLite and PostgreSQL alike, including the values that
got the record quarantined: :func:`storable` turns NUL bytes and lone surrogates (which PostgreSQL text
and JSONB refuse) into their escaped text (``\\u0000``), NaN/infinity and integers beyond 64 bits into
text, and anything else JSON cannot hold into its ``str``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, update

from storeflow.warehouse.schema import quarantine
from storeflow.warehouse.upsert import upsert

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_INT64 = 2**63


def storable_text(text: str) -> str:
    """``text`` with NUL bytes and lone surrogates replaced by their escape (``\\u0000``, ``\\ud800``)."""
    return _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def storable(value: Any) -> Any:
    """A JSON value any warehouse can store that still shows what the source sent (see module doc)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, Mapping):
        return {storable_text(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [storable(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return storable_text(str(value))


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
                "source_id": storable_text(str(source_id))[:255],
                "rule": rule,
                "reason": storable_text(str(reason)),
                "payload": storable(payload),
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
