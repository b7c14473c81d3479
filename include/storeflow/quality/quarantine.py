"""Batch quarantine on top of :mod:`storeflow.warehouse.quarantine`: write, resolve, threshold gate.

A record is quarantined once per failed rule (unique on stream + source system + source id + rule);
re-quarantining refreshes the row and re-opens it. When a record comes back from its source without a
rule it failed before, that quarantine row is resolved (``resolved_at`` set), so fixing the data at the
source clears the quarantine on the next sync.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from storeflow.warehouse.schema import quarantine
from storeflow.warehouse.upsert import upsert

CHUNK = 500


class QualityGateFailed(RuntimeError):
    """A batch failed its quality gate (bad-row share over the threshold, or a critical expectation)."""

    def __init__(self, message: str, *, summary: dict[str, Any] | None = None, docs_location: str | None = None,
                 failed_critical: Sequence[str] = ()) -> None:
        detail = message + (f" (Data Docs: {docs_location})" if docs_location else "")
        super().__init__(detail)
        self.summary = summary or {}
        self.docs_location = docs_location
        self.failed_critical = list(failed_critical)


@dataclass(frozen=True)
class QuarantineItem:
    """One failed rule of one record."""

    source_id: str
    rule: str
    reason: str
    payload: Any = None
    field: str | None = None


@dataclass
class QuarantineOutcome:
    """What :func:`apply_quarantine` wrote."""

    quarantined_rows: int = 0
    quarantined_records: int = 0
    resolved_rows: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def quarantine_many(conn: Connection, *, stream: str, source_system: str, items: Sequence[QuarantineItem],
                    run_id: str | None = None) -> int:
    """Write (or refresh and re-open) quarantine rows in bulk; returns rows written."""
    now = datetime.now(UTC)
    rows = [
        {"stream": stream, "source_system": source_system, "source_id": str(i.source_id), "rule": i.rule,
         "reason": i.reason, "payload": _json_safe(i.payload), "run_id": run_id, "created_at": now,
         "resolved_at": None}
        for i in items
    ]
    if not rows:
        return 0
    upsert(conn, quarantine, rows, key=["stream", "source_system", "source_id", "rule"])
    return len(rows)


def resolve_fixed(conn: Connection, *, stream: str, source_system: str,
                  seen: Mapping[str, Iterable[str]]) -> int:
    """Resolve open quarantine rows of the records in ``seen`` whose rule they no longer fail.

    ``seen`` maps every source id of the batch to the rules it fails now (empty = clean).
    """
    q = quarantine
    now = datetime.now(UTC)
    ids = sorted(str(k) for k in seen)
    current = {str(k): set(v) for k, v in seen.items()}
    to_resolve: list[dict[str, Any]] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = conn.execute(
            select(q.c.id, q.c.source_id, q.c.rule).where(
                and_(q.c.stream == stream, q.c.source_system == source_system, q.c.source_id.in_(chunk),
                     q.c.resolved_at.is_(None)))
        )
        to_resolve += [{"b_id": r.id} for r in rows if r.rule not in current.get(r.source_id, set())]
    if to_resolve:
        conn.execute(update(q).where(q.c.id == bindparam("b_id")).values(resolved_at=now), to_resolve)
    return len(to_resolve)


def apply_quarantine(conn: Connection, *, stream: str, source_system: str, batch_ids: Iterable[str],
                     items: Sequence[QuarantineItem], run_id: str | None = None) -> QuarantineOutcome:
    """Quarantine ``items`` and resolve what the other records of the batch no longer fail."""
    failing: dict[str, set[str]] = defaultdict(set)
    for item in items:
        failing[str(item.source_id)].add(item.rule)
    seen = {str(i): failing.get(str(i), set()) for i in batch_ids}
    for sid, rules in failing.items():
        seen.setdefault(sid, rules)
    out = QuarantineOutcome()
    out.quarantined_rows = quarantine_many(conn, stream=stream, source_system=source_system, items=items,
                                           run_id=run_id)
    out.quarantined_records = len(failing)
    out.resolved_rows = resolve_fixed(conn, stream=stream, source_system=source_system, seen=seen)
    for item in items:
        out.by_rule[item.rule] = out.by_rule.get(item.rule, 0) + 1
    return out


def bad_share(rows_in: int, bad_rows: int) -> float:
    """Share of bad rows in a batch (0 for an empty batch)."""
    return bad_rows / rows_in if rows_in else 0.0


def check_threshold(rows_in: int, bad_rows: int, threshold: float | None = None, *,
                    failed_critical: Sequence[str] = (), summary: dict[str, Any] | None = None,
                    docs_location: str | None = None) -> None:
    """Raise :class:`QualityGateFailed` when the bad-row share exceeds the threshold or a critical rule failed.

    ``threshold`` defaults to ``settings.quarantine_threshold`` (0.05): a share *above* it fails.
    """
    if threshold is None:
        from storeflow.settings import get_settings

        threshold = get_settings().quarantine_threshold
    share = bad_share(rows_in, bad_rows)
    problems = []
    if share > threshold:
        problems.append(f"{bad_rows} of {rows_in} rows quarantined ({share:.1%} > {threshold:.1%})")
    if failed_critical:
        problems.append("critical expectations failed: " + ", ".join(failed_critical))
    if problems:
        raise QualityGateFailed("; ".join(problems), summary=summary, docs_location=docs_location,
                                failed_critical=failed_critical)
