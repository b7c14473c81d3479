"""POS prices and sellable stock → online store, diff-based (DESIGN §3-§4).

The desired store state of every POS SKU (price from the POS, stock from :mod:`storeflow.sync.stock`)
is compared with what storeflow last pushed (``catalog_push_state``), or, for a SKU never pushed, with what the
store held at the last extract. Only differences are sent, in batches of 100: simple products through
``/products/batch``, variations through their parent's ``/variations/batch`` (the store has no
idempotency keys, so every write is an update by store id found through the SKU). New POS items are
created as draft products (simple, or variable with variations); items deleted in the POS are set to
stock 0, never deleted. ``catalog_push_state`` is written only for items the store accepted, so a killed run
simply pushes the rest next time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, String, and_, case, func, insert, literal, or_, select, update

from storeflow.settings import Settings, get_settings
from storeflow.sync.stock import desired_stock_query
from storeflow.warehouse.coltypes import UTCDateTime
from storeflow.warehouse.schema import catalog_push_state, products
from storeflow.warehouse.upsert import upsert

log = logging.getLogger(__name__)


def minor_to_price(amount: int | None, exponent: int = 2) -> str:
    """Minor units → the store's decimal string (``1250`` → ``"12.50"``)."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}" if exponent else f"{sign}{whole}"


@dataclass
class SkuState:
    """One POS SKU with its store identity and desired store fields."""

    sku: str
    pos_item_id: str | None
    name: str
    variation_name: str | None
    attributes: dict[str, str] | None
    store_product_id: int | None
    store_variation_id: int | None
    desired: dict[str, Any]
    is_deleted: bool


@dataclass
class CatalogPlan:
    """What one run will send."""

    simple_updates: list[SkuState] = field(default_factory=list)
    variation_updates: dict[int, list[SkuState]] = field(default_factory=dict)  # parent id → SKUs
    creates: dict[str, list[SkuState]] = field(default_factory=dict)  # POS item id → new SKUs
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return (len(self.simple_updates) + sum(map(len, self.variation_updates.values()))
                + sum(map(len, self.creates.values())))

    def minimum_requests(self, batch: int = 100) -> int:
        """The fewest store requests that can carry this plan (per endpoint, ceil(n / batch))."""
        def chunks(n: int) -> int:
            return -(-n // batch)
        creates = sum(1 + (chunks(len(v)) if len(v) > 1 else 0) for v in self.creates.values())
        return chunks(len(self.simple_updates)) + sum(chunks(len(v)) for v in self.variation_updates.values()) + creates


def _desired(price_minor: int | None, stock: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if price_minor is not None:
        out["regular_price"] = minor_to_price(price_minor)
    if stock is not None:
        out["manage_stock"] = True
        out["stock_quantity"] = int(stock)
    return out


def plan_catalog_push(conn: Connection, settings: Settings | None = None) -> CatalogPlan:
    """Compare the desired store state with the last pushed (or last seen) one; return the differences.

    One query: the desired state (:func:`storeflow.sync.stock.desired_stock_query`) joined with
    ``catalog_push_state``; only SKUs that differ come back, so the cost follows the changes, not the
    catalogue.
    """
    settings = settings or get_settings()
    desired = desired_stock_query(conn, settings).subquery("desired")
    ps = catalog_push_state
    # baseline: what we last pushed, else what the store showed at the last extract
    base_price = func.coalesce(ps.c.price_minor, products.c.store_price_minor)
    base_stock = case((ps.c.sku.is_not(None), ps.c.stock_quantity), else_=products.c.store_stock)
    differs = or_(
        products.c.store_product_id.is_(None),
        and_(desired.c.price_minor.is_not(None), base_price.is_distinct_from(desired.c.price_minor)),
        and_(desired.c.desired_stock.is_not(None), base_stock.is_distinct_from(desired.c.desired_stock)),
    )
    query = (
        select(products, desired.c.desired_stock)
        .join(desired, desired.c.sku == products.c.sku)
        .outerjoin(ps, ps.c.sku == products.c.sku)
        .where(differs)
    )
    plan = CatalogPlan()
    for r in conn.execute(query):
        state = SkuState(r.sku, r.pos_item_id, r.name, r.variation_name, r.attributes, r.store_product_id,
                         r.store_variation_id, _desired(r.price_minor, r.desired_stock), bool(r.is_deleted))
        if r.store_product_id is None:
            if not r.is_deleted:
                plan.creates.setdefault(r.pos_item_id or r.sku, []).append(state)
        elif r.store_variation_id is not None:
            plan.variation_updates.setdefault(r.store_product_id, []).append(state)
        else:
            plan.simple_updates.append(state)
    total = conn.execute(select(func.count()).select_from(products).where(
        products.c.pos_variation_id.is_not(None))).scalar_one()
    plan.unchanged = total - plan.changed
    return plan


@dataclass
class PushResult:
    """Counters of one push."""

    considered: int = 0
    changed: int = 0
    pushed: int = 0
    created: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    minimum_requests: int = 0
    adopted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"considered": self.considered, "changed": self.changed, "pushed": self.pushed,
                "created": self.created, "errors": len(self.errors), "requests": self.requests,
                "minimum_requests": self.minimum_requests, "adopted": self.adopted,
                "error_samples": self.errors[:5]}


def _record(engine: Engine, done: list[tuple[SkuState, int, int | None]], run_id: str | None) -> None:
    """Remember what the store accepted: catalog_push_state and the store columns of products."""
    if not done:
        return
    now = datetime.now(UTC)
    with engine.begin() as conn:
        upsert(conn, catalog_push_state, [
            {"sku": s.sku, "price_minor": _minor(s.desired.get("regular_price")),
             "stock_quantity": s.desired.get("stock_quantity"), "pushed_at": now, "run_id": run_id}
            for s, _, _ in done
        ])
        for s, product_id, variation_id in done:
            conn.execute(update(products).where(products.c.sku == s.sku).values(
                store_product_id=product_id, store_variation_id=variation_id,
                store_stock=s.desired.get("stock_quantity"),
                store_price_minor=products.c.price_minor if "regular_price" in s.desired else products.c.store_price_minor,
            ))


def _minor(price: str | None) -> int | None:
    if not price:
        return None
    whole, _, frac = price.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))


def _error(result_error, sku: str | None) -> dict[str, Any]:
    return {"sku": sku, "code": result_error.code, "message": result_error.message, "status": result_error.status}


def push_catalog(engine: Engine, client: Any, *, run_id: str | None = None,
                 settings: Settings | None = None) -> PushResult:
    """Push the differences to the store; return what was done (per-item errors are collected)."""
    settings = settings or get_settings()
    with engine.connect() as conn:
        plan = plan_catalog_push(conn, settings)
    result = PushResult(considered=plan.changed + plan.unchanged, changed=plan.changed,
                        minimum_requests=plan.minimum_requests())

    def apply(batch_result, states_by_id: dict[int, SkuState], parent: int | None) -> None:
        result.requests += batch_result.requests
        done = []
        for item in batch_result.ok:
            state = states_by_id.get(item.get("id"))
            if state is not None:
                done.append((state, parent if parent else item["id"], item["id"] if parent else None))
        for err in batch_result.errors:
            state = states_by_id.get(err.id) if err.id else None
            result.errors.append(_error(err, state.sku if state else None))
        result.pushed += len(done)
        _record(engine, done, run_id)

    if plan.simple_updates:
        by_id = {s.store_product_id: s for s in plan.simple_updates}
        apply(client.batch_update_products([{"id": i, **s.desired} for i, s in by_id.items()]), by_id, None)
    for parent, states in plan.variation_updates.items():
        by_id = {s.store_variation_id: s for s in states}
        apply(client.batch_update_variations(parent, [{"id": i, **s.desired} for i, s in by_id.items()]),
              by_id, parent)
    if plan.creates:
        _create_items(engine, client, plan.creates, settings, result, run_id)
    with engine.begin() as conn:
        result.adopted = adopt_matching(conn, settings, run_id)
    log.info("[storeflow] catalog push: %s", result.as_dict())
    return result


def adopt_matching(conn: Connection, settings: Settings | None = None, run_id: str | None = None) -> int:
    """Record, as if pushed, the SKUs the store already shows correctly but storeflow never pushed.

    This gives every SKU a baseline, so the nightly reconciliation can tell a change made in the store
    outside storeflow from one storeflow made.
    """
    ps = catalog_push_state
    unbased = conn.execute(select(func.count()).select_from(products).outerjoin(ps, ps.c.sku == products.c.sku)
                           .where(and_(ps.c.sku.is_(None), products.c.store_product_id.is_not(None)))).scalar_one()
    if not unbased:
        return 0
    desired = desired_stock_query(conn, settings).subquery("desired")
    matching = (
        select(products.c.sku, products.c.price_minor, desired.c.desired_stock,
               literal(datetime.now(UTC), type_=UTCDateTime).label("pushed_at"),
               literal(run_id, type_=String()).label("run_id"))
        .join(desired, desired.c.sku == products.c.sku)
        .outerjoin(ps, ps.c.sku == products.c.sku)
        .where(and_(ps.c.sku.is_(None), products.c.store_product_id.is_not(None),
                    products.c.store_price_minor == products.c.price_minor,
                    products.c.store_stock == desired.c.desired_stock))
    )
    result = conn.execute(insert(ps).from_select(["sku", "price_minor", "stock_quantity", "pushed_at", "run_id"],
                                                 matching))
    return max(result.rowcount or 0, 0)


def _create_items(engine: Engine, client: Any, creates: dict[str, list[SkuState]], settings: Settings,
                  result: PushResult, run_id: str | None) -> None:
    """Create new POS items in the store as drafts (adopting products whose SKU already exists)."""
    simple = [states[0] for states in creates.values() if len(states) == 1 and not states[0].variation_name]
    variable = {item: states for item, states in creates.items() if len(states) > 1 or states[0].variation_name}
    if simple:
        payload = [{"name": s.name, "type": "simple", "status": settings.new_product_status, "sku": s.sku,
                    **s.desired} for s in simple]
        batch = client.create_products(payload)
        result.requests += batch.requests
        by_sku = {s.sku: s for s in simple}
        done = [(by_sku[item["sku"]], item["id"], None) for item in batch.ok if item.get("sku") in by_sku]
        for err in batch.errors:
            sku = (err.item or {}).get("sku")
            owner = (err.data or {}).get("resource_id")
            if err.code == "product_invalid_sku" and owner and sku in by_sku:
                done.append((by_sku[sku], int(owner), None))  # already there (earlier run died before recording)
            else:
                result.errors.append(_error(err, sku))
        result.created += len(done)
        _record(engine, done, run_id)
    for states in variable.values():
        attrs = _attribute_options(states)
        parent_batch = client.create_products([{
            "name": states[0].name, "type": "variable", "status": settings.new_product_status,
            "attributes": [{"name": n, "options": sorted(opts), "variation": True, "visible": True}
                           for n, opts in attrs.items()],
        }])
        result.requests += parent_batch.requests
        if not parent_batch.ok:
            result.errors.extend(_error(e, states[0].sku) for e in parent_batch.errors)
            continue
        parent_id = parent_batch.ok[0]["id"]
        var_batch = client.create_variations(parent_id, [
            {"sku": s.sku, "attributes": [{"name": k, "option": v} for k, v in _attributes(s).items()],
             **s.desired} for s in states
        ])
        result.requests += var_batch.requests
        by_sku = {s.sku: s for s in states}
        done = [(by_sku[item["sku"]], parent_id, item["id"]) for item in var_batch.ok if item.get("sku") in by_sku]
        result.errors.extend(_error(e, (e.item or {}).get("sku")) for e in var_batch.errors)
        result.created += len(done)
        _record(engine, done, run_id)


def _attributes(state: SkuState) -> dict[str, str]:
    return state.attributes or {"Option": state.variation_name or state.sku}


def _attribute_options(states: list[SkuState]) -> dict[str, set[str]]:
    options: dict[str, set[str]] = defaultdict(set)
    for s in states:
        for name, value in _attributes(s).items():
            options[name].add(value)
    return options
