"""Alert notifiers for ``default_args``: one alert per incident, a recovery message when it clears."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from storeflow_airflow.connections import connection_fields, optional_connection, warehouse_engine

log = logging.getLogger(__name__)


def alert_channels() -> list:
    """Channels configured by the ``storeflow_alerts`` (Slack webhook) and ``storeflow_smtp`` connections."""
    from storeflow.alerts import EmailChannel, SlackWebhookChannel
    from storeflow.resources import Resources
    from storeflow.settings import get_settings

    channels: list = []
    slack = optional_connection("storeflow_alerts")
    if slack is not None:
        extra = slack.extra_dejson or {}
        url = extra.get("webhook_url") or next(
            (v for v in (slack.password, slack.host) if v and v.startswith("http")), None
        )
        if url:
            channels.append(SlackWebhookChannel(url))
    fields = connection_fields("storeflow_smtp")
    if fields is not None:  # read now, not cached: alerts follow the connection as it is
        smtp = Resources({"storeflow_smtp": fields}).smtp(get_settings())
        if smtp.alert_to:
            channels.append(EmailChannel(smtp))
    return channels


def incident_key(context: dict[str, Any]) -> str:
    """Incident identity of a task failure: DAG id + task id (map index folded in)."""
    ti = context["ti"]
    return f"{ti.dag_id}.{ti.task_id}"


def failed_connection(exc: BaseException | None) -> str | None:
    """The connection an outage-like failure was on (refused, TLS, 401/403, 5xx or timeouts after retries)."""
    conn_id = getattr(exc, "conn_id", None)
    if not conn_id:
        return None
    status = getattr(exc, "status", None)
    fatal = type(exc).__name__ in ("ConnectionFailed", "AuthFailed")
    return conn_id if fatal or status is None or status >= 500 or status == 429 else None


def connection_incident_key(dag_id: str, conn_id: str) -> str:
    """One incident per connection per DAG: every task that hits the same outage joins it."""
    return f"{dag_id}.connection.{conn_id}"


class FailureAlertNotifier(BaseNotifier):
    """Announces a task's final failure (after its retries) once per incident."""

    def notify(self, context: dict[str, Any]) -> None:  # noqa: D102
        from storeflow.alerts import Alert, raise_alert

        ti = context["ti"]
        exc = context.get("exception")
        error = f"{type(exc).__name__}: {exc}" if exc else "unknown error"
        if type(exc).__name__ == "QualityGateFailed":  # DQ: the alert points at the Data Docs
            from storeflow.quality.judge import dq_alert

            summary = getattr(exc, "summary", None) or {}
            alert = dq_alert(exc, stream=summary.get("suite") or ti.task_id, source_system=summary.get("source", "-"),
                             dag_id=ti.dag_id, task_id=ti.task_id)
            alert.key = incident_key(context)
            alert.lines["Log"] = str(getattr(ti, "log_url", ""))
        elif (conn_id := failed_connection(exc)) is not None:
            alert = Alert(
                key=connection_incident_key(ti.dag_id, conn_id),
                kind="connection",
                title=f"storeflow cannot use connection {conn_id} in {ti.dag_id}",
                lines={"Connection": conn_id, "First failure": f"{ti.dag_id}.{ti.task_id}", "DAG": ti.dag_id,
                       "Task": ti.task_id, "Run": str(context.get("run_id")), "Try": str(ti.try_number),
                       "Error": error[:500]},
                link=getattr(ti, "log_url", None),
            )
        else:
            alert = Alert(
                key=incident_key(context),
                kind="sync_failure",
                title=f"storeflow task failed: {ti.dag_id}.{ti.task_id}",
                lines={"DAG": ti.dag_id, "Task": ti.task_id, "Run": str(context.get("run_id")),
                       "Try": str(ti.try_number), "Error": error[:500]},
                link=getattr(ti, "log_url", None),
            )
        try:
            raise_alert(warehouse_engine(), alert, alert_channels())
        except Exception as err:  # an alerting problem must never mask the task's own failure
            log.error("could not record/send the alert for %s: %s", alert.key, err)


class RecoveryNotifier(BaseNotifier):
    """Closes the task's open incident, if any, with one recovery message."""

    def notify(self, context: dict[str, Any]) -> None:  # noqa: D102
        from storeflow.alerts import resolve_alert

        try:
            engine, channels = warehouse_engine(), alert_channels()
            resolve_alert(engine, incident_key(context), channels)
            for key in _connection_incidents_opened_by(engine, context["ti"]):
                resolve_alert(engine, key, channels, note=f"{context['ti'].task_id} succeeded again")
        except Exception as err:
            log.error("could not resolve the incident for %s: %s", incident_key(context), err)


def _connection_incidents_opened_by(engine: Any, ti: Any) -> list[str]:
    """Open connection incidents of this DAG that this task opened (its success shows the connection works)."""
    from sqlalchemy import select

    from storeflow.warehouse.schema import alert_incidents as t

    prefix = f"{ti.dag_id}.connection."
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.incident_key, t.c.details).where(
            t.c.resolved_at.is_(None), t.c.incident_key.like(prefix.replace("_", r"\_") + "%", escape="\\"))).all()
    return [r.incident_key for r in rows if (r.details or {}).get("Task") == ti.task_id]
