"""
### erase_customer — manual: GDPR erasure or export of one customer

Trigger with params: `action` (`erase` | `export`), **one of** `customer_id` (golden id, preferred) or
`email`, `requested_by` (who asked: ticket or DPO name), `dry_run` (default **true**: report what would
change and change nothing; set it to false to erase).

**erase**: records the opt-out in the POS (`sms_opt_out: yes` / `email_opt_out: yes` note lines) and the
store (`_storeflow_email_optout` / `_storeflow_sms_optout` meta) — the retailer's systems keep their
accounting records, nothing is deleted there — then pseudonymises the person in raw landing pages and
earlier exports and, in one warehouse transaction, in every table (ids → keyed-HMAC pseudonyms, personal
fields blanked, order totals kept), sets `customers.erased_at`, unsubscribes every channel, adds a
suppression and writes `erasure_log`. Idempotent: a re-run logs `already_erased`.
**export**: writes everything storeflow holds about the person to `exports/<customer_id>/<ts>.json` in the
landing zone; the task returns only its location (never the content: XCom is not for personal data).

Needs `STOREFLOW_PSEUDONYM_SECRET` in the workers' environment. The trigger params are kept in the
Airflow metadata DB: prefer `customer_id` over `email`. CLI equivalent:
`python -m storeflow.gdpr erase|export --customer-id X [--dry-run]`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task
from storeflow_airflow.defaults import POS_API_POOL, default_args


@dag(
    dag_id="erase_customer",
    description="Manual: GDPR erasure or export of one customer across warehouse, outbox, landing, POS and store",
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
        from storeflow_airflow.connections import landing_zone, warehouse_engine
        from storeflow_airflow.tasks import client_for

        from storeflow.gdpr import erase_customer as erase
        from storeflow.gdpr import export_customer

        p = params or {}
        customer_id, email = p.get("customer_id") or None, p.get("email") or None
        if bool(customer_id) == bool(email):
            raise ValueError("set exactly one of the params customer_id and email")
        if p.get("action", "erase") == "export":
            doc = export_customer(warehouse_engine(), landing_zone(), customer_id=customer_id, email=email)
            return {"export_uri": doc.get("export_uri"), "tables": sorted(doc["warehouse"])}
        if not (p.get("requested_by") or "").strip():
            raise ValueError("requested_by is required for an erasure")
        dry_run = bool(p.get("dry_run", True))
        report = erase(
            warehouse_engine(), landing_zone(), customer_id=customer_id, email=email,
            pos_client=None if dry_run else client_for("pos"), store_client=None if dry_run else client_for("store"),
            requested_by=p["requested_by"].strip(), dry_run=dry_run,
        )
        return report.as_dict()

    run_request()


erase_customer()
