"""
### monitor_freshness — every 15 minutes

Alerts (Slack webhook `storeflow_alerts` and/or email `storeflow_smtp`) when a stream's last
successful sync is older than its limit (default 2× its DAG's schedule; override with
`STOREFLOW_FRESHNESS_LIMITS_MINUTES`). One alert per stale stream; a recovery message when it is
fresh again. Reads `sync_runs`; writes `alert_incidents`.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task
from storeflow_airflow.defaults import dag_args


@dag(
    **dag_args(dag_id="monitor_freshness", description=
               "Every 15 min: alert when a stream has not synced within its freshness limit",
               schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
               tags=("storeflow", "operations")),
    doc_md=__doc__,
)
def monitor_freshness():
    @task
    def check() -> dict:
        from storeflow_airflow.tasks import check_freshness

        return check_freshness()

    check()


monitor_freshness()
