"""The sync DAGs' steps as plain calls (same library functions the DAG tasks call), for e2e tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from storeflow.alerts import Channel
from storeflow.connectors.square import SquareClient
from storeflow.connectors.woocommerce import WooClient
from storeflow.landing import LandingZone
from storeflow.simulators.credentials import DEMO_POS_TOKEN, DEMO_STORE_KEY, DEMO_STORE_SECRET
from storeflow.sync.catalog import push_catalog
from storeflow.sync.customers import push_customers
from storeflow.sync.extract import run_stream
from storeflow.sync.orders_push import push_movements, push_receipts
from storeflow.sync.reconcile import reconcile_inventory
from storeflow.sync.registry import all_streams, get_stream

ALL = list(all_streams())


@dataclass
class Pipeline:
    """One retailer's storeflow against a simulator cluster and a warehouse."""

    engine: Any
    pos_url: str
    store_url: str
    channels: list[Channel] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pos = SquareClient(self.pos_url, DEMO_POS_TOKEN, backoff_base=0.01, backoff_max=0.5)
        self.store = WooClient(self.store_url, DEMO_STORE_KEY, DEMO_STORE_SECRET, backoff_base=0.01, backoff_max=0.5)
        self.landing = LandingZone.from_settings()

    def _run_id(self, name: str) -> str:
        return f"test__{name}__{uuid.uuid4().hex[:8]}"

    def extract(self, *streams: str, full: bool = False, since=None) -> dict[str, dict]:
        out = {}
        for name in streams:
            spec = get_stream(name)
            client = self.pos if spec.source_system == "pos" else self.store
            out[name] = run_stream(self.engine, self.landing, client, spec, run_id=self._run_id(name), full=full,
                                   since=since)
        return out

    def extract_all(self) -> None:
        self.extract(*ALL, full=True)

    def sync_catalog(self):
        self.extract("pos_locations", "pos_catalog", "pos_inventory", "store_products", "store_orders")
        return push_catalog(self.engine, self.store, run_id=self._run_id("catalog"))

    def sync_orders(self) -> dict[str, int]:
        self.extract("pos_locations", "store_orders")
        moved = push_movements(self.engine, self.pos, run_id=self._run_id("orders"))
        moved["receipts"] = push_receipts(self.engine, self.pos, run_id=self._run_id("receipts"))
        self.extract("pos_orders")
        return moved

    def sync_customers(self):
        self.extract("pos_customers", "store_customers")
        return push_customers(self.engine, self.pos, self.store, run_id=self._run_id("customers"))

    def reconcile(self):
        from datetime import UTC, datetime, timedelta

        # as the DAG: missed orders applied first, then the full reads (counts that include them)
        self.extract("store_orders", since=datetime.now(UTC) - timedelta(days=7))
        push_movements(self.engine, self.pos, run_id=self._run_id("reconcile"))
        self.extract("pos_inventory", "store_products", full=True)
        return reconcile_inventory(self.engine, self.store, self.channels, run_id=self._run_id("reconcile"))
