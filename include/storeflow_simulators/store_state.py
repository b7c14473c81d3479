"""State and business rules of the WooCommerce-contract store simulator.

Records are plain dicts holding integer minor units and aware UTC datetimes (keys ``date_*``); they are
rendered to the WooCommerce v3 JSON shape by :mod:`storeflow_simulators.store_render`. Products and
variations share one id space (WordPress posts); orders (HPOS) and customers (WP users) have their own.

Behaviour toggles (``StoreState.options``), all settable through ``PUT /_sim/options``:

* ``timezone`` - site timezone (default ``World.store_timezone``; tests and the demo use Europe/Paris);
* ``wc_version`` (default ``"10.0.2"``, the current release) - the emulated WooCommerce version: the
  all-variations listing ``GET /variations`` exists only from 10.3 (before: 404 ``rest_no_route``);
* ``behind_tls_proxy`` (default off) - honour ``X-Forwarded-Proto: https`` (a site behind a TLS-terminating
  proxy that was told so); HTTP Basic and query-string keys are only accepted over HTTPS;
* ``id_tiebreak`` (default on) - current WooCommerce appends ``ID`` to ``orderby=date|modified``; off
  emulates old stores whose ties come back in an arbitrary order that changes between requests;
* ``legacy_stock_date_modified`` (default **off**) - WooCommerce 10.x moves ``date_modified`` on every
  product save, including stock-only updates, order-driven stock changes (a variation's change also moves
  its parent) and no-op saves. On, the older behaviour (issue #40060) is emulated: stock changes made by
  orders and updates that change nothing but stock (or nothing) leave ``date_modified`` alone, so a sync
  must reconcile stock with full scans. (The old inverse option ``stock_bumps_modified`` is still
  accepted by ``PUT /_sim/options`` and in saved states.)
* ``manage_stock`` - the store-wide "Manage stock" option;
* ``batch_limit`` - ``woocommerce_rest_batch_items_limit`` (100).

Marketing consent: WooCommerce has no native consent field. The simulator (and storeflow) keep a
customer's explicit choice in customer ``meta_data`` under ``storeflow_email_optout`` and
``storeflow_sms_optout``, value ``{"optout": bool, "changed_at_gmt": "YYYY-MM-DDTHH:MM:SS"}``. Keys that
start with ``_`` are protected WordPress meta: the customers endpoint silently drops them on write (200,
nothing stored) and hides them on read, as real WooCommerce does.

Ids: products, variations and orders share WordPress's post id sequence (also with HPOS), so order ids
are neither dense nor per type; customers (WP users) have their own, starting after the administrator.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from storeflow_simulators.clock import SimClock
from storeflow_simulators.store_common import WooError, check_types, fmt_money, parse_gmt, parse_money
from storeflow_simulators.world import World

CONSENT_META = {"email": "storeflow_email_optout", "sms": "storeflow_sms_optout"}
UNCATEGORIZED = {"id": 15, "name": "Uncategorized", "slug": "uncategorized"}
ADMIN_EMAIL = "admin@store.example"
ATTRIBUTION_META = {
    "ads": {"_wc_order_attribution_source_type": "utm", "_wc_order_attribution_utm_source": "google",
            "_wc_order_attribution_utm_medium": "cpc"},
    "referral": {"_wc_order_attribution_source_type": "referral",
                 "_wc_order_attribution_referrer": "https://blog.example.com/"},
    "organic": {"_wc_order_attribution_source_type": "organic", "_wc_order_attribution_utm_source": "google"},
    "coupon": {"_wc_order_attribution_source_type": "typein"},
}
PRODUCT_STATUSES = ("draft", "pending", "private", "publish", "future")
PRODUCT_TYPES = ("simple", "grouped", "external", "variable")
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash",
                  "checkout-draft")
REDUCING_STATUSES = ("processing", "completed", "on-hold")
RESTORING_STATUSES = ("cancelled", "pending")
PAID_STATUSES = ("processing", "completed")
STOCK_FIELDS = frozenset({"stock_quantity"})
PRODUCT_FIELD_TYPES = {"regular_price": "string", "sale_price": "string", "stock_quantity": "integer",
                       "inventory_delta": "integer", "name": "string", "sku": "string"}
ADDRESS_FIELDS = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode",
                  "country")


@dataclass
class StoreOptions:
    """Behaviour toggles (see module docstring)."""

    timezone: str = "UTC"
    currency: str = "GBP"
    id_tiebreak: bool = True
    legacy_stock_date_modified: bool = False
    manage_stock: bool = True
    batch_limit: int = 100
    wc_version: str = "10.0.2"
    behind_tls_proxy: bool = False

    def version_at_least(self, major: int, minor: int) -> bool:
        """Whether the emulated WooCommerce version is ``major.minor`` or later."""
        parts = [int(p) if p.isdigit() else 0 for p in self.wc_version.split(".")[:2]] + [0, 0]
        return (parts[0], parts[1]) >= (major, minor)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreOptions:
        """Options from a saved state or ``PUT /_sim/options`` (maps the old ``stock_bumps_modified``)."""
        data = dict(data)
        if "stock_bumps_modified" in data:
            data.setdefault("legacy_stock_date_modified", not data.pop("stock_bumps_modified"))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def is_protected_meta(key: Any) -> bool:
    """WordPress ``is_protected_meta()``: keys starting with ``_``."""
    return isinstance(key, str) and key.startswith("_")


def _slug(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(p for p in out.split("-") if p) or "item"


def _address(billing: bool) -> dict[str, str]:
    fields = dict.fromkeys(ADDRESS_FIELDS, "")
    fields["email" if billing else "phone"] = ""
    if billing:
        fields["phone"] = ""
    return fields


def _to_json(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.astimezone(UTC).isoformat()
    if isinstance(obj, dict):
        return {k: _to_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_json(v) for v in obj]
    return obj


def _from_json(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: (datetime.fromisoformat(v) if k.startswith("date_") and isinstance(v, str) else _from_json(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_from_json(v) for v in obj]
    return obj


class StoreState:
    """Everything the store simulator holds; all methods are thread-safe via ``self.lock``."""

    def __init__(self, options: StoreOptions | None = None, clock: SimClock | None = None) -> None:
        self.options = options or StoreOptions()
        self.clock = clock or SimClock(whole_seconds=True)
        self.lock = threading.RLock()
        self.products: dict[int, dict[str, Any]] = {}  # products and variations (one id space)
        self.sku_index: dict[str, int] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.categories: list[dict[str, Any]] = [dict(UNCATEGORIZED)]
        self.keys: dict[str, str] = {}
        self.next_ids = {"post": 100, "order": 1000, "customer": 1, "item": 1, "meta": 1, "category": 16,
                         "webhook": 1}
        self.used_nonces: set[tuple[str, str]] = set()
        self.request_seq = 0
        self.reserved_posts: set[int] = set()  # order ids of a World being seeded
        self.version = 0  # bumped by every write; listing caches are keyed on it
        self.list_cache: dict[Any, tuple[int, list[dict[str, Any]]]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.observers: list[Any] = []  # callables (resource, event, record) -> None, e.g. webhook delivery
        from storeflow_simulators.credentials import DEMO_STORE_KEY, DEMO_STORE_SECRET

        self.keys[DEMO_STORE_KEY] = DEMO_STORE_SECRET
        self.add_admin()

    # --- basics ----------------------------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.options.timezone)

    def now(self) -> datetime:
        return self.clock.now()

    def emit(self, resource: str, event: str, record: dict[str, Any]) -> None:
        """Tell observers (webhooks) that ``resource.event`` happened to ``record``."""
        for observer in list(self.observers):
            observer(resource, event, record)

    def bump(self) -> None:
        """Invalidate cached listings (call after changing records outside the methods below)."""
        with self.lock:
            self.version += 1

    def new_id(self, kind: str) -> int:
        """The next id of ``kind``; ``post`` ids (products, variations, orders) skip every id in use."""
        with self.lock:
            value = self.next_ids[kind]
            if kind == "post":
                while value in self.products or value in self.orders or value in self.reserved_posts:
                    value += 1
            self.next_ids[kind] = value + 1
            return value

    def _meta(self, items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return [{"id": self.new_id("meta"), "key": m["key"], "value": m.get("value")} for m in items or []]

    def apply_meta(self, record: dict[str, Any], items: list[dict[str, Any]]) -> bool:
        """WooCommerce meta update: by ``id`` when given, else replace the first entry with the key."""
        changed = False
        meta = record.setdefault("meta_data", [])
        for item in items or []:
            target = None
            if item.get("id"):
                target = next((m for m in meta if m["id"] == int(item["id"])), None)
            elif item.get("key") is not None:
                target = next((m for m in meta if m["key"] == item["key"]), None)
            if target is None:
                if item.get("key") is None:
                    continue
                meta.append({"id": self.new_id("meta"), "key": item["key"], "value": item.get("value")})
                changed = True
            elif item.get("value") is None and "value" in item and item.get("id"):
                meta.remove(target)
                changed = True
            elif target.get("value") != item.get("value"):
                target["value"] = item.get("value")
                changed = True
        return changed

    # --- products: stock semantics ---------------------------------------------------------------
    def managing(self, p: dict[str, Any]) -> bool | str:
        """``managing_stock()``: True, False or ``"parent"`` for variations."""
        if not self.options.manage_stock or p["type"] in ("grouped", "external"):
            return False
        if p["type"] == "variation":
            if p.get("manage_stock"):
                return True
            parent = self.products.get(p.get("parent_id") or 0)
            return "parent" if parent is not None and self.managing(parent) is True else False
        return bool(p.get("manage_stock"))

    def stock_holder(self, p: dict[str, Any]) -> dict[str, Any] | None:
        """The record whose ``stock_quantity`` counts for ``p`` (itself, its parent, or none)."""
        mode = self.managing(p)
        if mode is True:
            return p
        if mode == "parent":
            return self.products.get(p["parent_id"])
        return None

    def stock_status(self, p: dict[str, Any]) -> str:
        if p["type"] == "variable" and p.get("variations"):
            kids = [self.stock_status(self.products[v]) for v in p["variations"] if v in self.products]
            for status in ("instock", "onbackorder"):
                if status in kids:
                    return status
            return "outofstock" if kids else p.get("stock_status", "instock")
        holder = self.stock_holder(p)
        if holder is None:
            return p.get("stock_status") or "instock"
        qty = holder.get("stock_quantity") or 0
        if qty > 0:
            return "instock"
        return "onbackorder" if holder.get("backorders", "no") != "no" else "outofstock"

    def find_sku_owner(self, sku: str, exclude: int | None = None) -> dict[str, Any] | None:
        """The product or variation holding ``sku`` (SKUs are unique across both)."""
        pid = self.sku_index.get(sku) if sku else None
        rec = self.products.get(pid) if pid is not None else None
        if rec is None or rec["sku"] != sku or rec["id"] == exclude or rec["status"] == "trash":
            return None
        return rec

    # --- products: writes ------------------------------------------------------------------------
    def write_product(self, payload: dict[str, Any], existing: dict[str, Any] | None = None,
                      *, parent: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create (``existing`` None) or update a product or, with ``parent``, a variation."""
        check_types(payload, PRODUCT_FIELD_TYPES)
        with self.lock:
            self.version += 1
            now = self.now()
            is_variation = parent is not None or (existing is not None and existing["type"] == "variation")
            if existing is None:
                rec: dict[str, Any] = {
                    "id": 0, "name": "", "slug": "", "type": "variation" if is_variation else "simple",
                    "status": "publish", "parent_id": parent["id"] if parent else 0, "sku": "", "description": "",
                    "short_description": "", "regular_price": None, "sale_price": None, "manage_stock": False,
                    "stock_quantity": None, "stock_status": "instock", "backorders": "no", "low_stock_amount": None,
                    "total_sales": 0, "categories": [], "tags": [], "attributes": [], "default_attributes": [],
                    "variations": [], "meta_data": [], "menu_order": 0, "date_created": now, "date_modified": now,
                }
            else:
                rec = copy.deepcopy(existing)
            before = copy.deepcopy(rec)
            errors: dict[str, tuple[str, str]] = {}
            if "status" in payload and payload["status"] not in PRODUCT_STATUSES:
                errors["status"] = ("rest_not_in_enum", f"status is not one of {_wp_enum(PRODUCT_STATUSES)}.")
            if not is_variation and "type" in payload and payload["type"] not in PRODUCT_TYPES:
                errors["type"] = ("rest_not_in_enum", f"type is not one of {_wp_enum(PRODUCT_TYPES)}.")
            if errors:
                from storeflow_simulators.store_common import invalid_params

                raise invalid_params(errors)
            for key in ("name", "slug", "description", "short_description", "status", "backorders", "menu_order",
                        "low_stock_amount"):
                if key in payload:
                    rec[key] = payload[key]
            if not is_variation and "type" in payload:
                rec["type"] = payload["type"]
            if "sku" in payload:
                sku = (payload["sku"] or "").strip()
                owner = self.find_sku_owner(sku, exclude=rec["id"] or None) if sku else None
                if owner is not None:
                    raise WooError(400, "product_invalid_sku", "Invalid or duplicated SKU.",
                                   resource_id=owner["id"], unique_sku=f"{sku}-1")
                rec["sku"] = sku
            for key in ("regular_price", "sale_price"):
                if key in payload:
                    rec[key] = parse_money(payload[key], key)
            if "categories" in payload:
                rec["categories"] = [int(c["id"]) for c in payload["categories"] or [] if c.get("id")]
            if "attributes" in payload:
                rec["attributes"] = payload["attributes"] or []
            if "default_attributes" in payload:
                rec["default_attributes"] = payload["default_attributes"] or []
            if "manage_stock" in payload:
                rec["manage_stock"] = bool(payload["manage_stock"]) and payload["manage_stock"] != "parent"
            if "stock_status" in payload:
                rec["stock_status"] = payload["stock_status"]
            if "meta_data" in payload:
                self.apply_meta(rec, payload["meta_data"])
            if parent is not None:
                rec["parent_id"] = parent["id"]
            if rec["type"] in ("grouped", "external"):
                rec["manage_stock"] = False
            # stock: only with the store option on and when the item itself manages stock
            if self.options.manage_stock and rec.get("manage_stock"):
                if payload.get("stock_quantity") is not None:
                    rec["stock_quantity"] = int(float(payload["stock_quantity"]))
                elif payload.get("inventory_delta") is not None:
                    rec["stock_quantity"] = (int(rec.get("stock_quantity") or 0)
                                             + int(float(payload["inventory_delta"])))
            elif not rec.get("manage_stock"):
                rec["stock_quantity"] = None
                rec["low_stock_amount"] = None
                if is_variation:
                    rec["backorders"] = "no"
            if not rec["slug"] and rec["name"]:
                rec["slug"] = _slug(rec["name"])
            if existing is None and not is_variation and not rec["categories"]:
                rec["categories"] = [UNCATEGORIZED["id"]]
            changed = {k for k in rec if rec[k] != before.get(k)} - {"date_modified"}
            legacy = self.options.legacy_stock_date_modified
            if existing is None:
                rec["id"] = self.new_id("post")
                if parent is not None:
                    parent.setdefault("variations", []).append(rec["id"])
            elif not legacy or (changed and not changed <= STOCK_FIELDS):
                rec["date_modified"] = now  # 10.x: every save touches the post's modified time
            if is_variation and not legacy:  # the parent is synced (and saved) after a variation save
                owner = parent or self.products.get(rec.get("parent_id") or 0)
                if owner is not None:
                    owner["date_modified"] = now
            self.products[rec["id"]] = rec
            if existing is None or changed or not legacy:
                self.emit("product", "created" if existing is None else "updated", rec)
            if before.get("sku") and self.sku_index.get(before["sku"]) == rec["id"]:
                del self.sku_index[before["sku"]]
            if rec["sku"]:
                self.sku_index[rec["sku"]] = rec["id"]
            return rec

    def delete_product(self, rec: dict[str, Any], force: bool) -> None:
        with self.lock:
            self.version += 1
            if not force:
                if rec["status"] == "trash":
                    raise WooError(410, "woocommerce_rest_already_trashed", "The product has already been deleted.")
                rec["status"] = "trash"
                rec["date_modified"] = self.now()
                self.emit("product", "deleted", rec)
                return
            for vid in rec.get("variations", []):
                self.products.pop(vid, None)
            self.products.pop(rec["id"], None)
            parent = self.products.get(rec.get("parent_id") or 0)
            if parent and rec["id"] in parent.get("variations", []):
                parent["variations"].remove(rec["id"])
            self.emit("product", "deleted", rec)

    def touch_products(self, ids: list[int], changes: dict[str, Any] | None = None) -> int:
        """Bump ``date_modified`` of products/variations (test helper for page-drift tests)."""
        with self.lock:
            self.version += 1
            now = self.now()
            n = 0
            for pid in ids:
                rec = self.products.get(pid)
                if rec is None:
                    continue
                if changes:
                    for key in ("regular_price", "sale_price"):
                        if key in changes:
                            rec[key] = parse_money(changes[key], key)
                    for key in ("name", "status"):
                        if key in changes:
                            rec[key] = changes[key]
                rec["date_modified"] = now
                self.emit("product", "updated", rec)
                n += 1
            return n

    def change_stock(self, holder: dict[str, Any], delta: int) -> None:
        """An order-driven stock change (``wc_update_product_stock``).

        10.x moves ``date_modified`` of the product (and of a variation's parent); with
        ``legacy_stock_date_modified`` the old direct-SQL update leaves it alone.
        """
        holder["stock_quantity"] = int(holder.get("stock_quantity") or 0) + delta
        self.version += 1
        if not self.options.legacy_stock_date_modified:
            now = self.now()
            holder["date_modified"] = now
            parent = self.products.get(holder.get("parent_id") or 0) if holder["type"] == "variation" else None
            if parent is not None:
                parent["date_modified"] = now

    # --- orders ----------------------------------------------------------------------------------
    def resolve_line_product(self, item: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(product, variation) for an order line given by ``variation_id``/``product_id`` or ``sku``."""
        if item.get("variation_id"):
            var = self.products.get(int(item["variation_id"]))
            if var is None or var["type"] != "variation":
                raise WooError(400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
            return self.products.get(var["parent_id"]), var
        if item.get("product_id"):
            prod = self.products.get(int(item["product_id"]))
            if prod is None:
                raise WooError(400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
            if prod["type"] == "variation":
                return self.products.get(prod["parent_id"]), prod
            return prod, None
        if item.get("sku"):
            prod = self.find_sku_owner(str(item["sku"]))
            if prod is None:
                raise WooError(400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
            if prod["type"] == "variation":
                return self.products.get(prod["parent_id"]), prod
            return prod, None
        raise WooError(400, "woocommerce_rest_required_product_reference",
                       "Product ID or SKU is required.")

    def _line(self, item: dict[str, Any]) -> dict[str, Any]:
        product, variation = self.resolve_line_product(item)
        unit = variation or product
        qty = int(item.get("quantity") or 1)
        price = unit.get("sale_price") if unit.get("sale_price") is not None else unit.get("regular_price")
        subtotal = parse_money(item["subtotal"], "subtotal") if item.get("subtotal") not in (None, "") else (
            (price or 0) * qty)
        total = parse_money(item["total"], "total") if item.get("total") not in (None, "") else subtotal
        name = product["name"] if product else unit["name"]
        if variation is not None:
            opts = ", ".join(str(a.get("option")) for a in variation.get("attributes", []))
            name = f"{name} - {opts}" if opts else name
        return {
            "id": self.new_id("item"), "name": item.get("name") or name, "product_id": product["id"] if product else 0,
            "variation_id": variation["id"] if variation else 0, "quantity": qty, "tax_class": "",
            "subtotal": subtotal, "subtotal_tax": 0, "total": total, "total_tax": 0, "sku": unit["sku"],
            "meta_data": self._meta(item.get("meta_data")), "reduced_stock": None,
        }

    def _recalculate(self, order: dict[str, Any]) -> None:
        lines = order["line_items"]
        discount = sum(c.get("discount", 0) for c in order["coupon_lines"])
        gross = sum(li["subtotal"] for li in lines)
        if discount and gross:
            left = discount
            for i, li in enumerate(lines):
                share = left if i == len(lines) - 1 else round(discount * li["subtotal"] / gross)
                share = min(share, left)
                li["total"] = li["subtotal"] - share
                left -= share
        order["discount_total"] = sum(li["subtotal"] - li["total"] for li in lines)
        order["shipping_total"] = sum(s["total"] for s in order["shipping_lines"])
        order["cart_tax"] = sum(li["total_tax"] for li in lines)
        order["total_tax"] = order["cart_tax"] + order.get("shipping_tax", 0)
        fees = sum(f["total"] for f in order["fee_lines"])
        order["total"] = sum(li["total"] for li in lines) + order["shipping_total"] + fees + order["total_tax"]

    def create_order(self, payload: dict[str, Any], *, created_via: str = "rest-api",
                     user_agent: str = "", recalc: bool = True, order_id: int | None = None) -> dict[str, Any]:
        """``POST /orders`` semantics (totals, status, ``set_paid``, stock reduction once).

        The id comes from the post id sequence shared with products (``order_id`` forces one when seeding).
        """
        with self.lock:
            self.version += 1
            now = self.now()
            status = payload.get("status", "pending")
            if status not in ORDER_STATUSES:
                from storeflow_simulators.store_common import invalid_params

                raise invalid_params({"status": ("rest_not_in_enum",
                                                 f"status is not one of {_wp_enum(ORDER_STATUSES)}.")})
            customer_id = int(payload.get("customer_id") or 0)
            if customer_id and customer_id not in self.customers:
                raise WooError(400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid.")
            if order_id is None:
                order_id = self.new_id("post")
            order: dict[str, Any] = {
                "id": order_id, "parent_id": 0, "number": str(order_id),
                "order_key": "wc_order_" + hashlib.sha1(f"order-{order_id}".encode()).hexdigest()[:13],
                "status": "pending", "currency": payload.get("currency") or self.options.currency,
                "date_created": now, "date_modified": now, "date_paid": None, "date_completed": None,
                "discount_tax": 0, "shipping_tax": 0, "customer_id": customer_id,
                "billing": {**_address(True), **(payload.get("billing") or {})},
                "shipping": {**_address(False), **(payload.get("shipping") or {})},
                "payment_method": payload.get("payment_method", ""),
                "payment_method_title": payload.get("payment_method_title", ""),
                "transaction_id": payload.get("transaction_id", ""), "customer_ip_address": "",
                "customer_user_agent": user_agent, "created_via": created_via,
                "customer_note": payload.get("customer_note", ""),
                "line_items": [self._line(item) for item in payload.get("line_items") or []],
                "tax_lines": [], "fee_lines": [
                    {"id": self.new_id("item"), "name": f.get("name", ""), "total": parse_money(f.get("total"), "total")
                     or 0, "total_tax": 0} for f in payload.get("fee_lines") or []],
                "shipping_lines": [
                    {"id": self.new_id("item"), "method_title": s.get("method_title", ""),
                     "method_id": s.get("method_id", ""), "total": parse_money(s.get("total"), "total") or 0,
                     "total_tax": 0} for s in payload.get("shipping_lines") or []],
                "coupon_lines": [
                    {"id": self.new_id("item"), "code": c.get("code", ""),
                     "discount": parse_money(c.get("discount"), "discount") or 0, "discount_tax": 0}
                    for c in payload.get("coupon_lines") or []],
                "refunds": [], "meta_data": self._meta(payload.get("meta_data")), "stock_reduced": False,
            }
            if recalc:
                self._recalculate(order)
            self.orders[order_id] = order
            self._set_status(order, status)
            if payload.get("set_paid"):
                self._payment_complete(order)
            self.emit("order", "created", order)
            return order

    def _payment_complete(self, order: dict[str, Any]) -> None:
        if order["status"] in ("pending", "on-hold", "failed", "cancelled"):
            order["date_paid"] = order["date_paid"] or self.now()
            self._set_status(order, "processing")
        self._reduce_stock(order)

    def _set_status(self, order: dict[str, Any], status: str) -> None:
        old = order["status"]
        order["status"] = status
        if status != old:
            order["date_modified"] = self.now()
        if status in PAID_STATUSES and order["date_paid"] is None:
            order["date_paid"] = self.now()
        if status == "completed" and order["date_completed"] is None:
            order["date_completed"] = self.now()
        if status in REDUCING_STATUSES:
            self._reduce_stock(order)
        elif status in RESTORING_STATUSES and old != status:
            self._restore_stock(order)

    def _reduce_stock(self, order: dict[str, Any]) -> None:
        if order["stock_reduced"] or not self.options.manage_stock:
            return
        for li in order["line_items"]:
            if li.get("reduced_stock"):
                continue
            unit = self.products.get(li["variation_id"] or li["product_id"])
            holder = self.stock_holder(unit) if unit else None
            if holder is None:
                continue
            self.change_stock(holder, -li["quantity"])
            li["reduced_stock"] = li["quantity"]
            for rec in {id(unit): unit, id(holder): holder}.values():
                rec["total_sales"] = rec.get("total_sales", 0) + li["quantity"]
        order["stock_reduced"] = True

    def _restore_stock(self, order: dict[str, Any]) -> None:
        if not order["stock_reduced"]:
            return
        for li in order["line_items"]:
            if not li.get("reduced_stock"):
                continue
            unit = self.products.get(li["variation_id"] or li["product_id"])
            holder = self.stock_holder(unit) if unit else None
            if holder is not None:
                self.change_stock(holder, li["reduced_stock"])
            li["reduced_stock"] = None
        order["stock_reduced"] = False

    def update_order(self, order: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        """``PUT /orders/{id}``: addresses, notes, meta, status transitions, ``set_paid``."""
        with self.lock:
            self.version += 1
            changed = False
            for key in ("billing", "shipping"):
                if key in payload:
                    merged = {**order[key], **(payload[key] or {})}
                    changed |= merged != order[key]
                    order[key] = merged
            for key in ("customer_note", "payment_method", "payment_method_title", "transaction_id", "currency"):
                if key in payload and payload[key] != order.get(key):
                    order[key] = payload[key]
                    changed = True
            if "customer_id" in payload:
                cid = int(payload["customer_id"] or 0)
                if cid and cid not in self.customers:
                    raise WooError(400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid.")
                changed |= cid != order["customer_id"]
                order["customer_id"] = cid
            if "meta_data" in payload:
                changed |= self.apply_meta(order, payload["meta_data"])
            if changed:
                order["date_modified"] = self.now()
            if "status" in payload:
                if payload["status"] not in ORDER_STATUSES:
                    from storeflow_simulators.store_common import invalid_params

                    raise invalid_params({"status": ("rest_not_in_enum",
                                                     f"status is not one of {_wp_enum(ORDER_STATUSES)}.")})
                self._set_status(order, payload["status"])
            if payload.get("set_paid"):
                self._payment_complete(order)
            self.emit("order", "updated", order)
            return order

    # --- customers -------------------------------------------------------------------------------
    def find_customer_by_email(self, email: str, exclude: int | None = None) -> dict[str, Any] | None:
        needle = email.strip().lower()
        return next((c for c in self.customers.values()
                     if c["email"].strip().lower() == needle and c["id"] != exclude), None)

    def write_customer(self, payload: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.lock:
            self.version += 1
            now = self.now()
            if existing is None:
                email = (payload.get("email") or "").strip()
                if not email:
                    raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): email",
                                   params=["email"])
                rec: dict[str, Any] = {
                    "id": 0, "email": "", "first_name": "", "last_name": "", "role": "customer",
                    "username": payload.get("username") or email.split("@")[0],
                    "billing": _address(True), "shipping": _address(False), "is_paying_customer": False,
                    "meta_data": self.user_meta(now), "date_created": now, "date_modified": now,
                }
            else:
                rec = copy.deepcopy(existing)
            before = copy.deepcopy(rec)
            if "email" in payload:
                email = (payload["email"] or "").strip()
                if "@" not in email:
                    from storeflow_simulators.store_common import invalid_params

                    raise invalid_params({"email": ("rest_invalid_email", "Invalid email address.")})
                if self.find_customer_by_email(email, exclude=rec["id"] or None):
                    raise WooError(400, "registration-error-email-exists",
                                   f"An account is already registered with {email}. Please log in or use a "
                                   "different email address.")
                rec["email"] = email
            for key in ("first_name", "last_name"):
                if key in payload:
                    rec[key] = payload[key] or ""
            for key in ("billing", "shipping"):
                if key in payload:
                    rec[key] = {**rec[key], **(payload[key] or {})}
            if "meta_data" in payload:  # protected (``_``) keys: skipped, the request still answers 200
                self.apply_meta(rec, [m for m in payload["meta_data"] or []
                                      if isinstance(m, dict) and not is_protected_meta(m.get("key"))])
            if existing is None:
                rec["id"] = self.new_id("customer")
            elif rec != before:
                rec["date_modified"] = now
            self.customers[rec["id"]] = rec
            if existing is None or rec != before:
                self.emit("customer", "created" if existing is None else "updated", rec)
            return rec

    def user_meta(self, when: datetime) -> list[dict[str, Any]]:
        """WordPress user meta a new account carries (visible in ``meta_data``)."""
        day = when.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self._meta([{"key": "default_password_nag", "value": "1"},
                           {"key": "wc_last_active", "value": str(int(day.timestamp()))}])

    def add_admin(self, created: datetime | None = None) -> dict[str, Any]:
        """The site's administrator (a WP user without ``last_update``: ``date_modified`` is null)."""
        with self.lock:
            cid = self.new_id("customer")
            rec = {"id": cid, "email": ADMIN_EMAIL, "first_name": "", "last_name": "", "role": "administrator",
                   "username": "admin", "billing": _address(True), "shipping": _address(False),
                   "is_paying_customer": False, "meta_data": [], "date_created": created or self.now(),
                   "date_modified": None}
            self.customers[cid] = rec
            self.version += 1
            return rec

    def set_consent(self, customer: dict[str, Any], channel: str, optout: bool,
                    at: datetime | None = None) -> dict[str, Any]:
        """Record an explicit marketing choice in customer meta (see module docstring)."""
        when = (at or self.now()).astimezone(UTC).replace(microsecond=0)
        value = {"optout": bool(optout), "changed_at_gmt": when.replace(tzinfo=None).isoformat()}
        with self.lock:
            self.version += 1
            self.apply_meta(customer, [{"key": CONSENT_META[channel], "value": value}])
            customer["date_modified"] = self.now()
            self.emit("customer", "updated", customer)
            return customer

    # --- seeding and persistence -----------------------------------------------------------------
    @classmethod
    def from_world(cls, world: World, options: StoreOptions | None = None) -> StoreState:
        """Render the World's online store: catalogue, stock, customers (dirty as given) and online orders."""
        opts = options or StoreOptions(timezone=world.store_timezone, currency=world.currency)
        state = cls(opts)
        base = world.now - timedelta(days=800)
        state.customers.clear()  # the administrator is re-added after the World's customers
        state.reserved_posts = {int(o.order_id) for o in world.orders
                                if o.channel == "online" and o.order_id.isdigit()}
        for name in world.categories:
            state.categories.append({"id": state.new_id("category"), "name": name, "slug": _slug(name)})
        cat_ids = {c["name"]: c["id"] for c in state.categories}
        feeding = {loc.location_id for loc in world.locations if loc.feeds_online and loc.status == "ACTIVE"}
        stock: dict[str, int] = {}
        for count in world.stock:
            if count.location_id in feeding:
                stock[count.variation_id] = stock.get(count.variation_id, 0) + count.quantity
        for product in world.products:
            status = "publish" if product.online else "draft"
            common = {"status": status, "description": product.description,
                      "categories": [{"id": cat_ids[product.category]}] if product.category in cat_ids else []}
            single = len(product.variations) == 1 and not product.variations[0].attributes
            if single:
                var = product.variations[0]
                rec = state.write_product({**common, "name": product.name, "type": "simple", "sku": var.sku,
                                           "regular_price": fmt_money(var.price_minor), "manage_stock": True,
                                           "stock_quantity": stock.get(var.variation_id, 0)})
                rec["regular_price"] = var.price_minor
                rec["date_created"] = rec["date_modified"] = base
                continue
            names: dict[str, list[str]] = {}
            for var in product.variations:
                for key, val in var.attributes.items():
                    names.setdefault(key, [])
                    if val not in names[key]:
                        names[key].append(val)
            if not names:
                names = {"Option": [v.name for v in product.variations]}
            attributes = [{"id": 0, "name": k, "position": i, "visible": True, "variation": True, "options": v}
                          for i, (k, v) in enumerate(names.items())]
            parent = state.write_product({**common, "name": product.name, "type": "variable", "sku": "",
                                          "attributes": attributes})
            parent["date_created"] = parent["date_modified"] = base
            for var in product.variations:
                attrs = var.attributes or {"Option": var.name}
                child = state.write_product(
                    {"name": f"{product.name} - {', '.join(attrs.values())}", "sku": var.sku,
                     "status": "publish" if product.online else "private",
                     "regular_price": fmt_money(var.price_minor), "manage_stock": True,
                     "stock_quantity": stock.get(var.variation_id, 0),
                     "attributes": [{"id": 0, "name": k, "option": v} for k, v in attrs.items()]},
                    parent=parent)
                child["regular_price"] = var.price_minor
                child["date_created"] = child["date_modified"] = base
            parent["date_modified"] = base  # variation saves moved it
        people = {p.person_id: p for p in world.people}
        for sc in world.store_customers:
            person = people.get(sc.person_id)
            try:
                cid = int(sc.source_id)
            except ValueError:
                cid = state.new_id("customer")
            state.next_ids["customer"] = max(state.next_ids["customer"], cid + 1)
            billing = {**_address(True), "first_name": sc.given_name, "last_name": sc.family_name,
                       "address_1": sc.address_line1, "city": sc.city, "postcode": sc.postcode,
                       "country": sc.country, "email": sc.email or "", "phone": sc.phone or ""}
            rec = {"id": cid, "email": sc.email or "", "first_name": sc.given_name, "last_name": sc.family_name,
                   "role": "customer", "username": (sc.email or f"user{cid}").split("@")[0].lower(),
                   "billing": billing, "shipping": {**_address(False), **{k: billing[k] for k in ADDRESS_FIELDS}},
                   "is_paying_customer": False, "meta_data": state.user_meta(sc.created_at),
                   "date_created": sc.created_at, "date_modified": sc.updated_at}
            for channel, unsub, consent in (
                ("email", sc.email_unsubscribed, person.email_consent if person else False),
                ("sms", sc.sms_unsubscribed, person.sms_consent if person else False),
            ):
                if unsub or consent:
                    when = sc.updated_at if unsub else sc.created_at
                    rec["meta_data"].append({"id": state.new_id("meta"), "key": CONSENT_META[channel], "value": {
                        "optout": bool(unsub), "changed_at_gmt": when.astimezone(UTC).replace(tzinfo=None)
                        .isoformat(timespec="seconds")}})
            state.customers[cid] = rec
        state.add_admin(base)
        for order in sorted((o for o in world.orders if o.channel == "online"), key=lambda o: o.created_at):
            state.reserved_posts.discard(int(order.order_id) if order.order_id.isdigit() else -1)
            state._seed_order(world, order, people)
        state.reserved_posts = set()
        return state

    def _seed_order(self, world: World, src: Any, people: dict[str, Any]) -> None:
        cid = 0
        if src.customer_source_id:
            try:
                cid = int(src.customer_source_id)
            except ValueError:
                cid = 0
        customer = self.customers.get(cid)
        if customer is None:
            cid = 0
        if customer is not None:
            billing = dict(customer["billing"])
            if not billing.get("email"):
                billing["email"] = customer["email"]
            customer["is_paying_customer"] = True
        else:
            person = people.get(src.person_id or "")
            billing = {**_address(True)}
            if person is not None:
                billing.update(first_name=person.given_name, last_name=person.family_name,
                               address_1=person.address_line1, city=person.city, postcode=person.postcode,
                               country=person.country, email=person.email or "", phone=person.phone or "")
        lines = []
        for line in src.lines:
            if self.find_sku_owner(line.sku) is None:
                continue
            lines.append({"sku": line.sku, "quantity": line.quantity,
                          "subtotal": f"{line.quantity * line.unit_price_minor / 100:.2f}"})
        if not lines:
            return
        meta = [{"key": k, "value": v} for k, v in ATTRIBUTION_META.get(src.acquisition_channel or "", {}).items()]
        payload = {"customer_id": cid, "billing": billing,
                   "shipping": {k: billing.get(k, "") for k in ADDRESS_FIELDS},
                   "line_items": lines, "meta_data": meta, "payment_method": "stripe",
                   "payment_method_title": "Credit card",
                   "coupon_lines": [{"code": src.coupon, "discount": f"{src.discount_minor / 100:.2f}"}]
                   if src.coupon else [],
                   "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate",
                                       "total": f"{src.shipping_minor / 100:.2f}"}] if src.shipping_minor else []}
        forced = None
        if src.order_id.isdigit() and int(src.order_id) not in self.orders and int(src.order_id) not in self.products:
            forced = int(src.order_id)  # keep the World's order ids (reserved in the post id sequence)
        saved_manage = self.options.manage_stock
        self.options.manage_stock = False  # history: today's stock already reflects past orders
        try:
            order = self.create_order(payload, created_via=src.created_via or "checkout",
                                      user_agent=src.user_agent or "", order_id=forced)
        finally:
            self.options.manage_stock = saved_manage
        if src.discount_minor and not src.coupon:
            order["coupon_lines"].append({"id": self.new_id("item"), "code": "", "discount": src.discount_minor,
                                          "discount_tax": 0})
        if src.tax_minor:
            gross = sum(li["total"] for li in order["line_items"]) or 1
            left = src.tax_minor
            for i, li in enumerate(order["line_items"]):
                share = left if i == len(order["line_items"]) - 1 else min(left, round(src.tax_minor * li["total"]
                                                                                       / gross))
                li["total_tax"] = li["subtotal_tax"] = share
                left -= share
        self._recalculate(order)
        status = src.status if src.status in ORDER_STATUSES else "completed"
        order["status"] = status
        created = src.created_at.astimezone(UTC).replace(microsecond=0)
        order["date_created"] = created
        order["date_paid"] = created if status in ("processing", "completed", "refunded") else None
        order["date_completed"] = created + timedelta(days=2) if status == "completed" else None
        order["date_modified"] = min(order["date_completed"] or created, world.now)
        order["stock_reduced"] = status in REDUCING_STATUSES or status == "refunded"
        for li in order["line_items"]:
            li["reduced_stock"] = li["quantity"] if order["stock_reduced"] else None

    def to_json(self) -> dict[str, Any]:
        """Everything needed to restart the simulator where it stopped (JSON-serialisable)."""
        with self.lock:
            return {
                "version": 1, "options": asdict(self.options), "clock": self.clock.as_json(),
                "products": [_to_json(p) for p in self.products.values()],
                "orders": [_to_json(o) for o in self.orders.values()],
                "customers": [_to_json(c) for c in self.customers.values()],
                "categories": self.categories, "keys": self.keys, "next_ids": self.next_ids,
                "webhooks": [_to_json(w) for w in self.webhooks.values()],
            }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreState:
        """The inverse of :meth:`to_json`."""
        state = cls(StoreOptions.from_dict(data.get("options", {})))
        state.customers.clear()
        state.clock.load_json(data.get("clock"))
        state.products = {p["id"]: p for p in (_from_json(x) for x in data.get("products", []))}
        state.orders = {o["id"]: o for o in (_from_json(x) for x in data.get("orders", []))}
        state.customers = {c["id"]: c for c in (_from_json(x) for x in data.get("customers", []))}
        state.sku_index = {p["sku"]: p["id"] for p in state.products.values() if p["sku"]}
        state.categories = list(data.get("categories", []))
        if not any(c["id"] == UNCATEGORIZED["id"] for c in state.categories):
            state.categories.insert(0, dict(UNCATEGORIZED))
        state.keys.update(data.get("keys", {}))
        state.next_ids.update(data.get("next_ids", {}))
        state.webhooks = {w["id"]: w for w in (_from_json(x) for x in data.get("webhooks", []))}
        if not any(c["role"] == "administrator" for c in state.customers.values()):
            state.add_admin()
        return state

    def summary(self) -> dict[str, Any]:
        """Counts for ``GET /_sim/state``."""
        with self.lock:
            kinds: dict[str, int] = {}
            for p in self.products.values():
                kinds[p["type"]] = kinds.get(p["type"], 0) + 1
            statuses: dict[str, int] = {}
            for o in self.orders.values():
                statuses[o["status"]] = statuses.get(o["status"], 0) + 1
            return {"now": self.now().isoformat(), "options": asdict(self.options), "products": kinds,
                    "orders": statuses,
                    "customers": sum(1 for c in self.customers.values() if c["role"] == "customer")}


def _wp_enum(values: tuple[str, ...]) -> str:
    from storeflow_simulators.store_common import wp_list

    return wp_list(list(values))


__all__ = ["StoreOptions", "StoreState", "CONSENT_META", "ATTRIBUTION_META", "parse_gmt"]
