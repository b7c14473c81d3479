"""The POS simulator's state: Square-shaped JSON objects in memory, seeded from a :class:`World`.

Everything is stored exactly as the API renders it (timestamps as RFC 3339 strings with mixed
precision, Money as ints, quantities as decimal strings), so :meth:`PosState.to_json` is a plain dump and
:meth:`PosState.from_json` a plain load. Items are stored flat: an ITEM does not embed its variations;
:meth:`PosState.render_object` nests them on the way out, as Square returns them.

SMS consent: Square customers have no SMS consent field. The simulator (and storeflow) keep an SMS
opt-out as a machine-readable line ``sms_opt_out: yes|no`` in the customer's ``note`` (see
:mod:`storeflow.contracts.square_note`); editing it through UpdateCustomer bumps ``updated_at`` and
``version`` like any other field, so incremental customer searches see it.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from storeflow.contracts.square_note import set_note_opt_out
from storeflow_simulators.credentials import DEMO_POS_TOKEN
from storeflow_simulators.pos_common import (
    EPOCH,
    PosClock,
    fmt_qty,
    fmt_ts,
    money,
    new_id,
    parse_ts,
)
from storeflow_simulators.world import World

STATE_FORMAT = 1
TRACKED_STATES = ("IN_STOCK", "WASTE")
POS_SOURCE_NAME = "Square Point of Sale"


@dataclass
class PosConfig:
    """Behaviour switches (all JSON-serialisable; change them at run time via ``/_sim/config``)."""

    tokens: list[str] = field(default_factory=lambda: [DEMO_POS_TOKEN])
    merchant_id: str = "MLSTOREFLOWDEMO"
    version_mismatch_status: int = 400  # HTTP status of a stale-version error (409 is the alternative)
    # code of a stale-version error: Square's spec lists only CONFLICT for catalog upsert, UpdateCustomer,
    # UpdateOrder and PublishInvoice (VERSION_MISMATCH is not in its ErrorCode enum); Square's guides
    # name VERSION_MISMATCH. Clients must handle both; "VERSION_MISMATCH" switches to the guides' code.
    stale_version_code: str = "CONFLICT"
    inventory_max_age_hours: float | None = 24.0  # occurred_at older than this is rejected; None = off
    inventory_changes_cap: int = 100  # BatchChangeInventory changes per call
    customer_search_delay_seconds: float = 0.0  # eventual consistency of list/search customers
    catalog_write_lock: bool = False  # concurrent catalog writes get 429 (Square serialises them per seller)
    catalog_write_hold_seconds: float = 0.0  # keep the write lock this long (to provoke the 429 in tests)
    validate_requests: bool = True  # refuse what Square's OpenAPI spec forbids (see pos_spec)


def _h(text: str, n: int = 24) -> str:
    """A deterministic opaque id derived from ``text``."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(alphabet[b % 32] for b in digest[:n])


class PosState:
    """All POS data plus the idempotency store, the clock and the config. Guard mutations with ``lock``."""

    def __init__(self, *, currency: str = "GBP", config: PosConfig | None = None):
        self.lock = threading.RLock()
        self.clock = PosClock()
        self.config = config or PosConfig()
        self.currency = currency
        self.locations: list[dict[str, Any]] = []
        self.catalog: dict[str, dict[str, Any]] = {}  # id -> object (ITEM without nested variations)
        self.item_variations: dict[str, list[str]] = {}  # item id -> variation ids in order
        self.counts: dict[str, dict[str, Any]] = {}  # "var|loc|state" -> InventoryCount
        self.changes: list[dict[str, Any]] = []  # InventoryChange objects in creation order
        self.change_index: dict[str, list[dict[str, Any]]] = {}  # "var|loc" -> its changes
        self.orders: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        # customer id -> [(visible_from iso, snapshot or None)]: what list/search see (eventual consistency)
        self.customer_index: dict[str, list[tuple[str, dict[str, Any] | None]]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, dict[str, Any]] = {}  # "scope|key" -> {"hash", "status", "body"}
        self.catalog_write_lock = threading.RLock()  # reentrant: route + domain function
        self.invoice_seq = 0

    # --- time and versions ----------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def stamp(self, at: datetime | None = None, digits: int | None = None) -> str:
        """Render a server timestamp with rotating precision (never before one already issued)."""
        return self.clock.stamp(at, digits)

    @staticmethod
    def version_for(ts: str, previous: int | None = None) -> int:
        """Catalog versions are epoch milliseconds of the change, strictly increasing per object."""
        ms = int((parse_ts(ts) - EPOCH).total_seconds() * 1000)
        return max(ms, (previous or 0) + 1)

    # --- catalog rendering ----------------------------------------------------------------------
    def render_object(self, obj: dict[str, Any], *, include_deleted_variations: bool = False) -> dict[str, Any]:
        """An object as the API returns it (ITEMs with their nested variations)."""
        out = copy.deepcopy(obj)
        if obj["type"] == "ITEM":
            variations = []
            for vid in self.item_variations.get(obj["id"], []):
                var = self.catalog.get(vid)
                if var is None:
                    continue
                if var.get("is_deleted") and not (include_deleted_variations or obj.get("is_deleted")):
                    continue
                variations.append(copy.deepcopy(var))
            out["item_data"]["variations"] = variations
        return out

    def variation_price(self, variation_id: str, location_id: str | None = None) -> int | None:
        """The variation's price (location override first)."""
        var = self.catalog.get(variation_id)
        if var is None or var["type"] != "ITEM_VARIATION":
            return None
        data = var["item_variation_data"]
        for ov in data.get("location_overrides", []) or []:
            if ov.get("location_id") == location_id and ov.get("price_money"):
                return int(ov["price_money"]["amount"])
        price = data.get("price_money")
        return int(price["amount"]) if price else None

    # --- inventory -----------------------------------------------------------------------------
    @staticmethod
    def count_key(variation_id: str, location_id: str, state: str) -> str:
        return f"{variation_id}|{location_id}|{state}"

    def quantity(self, variation_id: str, location_id: str, state: str = "IN_STOCK") -> Decimal:
        count = self.counts.get(self.count_key(variation_id, location_id, state))
        return Decimal(count["quantity"]) if count else Decimal(0)

    def recompute_counts(self, variation_id: str, location_id: str, calculated_at: str) -> list[dict[str, Any]]:
        """Replay the change history of one (variation, location) in ``occurred_at`` order.

        A PHYSICAL_COUNT sets the absolute IN_STOCK quantity at its ``occurred_at``; later adjustments
        apply on top, so a back-dated count does not wipe out sales recorded after it.
        """
        history = list(self.change_index.get(f"{variation_id}|{location_id}", []))
        history.sort(key=lambda c: (parse_ts(_change_body(c)["occurred_at"]), c["_seq"]))
        qty = dict.fromkeys(TRACKED_STATES, Decimal(0))
        for change in history:
            body = _change_body(change)
            if change["type"] == "PHYSICAL_COUNT":
                qty[body["state"]] = Decimal(body["quantity"])
            else:
                delta = Decimal(body["quantity"])
                if body["from_state"] in qty:
                    qty[body["from_state"]] -= delta
                if body["to_state"] in qty:
                    qty[body["to_state"]] += delta
        touched = []
        for state, value in qty.items():
            key = self.count_key(variation_id, location_id, state)
            current = self.counts.get(key)
            if current is None and value == 0 and state != "IN_STOCK":
                continue
            if current is not None and Decimal(current["quantity"]) == value:
                touched.append(current)
                continue
            count = {
                "catalog_object_id": variation_id,
                "catalog_object_type": "ITEM_VARIATION",
                "state": state,
                "location_id": location_id,
                "quantity": fmt_qty(value),
                "calculated_at": calculated_at,
            }
            self.counts[key] = count
            touched.append(count)
        return [c for c in touched if c["state"] == "IN_STOCK"] + [c for c in touched if c["state"] != "IN_STOCK"]

    def add_change(self, change: dict[str, Any]) -> dict[str, Any]:
        """Append a change (internal ``_seq`` keeps creation order for equal occurred_at)."""
        change["_seq"] = len(self.changes)
        self.changes.append(change)
        body = _change_body(change)
        self.change_index.setdefault(f"{body['catalog_object_id']}|{body['location_id']}", []).append(change)
        return change

    # --- customers -----------------------------------------------------------------------------
    def index_customer(self, customer: dict[str, Any] | None, customer_id: str) -> None:
        """Make the current version of a customer (or its deletion) visible to list/search later."""
        visible = self.now() + timedelta(seconds=self.config.customer_search_delay_seconds)
        entry = (visible.isoformat(), copy.deepcopy(customer) if customer is not None else None)
        versions = self.customer_index.setdefault(customer_id, [])
        if self.config.customer_search_delay_seconds <= 0:
            versions.clear()
        versions.append(entry)

    def searchable_customers(self) -> list[dict[str, Any]]:
        """Customers as list/search currently see them."""
        now = self.now()
        out = []
        for versions in self.customer_index.values():
            seen = None
            for visible_from, snap in versions:
                if datetime.fromisoformat(visible_from) <= now:
                    seen = (snap,)
            if seen is not None and seen[0] is not None:
                out.append(seen[0])
        return out

    # --- (de)serialisation ---------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The whole state as JSON-compatible data."""
        with self.lock:
            return copy.deepcopy({
                "format": STATE_FORMAT,
                "currency": self.currency,
                "config": asdict(self.config),
                "clock": self.clock.as_json(),
                "locations": self.locations,
                "catalog": self.catalog,
                "item_variations": self.item_variations,
                "counts": self.counts,
                "changes": self.changes,
                "orders": self.orders,
                "customers": self.customers,
                "customer_index": {k: [list(v) for v in vs] for k, vs in self.customer_index.items()},
                "invoices": self.invoices,
                "payments": self.payments,
                "idempotency": self.idempotency,
                "invoice_seq": self.invoice_seq,
            })

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PosState:
        """Rebuild a state saved with :meth:`to_json`."""
        state = cls(currency=data["currency"], config=PosConfig(**data.get("config", {})))
        state.clock.load_json(data.get("clock"))
        data = copy.deepcopy(data)
        state.locations = data["locations"]
        state.catalog = data["catalog"]
        for obj in state.catalog.values():  # states saved before catalog objects lost created_at
            obj.pop("created_at", None)
        state.item_variations = data["item_variations"]
        state.counts = data["counts"]
        for change in data["changes"]:
            state.add_change(change)
        state.orders = data["orders"]
        state.customers = data["customers"]
        state.customer_index = {k: [(v[0], v[1]) for v in vs] for k, vs in data["customer_index"].items()}
        state.invoices = data["invoices"]
        state.payments = data.get("payments", {})
        state.idempotency = data["idempotency"]
        state.invoice_seq = data.get("invoice_seq", 0)
        return state

    # --- seeding -------------------------------------------------------------------------------
    @classmethod
    def from_world(cls, world: World, config: PosConfig | None = None) -> PosState:
        """Render the POS part of ``world`` in Square's shapes."""
        state = cls(currency=world.currency, config=config)
        _seed_locations(state, world)
        _seed_catalog(state, world)
        _seed_inventory(state, world)
        _seed_customers(state, world)
        _seed_orders(state, world)
        return state

    def summary(self) -> dict[str, Any]:
        """Counts of everything (``GET /_sim/state``)."""
        with self.lock:
            by_type: dict[str, int] = {}
            for obj in self.catalog.values():
                key = obj["type"] + (":deleted" if obj.get("is_deleted") else "")
                by_type[key] = by_type.get(key, 0) + 1
            by_state: dict[str, int] = {}
            for order in self.orders.values():
                by_state[order["state"]] = by_state.get(order["state"], 0) + 1
            return {
                "now": fmt_ts(self.now(), 6),
                "clock_frozen": self.clock.frozen_at is not None,
                "locations": len(self.locations),
                "catalog": by_type,
                "inventory_counts": len(self.counts),
                "inventory_changes": len(self.changes),
                "orders": len(self.orders),
                "orders_by_state": by_state,
                "customers": len(self.customers),
                "invoices": len(self.invoices),
                "idempotency_keys": len(self.idempotency),
                "config": asdict(self.config),
            }


def _change_body(change: dict[str, Any]) -> dict[str, Any]:
    return change.get("physical_count") or change.get("adjustment") or {}


def change_body(change: dict[str, Any]) -> dict[str, Any]:
    """The ``physical_count`` / ``adjustment`` part of an InventoryChange."""
    return _change_body(change)


def public_change(change: dict[str, Any]) -> dict[str, Any]:
    """An InventoryChange without simulator-internal keys."""
    return {k: v for k, v in change.items() if not k.startswith("_")}


# --- seeding helpers ------------------------------------------------------------------------------
def _digits_for(text: str) -> int:
    return (0, 3, 6, 9, 3, 5)[int(hashlib.md5(text.encode()).hexdigest()[:4], 16) % 6]  # noqa: S324


def _seed_ts(dt: datetime, key: str) -> str:
    return fmt_ts(dt, _digits_for(key))


def _seed_locations(state: PosState, world: World) -> None:
    created = _seed_ts(world.now - timedelta(days=900), "loc")
    locs = []
    for loc in world.locations:
        locs.append({
            "id": loc.location_id,
            "name": loc.name,
            "status": loc.status,
            "timezone": loc.timezone,
            "currency": world.currency,
            "country": "GB",
            "language_code": "en-GB",
            "merchant_id": state.config.merchant_id,
            "business_name": "Storeflow Demo Shop",
            "type": "PHYSICAL",
            "capabilities": ["CREDIT_CARD_PROCESSING"],
            "created_at": created,
        })
    state.locations = sorted(locs, key=lambda x: x["name"])


def category_id(name: str) -> str:
    """Deterministic CATEGORY id for a category name."""
    return _h(f"category:{name}")


def _seed_catalog(state: PosState, world: World) -> None:
    base = world.now - timedelta(days=400)
    for i, name in enumerate(sorted(set(world.categories) | {p.category for p in world.products})):
        ts = _seed_ts(base + timedelta(minutes=i), f"cat:{name}")
        state.catalog[category_id(name)] = {
            "type": "CATEGORY",
            "id": category_id(name),
            "updated_at": ts,
            "version": PosState.version_for(ts),
            "is_deleted": False,
            "present_at_all_locations": True,
            "category_data": {"name": name, "category_type": "REGULAR_CATEGORY", "is_top_level": True},
        }
    for i, product in enumerate(world.products):
        updated = world.now - timedelta(days=30) + timedelta(seconds=37 * i % 86400)
        ts_u = _seed_ts(updated, f"item-u:{product.item_id}")
        cat = category_id(product.category)
        state.catalog[product.item_id] = {
            "type": "ITEM",
            "id": product.item_id,
            "updated_at": ts_u,
            "version": PosState.version_for(ts_u),
            "is_deleted": False,
            "present_at_all_locations": True,
            "item_data": {
                "name": product.name,
                "description": product.description,
                "categories": [{"id": cat, "ordinal": 0}],
                "reporting_category": {"id": cat, "ordinal": 0},
                "product_type": "REGULAR",
                "is_archived": False,
                "skip_modifier_screen": False,
                "variations": [],
            },
        }
        state.item_variations[product.item_id] = []
        for j, var in enumerate(product.variations):
            ts_v = _seed_ts(updated + timedelta(milliseconds=j), f"var:{var.variation_id}")
            custom = {
                k: {"name": k, "string_value": v, "type": "STRING", "key": k} for k, v in var.attributes.items()
            }
            obj: dict[str, Any] = {
                "type": "ITEM_VARIATION",
                "id": var.variation_id,
                "updated_at": ts_v,
                "version": PosState.version_for(ts_v),
                "is_deleted": False,
                "present_at_all_locations": True,
                "item_variation_data": {
                    "item_id": product.item_id,
                    "name": var.name,
                    "sku": var.sku,
                    "ordinal": j,
                    "pricing_type": "FIXED_PRICING",
                    "price_money": money(var.price_minor, world.currency),
                    "track_inventory": True,
                    "sellable": True,
                    "stockable": True,
                },
            }
            if custom:
                obj["custom_attribute_values"] = custom
            state.catalog[var.variation_id] = obj
            state.item_variations[product.item_id].append(var.variation_id)


def _seed_inventory(state: PosState, world: World) -> None:
    active = {loc.location_id for loc in world.locations if loc.status == "ACTIVE"}
    for i, sc in enumerate(world.stock):
        if sc.location_id not in active or sc.variation_id not in state.catalog:
            continue
        at = world.now - timedelta(hours=6) + timedelta(seconds=11 * i % 20000)
        ts = _seed_ts(at, f"count:{sc.variation_id}:{sc.location_id}")
        state.add_change({
            "type": "PHYSICAL_COUNT",
            "physical_count": {
                "id": _h(f"pc:{sc.variation_id}:{sc.location_id}"),
                "reference_id": "seed",
                "catalog_object_id": sc.variation_id,
                "catalog_object_type": "ITEM_VARIATION",
                "state": "IN_STOCK",
                "location_id": sc.location_id,
                "quantity": fmt_qty(Decimal(sc.quantity)),
                "occurred_at": ts,
                "created_at": ts,
                "source": {"name": POS_SOURCE_NAME},
            },
        })
        state.counts[state.count_key(sc.variation_id, sc.location_id, "IN_STOCK")] = {
            "catalog_object_id": sc.variation_id,
            "catalog_object_type": "ITEM_VARIATION",
            "state": "IN_STOCK",
            "location_id": sc.location_id,
            "quantity": fmt_qty(Decimal(sc.quantity)),
            "calculated_at": ts,
        }


def _seed_customers(state: PosState, world: World) -> None:
    for sc in world.pos_customers:
        address = {
            "address_line_1": sc.address_line1,
            "locality": sc.city,
            "postal_code": sc.postcode,
            "country": sc.country,
        }
        customer: dict[str, Any] = {
            "id": sc.source_id,
            "created_at": _seed_ts(sc.created_at, f"cc:{sc.source_id}"),
            "updated_at": _seed_ts(sc.updated_at, f"cu:{sc.source_id}"),
            "given_name": sc.given_name,
            "family_name": sc.family_name,
            "address": {k: v for k, v in address.items() if v},
            "preferences": {"email_unsubscribed": bool(sc.email_unsubscribed)},
            "creation_source": "DIRECTORY",
            "version": 0,
        }
        if sc.email:
            customer["email_address"] = sc.email
        if sc.phone:
            customer["phone_number"] = sc.phone
        if sc.sms_unsubscribed:
            customer["note"] = set_note_opt_out(None, "sms", True)
        state.customers[sc.source_id] = customer
        # writes replace customer dicts (never mutate them), so the index may share the seeded object
        state.customer_index[sc.source_id] = [(EPOCH.isoformat(), customer)]


def order_totals(line_items: list[dict[str, Any]], currency: str, *, discount: int = 0, tax: int = 0) -> dict:
    """Order-level Money totals."""
    gross = sum(int(li["gross_sales_money"]["amount"]) for li in line_items)
    total = gross - discount + tax
    return {
        "total_money": money(total, currency),
        "total_tax_money": money(tax, currency),
        "total_discount_money": money(discount, currency),
        "total_tip_money": money(0, currency),
        "total_service_charge_money": money(0, currency),
        "net_amount_due_money": money(0, currency),
    }


def make_line_item(
    *, uid: str, name: str, quantity: str, unit_minor: int, currency: str,
    catalog_object_id: str | None = None, variation_name: str | None = None,
    catalog_version: int | None = None, metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Square order line item with computed Money fields."""
    gross = int((Decimal(quantity) * unit_minor).to_integral_value())
    line: dict[str, Any] = {
        "uid": uid,
        "name": name,
        "quantity": quantity,
        "item_type": "ITEM",
        "base_price_money": money(unit_minor, currency),
        "variation_total_price_money": money(gross, currency),
        "gross_sales_money": money(gross, currency),
        "total_tax_money": money(0, currency),
        "total_discount_money": money(0, currency),
        "total_money": money(gross, currency),
    }
    if catalog_object_id:
        line["catalog_object_id"] = catalog_object_id
    if catalog_version is not None:
        line["catalog_version"] = catalog_version
    if variation_name:
        line["variation_name"] = variation_name
    if metadata:
        line["metadata"] = metadata
    return line


def _seed_orders(state: PosState, world: World) -> None:
    items_by_var = {v.variation_id: p for p in world.products for v in p.variations}
    status_map = {"COMPLETED": "COMPLETED", "OPEN": "OPEN", "CANCELED": "CANCELED", "CANCELLED": "CANCELED"}
    for order in world.orders:
        if order.channel != "in_store":
            continue
        state_name = status_map.get(order.status.upper(), "COMPLETED")
        lines = []
        for i, line in enumerate(order.lines):
            product = items_by_var.get(line.variation_id)
            var_name = next(
                (v.name for v in product.variations if v.variation_id == line.variation_id), None
            ) if product else None
            lines.append(make_line_item(
                uid=_h(f"li:{order.order_id}:{i}", 22), name=product.name if product else line.name,
                quantity=str(line.quantity), unit_minor=line.unit_price_minor, currency=world.currency,
                catalog_object_id=line.variation_id, variation_name=var_name,
            ))
        created = _seed_ts(order.created_at, f"oc:{order.order_id}")
        closed_dt = order.created_at + timedelta(seconds=40 + len(order.order_id) % 50)
        closed = _seed_ts(closed_dt, f"ox:{order.order_id}")
        totals = order_totals(lines, world.currency, discount=order.discount_minor, tax=order.tax_minor)
        data: dict[str, Any] = {
            "id": order.order_id,
            "location_id": order.location_id or (world.locations[0].location_id if world.locations else None),
            "source": {"name": POS_SOURCE_NAME},
            "line_items": lines,
            "state": state_name,
            "version": 1 if state_name == "OPEN" else 4,
            "created_at": created,
            "updated_at": closed if state_name != "OPEN" else created,
            **totals,
        }
        if order.customer_source_id:
            data["customer_id"] = order.customer_source_id
        if state_name == "COMPLETED":
            data["closed_at"] = closed
            data["tenders"] = [{
                "id": _h(f"tender:{order.order_id}", 22),
                "location_id": data["location_id"],
                "created_at": created,
                "amount_money": totals["total_money"],
                "type": "CASH" if _digits_for(order.order_id) == 0 else "CARD",
            }]
        elif state_name == "CANCELED":
            data["closed_at"] = closed
        if order.discount_minor:
            data["discounts"] = [{
                "uid": _h(f"disc:{order.order_id}", 22), "name": "Discount", "type": "FIXED_AMOUNT",
                "amount_money": money(order.discount_minor, world.currency),
                "applied_money": money(order.discount_minor, world.currency), "scope": "ORDER",
            }]
        state.orders[order.order_id] = data


__all__ = [
    "POS_SOURCE_NAME",
    "PosConfig",
    "PosState",
    "category_id",
    "change_body",
    "make_line_item",
    "new_id",
    "order_totals",
    "public_change",
]
