"""Task bodies: each calls one storeflow library function with plain arguments and returns small metadata.

Heavy imports happen here, inside the functions, never at DAG-parse time.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from airflow.sdk import Asset, get_current_context

log = logging.getLogger(__name__)

#: libraries whose INFO output drowns the task log (Great Expectations: ~200 lines per import)
QUIET_LOGGERS = ("great_expectations",)
#: loggers that set their own level to INFO when imported (so the parent's level does not reach them)
SELF_LEVELLED_LOGGERS = ("great_expectations.data_context.types.base",)


def _below_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def quiet_library_loggers() -> None:
    """Let only WARNING and above through from :data:`QUIET_LOGGERS` (called when a task imports this module).

    A level is set on the parent loggers; the few modules that call ``setLevel(INFO)`` on their own
    logger at import get a filter instead, which that call does not undo.
    """
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in SELF_LEVELLED_LOGGERS:
        logger = logging.getLogger(name)
        if _below_warning not in logger.filters:
            logger.addFilter(_below_warning)


quiet_library_loggers()


def _utc(value: Any) -> datetime:
    """An Airflow context datetime (pendulum) as a plain aware UTC datetime; now when absent."""
    if value is None:
        return datetime.now(UTC)
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _run_meta() -> dict[str, Any]:
    context = get_current_context()
    ti = context["ti"]
    logical = _utc(context.get("logical_date") or context.get("data_interval_end"))
    return {"run_id": context["run_id"], "dag_id": ti.dag_id, "task_id": ti.task_id, "logical_date": logical}


def ui_url(path: str, **query: str) -> str:
    """An absolute link to a storeflow page (``[api] base_url`` + ``/storeflow``), relative without a base URL."""
    from airflow.sdk.configuration import conf

    from storeflow_airflow.ui import URL_PREFIX

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{URL_PREFIX}{path}" + (f"?{urlencode(query)}" if query else "")


def announce(story: dict[str, Any]) -> dict[str, Any]:
    """Put ``story`` (counts and links, JSON values) into the ``extra`` of every Asset this task emits."""
    context = get_current_context()
    outlets = [o for o in (getattr(context["ti"].task, "outlets", None) or []) if isinstance(o, Asset)]
    for asset in outlets:
        context["outlet_events"][asset].extra = dict(story)
    return story


def _run_story(engine, meta: dict[str, Any], stream: str | None = None) -> dict[str, Any]:
    """This task's ``sync_runs`` counts (as the table holds them) plus the links to its pages."""
    from storeflow.ui_data import landing_key, task_run_counts

    story: dict[str, Any] = task_run_counts(engine, run_id=meta["run_id"], dag_id=meta["dag_id"],
                                            task_id=meta["task_id"], stream=stream) or {"stream": stream}
    story["run_id"] = meta["run_id"]
    story["run_page"] = ui_url("/runs", dag_id=meta["dag_id"], run_id=meta["run_id"])
    key = landing_key(story.get("data_docs"))
    if key:
        story["data_docs_url"] = ui_url(f"/reports/view/{key}")
    return story


def client_for(source_system: str):
    """The API client of ``source_system`` from the task's resources (its Airflow connection)."""
    from storeflow_airflow.resources import task_resources

    resources = task_resources()
    return resources.pos_client() if source_system == "pos" else resources.store_client()


def run_job_step(dag_id: str, task_id: str, full: bool | None = None) -> dict[str, Any]:
    """Run this task's step of job ``dag_id`` (:mod:`storeflow.jobs`) with the library's step function."""
    from storeflow.jobs import Extract, get_job

    step = get_job(dag_id).step(task_id)
    if isinstance(step, Extract):
        return _extract_step(step, full)
    return _push_step(step)


def _extract_step(step: Any, full: bool | None) -> dict[str, Any]:
    """Land and load one stream (:func:`storeflow.run_job.run_extract`); announce it, alert on quarantine."""
    from storeflow.run_job import run_extract
    from storeflow_airflow.connections import landing_zone, warehouse_engine
    from storeflow_airflow.resources import task_resources

    meta = _run_meta()
    engine = warehouse_engine()
    out = run_extract(step, engine, landing_zone(), task_resources(), run_id=meta["run_id"],
                      logical_date=meta["logical_date"], dag_id=meta["dag_id"], task_id=meta["task_id"],
                      full=full)
    if step.lookback:  # a look-back re-read: the stream's own extract announces it and owns its alert
        return out
    story = _run_story(engine, meta, step.stream)
    announce(story)
    _quarantine_alert(engine, step.stream, out, meta, story)
    return out


def _push_step(step: Any) -> dict[str, Any]:
    """Run one push in its ``sync_runs`` record (:func:`storeflow.run_job.run_push`), summary line printed."""
    from storeflow.run_job import run_push
    from storeflow_airflow.connections import warehouse_engine
    from storeflow_airflow.notifiers import alert_channels
    from storeflow_airflow.resources import task_resources

    meta = _run_meta()
    engine = warehouse_engine()
    result = run_push(step, engine, task_resources(), run_id=meta["run_id"], dag_id=meta["dag_id"],
                      task_id=meta["task_id"], channels=alert_channels(), echo=print)
    announce(_run_story(engine, meta, step.name))
    return result.out


def _quarantine_alert(engine: Any, stream: str, out: dict[str, Any], meta: dict[str, Any], story: Any) -> None:
    """A run that quarantined records succeeds below the threshold; the records still reach a person."""
    from storeflow.alerts import quarantine_alert
    from storeflow_airflow.notifiers import alert_channels

    if out.get("quarantined"):
        log.warning("%s: %s record(s) quarantined and left for review: %s", stream, out["quarantined"],
                    out.get("quarantined_by_reason"))
    try:
        quarantine_alert(engine, stream=stream, quarantined=int(out.get("quarantined") or 0),
                         by_reason=out.get("quarantined_by_reason") or {}, run_id=str(meta["run_id"]),
                         channels=alert_channels(), link=ui_url("/quarantine", stream=stream))
    except Exception as err:  # alerting must never fail a load that succeeded
        log.error("could not record/send the quarantine alert for %s: %s", stream, err)


def check_freshness() -> dict[str, Any]:
    """Alert on stale streams, recover fresh ones; return each stream's verdict."""
    from storeflow.sync.freshness import check_freshness as check
    from storeflow_airflow.connections import warehouse_engine
    from storeflow_airflow.notifiers import alert_channels

    results = check(warehouse_engine(), alert_channels())
    stale = [r.stream for r in results if not r.fresh]
    print(f"[storeflow] freshness: {len(results) - len(stale)} fresh, stale: {', '.join(stale) or 'none'}")
    return {r.stream: {"fresh": r.fresh, "last_success": r.last_success.isoformat() if r.last_success else None}
            for r in results}


def fit_scoring_models() -> dict[str, Any]:
    """Fit BG/NBD + Gamma-Gamma (or heuristics below the data gate) as of this run; small metadata out."""
    from storeflow.scoring.pipeline import fit_models
    from storeflow.settings import get_settings
    from storeflow_airflow.connections import warehouse_engine

    context = get_current_context()
    as_of = _utc(context.get("data_interval_end"))
    run = fit_models(warehouse_engine(), as_of)
    out = run.to_dict()
    out["partitions"] = list(range(get_settings().scoring_partitions))
    print(f"[storeflow] scoring model {run.model_version}: method={run.method} ({run.gate_reason}), "
          f"{run.n_customers} customers, {run.n_purchasers} purchasers")
    return out


def score_one_partition(model: dict[str, Any], partition: int) -> int:
    """Score one customer-hash partition under the fitted model (staging until published)."""
    from storeflow.scoring.pipeline import score_partition
    from storeflow_airflow.connections import warehouse_engine

    n = len(model["partitions"])
    rows = score_partition(warehouse_engine(), model["model_version"], datetime.fromisoformat(model["as_of"]),
                           partition, n)
    print(f"[storeflow] scored partition {partition}/{n}: {rows} rows")
    return rows


def publish_customer_scores(model: dict[str, Any]) -> dict[str, Any]:
    """Swap the new scores in atomically and write the HTML report to the landing zone."""
    from storeflow.scoring.pipeline import publish_scores, write_report
    from storeflow.ui_data import landing_key
    from storeflow_airflow.connections import landing_zone, warehouse_engine

    engine = warehouse_engine()
    counts = publish_scores(engine, model["model_version"], datetime.fromisoformat(model["as_of"]))
    location = write_report(engine, model["model_version"], landing_zone())
    print(f"[storeflow] scores published: {counts}; report: {location}")
    story = {k: v for k, v in counts.items() if isinstance(v, int | float | str | bool)}
    key = landing_key(location)
    announce({**story, "model_version": model["model_version"], "report": location,
              "report_url": ui_url(f"/reports/view/{key}") if key else None})
    return {**counts, "report": location}


def campaigns_dir():
    """The campaign definitions folder (``include/campaigns`` beside the library)."""
    from pathlib import Path

    import storeflow

    return Path(storeflow.__file__).resolve().parents[1] / "campaigns"


def record_sms_stop_replies() -> int:
    """STOP/QUIT/END/… replies from the SMS gateway → SMS opt-outs (before anything is planned or sent)."""
    from storeflow.campaigns.optouts import fetch_inbound_sms, process_inbound_sms
    from storeflow.settings import get_settings
    from storeflow_airflow.connections import optional_connection, warehouse_engine

    conn = optional_connection("storeflow_sms")
    base = conn.host if conn is not None and conn.host else get_settings().sms_url
    with warehouse_engine().begin() as db:
        written = process_inbound_sms(db, fetch_inbound_sms(base))
    print(f"[storeflow] inbound SMS: {written} opt-outs recorded")
    return written


def plan_all_campaigns() -> dict[str, Any]:
    """Audience → policy → outbox for every valid campaign definition."""
    from storeflow.campaigns.planner import plan_campaigns
    from storeflow_airflow.connections import warehouse_engine

    context = get_current_context()
    as_of = _utc(context.get("data_interval_end"))
    engine = warehouse_engine()
    summary = plan_campaigns(engine, as_of, campaigns_dir())
    for error in summary.errors:
        log.error("campaign problem (that campaign only is left out): %s", error)
    for cid, c in summary.campaigns.items():
        print(f"[storeflow] campaign {cid}: {c}")
    _campaign_problems_alert(engine, context, summary.errors)
    return summary.as_dict()


def _campaign_problems_alert(engine: Any, context: Any, errors: list[str]) -> None:
    """One incident while any campaign file, rule or template is broken; recovered once all plan again."""
    from storeflow.alerts import Alert, raise_alert, resolve_alert
    from storeflow_airflow.notifiers import alert_channels

    key = f"{context['dag'].dag_id}.campaign_definitions"
    try:
        if errors:
            raise_alert(engine, Alert(key=key, kind="campaign_definition",
                                      title=f"{len(errors)} campaign problem(s): those campaigns were left out",
                                      lines={f"Problem {i + 1}": e[:300] for i, e in enumerate(errors[:10])}),
                        alert_channels())
        else:
            resolve_alert(engine, key, alert_channels(), note="every campaign loads and plans")
    except Exception as err:  # alerting must never fail the planning that already succeeded
        log.error("could not record/send the campaign alert: %s", err)


def dispatch_due_messages() -> dict[str, Any]:
    """Send the messages that are due, exactly once."""
    from storeflow.campaigns.outbox import dispatch_due
    from storeflow_airflow.connections import warehouse_engine
    from storeflow_airflow.resources import campaign_senders

    # senders from the storeflow_smtp / storeflow_sms connections; a channel that cannot send keeps its
    # messages planned and the run fails naming what to fix (DispatchConfigError)
    summary = dispatch_due(warehouse_engine(), datetime.now(UTC), senders=campaign_senders())
    print(f"[storeflow] dispatch: {summary.as_dict()}")
    return summary.as_dict()


def measure_all_campaigns() -> dict[str, Any]:
    """Treatment vs holdout uplift per campaign; HTML report to the landing zone."""
    from storeflow.campaigns.measurement import measure_campaigns
    from storeflow_airflow.connections import landing_zone, warehouse_engine

    context = get_current_context()
    as_of = _utc(context.get("data_interval_end"))
    result = measure_campaigns(warehouse_engine(), as_of, landing_zone())
    print(f"[storeflow] campaign measurement: {result.get('report')}")
    return result


def erase_or_export_customer(params: dict[str, Any] | None) -> dict[str, Any]:
    """GDPR request of the ``erase_customer`` DAG: erase one person, or export what storeflow holds.

    Returns the erasure report (pseudonyms and counts), or only the export's location: XCom is not for
    personal data.
    """
    from storeflow.privacy.access_export import export_customer
    from storeflow.privacy.erasure import erase_customer
    from storeflow_airflow.connections import landing_zone, warehouse_engine

    p = params or {}
    customer_id, email = p.get("customer_id") or None, p.get("email") or None
    if bool(customer_id) == bool(email):
        raise ValueError("set exactly one of the params customer_id and email")
    if p.get("action", "erase") == "export":
        doc = export_customer(warehouse_engine(), landing_zone(), customer_id=customer_id, email=email)
        return {"export_uri": doc.get("export_uri"), "tables": sorted(doc["warehouse"])}
    if not (p.get("requested_by") or "").strip():
        raise ValueError("requested_by is required for an erasure")
    dry_run = bool(p.get("dry_run", True))
    report = erase_customer(
        warehouse_engine(), landing_zone(), customer_id=customer_id, email=email,
        pos_client=None if dry_run else client_for("pos"), store_client=None if dry_run else client_for("store"),
        requested_by=p["requested_by"].strip(), dry_run=dry_run,
    )
    return report.as_dict()
