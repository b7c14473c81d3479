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

from datetime import datetime

from airflow.sdk import Param, dag, task
from storeflow_airflow.defaults import CATALOG, CUSTOMERS, ORDERS, POS_API_POOL, STORE_API_POOL, default_args

POS_STREAMS = ["pos_locations", "pos_catalog", "pos_inventory", "pos_customers", "pos_orders", "pos_invoices"]
STORE_STREAMS = ["store_products", "store_customers", "store_orders"]
OUTLETS = {"catalog": [CATALOG], "inventory": [CATALOG], "products": [CATALOG], "orders": [ORDERS],
           "invoices": [ORDERS], "customers": [CUSTOMERS]}


@dag(
    dag_id="extract_all",
    description="Manual: full or incremental extract of every POS and store stream (first load, replays)",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=["storeflow", "extract"],
    doc_md=__doc__,
    params={"full": Param(True, type="boolean", description="Re-read everything instead of since the cursor")},
)
def extract_all():
    for stream in POS_STREAMS + STORE_STREAMS:
        pool = POS_API_POOL if stream.startswith("pos_") else STORE_API_POOL

        @task(task_id=stream, pool=pool, outlets=OUTLETS.get(stream.split("_", 1)[1], []))
        def extract(stream: str = stream, params: dict | None = None) -> dict:
            from storeflow_airflow.tasks import extract_stream

            return extract_stream(stream, full=bool((params or {}).get("full", True)))

        extract()


extract_all()
