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


def extract_stream(stream: str, full: bool = False) -> dict[str, Any]:
    """Land and load one stream into the warehouse (incremental unless ``full``)."""
    from storeflow.sync.extract import run_stream
    from storeflow.sync.registry import get_stream
    from storeflow_airflow.connections import landing_zone, warehouse_engine

    spec = get_stream(stream)
    meta = _run_meta()
    engine = warehouse_engine()
    out = run_stream(
        engine, landing_zone(), client_for(spec.source_system), spec,
        run_id=meta["run_id"], logical_date=meta["logical_date"], full=full,
        dag_id=meta["dag_id"], task_id=meta["task_id"],
    )
    story = _run_story(engine, meta, stream)
    announce(story)
    _quarantine_alert(engine, stream, out, meta, story)
    return out


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


def _recorded(stream: str, source_system: str, work) -> dict[str, Any]:
    """Run ``work(record)`` inside a ``sync_runs`` record and log its one-line summary."""
    from storeflow.warehouse.runs import RunRecord, finish_run, start_run
    from storeflow_airflow.connections import warehouse_engine

    context = get_current_context()
    meta = _run_meta()
    engine = warehouse_engine()
    record = start_run(engine, RunRecord(
        stream=stream, source_system=source_system, run_id=meta["run_id"], dag_id=meta["dag_id"],
        task_id=meta["task_id"], window_start=context.get("data_interval_start"),
        window_end=context.get("data_interval_end"),
    ))
    try:
        out = work(engine, record, meta)
    except BaseException as exc:
        finish_run(engine, record, "failed", f"{type(exc).__name__}: {exc}")
        print(record.summary_line("failed"))
        raise
    finish_run(engine, record, "success")
    print(record.summary_line("success"))
    announce(_run_story(engine, meta, stream))
    return out


def push_store_catalog() -> dict[str, Any]:
    """POS prices and sellable stock → store, only what changed."""
    from storeflow.sync.catalog import push_catalog

    def work(engine, record, meta):
        client = client_for("store")
        result = push_catalog(engine, client, run_id=meta["run_id"])
        record.rows_read, record.rows_changed, record.rows_pushed = result.considered, result.changed, result.pushed
        record.requests, record.retries = client.stats.requests, client.stats.retries
        record.details = result.as_dict()
        if result.errors:
            print(f"[storeflow] {len(result.errors)} store items rejected, e.g. {result.errors[:3]}")
        return result.as_dict()

    return _recorded("store_catalog_push", "store", work)


def push_pos_movements() -> dict[str, Any]:
    """Online order lines → POS stock movements (exactly once) and receipts for paid orders."""
    from storeflow.sync.orders_push import push_movements, push_receipts

    def work(engine, record, meta):
        client = client_for("pos")
        moved = push_movements(engine, client, run_id=meta["run_id"])
        receipts = push_receipts(engine, client, run_id=meta["run_id"])
        record.rows_changed = moved["adjustments"] + moved["reversals"]
        record.rows_pushed = record.rows_changed + receipts
        record.quarantined = moved["unmapped_lines"]
        record.requests, record.retries = client.stats.requests, client.stats.retries
        record.details = {**moved, "receipts": receipts}
        return record.details

    return _recorded("pos_adjustments_push", "pos", work)


def push_customers_both_ways() -> dict[str, Any]:
    """Golden-record values and opt-outs → POS and store; store customers → POS."""
    from storeflow.sync.customers import push_customers

    def work(engine, record, meta):
        pos, store = client_for("pos"), client_for("store")
        result = push_customers(engine, pos, store, run_id=meta["run_id"])
        record.rows_read = result.considered
        record.rows_pushed = sum(result.updated.values()) + sum(result.opt_outs.values()) + result.created_in_pos
        record.rows_changed = record.rows_pushed
        record.requests = pos.stats.requests + store.stats.requests
        record.retries = pos.stats.retries + store.stats.retries
        record.details = result.as_dict()
        return record.details

    return _recorded("customers_push", "both", work)


def extract_recent_store_orders() -> dict[str, Any]:
    """Re-read the last ``reconcile_orders_days`` of store orders (catches orders the hourly sync missed)."""
    from datetime import timedelta

    from storeflow.settings import get_settings
    from storeflow.sync.extract import run_stream
    from storeflow.sync.registry import get_stream
    from storeflow_airflow.connections import landing_zone, warehouse_engine

    meta = _run_meta()
    since = datetime.now(UTC) - timedelta(days=get_settings().reconcile_orders_days)
    return run_stream(warehouse_engine(), landing_zone(), client_for("store"), get_stream("store_orders"),
                      run_id=meta["run_id"], logical_date=meta["logical_date"], since=since,
                      dag_id=meta["dag_id"], task_id=meta["task_id"])


def reconcile_stock() -> dict[str, Any]:
    """Compare POS, store and warehouse stock; fix attributable drift; record and alert."""
    from storeflow.sync.reconcile import reconcile_inventory
    from storeflow_airflow.notifiers import alert_channels

    def work(engine, record, meta):
        store = client_for("store")
        report = reconcile_inventory(engine, store, alert_channels(), run_id=meta["run_id"])
        record.rows_read, record.rows_changed = report.skus_checked, len(report.drifts)
        record.rows_pushed = report.push.get("pushed", 0)
        record.requests, record.retries = store.stats.requests, store.stats.retries
        record.details = report.as_dict()
        return {k: v for k, v in report.as_dict().items() if k != "unexplained"}

    return _recorded("reconcile_inventory", "both", work)


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
