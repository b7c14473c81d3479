"""Error budget for writes to the POS or the store: partial failure is never silently green.

A push keeps going when a record is rejected (one bad record must not block the others) and counts it.
At the end it calls :func:`enforce_error_budget`:

* no failures: nothing happens;
* some failures, within budget: one WARNING line with the counts (the failed records were not marked
  as pushed, so the next run retries them);
* failures past the budget: :class:`PushErrorBudgetExceeded` is raised and the task fails (and alerts).

The budget is a share, ``settings.push_error_threshold`` (default 5 %), with a floor,
``settings.push_error_min_failures`` (default 3): a push fails only when at least that many records
failed *and* their share passes the threshold. So 1 failure of 2 records warns (one odd record in a small
hourly batch), 3 of 3 fails (everything is failing), and 1,106 of 1,118 fails.

Messages carry counts and, optionally, a few record ids chosen by the caller: never emails, phones or
other personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from storeflow.settings import get_settings

log = logging.getLogger(__name__)


class PushErrorBudgetExceeded(RuntimeError):
    """Too many records of one push failed; the task must fail (the records stay unpushed)."""

    def __init__(self, message: str, *, job: str, attempted: int, failed: int, threshold: float):
        super().__init__(message)
        self.job = job
        self.attempted = attempted
        self.failed = failed
        self.threshold = threshold


def budget_exceeded(attempted: int, failed: int, *, threshold: float | None = None,
                    min_failures: int | None = None) -> bool:
    """True when ``failed`` of ``attempted`` passes the budget (share above threshold, floor reached)."""
    if attempted < 0 or failed < 0 or failed > attempted:
        raise ValueError(f"invalid push counts: {failed} failed of {attempted} attempted")
    settings = get_settings()
    threshold = settings.push_error_threshold if threshold is None else threshold
    floor = settings.push_error_min_failures if min_failures is None else min_failures
    return attempted > 0 and failed >= max(floor, 1) and failed / attempted > threshold


def enforce_error_budget(*, job: str, attempted: int, failed: int, threshold: float | None = None,
                         min_failures: int | None = None, samples: Sequence[str] = ()) -> None:
    """Raise :class:`PushErrorBudgetExceeded` when the push failed past its budget; WARN below it.

    ``job`` names the push (e.g. ``"push_customers"``); ``samples`` are a few failed record ids or short
    reasons free of personal data (at most five are shown).
    """
    threshold = get_settings().push_error_threshold if threshold is None else threshold
    exceeded = budget_exceeded(attempted, failed, threshold=threshold, min_failures=min_failures)
    if failed == 0:
        return
    share = failed / attempted
    shown = "; ".join(str(s) for s in list(samples)[:5])
    detail = f"{job}: {failed} of {attempted} records failed ({share:.1%}; budget {threshold:.1%})"
    if shown:
        detail += f"; e.g. {shown}"
    if exceeded:
        raise PushErrorBudgetExceeded(detail, job=job, attempted=attempted, failed=failed, threshold=threshold)
    log.warning("[storeflow] %s; within budget, the failed records are retried next run", detail)


__all__ = ["PushErrorBudgetExceeded", "budget_exceeded", "enforce_error_budget"]
