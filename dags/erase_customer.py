"""
### erase_customer — manual: GDPR erasure or export of one customer

Trigger with params: `action` (`erase` | `export`), **one of** `customer_id` (golden id, preferred) or
`email`, `requested_by` (who asked: ticket or DPO name), `dry_run` (default **true**: report what would
change and change nothing; set it to false to erase).

**erase**: records the opt-out in the POS (`sms_opt_out: yes` / `email_opt_out: yes` note lines) and the
store (`storeflow_email_optout` / `storeflow_sms_optout` meta) — the retailer's systems keep their
accounting records, nothing is deleted there — then pseudonymises the person in raw landing pages and
earlier exports and, in one warehouse transaction, in every table (ids → keyed-HMAC pseudonyms, personal
fields blanked, order totals kept), sets `customers.erased_at`, unsubscribes every channel, adds a
suppression and writes `erasure_log`. Idempotent: a re-run logs `already_erased`.
**export**: writes everything storeflow holds about the person to `exports/<customer_id>/<ts>.json` in the
landing zone; the task returns only its location (never the content: XCom is not for personal data).

Needs `STOREFLOW_PSEUDONYM_SECRET` in the workers' environment. The trigger params are kept in the
Airflow metadata DB: prefer `customer_id` over `email`. CLI equivalent:
`python -m storeflow.privacy erase|export --customer-id X [--dry-run]` (or `storeflow privacy …`).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task
from storeflow_airflow.defaults import POS_API_POOL, default_args


@dag(
    dag_id="erase_customer",
    description=("Manual: GDPR erasure or export of one customer across warehouse, outbox, landing, "
                 "POS and store"),
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["storeflow", "privacy"],
    doc_md=__doc__,
    params={
        "action": Param("erase", type="string", enum=["erase", "export"], description="erase or export"),
        "customer_id": Param(None, type=["null", "string"], description="Golden customer id (preferred)"),
        "email": Param(None, type=["null", "string"], description="Email, when the customer id is unknown"),
        "requested_by": Param("", type="string", description="Who requested it (ticket / DPO); required"),
        "dry_run": Param(True, type="boolean", description="Report what would change; change nothing"),
    },
)
def erase_customer():
    @task(pool=POS_API_POOL)
    def run_request(params: dict | None = None) -> dict:
        from storeflow_airflow.tasks import erase_or_export_customer

        return erase_or_export_customer(params)

    run_request()


erase_customer()
