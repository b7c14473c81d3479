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

from airflow.sdk import dag
from storeflow_airflow.factories import job_dag_args, job_tasks

from storeflow.jobs import get_job

JOB = get_job(dag_id="sync_catalog")


@dag(**job_dag_args(JOB), doc_md=__doc__)
def sync_catalog():
    job_tasks(JOB)


sync_catalog()
