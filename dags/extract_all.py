"""
### extract_all — first load and replays

Lands every stream of the POS (Square contract) and the online store (WooCommerce contract) as raw
gzip JSON pages in the landing zone, then loads them into the warehouse. Run it once after
installation (``full=true``) and whenever you want a complete re-read; the hourly/nightly sync DAGs
keep things incremental afterwards.

Writes: landing `<stream>/YYYY/MM/DD/<run_id>/page-NNNNN.jsonl.gz`; warehouse tables products,
stock_levels, locations, orders, order_lines, invoices, customer_identities, source_consents,
sync_runs, sync_cursors.
"""

from __future__ import annotations

from airflow.sdk import dag
from storeflow_airflow.factories import job_dag_args, job_tasks

from storeflow.jobs import get_job

JOB = get_job(dag_id="extract_all")


@dag(**job_dag_args(JOB), doc_md=__doc__)
def extract_all():
    job_tasks(JOB)


extract_all()
