"""Task bodies: each calls one storeflow library function with plain arguments and returns small metadata.

Heavy imports happen here, inside the functions, never at DAG-parse time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import get_current_context


def _run_meta() -> dict[str, Any]:
    context = get_current_context()
    ti = context["ti"]
    logical = context.get("logical_date") or context.get("data_interval_end") or datetime.now(UTC)
    return {"run_id": context["run_id"], "dag_id": ti.dag_id, "task_id": ti.task_id, "logical_date": logical}


def client_for(source_system: str):
    """The API client of ``source_system`` built from its Airflow connection."""
    from storeflow_airflow.connections import StoreflowPosHook, StoreflowStoreHook

    hook = StoreflowPosHook() if source_system == "pos" else StoreflowStoreHook()
    return hook.get_conn()


def extract_stream(stream: str, full: bool = False) -> dict[str, Any]:
    """Land and load one stream into the warehouse (incremental unless ``full``)."""
    from storeflow.sync.extract import run_stream
    from storeflow.sync.registry import get_stream
    from storeflow_airflow.connections import landing_zone, warehouse_engine

    spec = get_stream(stream)
    meta = _run_meta()
    return run_stream(
        warehouse_engine(), landing_zone(), client_for(spec.source_system), spec,
        run_id=meta["run_id"], logical_date=meta["logical_date"], full=full,
        dag_id=meta["dag_id"], task_id=meta["task_id"],
    )


def check_freshness() -> dict[str, Any]:
    """Alert on stale streams, recover fresh ones; return each stream's verdict."""
    from storeflow.sync.freshness import check_freshness as check
    from storeflow_airflow.connections import warehouse_engine
    from storeflow_airflow.notifiers import alert_channels

    results = check(warehouse_engine(), alert_channels())
    stale = [r.stream for r in results if not r.fresh]
    print(f"[storeflow] freshness: {len(results) - len(stale)} fresh, stale: {', '.join(stale) or 'none'}")
    return {r.stream: {"fresh": r.fresh, "last_success": r.last_success.isoformat() if r.last_success else None}
            for r in results}
