"""Row-level DQ inside the loaders: quarantine what fails a row rule, load the rest, stage for GX.

Loaders build, next to their warehouse rows, one *neutral* record per source record in the shape of
the stream's quality rules (:mod:`storeflow.quality.records`) and call :func:`gate_records`. Records
failing a rule go to ``quarantine`` with the rule and a readable reason (and are left out of the load);
records that pass resolve their earlier quarantine rows; everything loaded is staged for the
end-of-run GX suite (:func:`storeflow.sync.extract.quality_gate`). Records loaded with a warning (e.g.
``stock_negative``: an oversold POS count) are counted as ``warning_<rule>`` in the run's counters
(``sync_runs.details``) and reported in one WARNING log line per page.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from sqlalchemy import Connection

from storeflow.quality.quarantine import QuarantineItem, apply_quarantine
from storeflow.quality.records import clean_batch
from storeflow.settings import get_settings
from storeflow.sync.streams import LoadContext

log = logging.getLogger(__name__)


def gate_records(conn: Connection, ctx: LoadContext, suite: str, records: list[dict[str, Any]], id_key: str,
                 *, payloads: dict[str, Any] | None = None) -> set[str]:
    """Apply ``suite``'s row rules to ``records``; return the ids (``record[id_key]``) that must not load.

    ``payloads`` (id → the vendor's raw record) is what the quarantine row keeps; default the record.
    """
    results = clean_batch(suite, records, get_settings().default_phone_region)
    items, rejected = [], set()
    warnings: Counter[str] = Counter()
    for record, result in zip(records, results, strict=True):
        rid = str(record.get(id_key))
        for issue in result.quarantined:
            items.append(QuarantineItem(rid, issue.rule, issue.reason,
                                        (payloads or {}).get(rid, record), issue.field))
        if result.record is None:
            rejected.add(rid)
        else:
            warnings.update({issue.rule for issue in result.warnings})
    outcome = apply_quarantine(conn, stream=ctx.stream, source_system=ctx.source_system,
                               batch_ids=[str(r.get(id_key)) for r in records], items=items, run_id=ctx.run_id)
    for rule, n in outcome.by_rule.items():
        ctx.count(f"quarantined_{rule}", n)
    if outcome.resolved_rows:
        ctx.count("quarantine_resolved", outcome.resolved_rows)
    for rule, n in sorted(warnings.items()):
        ctx.count(f"warning_{rule}", n)
    if warnings:
        log.warning("[storeflow] %s: %d of %d records loaded with warnings: %s", ctx.stream,
                    sum(1 for r in results if r.record is not None and r.warnings), len(records),
                    ", ".join(f"{rule}={n}" for rule, n in sorted(warnings.items())))
    ctx.stage([r.record for r in results if r.record is not None])
    return rejected
