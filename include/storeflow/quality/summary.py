"""The DQ summary of one gate run: a small dict stored by the caller in ``sync_runs.details``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from storeflow.quality.results import CleanResult


def dq_summary(
    stream: str,
    results: Iterable[CleanResult],
    *,
    validation: dict[str, Any] | None = None,
    docs_location: str | None = None,
    identity: dict[str, Any] | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Rows in, cleaned (fixed by cleaning: a value changed, nothing quarantined), loaded, quarantined, warnings.

    ``quarantined_by_reason`` counts records per failed rule (row- and field-level);
    ``rows_rejected`` are rows not loaded at all; ``rows_field_quarantined`` were loaded without the bad
    field(s).
    """
    results = list(results)
    by_reason: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    rejected = field_only = cleaned = 0
    for res in results:
        rules = {i.rule for i in res.quarantined}
        by_reason.update(rules)
        warnings.update({i.rule for i in res.warnings})
        if not res.ok:
            rejected += 1
        elif rules:
            field_only += 1
        if res.ok and res.changed_fields and not rules:
            cleaned += 1
    rows_in = len(results)
    bad = rejected + field_only
    out: dict[str, Any] = {
        "stream": stream,
        "rows_in": rows_in,
        "rows_cleaned": cleaned,
        "rows_loaded": rows_in - rejected,
        "rows_rejected": rejected,
        "rows_field_quarantined": field_only,
        "rows_quarantined": bad,
        "bad_share": round(bad / rows_in, 4) if rows_in else 0.0,
        "quarantined_by_reason": dict(sorted(by_reason.items())),
        "warnings_by_rule": dict(sorted(warnings.items())),
    }
    if threshold is not None:
        out["threshold"] = threshold
    if validation is not None:
        out["validation"] = validation
    if docs_location is not None:
        out["data_docs"] = docs_location
    if identity is not None:
        out["identity"] = identity
    return out
