"""Read models for storeflow's operator pages: sync health, the quarantine browser and the reports.

Plain SQLAlchemy Core queries over ``sync_runs``, ``quarantine``, ``alert_incidents`` and ``push_state``
and listings of the landing zone (local folder or S3, through :class:`storeflow.landing.LandingZone`).
No Airflow import: the Airflow plugin (``plugins/storeflow_airflow/ui``) renders what these return, and
the sync tasks put :func:`run_counts` into their asset events, so page, table, log and asset event
show the same numbers. Personal data never leaves this module unmasked (:func:`mask_payload`).
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select, true

from storeflow.landing import ObjectStore, sanitise_run_id
from storeflow.logscan import mask
from storeflow.privacy.scrub import PERSONAL_KEYS
from storeflow.redaction import redact
from storeflow.sync.freshness import limits as freshness_limits
from storeflow.warehouse.schema import alert_incidents, push_state, quarantine, sync_runs

__all__ = [
    "DATADOCS_PREFIX", "REPORT_PREFIXES", "Incident", "QuarantinePage", "QuarantineRow", "ReportLink",
    "Reports", "RunView", "StreamHealth", "landing_key", "list_reports", "mask_payload",
    "open_incidents", "push_summary", "quarantine_page", "read_report", "run_counts", "run_view", "sync_health",
    "task_run_counts",
]

DATADOCS_PREFIX = "datadocs"
SCORING_PREFIX = "reports/scoring"
CAMPAIGNS_PREFIX = "reports/campaigns"
#: landing-zone prefixes the pages may serve (raw pages and GDPR exports are never served)
REPORT_PREFIXES = (DATADOCS_PREFIX + "/", "reports/")
MASKED = "***"


# --- counts of one run (one truth for log, table, page and asset event) -------------------------
def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def run_counts(row: Any) -> dict[str, Any]:
    """The counts of one ``sync_runs`` row: rows, changed, pushed, errors, quarantined, Data Docs.

    ``errors`` = items the target rejected (``details.errors``) plus one when the run itself failed;
    ``data_docs`` = the Data Docs location the DQ gate recorded (``details.dq.data_docs``), if any.
    """
    m = row._mapping if hasattr(row, "_mapping") else row
    details = m.get("details") or {}
    dq_value = details.get("dq")
    dq = dq_value if isinstance(dq_value, dict) else {}
    rejected = details.get("errors")
    errors = (len(rejected) if isinstance(rejected, list) else _int(rejected)) + (m.get("status") == "failed")
    return {
        "rows": _int(m.get("rows_read")), "changed": _int(m.get("rows_changed")),
        "pushed": _int(m.get("rows_pushed")), "errors": errors, "quarantined": _int(m.get("quarantined")),
        "data_docs": dq.get("data_docs"),
    }


# --- sync health ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Incident:
    """One open alert incident."""

    key: str
    kind: str
    title: str
    opened_at: datetime
    last_seen_at: datetime
    occurrences: int


@dataclass
class StreamHealth:
    """One stream's row on the sync-health page."""

    stream: str
    source_system: str | None
    last_status: str | None
    last_run_id: str | None
    last_dag_id: str | None
    last_finished_at: datetime | None
    last_success: datetime | None
    rows: int = 0
    changed: int = 0
    pushed: int = 0
    errors: int = 0
    quarantined: int = 0
    quarantine_open: int = 0
    last_error: str | None = None
    data_docs: str | None = None
    freshness: str = "unwatched"  # fresh | stale | never | unwatched
    limit: timedelta | None = None
    age: timedelta | None = None
    incidents: list[Incident] = field(default_factory=list)

    @property
    def data_docs_key(self) -> str | None:
        """The landing key of the latest run's Data Docs (servable by the reports page)."""
        return landing_key(self.data_docs)


def open_incidents(engine: Engine) -> list[Incident]:
    """Every alert incident not yet resolved, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(alert_incidents).where(alert_incidents.c.resolved_at.is_(None))
            .order_by(alert_incidents.c.opened_at.desc())
        ).all()
    return [Incident(r.incident_key, r.kind, r.title, r.opened_at, r.last_seen_at, r.occurrences) for r in rows]


def sync_health(engine: Engine, now: datetime | None = None) -> list[StreamHealth]:
    """Per stream: its latest run's counts, last success, freshness verdict and open incidents.

    Streams are those with at least one run plus those freshness watches. The verdict uses the same
    limits as :func:`storeflow.sync.freshness.check_freshness` but only reads (no alert is raised).
    """
    now = now or datetime.now(UTC)
    watched = freshness_limits()
    latest_id = (select(sync_runs.c.stream, func.max(sync_runs.c.id).label("id"))
                 .where(sync_runs.c.status != "running").group_by(sync_runs.c.stream).subquery())
    last_ok = (select(sync_runs.c.stream, func.max(sync_runs.c.finished_at).label("at"))
               .where(sync_runs.c.status == "success").group_by(sync_runs.c.stream).subquery())
    # records, not rule hits: a customer with two bad fields is one quarantined record (as in sync_runs)
    open_q = (select(quarantine.c.stream, func.count(func.distinct(quarantine.c.source_id)).label("n"))
              .where(quarantine.c.resolved_at.is_(None)).group_by(quarantine.c.stream).subquery())
    with engine.connect() as conn:
        latest = conn.execute(select(sync_runs).join(latest_id, sync_runs.c.id == latest_id.c.id)).all()
        successes = {r.stream: r.at for r in conn.execute(select(last_ok)).all()}
        open_counts = {r.stream: r.n for r in conn.execute(select(open_q)).all()}
        tasks = conn.execute(select(sync_runs.c.stream, sync_runs.c.dag_id, sync_runs.c.task_id).distinct()).all()
    incidents = open_incidents(engine)
    task_keys: dict[str, set[str]] = {}
    for t in tasks:
        task_keys.setdefault(t.stream, set()).add(f"{t.dag_id}.{t.task_id}")

    out: dict[str, StreamHealth] = {}
    for r in latest:
        counts = run_counts(r)
        out[r.stream] = StreamHealth(
            stream=r.stream, source_system=r.source_system, last_status=r.status, last_run_id=r.run_id,
            last_dag_id=r.dag_id, last_finished_at=r.finished_at, last_success=successes.get(r.stream),
            rows=counts["rows"], changed=counts["changed"], pushed=counts["pushed"], errors=counts["errors"],
            quarantined=counts["quarantined"], data_docs=counts["data_docs"],
            last_error=redact(r.error) if r.error else None,
        )
    for stream in watched:
        out.setdefault(stream, StreamHealth(stream, None, None, None, None, None, None))
    for h in out.values():
        h.quarantine_open = open_counts.get(h.stream, 0)
        if h.stream in watched:
            h.limit = watched[h.stream]
            h.age = now - h.last_success if h.last_success else None
            h.freshness = "never" if h.age is None else ("fresh" if h.age <= h.limit else "stale")
        keys = {f"freshness.{h.stream}"} | task_keys.get(h.stream, set())
        h.incidents = [i for i in incidents if i.key in keys]
    return sorted(out.values(), key=lambda h: h.stream)


def push_summary(engine: Engine) -> list[dict[str, Any]]:
    """What storeflow remembers having written: per target system and entity, records and last push."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(push_state.c.target_system, push_state.c.entity, func.count().label("records"),
                   func.max(push_state.c.pushed_at).label("last_pushed_at"))
            .group_by(push_state.c.target_system, push_state.c.entity)
            .order_by(push_state.c.target_system, push_state.c.entity)
        ).all()
    return [dict(r._mapping) for r in rows]


# --- quarantine ---------------------------------------------------------------------------------
def _personal_values(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).lower() in PERSONAL_KEYS and isinstance(v, str | int) and str(v).strip():
                out.add(str(v).strip())
            else:
                _personal_values(v, out)
    elif isinstance(value, list):
        for v in value:
            _personal_values(v, out)


def mask_payload(value: Any) -> Any:
    """A copy of a payload with personal fields (emails, phones, names, addresses…) masked.

    Keys in :data:`storeflow.privacy.scrub.PERSONAL_KEYS` have their scalar values masked wherever they
    appear; other strings go through :func:`storeflow.redaction.redact`.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if str(k).lower() in PERSONAL_KEYS and v not in (None, "") and not isinstance(v, dict | list):
                out[k] = mask(str(v))
            else:
                out[k] = mask_payload(v)
        return out
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


@dataclass(frozen=True)
class QuarantineRow:
    """One quarantined record as the browser shows it (personal fields masked)."""

    id: int
    stream: str
    source_system: str
    source_id: str
    rule: str
    reason: str
    run_id: str | None
    created_at: datetime
    resolved_at: datetime | None
    payload: Any

    @property
    def status(self) -> str:
        return "resolved" if self.resolved_at else "open"


@dataclass
class QuarantinePage:
    """One page of the quarantine browser with the values its filters offer."""

    rows: list[QuarantineRow]
    total: int
    streams: list[str]
    rules: list[str]
    runs: list[str]


def quarantine_page(engine: Engine, *, stream: str | None = None, rule: str | None = None,
                    run_id: str | None = None, status: str | None = None, limit: int = 100,
                    offset: int = 0) -> QuarantinePage:
    """Quarantined records filtered by stream, rule, run and status (``open`` | ``resolved``), newest first."""
    q = quarantine.c
    conds = []
    if stream:
        conds.append(q.stream == stream)
    if rule:
        conds.append(q.rule == rule)
    if run_id:
        conds.append(q.run_id == run_id)
    if status == "open":
        conds.append(q.resolved_at.is_(None))
    elif status == "resolved":
        conds.append(q.resolved_at.is_not(None))
    where = and_(true(), *conds)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(quarantine).where(where)).scalar_one()
        rows = conn.execute(select(quarantine).where(where).order_by(q.created_at.desc(), q.id.desc())
                            .limit(max(1, min(limit, 1000))).offset(max(0, offset))).all()
        streams = list(conn.execute(select(q.stream).distinct().order_by(q.stream)).scalars())
        rules = list(conn.execute(select(q.rule).distinct().order_by(q.rule)).scalars())
        runs = list(conn.execute(select(q.run_id).where(q.run_id.is_not(None)).group_by(q.run_id)
                                 .order_by(func.max(q.created_at).desc()).limit(200)).scalars())
    out = []
    for r in rows:
        personal: set[str] = set()
        _personal_values(r.payload, personal)
        out.append(QuarantineRow(r.id, r.stream, r.source_system, r.source_id, r.rule,
                                 redact(r.reason or "", known=personal), r.run_id, r.created_at, r.resolved_at,
                                 mask_payload(r.payload)))
    return QuarantinePage(out, total, streams, rules, runs)


# --- reports ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportLink:
    """One report in the landing zone: its key, what it is and where it lives."""

    key: str
    kind: str  # scoring | campaigns | datadocs
    label: str
    uri: str
    run: str | None = None
    stream: str | None = None


@dataclass
class Reports:
    """The reports page: latest scoring and uplift reports, every run's Data Docs."""

    scoring: list[ReportLink]
    campaigns: list[ReportLink]
    datadocs: list[ReportLink]

    @property
    def latest_scoring(self) -> ReportLink | None:
        return self.scoring[0] if self.scoring else None

    @property
    def latest_campaigns(self) -> ReportLink | None:
        return self.campaigns[0] if self.campaigns else None


def _dated_reports(landing: ObjectStore, prefix: str, kind: str) -> list[ReportLink]:
    out = []
    for key in landing.list_keys(prefix):
        parts = key.split("/")
        if len(parts) == 4 and parts[3] == "index.html":
            out.append(ReportLink(key, kind, parts[2], landing.uri_for(key)))
    # both version schemes start with the as-of date/time, so the newest sorts last
    return sorted(out, key=lambda r: r.label, reverse=True)


def _datadocs(landing: ObjectStore) -> list[ReportLink]:
    out = []
    for key in landing.list_keys(DATADOCS_PREFIX):
        parts = key.split("/")
        if len(parts) == 4 and parts[3].endswith(".html"):
            out.append(ReportLink(key, "datadocs", f"{parts[1]} · {parts[2]}", landing.uri_for(key),
                                  run=parts[2], stream=parts[1]))
    return sorted(out, key=lambda r: (r.run or "", r.stream or ""), reverse=True)


def list_reports(landing: ObjectStore, *, run_id: str | None = None) -> Reports:
    """Scoring reports and campaign uplift reports (newest first) and Data Docs (of ``run_id`` if given)."""
    docs = _datadocs(landing)
    if run_id:
        safe = sanitise_run_id(run_id)
        docs = [d for d in docs if d.run == safe]
    return Reports(_dated_reports(landing, SCORING_PREFIX, "scoring"),
                   _dated_reports(landing, CAMPAIGNS_PREFIX, "campaigns"), docs)


_KEY = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")


def read_report(landing: ObjectStore, key: str) -> tuple[bytes, str]:
    """``(bytes, content type)`` of a report or Data Docs file; ``FileNotFoundError`` for anything else.

    Only keys under :data:`REPORT_PREFIXES` are served (never raw pages or GDPR exports).
    """
    if not _KEY.match(key) or ".." in key.split("/") or not key.startswith(REPORT_PREFIXES):
        raise FileNotFoundError(key)
    data = landing.get_bytes(key)
    ctype = mimetypes.guess_type(key)[0] or "application/octet-stream"
    if ctype.startswith("text/"):
        ctype += "; charset=utf-8"
    return data, ctype


# --- one DAG run --------------------------------------------------------------------------------
@dataclass
class RunView:
    """Everything storeflow recorded for one DAG run."""

    dag_id: str | None
    run_id: str
    runs: list[dict[str, Any]]
    quarantined: int
    reports: Reports


def _real_run_id(engine: Engine, run_id: str, dag_id: str | None) -> str:
    """``run_id`` itself if runs know it, else the one run id whose sanitised form it is."""
    with engine.connect() as conn:
        if conn.execute(select(sync_runs.c.id).where(sync_runs.c.run_id == run_id).limit(1)).first():
            return run_id
        # sanitising turned every other character into "_", which LIKE reads as "any one character"
        like = select(sync_runs.c.run_id).where(sync_runs.c.run_id.like(run_id.replace("%", ""))).distinct()
        if dag_id:
            like = like.where(sync_runs.c.dag_id == dag_id)
        candidates = [r for r in conn.execute(like.limit(50)).scalars() if sanitise_run_id(r) == run_id]
    return candidates[0] if len(candidates) == 1 else run_id


def run_view(engine: Engine, landing: ObjectStore, run_id: str, dag_id: str | None = None) -> RunView:
    """The sync records (with :func:`run_counts`), quarantine count and Data Docs of one DAG run.

    ``run_id`` may also be the sanitised form the landing zone uses (Data Docs folders), e.g.
    ``scheduled__2026-06-01T02_00_00_00_00``: it is matched back to the real run id.
    """
    run_id = _real_run_id(engine, run_id, dag_id)
    cond = sync_runs.c.run_id == run_id
    if dag_id:
        cond = and_(cond, sync_runs.c.dag_id == dag_id)
    with engine.connect() as conn:
        rows = conn.execute(select(sync_runs).where(cond).order_by(sync_runs.c.id)).all()
        n_quarantined = conn.execute(select(func.count()).select_from(
            select(quarantine.c.stream, quarantine.c.source_id).where(quarantine.c.run_id == run_id)
            .distinct().subquery())).scalar_one()
    runs = [{"stream": r.stream, "task_id": r.task_id, "status": r.status, "finished_at": r.finished_at,
             "error": redact(r.error) if r.error else None, **run_counts(r)} for r in rows]
    return RunView(dag_id, run_id, runs, n_quarantined, list_reports(landing, run_id=run_id))


def task_run_counts(engine: Engine, *, run_id: str, dag_id: str | None, task_id: str | None,
                    stream: str | None = None) -> dict[str, Any] | None:
    """:func:`run_counts` of the newest ``sync_runs`` row a task wrote in a DAG run (None if it wrote none)."""
    conds = [sync_runs.c.run_id == run_id, sync_runs.c.dag_id == dag_id, sync_runs.c.task_id == task_id]
    if stream:
        conds.append(sync_runs.c.stream == stream)
    with engine.connect() as conn:
        row = conn.execute(select(sync_runs).where(and_(*conds)).order_by(sync_runs.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    return {"stream": row.stream, "status": row.status, **run_counts(row)}


def landing_key(uri: str | None) -> str | None:
    """The servable landing key inside a report/Data Docs URI (``file://…/datadocs/…`` or ``s3://…/reports/…``)."""
    if not uri:
        return None
    at = max(uri.rfind("/" + prefix) for prefix in REPORT_PREFIXES)  # the last one: the root may hold either
    return uri[at + 1:] if at >= 0 else None
