"""GX Data Docs (HTML) of one validation run, written through the landing zone.

The page is GX's own validation-results renderer (``ValidationResultsPageRenderer`` +
``DefaultJinjaPageView``), which needs no File context, with the run's DQ summary (rows in, cleaned,
quarantined by reason) injected at the top. It is stored with ``landing.put_bytes`` (local folder or
S3), and the returned location is what the task log and DQ alerts show.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from storeflow.landing import ObjectStore
from storeflow.quality.validate import ValidationReport

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def docs_key(stream: str, run_id: str, source_system: str | None = None) -> str:
    """Landing key of a run's Data Docs page."""
    safe = lambda s: _UNSAFE.sub("_", s) or "_"  # noqa: E731
    name = f"{safe(source_system)}.html" if source_system else "index.html"
    return f"datadocs/{safe(stream)}/{safe(run_id)}/{name}"


def _summary_html(summary: dict[str, Any] | None, report: ValidationReport) -> str:
    rows = []
    for key, value in (summary or {}).items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        rows.append(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>")
    for o in report.outcomes:
        if not o.success:
            rows.append(
                f"<tr><th>{html.escape(o.severity)}: {html.escape(o.rule)}</th>"
                f"<td>{o.unexpected_count} of {o.element_count} rows; "
                f"sample {html.escape(repr(o.sample)[:200])}</td></tr>"
            )
    status = "PASSED" if report.success else "FAILED (critical expectations)"
    return (
        '<div class="container" id="storeflow-dq-summary" style="margin-top:1em">'
        f"<h2>storeflow DQ gate: {html.escape(report.stream)} &mdash; {status}</h2>"
        f'<table class="table table-sm">{"".join(rows)}</table></div>'
    )


def render_html(report: ValidationReport, summary: dict[str, Any] | None = None) -> str:
    """The Data Docs page of a validation report (GX renderer; falls back to the summary alone)."""
    body = _summary_html(summary, report)
    if report.gx_result is None:
        return f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer
    from great_expectations.render.view.view import DefaultJinjaPageView

    page = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(report.gx_result))
    match = re.search(r"<body[^>]*>", page)
    return page[: match.end()] + body + page[match.end():] if match else body + page


def write_data_docs(landing: ObjectStore, report: ValidationReport, *, run_id: str, source_system: str | None = None,
                    summary: dict[str, Any] | None = None) -> str:
    """Render and store the page; return its location (``file://…`` or ``s3://…``) and log it."""
    data = render_html(report, summary).encode("utf-8")
    location = landing.put_bytes(docs_key(report.stream, run_id, source_system), data, "text/html; charset=utf-8")
    log.info("Data Docs for %s run %s: %s", report.stream, run_id, location)
    return location
