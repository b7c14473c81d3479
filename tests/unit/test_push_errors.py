"""The push error budget: small batches warn, systematic failure fails, counts in the message."""

from __future__ import annotations

import logging

import pytest

from storeflow.settings import get_settings
from storeflow.sync.push_errors import PushErrorBudgetExceeded, budget_exceeded, enforce_error_budget


@pytest.mark.parametrize(("attempted", "failed", "fails"), [
    (0, 0, False), (10, 0, False),
    (2, 1, False),  # one odd record in a small hourly batch warns
    (2, 2, False),  # below the floor of 3 failures
    (3, 3, True),  # everything failing
    (1118, 1106, True),  # issue 11 item 9
    (100, 5, False),  # exactly 5 % is within budget
    (100, 6, True),
    (1000, 40, False),
])
def test_budget_share_and_floor(attempted, failed, fails):
    assert budget_exceeded(attempted, failed) is fails


def test_exceeded_raises_with_counts_and_samples():
    with pytest.raises(PushErrorBudgetExceeded) as info:
        enforce_error_budget(job="push_customers", attempted=1118, failed=1106,
                             samples=[f"store:{i}" for i in range(9)])
    message = str(info.value)
    assert "push_customers" in message and "1106 of 1118" in message and "store:4" in message
    assert "store:5" not in message  # at most five samples
    assert info.value.failed == 1106 and info.value.attempted == 1118


def test_within_budget_warns_once_with_counts(caplog):
    caplog.set_level(logging.WARNING, logger="storeflow.sync.push_errors")
    enforce_error_budget(job="push_stock", attempted=2, failed=1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "1 of 2" in warnings[0].getMessage()
    caplog.clear()
    enforce_error_budget(job="push_stock", attempted=50, failed=0)
    assert not caplog.records


def test_settings_and_overrides(monkeypatch):
    monkeypatch.setenv("STOREFLOW_PUSH_ERROR_THRESHOLD", "0.5")
    monkeypatch.setenv("STOREFLOW_PUSH_ERROR_MIN_FAILURES", "1")
    get_settings.cache_clear()
    try:
        assert budget_exceeded(2, 1) is False  # 50 % is not above 50 %
        assert budget_exceeded(3, 2) is True
        assert budget_exceeded(3, 2, threshold=0.9) is False
        enforce_error_budget(job="x", attempted=10, failed=4)
        with pytest.raises(PushErrorBudgetExceeded):
            enforce_error_budget(job="x", attempted=10, failed=4, threshold=0.1)
    finally:
        get_settings.cache_clear()


def test_invalid_counts_are_a_bug():
    with pytest.raises(ValueError):
        enforce_error_budget(job="x", attempted=1, failed=2)
