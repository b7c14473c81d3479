"""The bad-input corpus under tests/data/quality: every case asserts its exact outcome."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from bench.customer_frame import clean_customers_frame
from storeflow.quality.records import clean_batch, clean_customer

DATA = Path(__file__).resolve().parents[1] / "data" / "quality"
_REPEAT = re.compile(r"<<REPEAT (\S) (\d+)>>")


def _expand(obj):
    if isinstance(obj, str):
        return _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), obj)
    if isinstance(obj, dict):
        return {k: _expand(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_expand(v) for v in obj]
    return obj


def load(stream: str) -> dict:
    """Load one corpus file with its repeat markers expanded."""
    return _expand(json.loads((DATA / f"{stream}.json").read_text(encoding="utf-8")))


def _check(case: dict, res) -> None:
    expect = case["expect"]
    quarantined = [i.rule for i in res.quarantined]
    loaded = expect["rule"] is None or expect.get("loaded", False)
    if expect["rule"] is None:
        assert quarantined == [], f"{case['id']}: unexpected quarantine {res.quarantined}"
    else:
        assert quarantined == [expect["rule"]], f"{case['id']}: quarantined {quarantined}, expected [{expect['rule']}]"
        assert all(i.reason for i in res.quarantined)
        assert res.rule == expect["rule"]
    if loaded:
        assert res.ok and res.record is not None, case["id"]
        for key, value in expect.get("values", {}).items():
            got = res.record.get(key)
            if isinstance(got, datetime):
                got = got.isoformat()
            assert got == value, f"{case['id']}: {key}={got!r}, expected {value!r}"
    else:
        assert not res.ok and res.record is None, case["id"]
    assert sorted(i.rule for i in res.warnings) == sorted(expect.get("warnings", [])), case["id"]


CUSTOMERS = load("customers")


@pytest.mark.parametrize("case", CUSTOMERS["cases"], ids=lambda c: c["id"])
def test_customer_corpus(case):
    _check(case, clean_customer(case["in"], CUSTOMERS["default_region"]))


def test_customer_corpus_bulk_equals_row_by_row():
    cases = CUSTOMERS["cases"]
    frame = pd.DataFrame([c["in"] for c in cases])
    bulk = clean_customers_frame(frame, CUSTOMERS["default_region"])
    for i, case in enumerate(cases):
        row = clean_customer(case["in"], CUSTOMERS["default_region"])
        got = bulk.issues[bulk.issues["row"] == i]
        assert sorted(zip(got["rule"], got["severity"], strict=True)) == sorted(
            (x.rule, x.severity) for x in row.issues
        ), case["id"]
        if row.ok:
            assert i not in set(bulk.bad_index), case["id"]
            for key in ("email", "email_norm", "phone", "given_name", "family_name", "postcode", "country",
                        "address_line1", "city"):
                value = bulk.frame.at[i, key]
                value = None if value is None or (isinstance(value, float) and pd.isna(value)) else value
                assert value == row.record.get(key), (case["id"], key)
    assert set(bulk.bad_index) == {
        i for i, c in enumerate(cases) if c["expect"]["rule"] and not c["expect"].get("loaded")
    }
    assert set(bulk.quarantined_index) == {i for i, c in enumerate(cases) if c["expect"]["rule"]}


@pytest.mark.parametrize("stream", ["products", "stock", "invoices"])
def test_batch_corpus(stream):
    corpus = load(stream)
    results = clean_batch(stream, [c["in"] for c in corpus["cases"]])
    for case, res in zip(corpus["cases"], results, strict=True):
        _check(case, res)


def test_order_corpus():
    corpus = load("orders")
    now = datetime.fromisoformat(corpus["now"])
    results = clean_batch("orders", [c["in"] for c in corpus["cases"]], now=now)
    for case, res in zip(corpus["cases"], results, strict=True):
        _check(case, res)
