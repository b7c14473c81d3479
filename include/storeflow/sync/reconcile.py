"""Nightly inventory reconciliation between POS, store and warehouse.

Run after fresh *full* reads of POS inventory and store products and a re-read of the last days of
store orders (so orders the hourly sync missed — order edits do not bump ``date_modified`` — are in the
warehouse and have been applied to the POS). Then, per SKU:

* ``desired`` — what the store should show (:func:`storeflow.sync.stock.desired_store_stock`);
* ``actual`` — what the store shows now;
* ``expected`` — what the store should show *given our last push and the store's own behaviour*: the
  last pushed stock minus the units of online orders placed since that push (the store decrements its
  own stock when an order is paid and does not restore it on refunds).

A SKU with ``actual != desired`` is *drift*. If ``actual == expected`` the drift is attributable (the
POS moved since the last push, or a missed order was applied just now): it is fixed by pushing
``desired``. Otherwise someone changed the store's stock outside storeflow: the SKU is reported as
unexplained and fixed only when ``settings.reconcile_fix_unexplained`` is on (the POS is the system of
record, but a shop may prefer to look first). A summary row goes to ``reconciliation_runs``; drift above
``settings.drift_alert_units`` raises an alert (one per incident; recovery once below).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select

from storeflow.alerts import Alert, Channel, raise_alert, resolve_alert
from storeflow.settings import Settings, get_settings
from storeflow.sync.catalog import enforce_catalog_budget, push_catalog
from storeflow.sync.stock import desired_store_stock
from storeflow.warehouse.schema import catalog_push_state, order_lines, orders, products, reconciliation_runs

log = logging.getLogger(__name__)
STORE_SELF_REDUCING = ("processing", "completed", "on-hold", "refunded")
ALERT_KEY = "reconcile_inventory.drift"


@dataclass
class Drift:
    """One SKU whose store stock differs from what it should be."""

    sku: str
    desired: int
    actual: int | None
    expected: int | None
    attributable: bool

    @property
    def units(self) -> int:
        return abs((self.actual or 0) - self.desired)


@dataclass
class ReconcileReport:
    """What reconciliation found and did."""

    skus_checked: int = 0
    drifts: list[Drift] = field(default_factory=list)
    fixed_skus: int = 0
    push: dict[str, Any] = field(default_factory=dict)

    @property
    def drift_units(self) -> int:
        return sum(d.units for d in self.drifts)

    @property
    def unexplained(self) -> list[Drift]:
        return [d for d in self.drifts if not d.attributable]

    def as_dict(self) -> dict[str, Any]:
        return {"skus_checked": self.skus_checked, "drift_skus": len(self.drifts), "drift_units": self.drift_units,
                "fixed_skus": self.fixed_skus, "unexplained_skus": len(self.unexplained),
                "unexplained": [d.__dict__ for d in self.unexplained[:50]]}


def _units_sold_since(conn: Connection, since: dict[str, datetime]) -> dict[str, int]:
    """SKU → units of store orders (that reduce store stock) created after that SKU's last push."""
    if not since:
        return {}
    earliest = min(since.values())
    rows = conn.execute(
        select(order_lines.c.sku, order_lines.c.quantity, orders.c.created_at)
        .join(orders, and_(orders.c.source_system == order_lines.c.source_system,
                           orders.c.order_id == order_lines.c.order_id))
        .where(and_(orders.c.source_system == "store", orders.c.status.in_(STORE_SELF_REDUCING),
                    orders.c.created_at > earliest))
    )
    out: dict[str, int] = defaultdict(int)
    for sku, qty, created in rows:
        if sku in since and created > since[sku]:
            out[sku] += int(Decimal(str(qty)))
    return dict(out)


def find_drift(conn: Connection, settings: Settings | None = None) -> tuple[int, list[Drift]]:
    """(SKUs checked, drifting SKUs) from the warehouse's fresh view of both systems."""
    settings = settings or get_settings()
    desired = desired_store_stock(conn, settings)
    actual = {r.sku: r.store_stock for r in conn.execute(
        select(products.c.sku, products.c.store_stock).where(products.c.store_product_id.is_not(None)))}
    pushed = {r.sku: (r.stock_quantity, r.pushed_at) for r in conn.execute(
        select(catalog_push_state.c.sku, catalog_push_state.c.stock_quantity, catalog_push_state.c.pushed_at))}
    sold = _units_sold_since(conn, {sku: at for sku, (_, at) in pushed.items()})
    checked, drifts = 0, []
    for sku, want in desired.items():
        if sku not in actual:
            continue  # not in the store yet: the catalog sync creates it
        checked += 1
        have = actual[sku]
        if have == want:
            continue
        last = pushed.get(sku)
        if last is None or last[0] is None:
            drifts.append(Drift(sku, want, have, None, True))  # never pushed: first alignment
            continue
        expected = max(0, int(last[0]) - sold.get(sku, 0))
        drifts.append(Drift(sku, want, have, expected, have == expected))
    return checked, drifts


def reconcile_inventory(engine: Engine, store_client: Any, channels: list[Channel], *, run_id: str | None = None,
                        settings: Settings | None = None, now: datetime | None = None) -> ReconcileReport:
    """Find drift, fix what can be attributed (or everything, if configured), record and alert."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    report = ReconcileReport()
    with engine.connect() as conn:
        report.skus_checked, report.drifts = find_drift(conn, settings)
    to_fix = [d for d in report.drifts if d.attributable or settings.reconcile_fix_unexplained]
    if to_fix:
        # forget the last-pushed state of these SKUs so the diff push re-sends their absolute stock
        with engine.begin() as conn:
            conn.execute(delete(catalog_push_state).where(catalog_push_state.c.sku.in_([d.sku for d in to_fix])))
            for d in to_fix:
                conn.execute(products.update().where(products.c.sku == d.sku).values(store_stock=d.actual))
        result = push_catalog(engine, store_client, run_id=run_id, settings=settings, enforce_budget=False)
        report.push = result.as_dict()
        report.fixed_skus = len(to_fix)
    else:
        result = None
    with engine.begin() as conn:
        conn.execute(insert(reconciliation_runs).values(
            run_id=run_id, checked_at=now, skus_checked=report.skus_checked, drift_skus=len(report.drifts),
            drift_units=report.drift_units, fixed_skus=report.fixed_skus,
            unexplained_skus=len(report.unexplained), details=report.as_dict(),
        ))
    if report.drift_units > settings.drift_alert_units:
        raise_alert(engine, Alert(
            key=ALERT_KEY, kind="drift", title="storeflow inventory drift above threshold",
            lines={"SKUs drifting": str(len(report.drifts)), "Units": str(report.drift_units),
                   "Fixed": str(report.fixed_skus), "Unexplained": str(len(report.unexplained)),
                   "Threshold": str(settings.drift_alert_units),
                   "Examples": ", ".join(f"{d.sku} ({d.actual}→{d.desired})" for d in report.unexplained[:5])},
        ), channels, now=now)
    else:
        resolve_alert(engine, ALERT_KEY, channels, now=now)
    log.info("[storeflow] reconciliation: %s", {k: v for k, v in report.as_dict().items() if k != "unexplained"})
    if result is not None:
        enforce_catalog_budget(result)  # after the report is recorded and alerted
    return report
