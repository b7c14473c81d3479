"""The sync jobs of :mod:`storeflow.jobs` run with :func:`storeflow.run_job.run_job` (the code the DAG tasks
run, one step at a time) against a simulator cluster and a warehouse, for e2e tests and the soak."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from storeflow import jobs
from storeflow.alerts import Channel
from storeflow.connectors.square import SquareClient
from storeflow.connectors.woocommerce import WooClient
from storeflow.landing import LandingZone
from storeflow.run_job import run_job, run_stage
from storeflow_simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET


@dataclass
class Pipeline:
    """One retailer's storeflow against a simulator cluster and a warehouse (its own job resources).

    ``rng`` shuffles the steps a DAG runs in parallel (None: table order).
    """

    engine: Any
    pos_url: str
    store_url: str
    channels: list[Channel] = field(default_factory=list)
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        self.pos = SquareClient(self.pos_url, DEMO_POS_TOKEN, backoff_base=0.01, backoff_max=0.5)
        self.store = WooClient(self.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET, backoff_base=0.01,
                               backoff_max=0.5)
        self.landing = LandingZone.from_settings()

    # --- job resources (storeflow.run_job.JobResources) ---------------------------------------------------
    def pos_client(self) -> SquareClient:
        return self.pos

    def store_client(self) -> WooClient:
        return self.store

    def warehouse_engine(self) -> Any:
        return self.engine

    def landing_zone(self) -> LandingZone:
        return self.landing

    # --- jobs -------------------------------------------------------------------------------------------
    def _run_id(self, name: str) -> str:
        return f"test__{name}__{uuid.uuid4().hex[:8]}"

    def _job(self, job: jobs.Job) -> dict[str, Any]:
        results = run_job(job, self, run_id=self._run_id(job.dag_id), channels=self.channels, rng=self.rng)
        return {task_id: r.value for task_id, r in results.items()}

    def extract(self, *streams: str, full: bool = False) -> dict[str, dict]:
        steps = [jobs.Extract(name, full=full) for name in streams]
        results = run_stage(steps, self.engine, self.landing, self, run_id=self._run_id("extract"),
                            rng=self.rng)
        return {r.step.name: r.out for r in results.values()}

    def extract_all(self) -> None:
        self._job(jobs.EXTRACT_ALL)

    def sync_catalog(self):
        return self._job(jobs.SYNC_CATALOG)["push_store_catalog"]

    def sync_orders(self) -> dict[str, int]:
        return self._job(jobs.SYNC_ORDERS)["push_pos_movements"]

    def sync_customers(self):
        return self._job(jobs.SYNC_CUSTOMERS)["push_customers"]

    def reconcile(self):
        return self._job(jobs.RECONCILE_INVENTORY)["reconcile"]
