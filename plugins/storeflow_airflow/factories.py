"""Task factories shared by the DAG files (cheap to import: the work happens in ``storeflow_airflow.tasks``)."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import Asset, task


def extract_task(stream: str, pool: str, *, task_id: str | None = None, full: bool = False,
                 outlets: Sequence[Asset] = ()):
    """A task that lands and loads one stream (incremental unless ``full``)."""

    @task(task_id=task_id or f"extract_{stream}", pool=pool, outlets=list(outlets))
    def extract() -> dict:
        from storeflow_airflow.tasks import extract_stream

        return extract_stream(stream, full=full)

    return extract()


def record_stop_replies_task():
    """A task that records inbound SMS STOP replies as opt-outs (run before planning and before sending)."""

    @task(task_id="record_stop_replies")
    def record_stop_replies() -> int:
        from storeflow_airflow.tasks import record_sms_stop_replies

        return record_sms_stop_replies()

    return record_stop_replies()
