"""
### check_connections — manual: `storeflow doctor` for the store and POS connections

Checks, without changing data, what storeflow depends on in `storeflow_store` (WooCommerce) and
`storeflow_pos` (Square): reachability, the authentication that works (HTTP Basic over HTTPS, OAuth 1.0a
over plain HTTP), the WooCommerce version, whether `GET /variations` exists, the site's time zone, HTTPS,
the pinned Square API version, the locations and the token's permissions. One log line per check
(OK / WARN / FAIL); a task fails when any of its checks fails, and returns the report.

Param `write_test` (default **false**): also create a throw-away store customer, write and read back the
consent meta `storeflow_email_optout`, and delete the customer (`force=true`).
Run it before going live and after changing a connection. CLI equivalent: `storeflow doctor [--write-test]`.
The connections' "Test connection" button runs the same read-only checks.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task
from storeflow_airflow.defaults import dag_args


@dag(
    **dag_args(dag_id="check_connections", description=
               "Manual: storeflow doctor - check the store and POS connections (auth, versions, permissions)",
               schedule=None,
               tags=("storeflow", "operations")),
    doc_md=__doc__,
    params={
        "write_test": Param(False, type="boolean",
                            description="Also round-trip a consent meta on a throw-away store customer"),
    },
)
def check_connections():
    # a configuration check: retrying cannot fix it, the run shows the verdict at once
    @task(retries=0, execution_timeout=timedelta(minutes=5))
    def check_store(params: dict | None = None) -> dict:
        from storeflow_airflow.hooks import run_connection_checks

        return run_connection_checks("store", write_test=bool((params or {}).get("write_test", False)))

    @task(retries=0, execution_timeout=timedelta(minutes=5))
    def check_pos() -> dict:
        from storeflow_airflow.hooks import run_connection_checks

        return run_connection_checks("pos")

    check_store()
    check_pos()


check_connections()
