"""Run a job of the job table (:mod:`storeflow.jobs`) without Airflow, or one of its steps at a time.

:func:`run_job` runs a job's stages in order (the steps of a stage in the given or a seeded random order,
as parallel tasks would; all of them run and the first error is raised after the stage). The Airflow
tasks call :func:`run_extract` / :func:`run_push` for their one step, so a job runs the same code
everywhere. Every step leaves its ``sync_runs`` row (:func:`storeflow.warehouse.runs.recorded_run`).
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Engine

from storeflow.alerts import Channel
from storeflow.jobs import Extract, Job, Push, Step
from storeflow.warehouse.runs import RunRecord, recorded_run

log = logging.getLogger(__name__)


class JobResources(Protocol):
    """What a job needs: the two vendor clients, the warehouse and the landing zone
    (:class:`storeflow.resources.Resources` is one)."""

    def pos_client(self) -> Any: ...

    def store_client(self) -> Any: ...

    def warehouse_engine(self) -> Engine: ...

    def landing_zone(self) -> Any: ...


@dataclass
class StepResult:
    """One step's outcome: ``out``, the small JSON summary a task returns; ``value``, the library's own."""

    step: Step
    out: dict[str, Any]
    value: Any


def run_extract(step: Extract, engine: Engine, landing: Any, resources: JobResources, *, run_id: str,
                logical_date: datetime | None = None, dag_id: str | None = None, task_id: str | None = None,
                full: bool | None = None) -> dict[str, Any]:
    """Land and load ``step``'s stream (``full`` overrides the step's own choice); return its counters."""
    from storeflow.settings import get_settings
    from storeflow.sync.extract import run_stream
    from storeflow.sync.registry import get_stream

    spec = get_stream(step.stream)
    client = resources.pos_client() if step.source_system == "pos" else resources.store_client()
    days = get_settings().reconcile_orders_days
    since = datetime.now(UTC) - timedelta(days=days) if step.lookback else None
    return run_stream(engine, landing, client, spec, run_id=run_id, logical_date=logical_date,
                      full=step.full if full is None else full, since=since, dag_id=dag_id, task_id=task_id)


def _requests(clients: Sequence[Any], before: Sequence[tuple[int, int]], record: RunRecord) -> None:
    """Count the calls ``clients`` made since ``before`` (clients may be shared across steps)."""
    record.requests = sum(c.stats.requests - b[0] for c, b in zip(clients, before, strict=True))
    record.retries = sum(c.stats.retries - b[1] for c, b in zip(clients, before, strict=True))


def _push_catalog(engine: Engine, resources: JobResources, record: RunRecord, run_id: str,
                  channels: list[Channel], echo: Callable[[str], Any]) -> tuple[Any, dict[str, Any]]:
    """POS prices and sellable stock → store, only what changed."""
    from storeflow.sync.catalog import push_catalog

    client = resources.store_client()
    before = [(client.stats.requests, client.stats.retries)]
    result = push_catalog(engine, client, run_id=run_id)
    record.rows_read, record.rows_changed = result.considered, result.changed
    record.rows_pushed = result.pushed
    _requests([client], before, record)
    record.details = result.as_dict()
    if result.errors:
        echo(f"[storeflow] {len(result.errors)} store items rejected, e.g. {result.errors[:3]}")
    return result, result.as_dict()


def _push_movements(engine: Engine, resources: JobResources, record: RunRecord, run_id: str,
                    channels: list[Channel], echo: Callable[[str], Any]) -> tuple[Any, dict[str, Any]]:
    """Online order lines → POS stock movements (exactly once) and receipts for paid orders."""
    from storeflow.sync.orders_push import push_movements, push_receipts

    client = resources.pos_client()
    before = [(client.stats.requests, client.stats.retries)]
    moved = push_movements(engine, client, run_id=run_id)
    receipts = push_receipts(engine, client, run_id=run_id)
    record.rows_changed = moved["adjustments"] + moved["reversals"]
    record.rows_pushed = record.rows_changed + receipts
    record.quarantined = moved["unmapped_lines"]
    _requests([client], before, record)
    record.details = {**moved, "receipts": receipts}
    return record.details, record.details


def _push_customers(engine: Engine, resources: JobResources, record: RunRecord, run_id: str,
                    channels: list[Channel], echo: Callable[[str], Any]) -> tuple[Any, dict[str, Any]]:
    """Golden-record values and opt-outs → POS and store; store customers → POS."""
    from storeflow.sync.customer_push import push_customers

    pos, store = resources.pos_client(), resources.store_client()
    before = [(c.stats.requests, c.stats.retries) for c in (pos, store)]
    result = push_customers(engine, pos, store, run_id=run_id)
    record.rows_read = result.considered
    record.rows_pushed = sum(result.updated.values()) + sum(result.opt_outs.values()) + result.created_in_pos
    record.rows_changed = record.rows_pushed
    _requests([pos, store], before, record)
    record.details = result.as_dict()
    return result, record.details


def _reconcile(engine: Engine, resources: JobResources, record: RunRecord, run_id: str,
               channels: list[Channel], echo: Callable[[str], Any]) -> tuple[Any, dict[str, Any]]:
    """Compare POS, store and warehouse stock; fix attributable drift; record and alert."""
    from storeflow.sync.reconcile import reconcile_inventory

    store = resources.store_client()
    before = [(store.stats.requests, store.stats.retries)]
    report = reconcile_inventory(engine, store, channels, run_id=run_id)
    record.rows_read, record.rows_changed = report.skus_checked, len(report.drifts)
    record.rows_pushed = report.push.get("pushed", 0)
    _requests([store], before, record)
    record.details = report.as_dict()
    return report, {k: v for k, v in report.as_dict().items() if k != "unexplained"}


#: push action → its body (fills the run record; returns the library's result and the task's summary)
PUSHES: dict[str, Callable[..., tuple[Any, dict[str, Any]]]] = {
    "catalog": _push_catalog, "movements": _push_movements, "customers": _push_customers,
    "reconcile": _reconcile,
}


def run_push(step: Push, engine: Engine, resources: JobResources, *, run_id: str, dag_id: str | None = None,
             task_id: str | None = None, channels: Sequence[Channel] = (),
             echo: Callable[[str], Any] = log.info) -> StepResult:
    """Run one push inside its ``sync_runs`` record (stream = ``step.name``; no source window)."""
    with recorded_run(engine, step.name, step.source_system, run_id=run_id, dag_id=dag_id, task_id=task_id,
                      echo=echo) as record:
        value, out = PUSHES[step.action](engine, resources, record, run_id, list(channels), echo)
    return StepResult(step, out, value)


def run_step(step: Step, engine: Engine, landing: Any, resources: JobResources, *, run_id: str,
             dag_id: str | None = None, channels: Sequence[Channel] = (), full: bool | None = None,
             logical_date: datetime | None = None) -> StepResult:
    """Run one step of a job (an extract or a push) under the job's ``run_id``."""
    if isinstance(step, Extract):
        out = run_extract(step, engine, landing, resources, run_id=run_id, logical_date=logical_date,
                          dag_id=dag_id, task_id=step.task_id, full=full)
        return StepResult(step, out, out)
    return run_push(step, engine, resources, run_id=run_id, dag_id=dag_id, task_id=step.task_id,
                    channels=channels)


def new_run_id(job: Job) -> str:
    """A run id for a job run outside Airflow (``manual__<dag_id>__<time>__<random>``)."""
    return f"manual__{job.dag_id}__{datetime.now(UTC):%Y%m%dT%H%M%S}__{uuid.uuid4().hex[:8]}"


def run_stage(stage: Sequence[Step], engine: Engine, landing: Any, resources: JobResources, *, run_id: str,
              dag_id: str | None = None, channels: Sequence[Channel] = (), rng: random.Random | None = None,
              full: bool | None = None) -> dict[str, StepResult]:
    """Run independent steps (parallel tasks in a DAG): in the given order, or shuffled by ``rng``; every one
    runs, and the first error is raised once all have run. Returns each step's result by task id."""
    order = list(stage)
    if rng is not None:
        rng.shuffle(order)
    results: dict[str, StepResult] = {}
    error: Exception | None = None
    for step in order:
        try:
            results[step.task_id] = run_step(step, engine, landing, resources, run_id=run_id, dag_id=dag_id,
                                             channels=channels, full=full)
        except Exception as exc:  # parallel tasks: the others still run; the run fails
            error = error or exc
    if error is not None:
        raise error
    return results


def run_job(job: Job, resources: JobResources, *, run_id: str | None = None, channels: Sequence[Channel] = (),
            rng: random.Random | None = None, full: bool | None = None) -> dict[str, StepResult]:
    """Run ``job``'s stages in order without Airflow (see :func:`run_stage`); return each step's result by
    task id. A failed stage raises its first error and later stages do not run (as downstream tasks would
    not). ``full`` overrides every extract's choice (the manual DAG's param)."""
    run_id = run_id or new_run_id(job)
    engine, landing = resources.warehouse_engine(), resources.landing_zone()
    results: dict[str, StepResult] = {}
    for stage in job.stages:
        results.update(run_stage(stage, engine, landing, resources, run_id=run_id, dag_id=job.dag_id,
                                 channels=channels, rng=rng, full=full))
    return results
