"""
### measure_campaigns — nightly uplift per campaign

Orders within the attribution window (default 7 days) after a message, per campaign: treatment vs
holdout conversion rate, revenue per member, incremental revenue and a two-proportion z-test. Writes
`campaign_uplift` and an HTML report with a plot to the landing zone.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task
from storeflow_airflow.defaults import dag_args


@dag(
    **dag_args(dag_id="measure_campaigns", description=
               "Nightly: campaign uplift against holdouts, attributed orders, HTML report",
               schedule=CronDataIntervalTimetable("0 5 * * *", timezone="UTC"),
               tags=("storeflow", "campaigns")),
    doc_md=__doc__,
)
def measure_campaigns():
    @task
    def measure() -> dict:
        from storeflow_airflow.tasks import measure_all_campaigns

        return measure_all_campaigns()

    measure()


measure_campaigns()
