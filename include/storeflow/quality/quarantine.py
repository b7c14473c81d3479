"""Quarantine rows: records that failed a rule, kept with the reason so nothing is lost; the batch verdict.

A record is quarantined once per failed rule (unique on stream + source system + source id + rule);
re-quarantining refreshes the row and re-opens it. When a record comes back from its source without a
rule it failed before, that quarantine row is resolved (``resolved_at`` set), so fixing the data at the
source clears the quarantine on the next sync.

Whatever a source sent must be storable here, on SQLite and PostgreSQL alike, including the values that
got the record quarantined: :func:`storable` turns NUL bytes and lone surrogates (which PostgreSQL text
and JSONB refuse) into their escaped text (``\\u0000``), NaN/infinity and integers beyond 64 bits into
text, and anything else JSON cannot hold into its ``str``; ids, reasons and payloads are made storable
before they are written, so the row that keeps a NUL byte is itself writable.

The batch verdict (:func:`check_threshold`) weighs the sample: a batch fails only when its bad-row share
is above ``settings.quarantine_threshold`` *and* it has at least ``settings.quarantine_min_rows`` bad
rows; below that the bad rows stay quarantined, the rest loads, and a WARNING carries the counts.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from storeflow.warehouse.chunks import chunked
from storeflow.warehouse.schema import quarantine
from storeflow.warehouse.upsert import upsert

log = logging.getLogger(__name__)

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
    quarantine_many(conn, stream=stream, source_system=source_system, run_id=run_id,
                    items=[QuarantineItem(str(source_id), rule, str(reason), payload)])


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
    if isinstance(value, float) and value != value:
        return None  # a missing value in a DataFrame row
    if isinstance(value, Mapping):
        return {storable_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return storable(value)


def _sid(value: Any) -> str:
    return storable_text(str(value))[:255]


def quarantine_many(conn: Connection, *, stream: str, source_system: str, items: Sequence[QuarantineItem],
                    run_id: str | None = None) -> int:
    """Write (or refresh and re-open) quarantine rows in bulk; returns rows written."""
    now = datetime.now(UTC)
    rows = [
        {"stream": stream, "source_system": source_system, "source_id": _sid(i.source_id), "rule": i.rule,
         "reason": storable_text(i.reason), "payload": _json_safe(i.payload), "run_id": run_id, "created_at": now,
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
    ids = sorted({_sid(k) for k in seen})
    current: dict[str, set[str]] = defaultdict(set)
    for k, v in seen.items():
        current[_sid(k)] |= set(v)
    to_resolve: list[dict[str, Any]] = []
    for chunk in chunked(ids):
        rows = conn.execute(
            select(q.c.id, q.c.source_id, q.c.rule).where(
                and_(q.c.stream == stream, q.c.source_system == source_system, q.c.source_id.in_(chunk),
                     q.c.resolved_at.is_(None)))
        )
        to_resolve += [{"b_id": r.id} for r in rows if r.rule not in current[r.source_id]]
    if to_resolve:
        conn.execute(update(q).where(q.c.id == bindparam("b_id")).values(resolved_at=now), to_resolve)
    return len(to_resolve)


def resolve_rule(conn: Connection, *, stream: str, source_system: str, rule: str,
                 source_ids: Iterable[str]) -> int:
    """Resolve the open ``rule`` rows of ``source_ids`` (those records came back without that problem)."""
    q = quarantine
    ids = sorted({_sid(i) for i in source_ids})
    resolved = 0
    for chunk in chunked(ids):
        result = conn.execute(update(q).where(and_(
            q.c.stream == stream, q.c.source_system == source_system, q.c.rule == rule,
            q.c.source_id.in_(chunk), q.c.resolved_at.is_(None)))
            .values(resolved_at=datetime.now(UTC)))
        resolved += result.rowcount or 0
    return resolved


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
                    docs_location: str | None = None, min_rows: int | None = None,
                    label: str = "batch") -> dict[str, Any]:
    """The batch verdict; raise :class:`QualityGateFailed` when the batch must fail, else return the counts.

    Fails when a critical rule failed, or when the bad-row share is above ``threshold`` (default
    ``settings.quarantine_threshold``, 0.05) on a meaningful sample: at least ``min_rows`` (default
    ``settings.quarantine_min_rows``, 20) bad rows. A handful of bad rows never fails a batch: they stay
    quarantined, the good rows load, and a WARNING line with the counts is logged. Returns
    ``{"rows_in", "rows_quarantined", "bad_share", "threshold", "min_rows", "verdict"}`` where verdict is
    ``ok`` or ``warned``; the same dict is merged into ``summary`` when given.
    """
    if threshold is None or min_rows is None:
        from storeflow.settings import get_settings

        settings = get_settings()
        threshold = settings.quarantine_threshold if threshold is None else threshold
        min_rows = settings.quarantine_min_rows if min_rows is None else min_rows
    share = bad_share(rows_in, bad_rows)
    counts: dict[str, Any] = {"rows_in": rows_in, "rows_quarantined": bad_rows, "bad_share": round(share, 4),
                              "threshold": threshold, "min_rows": min_rows,
                              "verdict": "warned" if bad_rows else "ok"}
    problems = []
    if share > threshold and bad_rows >= min_rows:
        problems.append(f"{bad_rows} of {rows_in} rows quarantined ({share:.1%} > {threshold:.1%}, "
                        f"at least {min_rows} bad rows)")
    if failed_critical:
        problems.append("critical expectations failed: " + ", ".join(failed_critical))
    if summary is not None:
        summary.update({k: v for k, v in counts.items() if k not in ("rows_in", "rows_quarantined")},
                       verdict="failed" if problems else counts["verdict"])
    if problems:
        raise QualityGateFailed("; ".join(problems), summary=summary, docs_location=docs_location,
                                failed_critical=failed_critical)
    if bad_rows:
        by_reason = (summary or {}).get("quarantined_by_reason") or {}
        log.warning("[storeflow] DQ %s: %d of %d rows quarantined (%.1f%%; fails above %.1f%% with at least %d bad "
                    "rows); the rest loaded; by reason: %s", label, bad_rows, rows_in, share * 100, threshold * 100,
                    min_rows, by_reason)
    return counts
