"""The short soak (issue 11, "A month in the life"): 6 hourly cycles of shop life under injected faults.

The long run (48 cycles, every nightly job) is ``bench/soak.py``. This one starts at 05:00 so that the
campaigns planned at 06:00 fall due (email from 08:00, SMS from 09:00 local) and opt-outs are tested
against messages really sent; shop events of every kind happen at least once.
"""

from __future__ import annotations

import smtplib

import pytest
import requests

from tests.soak.invariants import INVARIANTS, Violation
from tests.soak.run import SoakConfig, run_soak, soak_session
from tests.soak.world_events import SPECIALS, OptOut

pytestmark = pytest.mark.slow

#: not drivable through today's simulators (see world_events): reported, never counted as applied
UNDRIVABLE = {"partial_refund", "bad_surrogate"}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'soak.db'}"
    return request.getfixturevalue("pg_schema_url")


def test_six_hours_of_shop_life_keep_every_invariant(db_url, tmp_path):
    report = run_soak(SoakConfig(seed=11, cycles=6, start_hour=5, fault_rate=0.04, db_url=db_url,
                                 workdir=tmp_path / "soak"), log=lambda *_: None)
    print(report.summary(per_invariant=10))
    assert report.cycles_run == 6
    injected = sum(v.get("total", 0) for v in report.faults.values())
    assert injected > 5, f"too few faults injected to mean anything: {report.faults}"
    attempted = {e.kind for e in report.ledger.events}
    assert set(SPECIALS) <= attempted, f"never attempted: {set(SPECIALS) - attempted}"
    missing = set(SPECIALS) - UNDRIVABLE - set(report.events)
    assert not missing, f"shop events that never happened: {missing}; refusals: {report.refusals}"
    for name in ("store_stock", "store_price", "online_lines_once", "no_message_to_opted_out",
                 "source_rows_accounted", "bad_rows_quarantined", "no_job_failed"):
        assert report.checks[name] > 0, f"invariant {name} was never exercised: {dict(report.checks)}"
    assert not report.violations, report.summary(per_invariant=10)


def test_the_checks_see_drift_and_failures_made_on_purpose(tmp_path):
    """The invariants can fail: a store stock and price edited behind storeflow's back, a message sent to
    an opted-out address and a failed job are all reported."""
    config = SoakConfig(seed=3, cycles=0, fault_rate=0.0, workdir=tmp_path / "soak")
    with soak_session(config, log=lambda *_: None) as soak:
        soak.setup()
        assert not soak.report.violations, soak.report.summary()
        view = soak.world.view()
        sku, var = soak.world._sellable_skus(view)[0]
        store = view.store_skus()[sku]
        requests.put(f"{soak.sims.store_url}/_sim/products/stock",
                     json={"sku": sku, "quantity": (store.get("stock_quantity") or 0) + 7}, timeout=10
                     ).raise_for_status()  # not in the ledger: nobody excuses it
        other, var2 = soak.world._sellable_skus(view)[1]
        requests.post(f"{soak.sims.pos_url}/_sim/price", json={
            "variation_id": var2["id"], "amount": var2["item_variation_data"]["price_money"]["amount"] + 1},
            timeout=10).raise_for_status()  # a POS price change no catalog sync carried yet
        soak.progress.failures.append(Violation(1, "no_job_failed", "sync_catalog: RuntimeError: on purpose"))
        # someone opted out by one-click, and an email reaches them anyway
        soak.world.ledger.optouts.append(OptOut(1, "one_click", "email", "marketing",
                                                emails={"opted.out@soak.example"}, direct=True))
        with smtplib.SMTP(soak.sims.smtp_host, soak.sims.smtp_port, timeout=10) as smtp:
            smtp.sendmail("shop@storeflow.example", ["opted.out@soak.example"],
                          "From: shop@storeflow.example\r\nTo: opted.out@soak.example\r\n"
                          "Message-ID: <on-purpose@soak>\r\nSubject: offer\r\n\r\nhello\r\n")
        soak.check(1)
        found = {v.invariant for v in soak.report.violations}
        assert {"store_stock", "store_price", "no_job_failed", "no_message_to_opted_out"} <= found, \
            soak.report.summary()
        messages = [v.message for v in soak.report.violations]
        assert any(sku in m for m in messages) and any(other in m for m in messages)
    assert set(found) <= set(INVARIANTS)

