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

from airflow.sdk import dag
from storeflow_airflow.factories import job_dag_args, job_tasks

from storeflow.jobs import get_job

JOB = get_job(dag_id="reconcile_inventory")


@dag(**job_dag_args(JOB), doc_md=__doc__)
def reconcile_inventory():
    job_tasks(JOB)


reconcile_inventory()
