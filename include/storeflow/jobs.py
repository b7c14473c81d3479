"""The job table: every sync job's shape, declared once.

A job is a DAG id, a cron, and its *stages*: the steps of one stage run side by side (parallel Airflow
tasks), the stages run one after the other. A step is an :class:`Extract` (land and load one stream) or a
:class:`Push` (write what the warehouse decided to a vendor, or reconcile). Every step records one
``sync_runs`` row under its :attr:`~Extract.name`; freshness watches exactly those names.

The DAG files read this table at parse time, so it imports nothing but the standard library.
:func:`storeflow.run_job.run_job` runs a job without Airflow (demo, tests, soak, bench).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

#: Airflow pools (created by `make airflow` / the compose init): POS writes are single-writer per seller
POS_API_POOL = "pos_api"
STORE_API_POOL = "store_api"

#: warehouse assets that link the DAGs (producers emit them, consumers schedule on them)
CATALOG = "warehouse://catalog"
ORDERS = "warehouse://orders"
CUSTOMERS = "warehouse://customers"
CUSTOMER_SCORES = "warehouse://customer_scores"

#: every stream storeflow extracts → the asset a full extract of it refreshes (None: reference data only).
#: Same names as :func:`storeflow.sync.registry.all_streams` (a test keeps the two equal).
STREAMS: dict[str, str | None] = {
    "pos_locations": None,
    "pos_catalog": CATALOG,
    "pos_inventory": CATALOG,
    "pos_customers": CUSTOMERS,
    "pos_orders": ORDERS,
    "pos_invoices": ORDERS,
    "store_products": CATALOG,
    "store_customers": CUSTOMERS,
    "store_orders": ORDERS,
}

PushAction = Literal["catalog", "movements", "customers", "reconcile"]


def pool_of(source_system: str) -> str:
    """The pool that rations calls to ``source_system`` (``pos`` or ``store``)."""
    return POS_API_POOL if source_system == "pos" else STORE_API_POOL


def source_of(stream: str) -> str:
    """The source system a stream is read from (its name's prefix: ``pos`` or ``store``)."""
    return stream.split("_", 1)[0]


@dataclass(frozen=True)
class Extract:
    """Land and load one stream: incremental from its cursor, ``full`` re-reads everything, ``lookback``
    re-reads the last ``settings.reconcile_orders_days`` without moving the cursor."""

    stream: str
    task: str | None = None
    full: bool = False
    lookback: bool = False
    outlets: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The ``sync_runs.stream`` this step records."""
        return self.stream

    @property
    def task_id(self) -> str:
        return self.task or f"extract_{self.stream}"

    @property
    def source_system(self) -> str:
        return source_of(self.stream)

    @property
    def pool(self) -> str:
        return pool_of(self.source_system)


@dataclass(frozen=True)
class Push:
    """Push the warehouse's decisions to a vendor; recorded as ``sync_runs.stream`` = ``name``."""

    name: str
    task_id: str
    action: PushAction
    source_system: Literal["pos", "store", "both"]
    pool: str
    outlets: tuple[str, ...] = ()


Step = Extract | Push


def _every(cron: str) -> timedelta:
    """How often a ``minute hour * * *`` cron fires (hourly or daily: the only shapes the table uses)."""
    fields = cron.split()
    if len(fields) != 5 or fields[2:] != ["*", "*", "*"] or "*" in fields[0]:
        raise ValueError(f"unsupported cron {cron!r}: use 'M * * * *' (hourly) or 'M H * * *' (daily)")
    return timedelta(hours=1) if fields[1] == "*" else timedelta(days=1)


@dataclass(frozen=True)
class Job:
    """One job: its DAG's identity and schedule, and its stages of steps."""

    dag_id: str
    description: str
    cron: str | None
    stages: tuple[tuple[Step, ...], ...]
    tags: tuple[str, ...] = ("storeflow", "sync")
    freshness_limit: timedelta | None = None  # None: 2 × the schedule
    full_param: bool = False  # a manual DAG whose "full" param (default true) decides full vs incremental

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step, stage by stage."""
        return tuple(step for stage in self.stages for step in stage)

    @property
    def every(self) -> timedelta | None:
        """How often the job runs (None: manual)."""
        return None if self.cron is None else _every(self.cron)

    @property
    def limit(self) -> timedelta | None:
        """The freshness limit of the names this job records (None: a manual job sets no limit)."""
        if self.freshness_limit is not None:
            return self.freshness_limit
        every = self.every
        return None if every is None else 2 * every

    def step(self, task_id: str) -> Step:
        """The step run by task ``task_id``."""
        for step in self.steps:
            if step.task_id == task_id:
                return step
        raise KeyError(f"{self.dag_id} has no step {task_id!r}")


SYNC_CATALOG = Job(
    dag_id="sync_catalog",
    description="Hourly: POS prices and sellable stock to the online store",
    cron="0 * * * *",
    stages=(
        (Extract("pos_locations"), Extract("pos_catalog"), Extract("pos_inventory"),
         Extract("store_products"), Extract("store_orders")),
        (Push("store_catalog_push", "push_store_catalog", "catalog", "store", STORE_API_POOL, (CATALOG,)),),
    ),
)

SYNC_ORDERS = Job(
    dag_id="sync_orders",
    description="Hourly: online orders to POS stock adjustments and receipts",
    cron="15 * * * *",
    stages=(
        (Extract("pos_locations"), Extract("store_orders")),
        (Push("pos_adjustments_push", "push_pos_movements", "movements", "pos", POS_API_POOL),),
        # in-store sales after the push, so its receipts are already marked ours
        (Extract("pos_orders", outlets=(ORDERS,)),),
    ),
)

SYNC_CUSTOMERS = Job(
    dag_id="sync_customers",
    description="Nightly: customers and opt-outs both ways; golden records and consents",
    cron="0 2 * * *",
    tags=("storeflow", "sync", "customers"),
    stages=(
        (Extract("pos_customers"), Extract("store_customers")),
        (Push("customers_push", "push_customers", "customers", "both", STORE_API_POOL, (CUSTOMERS,)),),
    ),
)

RECONCILE_INVENTORY = Job(
    dag_id="reconcile_inventory",
    description="Nightly: compare POS, warehouse and store stock; fix drift; alert above threshold",
    cron="0 3 * * *",
    tags=("storeflow", "sync", "inventory"),
    stages=(
        (Extract("store_orders", task="recent_store_orders", lookback=True),),
        (Push("pos_adjustments_push", "apply_missed_orders", "movements", "pos", POS_API_POOL),),
        # counts read after the missed orders are applied: read before, they would push those units back
        (Extract("pos_inventory", task="full_pos_inventory", full=True),
         Extract("store_products", task="full_store_products", full=True)),
        (Push("reconcile_inventory", "reconcile", "reconcile", "both", STORE_API_POOL),),
    ),
)

EXTRACT_ALL = Job(
    dag_id="extract_all",
    description="Manual: full or incremental extract of every POS and store stream (first load, replays)",
    cron=None,
    tags=("storeflow", "extract"),
    full_param=True,
    stages=(tuple(Extract(stream, task=stream, full=True, outlets=(asset,) if asset else ())
                  for stream, asset in STREAMS.items()),),
)

#: every job by DAG id
JOBS: dict[str, Job] = {job.dag_id: job for job in (SYNC_CATALOG, SYNC_ORDERS, SYNC_CUSTOMERS,
                                                     RECONCILE_INVENTORY, EXTRACT_ALL)}


def freshness_limits() -> dict[str, timedelta]:
    """Every name a scheduled job records → the tightest limit among the jobs recording it."""
    out: dict[str, timedelta] = {}
    for job in JOBS.values():
        limit = job.limit
        if limit is None:
            continue
        for step in job.steps:
            out[step.name] = min(limit, out.get(step.name, limit))
    return out


def get_job(dag_id: str) -> Job:
    """The job run by DAG ``dag_id``."""
    try:
        return JOBS[dag_id]
    except KeyError:
        raise KeyError(f"unknown job {dag_id!r}; known: {', '.join(JOBS)}") from None
