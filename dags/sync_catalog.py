"""
### sync_catalog — hourly: POS prices and sellable stock → online store

1. Extract the POS catalog, POS inventory counts, store products and store orders changed since the last
   run (cursor − overlap, upper bound frozen at run start), landing raw pages first. The store's orders are
   read here too: an order placed (or cancelled) since the last orders sync has already moved the store's
   stock, so it must count in the formula below.
2. Compute each SKU's store state: POS price; stock = IN_STOCK at the online-feeding locations − safety
   buffer − net units of online orders not yet applied to (or reversed in) the POS, floored at 0.
3. Push only the differences from what was last pushed, 100 per batch; new POS items become draft
   store products; items deleted in the POS go out of stock (never deleted).

Emits `warehouse://catalog`. Pools: `pos_api`, `store_api`. Data interval = the hour it covers.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, task
from storeflow_airflow.defaults import CATALOG, POS_API_POOL, STORE_API_POOL, default_args
from storeflow_airflow.factories import extract_task


@dag(
    dag_id="sync_catalog",
    description="Hourly: POS prices and sellable stock to the online store",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["storeflow", "sync"],
    doc_md=__doc__,
)
def sync_catalog():
    @task(pool=STORE_API_POOL, outlets=[CATALOG])
    def push_store_catalog() -> dict:
        from storeflow_airflow.tasks import push_store_catalog as push

        return push()

    extracts = [extract_task("pos_locations", POS_API_POOL), extract_task("pos_catalog", POS_API_POOL),
                extract_task("pos_inventory", POS_API_POOL), extract_task("store_products", STORE_API_POOL),
                extract_task("store_orders", STORE_API_POOL)]
    extracts >> push_store_catalog()


sync_catalog()
