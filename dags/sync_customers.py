"""
### sync_customers — nightly: customers both ways through the golden record

1. Extract POS customers (search by `updated_at` window) and store customers (the store's customer
   endpoint has no date filter: full scan, filtered client-side on `date_modified_gmt`), landing raw
   pages first; cleaning, quarantine and identity resolution (email, E.164 phone, then a fuzzy name +
   postcode rule) update the golden records (field-level latest update wins; consent = the most recent
   explicit choice per channel).
2. Write back what differs: golden contact fields to every source record, opt-outs everywhere (an
   opt-out anywhere is an opt-out everywhere), store customers created in the POS. `push_state` keeps
   what was last written, so nothing is re-pushed without a change.

Emits `warehouse://customers`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import CronDataIntervalTimetable, dag, task
from storeflow_airflow.defaults import CUSTOMERS, POS_API_POOL, STORE_API_POOL, default_args
from storeflow_airflow.factories import extract_task


@dag(
    dag_id="sync_customers",
    description="Nightly: customers and opt-outs both ways; golden records and consents",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["storeflow", "sync", "customers"],
    doc_md=__doc__,
)
def sync_customers():
    @task(pool=STORE_API_POOL, outlets=[CUSTOMERS])
    def push_customers() -> dict:
        from storeflow_airflow.tasks import push_customers_both_ways

        return push_customers_both_ways()

    [extract_task("pos_customers", POS_API_POOL), extract_task("store_customers", STORE_API_POOL)] >> push_customers()


sync_customers()
