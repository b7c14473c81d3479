"""Helpers for the catalog/stock tests: an independent POS truth, the store's view, a store request log.

Everything here reads the simulators over their HTTP APIs (or counts requests inside the simulator's
ASGI stack); nothing reads the warehouse, so the expectations do not come from the code under test.
"""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

import requests

CATALOG_STREAMS = ["pos_locations", "pos_catalog", "pos_inventory", "store_products"]
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestLog:
    """ASGI layer inside a simulator that records every API request it serves (``/_sim/`` excluded)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and not scope.get("path", "").startswith("/_sim/"):
            self.calls.append((scope["method"].upper(), scope["path"]))
        await self.app(scope, receive, send)

    def writes(self) -> list[tuple[str, str]]:
        """Requests that can change the store (anything but GET/HEAD/OPTIONS)."""
        return [c for c in self.calls if c[0] not in READS]

    def clear(self) -> None:
        self.calls.clear()


def log_store_requests(sims: Any) -> RequestLog:
    """Insert a :class:`RequestLog` between the store simulator's fault layer and its app."""
    injector = sims.injectors["store"]
    log = RequestLog(injector.app)
    injector.app = log
    return log


def _variations(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj.get("type") == "ITEM":
        return list((obj.get("item_data") or {}).get("variations") or [])
    if obj.get("type") == "ITEM_VARIATION":
        return [obj]
    return []


def pos_catalog(pos: Any) -> dict[str, dict[str, Any]]:
    """Live, SKU-bearing POS variations read over the API: variation id → {sku, price, tracked}."""
    out: dict[str, dict[str, Any]] = {}
    for page in pos.search_catalog(None, include_deleted=False):
        for obj in page:
            if obj.get("is_deleted"):
                continue
            for var in _variations(obj):
                data = var.get("item_variation_data") or {}
                if var.get("is_deleted") or not data.get("sku"):
                    continue
                out[var["id"]] = {"sku": data["sku"], "price": (data.get("price_money") or {}).get("amount"),
                                  "tracked": data.get("track_inventory") is not False}
    return out


def pos_sellable(pos: Any, pos_url: str) -> dict[str, Decimal]:
    """Variation id → summed IN_STOCK at ACTIVE locations (negative counts included), from the POS."""
    active = {loc.id for loc in pos.list_locations() if loc.status == "ACTIVE"}
    counts = requests.get(f"{pos_url}/_sim/inventory", timeout=30).json()["counts"]
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for c in counts:
        if c["state"] == "IN_STOCK" and c["location_id"] in active:
            sums[c["catalog_object_id"]] += Decimal(c["quantity"])
    return dict(sums)


def expected_store_stock(pos: Any, pos_url: str, buffer: int = 0,
                         pending: dict[str, int] | None = None) -> dict[str, int]:
    """SKU → max(0, sellable POS stock − buffer − unapplied online units) for tracked live SKUs."""
    pending = pending or {}
    sellable = pos_sellable(pos, pos_url)
    return {v["sku"]: max(0, math.floor(sellable.get(var_id, Decimal(0))) - buffer - pending.get(v["sku"], 0))
            for var_id, v in pos_catalog(pos).items() if v["tracked"]}


def store_stock(store: Any, skus: list[str]) -> dict[str, int | None]:
    """SKU → managed stock the store shows (None when it does not manage stock), read over the API."""
    found = store.find_by_skus(skus)
    return {sku: (p.stock_quantity if p.manage_stock is True else None) for sku, p in found.items()}
