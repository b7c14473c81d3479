"""
### plan_campaigns — when new scores are published (daily fallback)

For every campaign defined in `include/campaigns/*.yaml` (an invalid file is reported and skipped):
audience rules over the scores → policy pipeline, in this order, each exclusion recorded with its
reason: consent per channel and topic → suppressions → global holdout → campaign holdout → smart
sending → frequency caps across channels → post-purchase cooldown for discounts → re-eligibility →
arbitration by priority → channel choice → send time (preferred hour in the customer's time zone,
held out of quiet hours, never dropped). Writes `messages` (state planned), `campaign_runs` and
`campaign_exclusions`. SMS STOP replies are recorded first.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, dag, task
from storeflow_airflow.defaults import CUSTOMER_SCORES, dag_args
from storeflow_airflow.factories import record_stop_replies_task


@dag(
    **dag_args(dag_id="plan_campaigns", description=
               "Daily and on new scores: audiences, consent, caps, holdouts and send times into the outbox",
               schedule=AssetOrTimeSchedule(timetable=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
                                          assets=CUSTOMER_SCORES),
               tags=("storeflow", "campaigns")),
    doc_md=__doc__,
)
def plan_campaigns():
    @task
    def plan() -> dict:
        from storeflow_airflow.tasks import plan_all_campaigns

        return plan_all_campaigns()

    record_stop_replies_task() >> plan()


plan_campaigns()
