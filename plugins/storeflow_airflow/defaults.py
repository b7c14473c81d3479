"""What every storeflow DAG shares: default_args with alerting, tags, pools and Assets."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset

from storeflow import jobs
from storeflow_airflow.notifiers import FailureAlertNotifier, RecoveryNotifier

OWNER = "storeflow"
START_DATE = datetime(2026, 1, 1)

# Assets that link the DAGs (producers set them as outlets, consumers schedule on them): the job table's URIs
CATALOG = Asset(jobs.CATALOG)
ORDERS = Asset(jobs.ORDERS)
CUSTOMERS = Asset(jobs.CUSTOMERS)
CUSTOMER_SCORES = Asset(jobs.CUSTOMER_SCORES)
#: the job table's asset URI → its Asset
ASSETS = {jobs.CATALOG: CATALOG, jobs.ORDERS: ORDERS, jobs.CUSTOMERS: CUSTOMERS,
          jobs.CUSTOMER_SCORES: CUSTOMER_SCORES}

# Pools (created by `make airflow` / the compose init; absent pools fall back in dag.test)
POS_API_POOL = jobs.POS_API_POOL  # POS catalog writes are single-writer per seller
STORE_API_POOL = jobs.STORE_API_POOL


def dag_args(dag_id: str, description: str, *, schedule: Any, tags: tuple[str, ...] | list[str],
             **extra: Any) -> dict:
    """The ``@dag`` arguments every storeflow DAG shares (one run at a time, no catch-up, alerting)."""
    return {"dag_id": dag_id, "description": description, "schedule": schedule, "start_date": START_DATE,
            "catchup": False, "max_active_runs": 1, "default_args": default_args(), "tags": list(tags),
            **extra}


def default_args(**overrides) -> dict:
    """default_args for storeflow DAGs: retries with backoff, a task timeout, failure alert and recovery callbacks."""
    args = {
        "owner": OWNER,
        "retries": 2,
        # STOREFLOW_RETRY_DELAY_SECONDS shortens the delay for tests and the demo
        "retry_delay": timedelta(seconds=float(os.environ.get("STOREFLOW_RETRY_DELAY_SECONDS", "30"))),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        # a hung task (a runaway template, a stuck socket) fails and alerts instead of holding a slot forever;
        # STOREFLOW_TASK_TIMEOUT_MINUTES changes the default, a DAG may pass its own execution_timeout
        "execution_timeout": timedelta(minutes=float(os.environ.get("STOREFLOW_TASK_TIMEOUT_MINUTES", "60"))),
        "on_failure_callback": [FailureAlertNotifier()],
        "on_success_callback": [RecoveryNotifier()],
    }
    args.update(overrides)
    return args
