"""The DQ gate end to end on a real warehouse and landing zone: quarantine, GX, Data Docs, verdict, alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from storeflow.alerts import raise_alert
from storeflow.landing import LandingZone
from storeflow.quality.judge import dq_alert, judge_run
from storeflow.quality.quarantine import QualityGateFailed
from storeflow.quality.screen import screen_batch
from storeflow.quality.summary import dq_summary
from storeflow.settings import get_settings
from storeflow.sync.streams import LoadContext
from storeflow.warehouse.runs import RunRecord
from storeflow.warehouse.schema import quarantine

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _products(n_good: int, bad: list[dict]) -> list[dict]:
    good = [{"sku": f"SKU-{i:03d}", "name": f"Item {i}", "price": f"{i}.99", "currency": "GBP"} for i in range(n_good)]
    return good + bad


def _html(location: str) -> str:
    return Path(urlparse(location).path).read_text(encoding="utf-8")


@dataclass
class Gated:
    """One batch screened and judged: what loads, the batch's DQ summary and the run's verdict."""

    loaded: Any
    summary: dict
    validation: Any
    docs_location: str | None
    error: QualityGateFailed | None

    @property
    def failed(self) -> bool:
        return self.error is not None


def _judged(engine, stream: str, source_system: str, screen, *, run_id: str, now=None, computed=False,
            raise_on_failure=True, after=None) -> Gated:
    """``screen(conn, ctx) -> (loaded, batch summary)`` committed on its own, then the run judged (Data Docs in
    the landing zone); ``after(loaded)`` runs only when the verdict passes. Bad rows - left out or loaded
    without a field - weigh on the verdict."""
    ctx = LoadContext(run_id=run_id, stream=stream, source_system=source_system, loaded_at=now or datetime.now(UTC))
    with engine.begin() as conn:
        loaded, counts = screen(conn, ctx)
    record = RunRecord(stream, source_system, run_id, rows_read=counts["rows_in"],
                       quarantined=counts["rows_quarantined"])
    verdict = judge_run(LandingZone.from_settings(), ctx, record, suite=stream, computed=computed, now=now,
                        raise_on_failure=False)
    out = Gated(loaded, {**verdict.summary, **counts}, verdict.validation, verdict.docs_location, verdict.error)
    if not out.failed and after is not None:
        out.summary.update(after(loaded))
    if raise_on_failure and out.error is not None:
        raise out.error
    return out


def _screen_and_judge(engine, stream: str, source_system: str, records: list[dict], *, row_rules=True,
                      **kwargs) -> Gated:
    """A batch through the two quality verbs: :func:`screen_batch` (each system id once, the last read
    wins; products keyed by their system id, else SKU), then :func:`judge_run`."""
    key = "source_id" if stream == "customers" else "pos_variation_id"
    unique: dict = {}
    for n, rec in enumerate(records):
        unique.pop(rec.get(key) or ("row", n), None)
        unique[rec.get(key) or ("row", n)] = rec
    batch = [{**r, "_id": r.get(key) or r.get("sku")} for r in unique.values()]

    def screen(conn, ctx):
        if not row_rules:  # data storeflow computed itself: GX is the gate
            ctx.stage(batch)
            return batch, {"rows_in": len(batch), "rows_quarantined": 0}
        payloads = {str(b["_id"]): r for b, r in zip(batch, unique.values(), strict=True)}
        screened = screen_batch(conn, ctx, stream, batch, "_id", payloads=payloads, stage_without=("_id",))
        return screened.loaded, dq_summary(stream, screened.results)

    return _judged(engine, stream, source_system, screen, computed=not row_rules, **kwargs)


def test_gate_quarantines_bad_rows_and_passes_under_threshold(warehouse):
    bad = [{"sku": "NEG", "name": "Neg", "price": "-1", "currency": "GBP"}]
    res = _screen_and_judge(warehouse, "products", "pos", _products(40, bad), run_id="manual__1", now=NOW)
    assert not res.failed
    assert len(res.loaded) == 40 and all(r["price_minor"] >= 0 for r in res.loaded)
    s = res.summary
    assert (s["rows_in"], s["rows_loaded"], s["rows_quarantined"]) == (41, 40, 1)
    assert s["quarantined_by_reason"] == {"price_negative": 1}
    assert s["rows_cleaned"] == 40  # price text -> price_minor
    assert res.validation.success
    page = _html(res.docs_location)
    assert ("storeflow DQ gate: products" in page and "price_negative" in page
            and "Expectation Validation Result" in page)
    with warehouse.connect() as conn:
        rows = conn.execute(select(quarantine.c.source_id, quarantine.c.rule, quarantine.c.run_id)).all()
    assert rows == [("NEG", "price_negative", "manual__1")]


def test_gate_fails_over_threshold_but_keeps_quarantine_rows(warehouse, monkeypatch):
    monkeypatch.setenv("STOREFLOW_QUARANTINE_MIN_ROWS", "3")  # the sample-size floor is tested in test_hourly_bad_rows
    get_settings.cache_clear()
    bad = [{"pos_variation_id": "V1", "sku": "DUP", "name": "A", "price": "1", "currency": "GBP"},
           {"pos_variation_id": "V2", "sku": "DUP", "name": "B", "price": "2", "currency": "GBP"},
           {"sku": "TXT", "name": "C", "price": "abc", "currency": "GBP"}]
    with pytest.raises(QualityGateFailed, match=r"3 of 23 rows quarantined") as info:
        _screen_and_judge(warehouse, "products", "pos", _products(20, bad), run_id="r2", now=NOW)
    assert info.value.summary["quarantined_by_reason"] == {"price_not_numeric": 1, "sku_duplicate": 2}
    assert info.value.docs_location and Path(urlparse(info.value.docs_location).path).exists()
    with warehouse.connect() as conn:  # committed although the gate failed
        rows = conn.execute(select(quarantine.c.source_id, quarantine.c.rule)).all()
    assert sorted(rows) == [("TXT", "price_not_numeric"), ("V1", "sku_duplicate"), ("V2", "sku_duplicate")]


def test_critical_expectation_fails_and_alerts_once_with_docs_location(warehouse):
    # stock computed by storeflow itself, validated before a push: no row rules, GX is the gate
    stock = [{"sku": f"S{i}", "location_id": "L1", "state": "IN_STOCK", "quantity": 3} for i in range(50)]
    stock.append({"sku": "S-NEG", "location_id": "L1", "state": "IN_STOCK", "quantity": -2})
    res = _screen_and_judge(warehouse, "stock", "warehouse", stock, run_id="r3", row_rules=False,
                            raise_on_failure=False)
    assert res.failed
    assert [o.rule for o in res.validation.failed_critical] == ["sellable_non_negative"]
    failing = res.validation.failed_critical[0]
    assert failing.failing_rows == [50] and failing.unexpected_count == 1
    assert res.docs_location in str(res.error)

    sent = []

    class Collect:
        def send(self, alert, *, recovery):
            sent.append(alert)

    alert = dq_alert(res.error, stream="stock", source_system="warehouse", dag_id="sync_catalog", task_id="push")
    assert raise_alert(warehouse, alert, [Collect()])
    assert not raise_alert(warehouse, dq_alert(res.error, stream="stock", source_system="warehouse"), [Collect()])
    assert len(sent) == 1 and sent[0].link == res.docs_location
    assert res.docs_location in sent[0].text() and "sellable_non_negative" in sent[0].text()


def test_warning_expectation_only_reports(warehouse):
    customers = [{"source_id": str(i), "email": f"c{i}@example.com", "country": "GB"} for i in range(10)]
    res = _screen_and_judge(warehouse, "customers", "store", customers, run_id="r4")
    assert not res.failed
    assert [o.rule for o in res.validation.failed_warning] == ["name_present"]
    assert res.summary["validation"]["warnings_failed"] == ["name_present"]


def test_gate_customers_loads_field_quarantined_rows_and_resolves_identities(warehouse):
    from storeflow.quality.identity import resolve_customers
    from storeflow.warehouse.schema import customer_identities, customers, metadata

    def gate_customers(engine, source_system, records, run_id):
        def resolve(loaded):  # golden records only when the verdict passes: a failed run loads nothing
            with engine.begin() as conn:
                return {"identity": resolve_customers(conn, loaded, source_system=source_system,
                                                      run_id=run_id).as_dict()}

        return _screen_and_judge(engine, "customers", source_system, records, run_id=run_id, after=resolve)

    metadata.create_all(warehouse, tables=[metadata.tables[t] for t in
                                           ("customer_merges", "possible_duplicates", "identity_consents")])
    pos = [{"source_id": f"P{i}", "email": f"c{i}@example.com", "given_name": "Ann", "family_name": f"Lee{i}",
            "country": "GB", "updated_at": NOW} for i in range(30)]
    gate_customers(warehouse, "pos", pos, run_id="c1")
    store = [{"source_id": f"{i}", "email": f"C{i}@Example.com ", "given_name": "ANN", "family_name": f"LEE{i}",
              "country": "uk", "updated_at": NOW} for i in range(30)]
    store.append({"source_id": "99", "email": "broken@@example.com", "phone": "07700 900999",
                  "family_name": "Solo", "country": "GB", "updated_at": NOW})
    res = gate_customers(warehouse, "store", store, run_id="c2")
    assert len(res.loaded) == 31  # the broken email is quarantined, the customer still loads
    assert res.summary["quarantined_by_reason"] == {"email_invalid": 1}
    assert res.summary["identity"]["merges_by_rule"] == {"email": 30}
    assert res.summary["identity"]["new_customers"] == 1
    with warehouse.connect() as conn:
        assert len(conn.execute(select(customers)).all()) == 31
        solo = conn.execute(select(customer_identities).where(customer_identities.c.source_id == "99")).one()
        assert solo.email_norm is None and solo.phone_e164 == "+447700900999"
        assert (conn.execute(select(quarantine.c.rule).where(quarantine.c.source_id == "99")).scalar_one()
                == "email_invalid")


def test_gate_drops_page_overlap_repeats_but_not_shared_skus(warehouse):
    rows = _products(20, [])
    repeat = {**rows[0], "pos_variation_id": "V0"}
    batch = [repeat, *rows[1:], {**repeat, "price": "9.99"}]  # the same variation read twice
    res = _screen_and_judge(warehouse, "products", "pos", batch, run_id="r5")
    assert len(res.loaded) == 20 and res.summary["rows_quarantined"] == 0
    assert [r["price_minor"] for r in res.loaded if r["sku"] == "SKU-000"] == [999]  # last read wins


def test_frame_gate_matches_row_gate_on_the_customer_corpus(warehouse):
    import json
    import re

    import pandas as pd

    from bench.customer_frame import screen_customers_frame

    text = (Path(__file__).resolve().parents[1] / "data" / "quality" / "customers.json").read_text(encoding="utf-8")
    cases = json.loads(text)["cases"]
    expand = re.compile(r"<<REPEAT (\S) (\d+)>>")
    records = [json.loads(expand.sub(lambda m: m.group(1) * int(m.group(2)), json.dumps(c["in"])))
               for c in cases]
    row = _screen_and_judge(warehouse, "customers", "pos", records, run_id="row", raise_on_failure=False)
    with warehouse.begin() as conn:
        row_rules = sorted(conn.execute(select(quarantine.c.source_id, quarantine.c.rule)).all(), key=str)
        conn.execute(quarantine.delete())
    frame = _judged(warehouse, "customers", "pos", lambda conn, ctx: screen_customers_frame(
        conn, ctx, pd.DataFrame(records)), run_id="frame", raise_on_failure=False)
    keys = ("rows_in", "rows_cleaned", "rows_loaded", "rows_rejected", "rows_field_quarantined", "rows_quarantined",
            "quarantined_by_reason", "warnings_by_rule")
    assert {k: frame.summary[k] for k in keys} == {k: row.summary[k] for k in keys}
    assert frame.failed and row.failed  # the corpus is deliberately far above the 5 % threshold
    assert len(frame.loaded) == len(row.loaded)
    with warehouse.connect() as conn:
        rules = sorted(conn.execute(select(quarantine.c.source_id, quarantine.c.rule)).all(), key=str)
    assert rules == row_rules and len(rules) == sum(row.summary["quarantined_by_reason"].values())
