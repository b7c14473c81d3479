"""DQ summary, Data Docs rendering and suite shaping (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

from storeflow.quality.datadocs import docs_key, render_html, write_data_docs
from storeflow.quality.records import clean_batch
from storeflow.quality.suites import STREAMS, SUITES, frame_for
from storeflow.quality.summary import dq_summary
from storeflow.quality.validate import validate_frame


def test_every_stream_has_a_suite_with_severities():
    assert set(SUITES) == set(STREAMS)
    for specs in SUITES.values():
        assert {s.severity for s in specs} <= {"critical", "warning"}
        assert any(s.severity == "critical" for s in specs)
        assert len({s.rule for s in specs}) == len(specs)


def test_summary_counts_by_reason():
    results = clean_batch("customers", [
        {"source_id": "1", "email": " A@Example.COM"},  # cleaned
        {"source_id": "2", "email": "ok@example.com"},  # untouched
        {"source_id": "3", "email": "bad@", "phone": "nope"},  # field-level x2
        {"email": "x@example.com"},  # rejected
        {"source_id": "5", "postcode": "??", "country": "GB"},  # warnings only
    ])
    s = dq_summary("customers", results, docs_location="file:///d.html")
    assert (s["rows_in"], s["rows_cleaned"], s["rows_loaded"], s["rows_rejected"]) == (5, 1, 4, 1)
    assert s["rows_field_quarantined"] == 1 and s["rows_quarantined"] == 2 and s["bad_share"] == 0.4
    assert s["quarantined_by_reason"] == {"email_invalid": 1, "missing_source_id": 1, "phone_unparseable": 1}
    assert s["warnings_by_rule"] == {"no_contact": 1, "postcode_invalid": 1}
    assert s["data_docs"] == "file:///d.html"


def test_order_frame_derived_columns():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    df = frame_for("orders", [
        {"order_id": "1", "total_minor": 1000, "tax_minor": 100, "created_at": "2026-05-01T00:00:00Z",
         "lines": [{"quantity": 3, "unit_price_minor": 300}]},
        {"order_id": "2", "total_minor": "x", "created_at": "2026-06-02T00:00:00Z", "lines": []},
    ], now=now)
    assert df["total_delta_minor"].tolist() == [0.0, float("inf")]
    assert df["created_in_future_seconds"].tolist() == [-31 * 86400.0, 86400.0]
    assert df["line_count"].tolist() == [1, 0]


class Sink:
    def __init__(self):
        self.items = {}

    def put_bytes(self, key, data, content_type="application/octet-stream"):
        self.items[key] = (data, content_type)
        return f"mem://{key}"


def test_data_docs_page_has_gx_report_and_summary():
    report = validate_frame("invoices", [{"invoice_id": "i1", "status": "PAID", "total_minor": -5, "currency": "GBP"}])
    assert [o.rule for o in report.failed_critical] == ["total_non_negative"]
    sink = Sink()
    loc = write_data_docs(sink, report, run_id="scheduled__2026-06-01T00:00:00+00:00", source_system="pos",
                          summary={"rows_in": 1, "quarantined_by_reason": {"x<script>": 1}})
    key = docs_key("invoices", "scheduled__2026-06-01T00:00:00+00:00", "pos")
    assert loc == f"mem://{key}" and key == "datadocs/invoices/scheduled__2026-06-01T00_00_00_00_00/pos.html"
    page = sink.items[key][0].decode()
    assert sink.items[key][1].startswith("text/html")
    assert "FAILED (critical expectations)" in page and "total_non_negative" in page
    assert "x&lt;script&gt;" in page and "x<script>" not in page
    assert "Expectation Validation Result" in page
    assert "storeflow DQ gate" in render_html(validate_frame("invoices", []))


def test_extra_expectations_map_failures_to_row_labels():
    import pandas as pd

    from storeflow.quality.suites import ExpectationSpec

    extra = [ExpectationSpec("name_short", "warning", "ExpectColumnValueLengthsToBeBetween",
                             {"column": "name", "max_value": 5})]
    df = pd.DataFrame([{"sku": "A", "name": "Mug", "price_minor": 1, "currency": "GBP"},
                       {"sku": "B", "name": "Teapot XL", "price_minor": 2, "currency": "GBP"}], index=[10, 20])
    report = validate_frame("products", df, extra=extra)
    assert report.success  # warning only
    assert [(o.rule, o.failing_rows) for o in report.failed_warning] == [("name_short", [20])]
    again = validate_frame("products", df.iloc[:1], extra=extra)  # cached runner, new data
    assert again.failed_warning == []
