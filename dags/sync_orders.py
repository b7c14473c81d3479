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

from airflow.sdk import dag
from storeflow_airflow.factories import job_dag_args, job_tasks

from storeflow.jobs import get_job

JOB = get_job(dag_id="sync_orders")


@dag(**job_dag_args(JOB), doc_md=__doc__)
def sync_orders():
    job_tasks(JOB)


sync_orders()
