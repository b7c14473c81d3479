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

from airflow.sdk import dag
from storeflow_airflow.factories import job_dag_args, job_tasks

from storeflow.jobs import get_job

JOB = get_job(dag_id="sync_customers")


@dag(**job_dag_args(JOB), doc_md=__doc__)
def sync_customers():
    job_tasks(JOB)


sync_customers()
