"""Screen a batch inside a loader: parse failures and row rules go to quarantine, the rest loads and is staged.

Every loader does the same two things with one page of vendor records:

* a record that does not even parse (or that the loader cannot place: a variation without its item, a
  SKU held by two variations) is quarantined whole with :func:`reject` - one row with the rule, a
  readable reason and the vendor's raw record;
* the parsed records, in the *neutral* shape of the stream's quality rules
  (:mod:`storeflow.quality.records`), go through :func:`screen_batch`: records failing a rule go to
  ``quarantine`` with the rule and a readable reason (and are left out of the load); records that pass
  resolve their earlier quarantine rows; everything loaded is staged for the end-of-run GX suite
  (:func:`storeflow.quality.judge.judge_run`). Records loaded with a warning (e.g. ``stock_negative``: an
  oversold POS count) are counted as ``warning_<rule>`` in the run's counters (``sync_runs.details``) and
  reported in one WARNING log line per page.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from storeflow.quality import quarantine
from storeflow.quality.quarantine import QuarantineItem, QuarantineOutcome, apply_quarantine
from storeflow.quality.records import clean_batch
from storeflow.quality.results import CleanResult
from storeflow.settings import get_settings

if TYPE_CHECKING:
    from storeflow.sync.streams import LoadContext

log = logging.getLogger(__name__)

#: longest reason a parse failure keeps
MAX_REASON = 1000


@dataclass
class Screened:
    """What :func:`screen_batch` tells the loader."""

    loaded: list[dict[str, Any]]  # the cleaned records that load (same order as the input)
    rejected: set[str]  # ids (``record[id_key]``) of the records left out
    rejected_records: int  # how many records were left out
    outcome: QuarantineOutcome  # quarantine rows written and resolved
    results: list[CleanResult]  # per input record: cleaned record (None = left out) and its issues


def record_id(record: dict[str, Any], id_key: str) -> str:
    """The id a record of the batch is quarantined under (``?`` when it has none)."""
    value = record.get(id_key)
    return "?" if value is None or value == "" else str(value)


def screen_batch(conn: Connection, ctx: LoadContext, suite: str, records: Sequence[dict[str, Any]], id_key: str,
                 *, payloads: dict[str, Any] | None = None, report_warnings: bool = True,
                 stage_without: Sequence[str] = ()) -> Screened:
    """Apply ``suite``'s row rules to ``records`` (neutral shape), quarantine and stage; see the module doc.

    ``payloads`` (id → the vendor's raw record) is what the quarantine row keeps; default the record.
    ``report_warnings`` False: rows loaded with a warning are not counted or logged (customers, whose
    warnings such as ``no_contact`` are reported by the run's GX suite). ``stage_without``: keys left out
    of the staged records (not part of the suite's frame, e.g. a customer's ``consents``).
    """
    results = clean_batch(suite, records, get_settings().default_phone_region)
    items: list[QuarantineItem] = []
    rejected: set[str] = set()
    rejected_records = 0
    warnings: Counter[str] = Counter()
    for record, result in zip(records, results, strict=True):
        rid = record_id(record, id_key)
        for issue in result.quarantined:
            payload = (payloads or {}).get(rid, record)
            items.append(QuarantineItem(rid, issue.rule, issue.reason, payload, issue.field))
        if result.record is None:
            rejected.add(rid)
            rejected_records += 1
        else:
            warnings.update({issue.rule for issue in result.warnings})
    outcome = apply_quarantine(conn, stream=ctx.stream, source_system=ctx.source_system,
                               batch_ids=[record_id(r, id_key) for r in records], items=items, run_id=ctx.run_id)
    for rule, n in outcome.by_rule.items():
        ctx.count(f"quarantined_{rule}", n)
    if outcome.resolved_rows:
        ctx.count("quarantine_resolved", outcome.resolved_rows)
    if report_warnings:
        for rule, n in sorted(warnings.items()):
            ctx.count(f"warning_{rule}", n)
        if warnings:
            log.warning("[storeflow] %s: %d of %d records loaded with warnings: %s", ctx.stream,
                        sum(1 for r in results if r.record is not None and r.warnings), len(records),
                        ", ".join(f"{rule}={n}" for rule, n in sorted(warnings.items())))
    loaded = [r.record for r in results if r.record is not None]
    ctx.stage([{k: v for k, v in r.items() if k not in stage_without} for r in loaded])
    return Screened(loaded, rejected, rejected_records, outcome, results)


def reject(conn: Connection, ctx: LoadContext, raw: Any, rule: str, reason: object, *,
           source_id: str | None = None, count_rule: bool = True) -> None:
    """Quarantine one vendor record the loader cannot use (parse failure, unplaceable record) and count it.

    ``source_id`` defaults to the record's ``id`` (inventory counts: ``catalog_object_id``), else ``?``;
    ``reason`` (an exception or a text) is kept on one line, at most :data:`MAX_REASON` characters. The
    run's counters get ``quarantined`` and, unless ``count_rule`` is False, ``quarantined_<rule>``.
    """
    if source_id is None:
        value = (raw.get("id") or raw.get("catalog_object_id")) if isinstance(raw, dict) else None
        source_id = str(value or "?")
    quarantine.record(conn, stream=ctx.stream, source_system=ctx.source_system, source_id=source_id, rule=rule,
                      reason=str(reason).replace("\n", " ")[:MAX_REASON], payload=raw, run_id=ctx.run_id)
    ctx.count("quarantined")
    if count_rule:
        ctx.count(f"quarantined_{rule}")
