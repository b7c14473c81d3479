"""
### score_customers — when orders and customers have both been refreshed (nightly fallback)

Fits BG/NBD + Gamma-Gamma once (or, below the minimum-data gate of ~500 purchasers and 180 days,
prepares RFM + heuristics), then scores every customer over customer-hash partitions with dynamic
task mapping — so the work spreads over Celery workers as the retailer grows — and swaps the new
scores in atomically. Scores: RFM segment, p_alive, expected orders 30/90/365 d, CLV (historic,
predicted 365 d discounted, net of acquisition cost), churn risk, next order date, replenishment per
SKU, preferred send hour/weekday, preferred channel, category affinity; every row says which method
produced it. An HTML report with plots goes to the landing zone.

Emits `warehouse://customer_scores`.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from storeflow_airflow.defaults import CUSTOMER_SCORES, CUSTOMERS, ORDERS, dag_args


@dag(
    **dag_args(dag_id="score_customers", description=
               "On new orders/customers: RFM, BG/NBD + Gamma-Gamma CLV, churn, next order, affinity",
               schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("30 4 * * *", timezone="UTC"),
                                          assets=(ORDERS & CUSTOMERS)),
               tags=("storeflow", "scoring")),
    doc_md=__doc__,
)
def score_customers():
    @task
    def fit() -> dict:
        from storeflow_airflow.tasks import fit_scoring_models

        return fit_scoring_models()

    @task
    def partitions(model: dict) -> list[int]:
        return model["partitions"]

    @task(max_active_tis_per_dagrun=8)
    def score_partition(partition: int, model: dict) -> int:
        from storeflow_airflow.tasks import score_one_partition

        return score_one_partition(model, partition)

    @task(outlets=[CUSTOMER_SCORES])
    def publish(model: dict, scored: list[int]) -> dict:
        from storeflow_airflow.tasks import publish_customer_scores

        return publish_customer_scores(model)

    model = fit()
    scored = score_partition.partial(model=model).expand(partition=partitions(model))
    publish(model, scored)


score_customers()
