"""
### sync_orders — hourly: online orders → POS, in-store orders → warehouse

1. Extract store orders changed since the last run (overlap window, frozen upper bound).
2. Each line of a paid online order becomes one POS ADJUSTMENT IN_STOCK → SOLD with idempotency key
   `sf-sold-<order>-<line>` and `reference_id` = store order id; cancelled/refunded orders are reversed
   exactly once; each paid order gets a POS receipt (`sf-receipt-<order>`), marked so the POS extract
   does not echo it back.
3. Extract POS orders (in-store sales; 72 h look-back for offline-mode orders) into the warehouse.

Emits `warehouse://orders`. Pools: `pos_api`, `store_api`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, task
from storeflow_airflow.defaults import ORDERS, POS_API_POOL, STORE_API_POOL, default_args
from storeflow_airflow.factories import extract_task


@dag(
    dag_id="sync_orders",
    description="Hourly: online orders to POS stock adjustments and receipts",
    schedule=CronDataIntervalTimetable("15 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["storeflow", "sync"],
    doc_md=__doc__,
)
def sync_orders():
    @task(pool=POS_API_POOL)
    def push_pos_movements() -> dict:
        from storeflow_airflow.tasks import push_pos_movements as push

        return push()

    extracts = [extract_task("pos_locations", POS_API_POOL), extract_task("store_orders", STORE_API_POOL)]
    extracts >> push_pos_movements() >> extract_task("pos_orders", POS_API_POOL, outlets=[ORDERS])


sync_orders()
