"""The DQ gate a loader calls for one batch: clean -> quarantine -> GX -> Data Docs -> summary -> verdict.

Typical use in a sync task (no Airflow imports here)::

    result = run_gate(engine, "customers", "pos", staged_records, run_id=run_id)
    load(result.loaded)                       # cleaned records, bad rows already quarantined
    run_record.details["dq"] = result.summary  # sync_runs.details
    run_record.quarantined = result.summary["rows_quarantined"]

``run_gate`` raises :class:`QualityGateFailed` (after quarantine rows and Data Docs are written) when the
bad-row share exceeds ``settings.quarantine_threshold`` with at least ``settings.quarantine_min_rows`` bad
rows, or a critical expectation fails; the exception
carries the summary and the Data Docs location, and :func:`dq_alert` turns it into an alert.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from storeflow.quality.datadocs import BytesSink, write_data_docs
from storeflow.quality.quarantine import QualityGateFailed, QuarantineItem, apply_quarantine, check_threshold
from storeflow.quality.records import clean_batch
from storeflow.quality.results import CleanResult
from storeflow.quality.summary import dq_summary
from storeflow.quality.validate import SOURCE_SEVERITY, ValidationReport, validate_frame

log = logging.getLogger(__name__)


def source_id_of(stream: str, record: dict[str, Any]) -> str:
    """The id a record is quarantined under (a payload hash when the record has no id)."""
    if stream == "customers":
        value = record.get("source_id")
    elif stream == "products":  # the system's own id first: duplicated SKUs must stay apart
        value = (record.get("pos_variation_id") or record.get("store_variation_id") or record.get("store_product_id")
                 or record.get("sku"))
    elif stream == "stock":
        key = record.get("pos_variation_id") or record.get("sku")
        value = f"{key}:{record.get('location_id')}:{record.get('state') or 'IN_STOCK'}" if key else None
    elif stream == "orders":
        value = record.get("order_id")
    elif stream == "invoices":
        value = record.get("invoice_id")
    else:
        value = record.get("id")
    missing = value is None or (isinstance(value, float) and value != value)
    if missing or (isinstance(value, str) and not value.strip()) or len(str(value)) > 255:
        clean = {k: v for k, v in record.items() if not (v is None or (isinstance(v, float) and v != v))}
        digest = hashlib.sha1(json.dumps(clean, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"noid:{digest}"
    return str(value)


def dedupe(stream: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of the same record (page overlap re-reads): same system id, the last one wins.

    Products are keyed by their system ids only, never by SKU alone: two different products sharing a
    SKU are a defect the ``sku_duplicate`` rule must see.
    """
    out: dict[Any, dict[str, Any]] = {}
    for i, rec in enumerate(records):
        if stream == "products":
            ids = (rec.get("pos_variation_id"), rec.get("store_variation_id"), rec.get("store_product_id"))
            key: Any = ids if any(ids) else ("row", i)
        else:
            key = source_id_of(stream, rec)
        out.pop(key, None)
        out[key] = rec
    return list(out.values())


@dataclass
class GateResult:
    """Outcome of one gate run."""

    stream: str
    source_system: str
    run_id: str
    loaded: list[dict[str, Any]]
    results: list[CleanResult]
    validation: ValidationReport
    summary: dict[str, Any]
    docs_location: str | None
    error: QualityGateFailed | None = None

    @property
    def failed(self) -> bool:
        """True when the batch must not be loaded (threshold exceeded or critical expectation failed)."""
        return self.error is not None

    def raise_if_failed(self) -> None:
        """Raise the gate's :class:`QualityGateFailed`, if any."""
        if self.error is not None:
            raise self.error


def _default_landing() -> BytesSink:
    from storeflow.landing import LandingZone

    return LandingZone.from_settings()


def run_gate(
    db: Engine | Connection,
    stream: str,
    source_system: str,
    records: Sequence[dict[str, Any]],
    *,
    run_id: str,
    landing: BytesSink | None = None,
    write_docs: bool = True,
    row_rules: bool = True,
    now: datetime | None = None,
    default_region: str | None = None,
    threshold: float | None = None,
    raise_on_failure: bool = True,
) -> GateResult:
    """Run the DQ gate on one batch of staged records of ``stream`` from ``source_system``.

    0. repeats of the same record are dropped (:func:`dedupe`, last wins);
    1. row rules (:func:`records.clean_batch`; skip with ``row_rules=False`` for data computed by
       storeflow itself, e.g. stock about to be pushed) -> quarantine rows written, fixed records resolved;
    2. the stream's GX suite on the rows to load;
    3. Data Docs written to ``landing`` (default: the configured landing zone) unless ``write_docs`` is
       False;
    4. summary; then the verdict (raise, or set ``GateResult.error`` when ``raise_on_failure`` is False).

    Pass an ``Engine`` to have quarantine rows committed in their own transaction (they then survive a
    failed gate); with a ``Connection`` they belong to the caller's transaction.
    """
    from storeflow.settings import get_settings

    settings = get_settings()
    region = default_region or settings.default_phone_region
    threshold = settings.quarantine_threshold if threshold is None else threshold
    records = dedupe(stream, records)
    if row_rules:
        results = clean_batch(stream, records, region, now)
    else:
        results = [CleanResult(dict(r)) for r in records]
    items = [
        QuarantineItem(source_id_of(stream, rec), issue.rule, issue.reason, rec, issue.field)
        for res, rec in zip(results, records, strict=True)
        for issue in res.quarantined
    ]
    batch_ids = [source_id_of(stream, r) for r in records]

    def _write(conn: Connection):
        return apply_quarantine(conn, stream=stream, source_system=source_system, batch_ids=batch_ids, items=items,
                                run_id=run_id)

    if isinstance(db, Engine):
        with db.begin() as conn:
            _write(conn)
    else:
        _write(db)
    loaded = [r.record for r in results if r.ok]
    validation = validate_frame(stream, loaded, now=now, severity=SOURCE_SEVERITY.get(stream) if row_rules else None)
    summary = dq_summary(stream, results, validation=validation.as_dict(), threshold=threshold)
    docs = None
    if write_docs:
        try:
            docs = write_data_docs(landing or _default_landing(), validation, run_id=run_id,
                                   source_system=source_system, summary=summary)
            summary["data_docs"] = docs
        except Exception:  # Data Docs must never hide the verdict
            log.exception("writing Data Docs for %s/%s failed", stream, run_id)
    log.info("DQ %s/%s: %s", stream, source_system, {k: summary[k] for k in (
        "rows_in", "rows_cleaned", "rows_loaded", "rows_quarantined", "quarantined_by_reason")})
    if summary.get("warnings_by_rule"):
        log.warning("[storeflow] DQ %s/%s: %d rows loaded with warnings %s", stream, source_system,
                    sum(1 for r in results if r.ok and r.warnings), summary["warnings_by_rule"])
    error = None
    try:
        check_threshold(len(results), summary["rows_quarantined"], threshold,
                        failed_critical=[o.rule for o in validation.failed_critical], summary=summary,
                        docs_location=docs, label=f"{stream}/{source_system}")
    except QualityGateFailed as exc:
        error = exc
    result = GateResult(stream, source_system, run_id, loaded, results, validation, summary, docs, error)
    if raise_on_failure:
        result.raise_if_failed()
    return result


def dq_alert(exc: QualityGateFailed, *, stream: str, source_system: str, dag_id: str | None = None,
             task_id: str | None = None):
    """The alert for a failed gate (``storeflow.alerts.Alert``; link = the Data Docs location)."""
    from storeflow.alerts import Alert

    summary = exc.summary or {}
    lines = {
        "stream": f"{stream} ({source_system})",
        "problem": str(exc).split(" (Data Docs:")[0],
        "rows in": str(summary.get("rows_in", "?")),
        "quarantined": f"{summary.get('rows_quarantined', '?')} {summary.get('quarantined_by_reason', {})}",
        "Data Docs": exc.docs_location or "not written",
    }
    if dag_id:
        lines = {"DAG": dag_id, "task": task_id or "-", **lines}
    return Alert(key=f"dq.{stream}.{source_system}", kind="dq_critical", title=f"DQ gate failed: {stream}",
                 lines=lines, link=exc.docs_location)


def gate_customers(
    engine: Engine,
    source_system: str,
    records: Sequence[dict[str, Any]],
    *,
    run_id: str,
    landing: BytesSink | None = None,
    write_docs: bool = True,
    raise_on_failure: bool = True,
) -> GateResult:
    """Customers sync step: DQ gate, then golden-record resolution of the loadable records.

    Quarantine rows are always committed; identity resolution (golden records, merges, consents) runs
    only when the gate passes, since a failed gate loads nothing. The identity report is added to
    ``result.summary["identity"]`` (merged by rule, possible duplicates, new customers).
    """
    from storeflow.quality.identity import resolve_customers

    result = run_gate(engine, "customers", source_system, records, run_id=run_id, landing=landing,
                      write_docs=write_docs, raise_on_failure=False)
    if not result.failed and result.loaded:
        with engine.begin() as conn:
            report = resolve_customers(conn, result.loaded, source_system=source_system, run_id=run_id)
        result.summary["identity"] = report.as_dict()
    if raise_on_failure:
        result.raise_if_failed()
    return result


@dataclass
class FrameGateResult:
    """Outcome of :func:`run_customers_frame_gate` (the loadable rows as a DataFrame)."""

    loaded: Any  # pandas.DataFrame of cleaned rows to load (same index labels as the input)
    validation: ValidationReport
    summary: dict[str, Any]
    docs_location: str | None
    error: QualityGateFailed | None = None

    @property
    def failed(self) -> bool:
        """True when the batch must not be loaded."""
        return self.error is not None


def run_customers_frame_gate(
    db: Engine | Connection,
    source_system: str,
    df: Any,
    *,
    run_id: str,
    landing: BytesSink | None = None,
    write_docs: bool = True,
    default_region: str | None = None,
    threshold: float | None = None,
    raise_on_failure: bool = True,
) -> FrameGateResult:
    """:func:`run_gate` for a large customers DataFrame (first loads, replays), using the bulk cleaner.

    Same rules, quarantine rows, summary keys and verdict as ``run_gate(db, "customers", ...)``; the input
    needs a unique index and a ``source_id`` column.
    """
    import pandas as pd

    from storeflow.quality.bulk import clean_customers_frame
    from storeflow.settings import get_settings

    settings = get_settings()
    threshold = settings.quarantine_threshold if threshold is None else threshold
    res = clean_customers_frame(df, default_region or settings.default_phone_region)
    raw_rows = df.to_dict("index")
    quarantined = res.quarantined
    items = [
        QuarantineItem(source_id_of("customers", raw_rows[row]), rule, reason, raw_rows[row], field)
        for row, field, rule, reason in zip(quarantined["row"], quarantined["field"], quarantined["rule"],
                                            quarantined["reason"], strict=True)
    ]
    batch_ids = [source_id_of("customers", r) for r in raw_rows.values()]

    def _write(conn: Connection):
        return apply_quarantine(conn, stream="customers", source_system=source_system, batch_ids=batch_ids,
                                items=items, run_id=run_id)

    if isinstance(db, Engine):
        with db.begin() as conn:
            _write(conn)
    else:
        _write(db)
    loaded = res.good()
    bad_rows = set(res.bad_index)
    q_rows = set(res.quarantined_index)
    compared = [c for c in ("email", "phone", "given_name", "family_name", "address_line1", "city", "postcode",
                            "country") if c in df.columns]
    changed = pd.Series(False, index=df.index)
    for c in compared:
        before, after = df[c].astype(object), res.frame[c].astype(object)
        changed |= ~((before == after) | (before.isna() & after.isna()))
    cleaned = int((changed & ~df.index.isin(list(q_rows))).sum())
    by_reason = quarantined.drop_duplicates(["row", "rule"])["rule"].value_counts().sort_index()
    warn = res.warnings.drop_duplicates(["row", "rule"])["rule"].value_counts().sort_index()
    rows_in = len(df)
    validation = validate_frame("customers", loaded)
    summary: dict[str, Any] = {
        "stream": "customers", "rows_in": rows_in, "rows_cleaned": cleaned, "rows_loaded": rows_in - len(bad_rows),
        "rows_rejected": len(bad_rows), "rows_field_quarantined": len(q_rows - bad_rows),
        "rows_quarantined": len(q_rows), "bad_share": round(len(q_rows) / rows_in, 4) if rows_in else 0.0,
        "quarantined_by_reason": {str(k): int(v) for k, v in by_reason.items()},
        "warnings_by_rule": {str(k): int(v) for k, v in warn.items()},
        "threshold": threshold, "validation": validation.as_dict(),
    }
    docs = None
    if write_docs:
        try:
            docs = write_data_docs(landing or _default_landing(), validation, run_id=run_id,
                                   source_system=source_system, summary=summary)
            summary["data_docs"] = docs
        except Exception:
            log.exception("writing Data Docs for customers/%s failed", run_id)
    error = None
    try:
        check_threshold(rows_in, len(q_rows), threshold, failed_critical=[o.rule for o in validation.failed_critical],
                        summary=summary, docs_location=docs, label=f"customers/{source_system}")
    except QualityGateFailed as exc:
        error = exc
    result = FrameGateResult(loaded, validation, summary, docs, error)
    if raise_on_failure and error is not None:
        raise error
    return result
