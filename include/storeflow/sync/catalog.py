"""POS prices and sellable stock → online store, diff-based (DESIGN §3-§4).

The desired store state of every POS SKU (price from the POS, stock from :mod:`storeflow.sync.stock`)
is compared with what storeflow last pushed (``catalog_push_state``), or, for a SKU never pushed, with what the
store held at the last extract. Only differences are considered, and of those only the fields the store does
not already show are sent (see *No needless writes*), in batches of 100: simple products through
``/products/batch``, variations through their parent's ``/variations/batch`` (the store has no
idempotency keys, so every write is an update by store id found through the SKU). New POS items are
created as draft products (simple, or variable with variations); items deleted in the POS are set to
stock 0, never deleted. ``catalog_push_state`` is written only for items the store accepted (and whose
answer shows the values sent), so a killed run simply pushes the rest next time.

**No needless writes.** On a real WooCommerce every product save moves ``date_modified`` (and re-dirties
the product for every reader), so a write of a value the store already holds is a cost, not a no-op. A
field is written only when the desired value differs from the last pushed one *and* from the value the store
currently shows (``products.store_*``: the store's latest read in this run's ``store_products`` extract, or
the store's answer to our last write). Example: stock 72 pushed, a paid online order makes the store drop to
71 itself; until the orders sync applies the order to the POS the desired stock is 72 − 1 unapplied = 71, which
the store already shows, so nothing is sent. Such SKUs are recorded as pushed and counted in
``skipped_writes``.

**Stock never guessed.** A SKU whose stock is unknown (``stock_state = 'unknown'``, see
:mod:`storeflow.sync.stock`) gets no stock write, and a new item with unknown stock is not created yet;
both are counted in ``stock_unknown`` (WARNING). SKUs whose sellable POS stock is negative (an in-store
oversell) are pushed as 0 and counted in ``negative_pos_stock`` (WARNING). Per-item rejections count
against the push error budget (:func:`storeflow.sync.push_errors.enforce_error_budget`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, String, and_, func, insert, literal, or_, select, update

from storeflow.settings import Settings, get_settings
from storeflow.sync.push_errors import enforce_error_budget
from storeflow.sync.stock import (
    STATE_NEGATIVE,
    STATE_UNKNOWN,
    desired_stock_query,
    negative_stock_skus,
    stock_state_counts,
)
from storeflow.warehouse.coltypes import UTCDateTime
from storeflow.warehouse.schema import catalog_push_state, products
from storeflow.warehouse.upsert import upsert

if TYPE_CHECKING:
    from storeflow.connectors.woocommerce import BatchResult, WooClient
    from storeflow.connectors.woocommerce_models import BatchItemError

log = logging.getLogger(__name__)
JOB = "push_catalog"


def minor_to_price(amount: int | None, exponent: int = 2) -> str:
    """Minor units → the store's decimal string (``1250`` → ``"12.50"``)."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(int(amount)), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}" if exponent else f"{sign}{whole}"


@dataclass
class SkuState:
    """One POS SKU with its store identity, the fields to send and the state to record once accepted.

    ``desired`` holds only the store fields this run writes; ``price_minor`` / ``stock`` are the values
    ``catalog_push_state`` records for the SKU once the store accepted the write (or already showed them).
    """

    sku: str
    pos_item_id: str | None
    name: str
    variation_name: str | None
    attributes: dict[str, str] | None
    store_product_id: int | None
    store_variation_id: int | None
    desired: dict[str, Any]
    is_deleted: bool
    price_minor: int | None = None
    stock: int | None = None


@dataclass
class CatalogPlan:
    """What one run will send."""

    simple_updates: list[SkuState] = field(default_factory=list)
    variation_updates: dict[int, list[SkuState]] = field(default_factory=dict)  # parent id → SKUs
    creates: dict[str, list[SkuState]] = field(default_factory=dict)  # POS item id → new SKUs
    unchanged: int = 0
    skipped: list[SkuState] = field(default_factory=list)  # differ from the last push, store already shows them
    stock_states: dict[str, int] = field(default_factory=dict)  # stock_state → SKUs
    deferred_creates: int = 0  # new items not created because their stock is unknown

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


def _fields(price_minor: int | None, stock: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if price_minor is not None:
        out["regular_price"] = minor_to_price(price_minor)
    if stock is not None:
        out["manage_stock"] = True
        out["stock_quantity"] = int(stock)
    return out


def _differs(want: int | None, base: int | None, shown: int | None) -> bool:
    """A field is written when it has a desired value that is neither the baseline nor what the store shows."""
    return want is not None and want != base and want != shown


def plan_catalog_push(conn: Connection, settings: Settings | None = None) -> CatalogPlan:
    """Compare the desired store state with the last pushed (or last seen) one; return the differences.

    One query: the desired state (:func:`storeflow.sync.stock.desired_stock_query`) joined with
    ``catalog_push_state``; only SKUs that differ come back, so the cost follows the changes, not the
    catalogue. Of those, fields the store already shows are not sent (the SKU lands in ``skipped``).
    """
    settings = settings or get_settings()
    desired = desired_stock_query(conn, settings).subquery("desired")
    ps = catalog_push_state
    # price baseline: what we last pushed, else what the store showed at the last extract. Stock baseline: what
    # the store shows now (its answer to our last write, or a later read: the store moves its own stock for
    # orders, cancellations and admin edits, and the POS owns stock), else what we last pushed
    base_price = func.coalesce(ps.c.price_minor, products.c.store_price_minor)
    base_stock = func.coalesce(products.c.store_stock, ps.c.stock_quantity)
    differs = or_(
        products.c.store_product_id.is_(None),
        and_(desired.c.price_minor.is_not(None), base_price.is_distinct_from(desired.c.price_minor)),
        and_(desired.c.desired_stock.is_not(None), base_stock.is_distinct_from(desired.c.desired_stock)),
        # the store already shows it, but our record does not: recorded as pushed, without a request
        and_(desired.c.desired_stock.is_not(None), ps.c.stock_quantity.is_distinct_from(desired.c.desired_stock)),
    )
    query = (
        select(products, desired.c.desired_stock, desired.c.stock_state,
               base_price.label("base_price"), base_stock.label("base_stock"),
               ps.c.price_minor.label("pushed_price"), ps.c.stock_quantity.label("pushed_stock"))
        .join(desired, desired.c.sku == products.c.sku)
        .outerjoin(ps, ps.c.sku == products.c.sku)
        .where(differs)
    )
    plan = CatalogPlan(stock_states=stock_state_counts(conn, settings))
    for r in conn.execute(query):
        stock = r.desired_stock
        state = SkuState(r.sku, r.pos_item_id, r.name, r.variation_name, r.attributes, r.store_product_id,
                         r.store_variation_id, {}, bool(r.is_deleted),
                         price_minor=r.price_minor if r.price_minor is not None else r.pushed_price,
                         stock=stock if stock is not None else r.pushed_stock)
        if r.store_product_id is None:
            if r.is_deleted:
                continue
            if stock is None and r.stock_state == STATE_UNKNOWN:
                plan.deferred_creates += 1  # never create a product with a stock we do not know
                continue
            state.desired = _fields(r.price_minor, stock)
            plan.creates.setdefault(r.pos_item_id or r.sku, []).append(state)
            continue
        state.desired = _fields(
            r.price_minor if _differs(r.price_minor, r.base_price, r.store_price_minor) else None,
            stock if _differs(stock, r.base_stock, r.store_stock) else None,
        )
        if not state.desired:
            plan.skipped.append(state)
        elif r.store_variation_id is not None:
            plan.variation_updates.setdefault(r.store_product_id, []).append(state)
        else:
            plan.simple_updates.append(state)
    total = sum(plan.stock_states.values())
    plan.unchanged = total - plan.changed - len(plan.skipped)
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
    skipped_writes: int = 0  # SKUs whose new values the store already showed: no request sent
    negative_pos_stock: int = 0  # SKUs with negative sellable POS stock, pushed as 0 (warning)
    stock_unknown: int = 0  # tracked SKUs whose stock is not known yet: stock left alone (warning)

    @property
    def warnings(self) -> dict[str, int]:
        return {k: v for k, v in (("negative_pos_stock", self.negative_pos_stock),
                                  ("stock_unknown", self.stock_unknown)) if v}

    def as_dict(self) -> dict[str, Any]:
        return {"considered": self.considered, "changed": self.changed, "pushed": self.pushed,
                "created": self.created, "errors": len(self.errors), "requests": self.requests,
                "minimum_requests": self.minimum_requests, "adopted": self.adopted,
                "skipped_writes": self.skipped_writes, "negative_pos_stock": self.negative_pos_stock,
                "stock_unknown": self.stock_unknown, "warnings": self.warnings,
                "error_samples": self.errors[:5]}


def _shown(item: dict[str, Any]) -> tuple[int | None, int | None]:
    """(regular price in minor units, managed stock) as the store's answer shows them."""
    price = _minor(item.get("regular_price")) if isinstance(item.get("regular_price"), str) else None
    stock = item.get("stock_quantity") if item.get("manage_stock") is True else None
    return price, stock if isinstance(stock, int) else None


def _kept(state: SkuState, item: dict[str, Any]) -> bool:
    """Whether the store's answer shows the values we sent (a 200 is not proof)."""
    price, stock = _shown(item)
    sent = state.desired
    if "regular_price" in sent and "regular_price" in item and price != _minor(sent["regular_price"]):
        return False
    return not ("stock_quantity" in sent and "stock_quantity" in item and stock != sent["stock_quantity"])


def _record(engine: Engine, done: Sequence[tuple[SkuState, int | None, int | None]], run_id: str | None,
            shown: dict[str, dict[str, Any]] | None = None) -> None:
    """Remember what the store accepted: catalog_push_state and the store columns of products."""
    if not done:
        return
    now = datetime.now(UTC)
    shown = shown or {}
    with engine.begin() as conn:
        upsert(conn, catalog_push_state, [
            {"sku": s.sku, "price_minor": s.price_minor, "stock_quantity": s.stock, "pushed_at": now,
             "run_id": run_id}
            for s, _, _ in done
        ])
        for s, product_id, variation_id in done:
            values: dict[str, Any] = {"store_product_id": product_id, "store_variation_id": variation_id}
            item = shown.get(s.sku)
            if item is not None:  # the store's own answer: what it shows now
                values["store_price_minor"], values["store_stock"] = _shown(item)
            else:
                if "regular_price" in s.desired:
                    values["store_price_minor"] = _minor(s.desired["regular_price"])
                if "stock_quantity" in s.desired:
                    values["store_stock"] = s.desired["stock_quantity"]
            conn.execute(update(products).where(products.c.sku == s.sku).values(**values))


def _minor(price: str | None) -> int | None:
    if not price:
        return None
    whole, _, frac = price.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))


def _error(result_error: BatchItemError, sku: str | None) -> dict[str, Any]:
    return {"sku": sku, "code": result_error.code, "message": result_error.message, "status": result_error.status}


def push_catalog(engine: Engine, client: WooClient, *, run_id: str | None = None,
                 settings: Settings | None = None, enforce_budget: bool = True) -> PushResult:
    """Push the differences to the store; return what was done.

    Per-item errors are collected and the SKUs stay unrecorded (retried next run); with ``enforce_budget``
    the push raises :class:`~storeflow.sync.push_errors.PushErrorBudgetExceeded` when too many failed.
    """
    settings = settings or get_settings()
    with engine.connect() as conn:
        plan = plan_catalog_push(conn, settings)
        negative = negative_stock_skus(conn, settings) if plan.stock_states.get(STATE_NEGATIVE) else []
    result = PushResult(considered=plan.changed + plan.unchanged + len(plan.skipped), changed=plan.changed,
                        minimum_requests=plan.minimum_requests(), skipped_writes=len(plan.skipped),
                        negative_pos_stock=plan.stock_states.get(STATE_NEGATIVE, 0),
                        stock_unknown=plan.stock_states.get(STATE_UNKNOWN, 0))
    _record(engine, [(s, s.store_product_id, s.store_variation_id) for s in plan.skipped], run_id)

    def apply(batch_result: BatchResult, states_by_id: Mapping[int | None, SkuState], parent: int | None) -> None:
        result.requests += batch_result.requests
        done, shown = [], {}
        for item in batch_result.ok:
            state = states_by_id.get(item.get("id"))
            if state is None:
                continue
            if not _kept(state, item):
                result.errors.append({"sku": state.sku, "code": "not_kept", "status": None,
                                      "message": "the store answered without the values sent"})
                continue
            done.append((state, parent if parent else item["id"], item["id"] if parent else None))
            shown[state.sku] = item
        for err in batch_result.errors:
            state = states_by_id.get(err.id) if err.id else None
            result.errors.append(_error(err, state.sku if state else None))
        result.pushed += len(done)
        _record(engine, done, run_id, shown)

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
    if result.negative_pos_stock:
        log.warning("[storeflow] catalog push: %s SKUs have negative sellable POS stock (oversold in store), "
                    "pushed as 0; e.g. %s", result.negative_pos_stock, ", ".join(negative))
    if result.stock_unknown:
        log.warning("[storeflow] catalog push: %s SKUs have no known POS stock yet (inventory not loaded for "
                    "them): their store stock was left alone, %s new items not created yet",
                    result.stock_unknown, plan.deferred_creates)
    if enforce_budget:
        enforce_catalog_budget(result)
    return result


def enforce_catalog_budget(result: PushResult) -> None:
    """Fail (or warn) on the share of SKU writes the store rejected (see :mod:`storeflow.sync.push_errors`)."""
    attempted = max(result.changed, len(result.errors))
    enforce_error_budget(job=JOB, attempted=attempted, failed=len(result.errors),
                         samples=[f"{e.get('sku')}: {e.get('code')}" for e in result.errors[:5]])


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
def _create_items(engine: Engine, client: WooClient, creates: dict[str, list[SkuState]], settings: Settings,
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
        linked = []
        for err in batch.errors:
            sku = (err.item or {}).get("sku")
            owner = (err.data or {}).get("resource_id")
            if err.code == "product_invalid_sku" and owner and sku in by_sku:
                # already there (an earlier run died before recording): link it, and let the next run
                # compare its values with ours rather than assume they are ours
                linked.append((sku, int(owner)))
            else:
                result.errors.append(_error(err, sku))
        result.created += len(done) + len(linked)
        _record(engine, done, run_id, {item["sku"]: item for item in batch.ok if item.get("sku") in by_sku})
        _link(engine, linked)
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
        _record(engine, done, run_id, {item["sku"]: item for item in var_batch.ok if item.get("sku") in by_sku})


def _link(engine: Engine, linked: list[tuple[str, int]]) -> None:
    """Store ids of products found in the store (not written by us): no push state, store values unknown."""
    if not linked:
        return
    with engine.begin() as conn:
        for sku, product_id in linked:
            conn.execute(update(products).where(products.c.sku == sku).values(
                store_product_id=product_id, store_variation_id=None, store_price_minor=None, store_stock=None))


def _attributes(state: SkuState) -> dict[str, str]:
    return state.attributes or {"Option": state.variation_name or state.sku}


def _attribute_options(states: list[SkuState]) -> dict[str, set[str]]:
    options: dict[str, set[str]] = defaultdict(set)
    for s in states:
        for name, value in _attributes(s).items():
            options[name].add(value)
    return options
