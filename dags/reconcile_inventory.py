"""
### reconcile_inventory — nightly: full stock comparison of POS, store and warehouse

1. Read the last 7 days of store orders and apply the online orders the hourly sync missed to the POS
   (exactly once, same idempotency keys).
2. Then the full reads: POS inventory counts (so they include what step 1 applied), store products and
   variations (on stores before WooCommerce 10 stock changes do not bump `date_modified`, so only a full
   scan sees them).
3. Per SKU compare the store's stock with what it should be; drift explained by our last push and the
   store's own orders is fixed by pushing the POS-derived stock; unexplained drift (edited outside
   storeflow) is reported (and fixed only if `STOREFLOW_RECONCILE_FIX_UNEXPLAINED=true`).
4. A summary row in `reconciliation_runs`; an alert when drift exceeds `STOREFLOW_DRIFT_ALERT_UNITS`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, task
from storeflow_airflow.defaults import POS_API_POOL, STORE_API_POOL, default_args
from storeflow_airflow.factories import extract_task


@dag(
    dag_id="reconcile_inventory",
    description="Nightly: compare POS, warehouse and store stock; fix drift; alert above threshold",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["storeflow", "sync", "inventory"],
    doc_md=__doc__,
)
def reconcile_inventory():
    @task(pool=STORE_API_POOL)
    def recent_store_orders() -> dict:
        from storeflow_airflow.tasks import extract_recent_store_orders

        return extract_recent_store_orders()

    @task(pool=POS_API_POOL)
    def apply_missed_orders() -> dict:
        from storeflow_airflow.tasks import push_pos_movements

        return push_pos_movements()

    @task(pool=STORE_API_POOL)
    def reconcile() -> dict:
        from storeflow_airflow.tasks import reconcile_stock

        return reconcile_stock()

    full_reads = [extract_task("pos_inventory", POS_API_POOL, task_id="full_pos_inventory", full=True),
                  extract_task("store_products", STORE_API_POOL, task_id="full_store_products", full=True)]
    # the counts are read after the missed orders are applied: read before, they would push those units back
    recent_store_orders() >> apply_missed_orders() >> full_reads >> reconcile()


reconcile_inventory()
