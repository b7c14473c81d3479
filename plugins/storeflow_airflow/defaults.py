"""What every storeflow DAG shares: default_args with alerting, tags, pools and Assets."""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import Asset

from storeflow_airflow.notifiers import FailureAlertNotifier, RecoveryNotifier

OWNER = "storeflow"

# Assets that link the DAGs (producers set them as outlets, consumers schedule on them)
CATALOG = Asset("warehouse://catalog")
ORDERS = Asset("warehouse://orders")
CUSTOMERS = Asset("warehouse://customers")
CUSTOMER_SCORES = Asset("warehouse://customer_scores")

# Pools (created by `make airflow` / the compose init; absent pools fall back in dag.test)
POS_API_POOL = "pos_api"  # POS catalog writes are single-writer per seller
STORE_API_POOL = "store_api"


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
