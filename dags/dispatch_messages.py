"""
### dispatch_messages — every 15 minutes

Claims due messages from the outbox (`FOR UPDATE SKIP LOCKED` on PostgreSQL), re-checks consent and
suppressions at send time, sends by SMTP / Amazon SES / SMS (Twilio contract) with the message key in
`X-Storeflow-Message-Key`, a stable Message-ID and RFC 8058 one-click unsubscribe headers, and records
the provider id. Messages left in `sending` by a killed worker are resolved by a provider look-up
before anything new is sent, so no customer gets a message twice. SMS STOP replies are recorded first.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task
from storeflow_airflow.defaults import dag_args
from storeflow_airflow.factories import record_stop_replies_task


@dag(
    **dag_args(dag_id="dispatch_messages", description=
               "Every 15 min: send due messages from the outbox by email and SMS, exactly once",
               schedule=CronTriggerTimetable("*/15 * * * *", timezone="UTC"),
               tags=("storeflow", "campaigns")),
    doc_md=__doc__,
)
def dispatch_messages():
    @task
    def dispatch() -> dict:
        from storeflow_airflow.tasks import dispatch_due_messages

        return dispatch_due_messages()

    record_stop_replies_task() >> dispatch()


dispatch_messages()
