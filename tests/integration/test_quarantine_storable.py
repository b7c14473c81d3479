"""Property: whatever a source sends, its quarantine row is writable (SQLite and PostgreSQL) and the
row gate either loads a record or quarantines it - it never crashes on a value."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storeflow.quality.quarantine import QuarantineItem, quarantine_many
from storeflow.quality.records import clean_batch, unstorable_issues
from storeflow.warehouse.schema import quarantine

# any code point, lone surrogates and NUL included (hypothesis leaves surrogates out by default)
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
SCALARS = st.one_of(ANY_TEXT, st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(min_value=-(10**22), max_value=10**22))
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(ANY_TEXT, inner, max_size=3)),
                       max_leaves=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=JSONISH, source_id=ANY_TEXT, reason=ANY_TEXT)
def test_any_payload_makes_a_storable_quarantine_row(warehouse, payload, source_id, reason):
    with warehouse.begin() as conn:
        conn.execute(quarantine.delete())
        quarantine_many(conn, stream="s", source_system="pos", run_id="p",
                        items=[QuarantineItem(source_id or "x", "value_unstorable", reason or "r", payload)])
    with warehouse.connect() as conn:
        row = conn.execute(select(quarantine)).one()
    stored = row.payload
    json.dumps(stored, allow_nan=False).encode("utf-8")  # finite, valid Unicode all the way down
    assert "\x00" not in row.reason and "\x00" not in row.source_id


@settings(max_examples=200, deadline=None)
@given(record=st.dictionaries(st.sampled_from(["order_id", "status", "currency", "created_at", "total_minor",
                                               "sku", "name", "price_minor", "quantity", "lines"]),
                              JSONISH, max_size=8),
       stream=st.sampled_from(["products", "stock", "orders", "invoices"]))
def test_row_rules_never_crash_and_never_pass_an_unstorable_value(record, stream):
    (result,) = clean_batch(stream, [record])
    if result.record is not None:
        assert unstorable_issues(result.record) == []
        for value in result.record.values():
            assert not (isinstance(value, float) and not math.isfinite(value))
