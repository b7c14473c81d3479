"""Task factories shared by the DAG files (cheap to import: the work happens in ``storeflow_airflow.tasks``).

A sync DAG is its job of the job table (:mod:`storeflow.jobs`): :func:`job_dag_args` gives the ``@dag``
arguments and :func:`job_tasks` one task per step, stage after stage.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, Param, task

from storeflow.jobs import Job, Step
from storeflow_airflow.defaults import ASSETS, dag_args


def job_dag_args(job: Job, **extra) -> dict:
    """The ``@dag`` arguments of ``job``: its id, description, cron (data-interval timetable, UTC) and tags;
    a manual job with a ``full`` param gets that param (default true)."""
    schedule = CronDataIntervalTimetable(job.cron, timezone="UTC") if job.cron else None
    if job.full_param:
        full = Param(True, type="boolean", description="Re-read everything instead of since the cursor")
        extra.setdefault("params", {"full": full})
    return dag_args(job.dag_id, job.description, schedule=schedule, tags=job.tags, **extra)


def step_task(job: Job, step: Step):
    """The task that runs ``step`` of ``job`` (its task id, pool and outlets from the table)."""
    dag_id, task_id = job.dag_id, step.task_id
    options = {"task_id": task_id, "pool": step.pool, "outlets": [ASSETS[uri] for uri in step.outlets]}
    if job.full_param:

        @task(**options)
        def run_with_params(params: dict | None = None) -> dict:
            from storeflow_airflow.tasks import run_job_step

            return run_job_step(dag_id, task_id, full=bool((params or {}).get("full", True)))

        return run_with_params()

    @task(**options)
    def run() -> dict:
        from storeflow_airflow.tasks import run_job_step

        return run_job_step(dag_id, task_id)

    return run()


def job_tasks(job: Job) -> list[list]:
    """One task per step of ``job``; each stage's tasks run after every task of the stage before."""
    stages = [[step_task(job, step) for step in stage] for stage in job.stages]
    for before, after in zip(stages, stages[1:], strict=False):
        for upstream in before:
            upstream >> after
    return stages


def record_stop_replies_task():
    """A task that records inbound SMS STOP replies as opt-outs (run before planning and before sending)."""

    @task(task_id="record_stop_replies")
    def record_stop_replies() -> int:
        from storeflow_airflow.tasks import record_sms_stop_replies

        return record_sms_stop_replies()

    return record_stop_replies()
