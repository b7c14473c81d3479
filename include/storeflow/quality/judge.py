"""Judge a run: the stream's GX suite over the run's staged records, Data Docs, the bad-row threshold.

Loaders screen every page (:func:`storeflow.quality.screen.screen_batch`: bad records quarantined, the
rest loaded and staged); once the run's pages are loaded, :func:`judge_run` judges the whole run once.
A critical expectation failing, or a bad-row share above ``settings.quarantine_threshold`` with at least
``settings.quarantine_min_rows`` bad rows, raises :class:`~storeflow.quality.quarantine.QualityGateFailed`
(the task fails and alerts with the Data Docs location - :func:`dq_alert`; the cursor does not move, so
the window is read again once the source is fixed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from storeflow.quality.quarantine import QualityGateFailed, check_threshold

if TYPE_CHECKING:
    from storeflow.alerts import Alert
    from storeflow.landing import ObjectStore
    from storeflow.quality.validate import ValidationReport
    from storeflow.sync.streams import LoadContext
    from storeflow.warehouse.runs import RunRecord

log = logging.getLogger(__name__)


@dataclass
class Judgement:
    """The verdict on one run: its DQ summary (``sync_runs.details["dq"]``), GX report and Data Docs page."""

    summary: dict[str, Any] = field(default_factory=dict)
    validation: ValidationReport | None = None  # None: no suite, or nothing staged to validate
    docs_location: str | None = None
    error: QualityGateFailed | None = None  # set instead of raised when ``raise_on_failure`` is False

    @property
    def failed(self) -> bool:
        """True when the run must not count as loaded (threshold exceeded or critical expectation failed)."""
        return self.error is not None


def quarantine_counts(record: RunRecord, ctx: LoadContext) -> dict[str, int]:
    """The run's quarantine in one vocabulary for the log, Data Docs, ``sync_runs``, asset events and the UI.

    ``rows_quarantined`` counts every record with a quarantine entry from this run: the records left out
    (``rows_left_out``, what the bad-row threshold weighs) and the customers loaded without a bad field
    (``rows_with_quarantined_fields``).
    """
    fields = int(ctx.counters.get("records_with_quarantined_fields", 0))
    return {"rows_quarantined": record.quarantined + fields, "rows_left_out": record.quarantined,
            "rows_with_quarantined_fields": fields}


def judge_run(landing: ObjectStore, ctx: LoadContext, record: RunRecord, *, suite: str | None,
              computed: bool = False, now: datetime | None = None, raise_on_failure: bool = True) -> Judgement:
    """Judge one run of ``ctx.stream``: raise :class:`QualityGateFailed`, or return the :class:`Judgement`.

    ``record.rows_read`` / ``record.quarantined`` are the rows the run read and left out; ``ctx`` holds
    its counters (``quarantined_<rule>``, ``warning_<rule>``) and staged records. Without a ``suite`` only
    the bad-row threshold applies. With one, the suite runs over the staged records (nothing staged:
    nothing new in the window, nothing to validate) and its Data Docs page is written to ``landing``.
    ``computed``: the records are data storeflow computed itself (e.g. stock about to be pushed), so the
    suite's own severities apply, without the downgrades for what a source may legitimately send.
    ``raise_on_failure`` False: a failed verdict is returned in ``Judgement.error`` instead of raised.
    """
    out = Judgement()
    try:
        _judge(out, landing, ctx, record, suite, computed, now)
    except QualityGateFailed as exc:
        if raise_on_failure:
            raise
        out.error = exc
    return out


def _judge(out: Judgement, landing: ObjectStore, ctx: LoadContext, record: RunRecord, suite: str | None,
           computed: bool, now: datetime | None) -> None:
    from storeflow.quality.datadocs import write_data_docs
    from storeflow.quality.validate import SOURCE_SEVERITY, validate_frame

    if suite is None:
        out.summary = {**quarantine_counts(record, ctx),
                       **check_threshold(record.rows_read, record.quarantined, label=ctx.stream)}
        return
    summary = {"suite": suite, "source": ctx.source_system, "rows_in": record.rows_read,
               **quarantine_counts(record, ctx),
               "quarantined_by_reason": {k[len("quarantined_"):]: v for k, v in ctx.counters.items()
                                         if k.startswith("quarantined_")},
               "warnings_by_rule": {k[len("warning_"):]: v for k, v in ctx.counters.items()
                                    if k.startswith("warning_")}}
    out.summary = summary
    if not ctx.staged:  # nothing new in this window: nothing to validate
        check_threshold(record.rows_read, record.quarantined, summary=summary, label=ctx.stream)
        return
    severity = None if computed else SOURCE_SEVERITY.get(suite)
    validation = validate_frame(suite, ctx.staged, now=now, severity=severity)
    out.validation = validation
    summary["validation"] = validation.as_dict()
    docs = write_data_docs(landing, validation, run_id=ctx.run_id, source_system=ctx.source_system,
                           summary=summary)
    summary["data_docs"] = out.docs_location = docs
    log.info("[storeflow] DQ %s: %s rows, %s quarantined (%s left out, %s loaded without a bad field), "
             "Data Docs: %s", ctx.stream, record.rows_read, summary["rows_quarantined"], summary["rows_left_out"],
             summary["rows_with_quarantined_fields"], docs)
    check_threshold(record.rows_read, record.quarantined, failed_critical=[o.rule for o in validation.failed_critical],
                    summary=summary, docs_location=docs, label=ctx.stream)


def dq_alert(exc: QualityGateFailed, *, stream: str, source_system: str, dag_id: str | None = None,
             task_id: str | None = None) -> Alert:
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
