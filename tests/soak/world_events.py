"""A seeded generator of what real shops do, hour by hour, driven through the simulators' APIs.

:class:`ShopWorld` acts as the outside world: tills ring up sales (some of them oversells), shoppers
check out online, staff cancel and refund orders, edit prices in the POS and stock in the store's
admin, add, delete and re-SKU items, customers change their email in one system, sign up in both,
opt out at the till, in the store, by SMS STOP and by one-click unsubscribe, and a few rows arrive with
values no system should hold (NUL bytes, lone surrogates, a price of 10^20, stock of 1e400, an order
dated year 1, an order line of quantity -5).

Everything goes through the simulators' HTTP APIs: the vendor API where a real shop would use it
(through the fault-injecting layer, so the generator retries like any client), the ``/_sim/*`` admin
routes for what happens at a till or in a shop's admin screen. Every action is logged in a
:class:`Ledger` (what was done, and what storeflow must therefore show), which
:mod:`tests.soak.invariants` checks against.

The sequence of actions is a function of the seed: candidates are always sorted by stable keys (SKU,
email), never by ids a simulator mints at random.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

#: one-off events every run includes (each at least once, spread over the cycles by the seed)
SPECIALS = (
    "oversell", "cancel_order", "full_refund", "partial_refund", "price_edit", "store_stock_edit",
    "new_item", "delete_item", "sku_rename", "email_change_pos", "email_change_store", "same_person_both",
    "optout_pos_email", "optout_pos_sms", "optout_store_email", "optout_store_sms", "sms_stop", "one_click",
    "bad_nul", "bad_surrogate", "bad_price", "bad_stock", "bad_year1", "bad_qty",
)
#: shop hours (UTC) of the tills; online shoppers come at any hour, fewer at night
SHOP_HOURS = range(8, 20)
TOPIC_ALL = ("marketing", "all")
_RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class Event:
    """One thing that happened in a shop (``outcome``: applied, refused by the system, or unsupported)."""

    cycle: int
    phase: int
    kind: str
    outcome: str = "applied"
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptOut:
    """An opt-out a customer made; ``direct`` ones reach storeflow without a customer sync."""

    cycle: int
    kind: str  # pos | store | sms_stop | one_click
    channel: str  # email | sms
    topic: str
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    source: tuple[str, str] | None = None  # (source system, source id) of the record opted out
    direct: bool = False


@dataclass
class BadRow:
    """A source row carrying a value no system should hold: it must end in quarantine with a reason."""

    cycle: int
    phase: int
    kind: str
    stream: str
    source_system: str
    source_id: str
    sku: str | None = None


@dataclass
class Ledger:
    """What the generator did, as far as the invariants need to know."""

    events: list[Event] = field(default_factory=list)
    optouts: list[OptOut] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    orders: dict[str, int] = field(default_factory=dict)  # store order id -> cycle placed (after go-live)
    bad_orders: set[str] = field(default_factory=set)  # store orders that must be quarantined, not applied
    # SKU -> cycle the store's stock moved outside storeflow
    store_side_skus: dict[str, int] = field(default_factory=dict)
    bad_stock_skus: set[str] = field(default_factory=set)  # POS stock of these SKUs is garbage (quarantined)
    renamed: dict[str, str] = field(default_factory=dict)  # old SKU -> POS variation id

    def counts(self, outcome: str | None = "applied") -> Counter[str]:
        """Events by kind (only ``outcome`` ones; None = all)."""
        return Counter(e.kind for e in self.events if outcome is None or e.outcome == outcome)


def norm_email(value: str | None) -> str | None:
    """An email as shops compare them (trimmed, lower-case)."""
    text = (value or "").strip().lower()
    return text or None


def e164(value: str | None, region: str = "GB") -> str | None:
    """A phone number in E.164 (what an SMS gateway sees), or None."""
    if not value:
        return None
    import phonenumbers

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def store_minor(value: Any) -> int | None:
    """A store money value (export holds minor ints; the REST API decimal strings) in minor units."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    whole, _, frac = text.partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole or 0)) * 100 + int((frac + "00")[:2]))


class SimHttp:
    """Plain HTTP to the simulators with the retries any client needs behind a faulty gateway."""

    def __init__(self, attempts: int = 8) -> None:
        self.session = requests.Session()
        self.attempts = attempts
        self.retries = 0

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        for attempt in range(self.attempts):
            try:
                resp = self.session.request(method, url, **kwargs)
            except requests.ConnectionError:  # a kept-alive connection the server had just closed
                if attempt == self.attempts - 1:
                    raise
                self.retries += 1
                continue
            if resp.status_code not in _RETRY_STATUSES or attempt == self.attempts - 1:
                return resp
            self.retries += 1
            time.sleep(min(0.02 * 2 ** attempt, 0.5))
        raise AssertionError("unreachable")

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer (retrying truncated bodies on reads); raises on an error status."""
        for attempt in range(self.attempts):
            resp = self.request(method, url, **kwargs)
            resp.raise_for_status()
            try:
                return resp.json()
            except ValueError:
                if method != "GET" or attempt == self.attempts - 1:
                    raise
                self.retries += 1
        raise AssertionError("unreachable")


class Refused(Exception):
    """The system refused the action (a legitimate outcome: shops try things systems do not allow)."""


@dataclass
class View:
    """Both systems as they are now (from the simulators' admin exports)."""

    pos: dict[str, Any]
    store: dict[str, Any]

    @classmethod
    def from_cluster(cls, sims: Any) -> View:
        """Both simulators' state, copied under their locks (what ``GET /_sim/export`` returns, minus what
        the checks do not read, and without serialising it: the soak looks often)."""
        import copy

        pos, store = sims.pos_state, sims.store_state
        with pos.lock:
            pos_view = {"catalog": copy.deepcopy(pos.catalog), "counts": copy.deepcopy(pos.counts),
                        "changes": list(pos.changes), "customers": copy.deepcopy(pos.customers),
                        "locations": copy.deepcopy(pos.locations),
                        "orders": {oid: {"metadata": dict(o.get("metadata") or {})} for oid, o in pos.orders.items()}}
        with store.lock:
            store_view = {"products": copy.deepcopy(list(store.products.values())),
                          "orders": copy.deepcopy(list(store.orders.values())),
                          "customers": copy.deepcopy(list(store.customers.values()))}
        return cls(pos_view, store_view)

    @property
    def active_locations(self) -> list[str]:
        return sorted(loc["id"] for loc in self.pos["locations"] if loc.get("status") == "ACTIVE")

    def variations(self) -> dict[str, dict[str, Any]]:
        """Live POS variations with a SKU, by SKU."""
        out = {}
        for obj in self.pos["catalog"].values():
            if obj.get("type") != "ITEM_VARIATION" or obj.get("is_deleted"):
                continue
            data = obj.get("item_variation_data") or {}
            if data.get("sku"):
                out[data["sku"]] = obj
        return out

    def in_stock(self, var_id: str, location: str) -> float:
        count = self.pos["counts"].get(f"{var_id}|{location}|IN_STOCK")
        try:
            return float(count["quantity"]) if count else 0.0
        except ValueError:
            return 0.0

    def store_skus(self) -> dict[str, dict[str, Any]]:
        return {p["sku"]: p for p in self.store["products"] if p.get("sku") and p.get("status") != "trash"}


class ShopWorld:
    """The outside world of one soak run: seeded, cycle by cycle, phase by phase."""

    def __init__(self, rng: random.Random, sims: Any, cycles: int, *, pos_client: Any, store_client: Any,
                 engine: Any, phone_region: str = "GB", unsubscribe_url: str | None = None,
                 currency: str = "GBP") -> None:
        self.rng = rng
        self.sims = sims
        self.pos_url, self.store_url, self.sms_url = sims.pos_url, sims.store_url, sims.sms_url
        self.smtp_api_url = sims.smtp_api_url
        self.pos = pos_client
        self.store = store_client
        self.engine = engine  # read only: which customers have messages waiting (whom opt-outs matter to)
        self.region = phone_region
        self.unsubscribe_url = unsubscribe_url
        self.currency = currency
        self.http = SimHttp()
        self.ledger = Ledger()
        self.schedule = self._schedule(cycles)
        self._serial = 0

    # --- schedule -----------------------------------------------------------------------------------
    def _schedule(self, cycles: int) -> dict[tuple[int, int], list[str]]:
        """Every special event at least once (more on long runs), on seeded (cycle, phase) slots."""
        repeats = max(1, cycles // 16)
        kinds = [k for k in SPECIALS for _ in range(repeats)]
        self.rng.shuffle(kinds)
        slots: dict[tuple[int, int], list[str]] = {}
        if cycles < 1:
            return slots
        order = list(range(1, cycles + 1))  # cycle 0 is the go-live night: no shop events
        for i, kind in enumerate(kinds):
            if i % cycles == 0:
                self.rng.shuffle(order)
            slot = (order[i % cycles], self.rng.randint(1, 2))
            slots.setdefault(slot, []).append(kind)
        return slots

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    # --- views --------------------------------------------------------------------------------------
    def view(self) -> View:
        """Both systems now (in-process copies when the simulators run in this process, else their exports)."""
        if getattr(self.sims, "pos_state", None) is not None and getattr(self.sims, "store_state", None) is not None:
            return View.from_cluster(self.sims)
        return View(self.http.json("GET", f"{self.pos_url}/_sim/export"),
                    self.http.json("GET", f"{self.store_url}/_sim/export"))

    def _sellable_skus(self, view: View) -> list[tuple[str, dict[str, Any]]]:
        """(SKU, POS variation) sold in both systems, with tracked stock and sane values, by SKU."""
        store = view.store_skus()
        out = []
        for sku, var in sorted(view.variations().items()):
            data = var["item_variation_data"]
            if (sku in store and data.get("track_inventory") and sku not in self.ledger.bad_stock_skus
                    and data.get("pricing_type") == "FIXED_PRICING"):
                out.append((sku, var))
        return out

    def _pick(self, items: list) -> Any:
        return items[self.rng.randrange(len(items))] if items else None

    def _waiting(self, channel: str) -> list[str]:
        """Golden customer ids with a planned (unsent) message on ``channel``: whom an opt-out matters to."""
        from sqlalchemy import select

        from storeflow.warehouse.schema import messages

        with self.engine.connect() as conn:
            return sorted(set(conn.execute(select(messages.c.customer_id).where(
                messages.c.state == "planned", messages.c.channel == channel)).scalars()))

    def _source_ids(self, customer_ids: list[str], system: str) -> list[str]:
        from sqlalchemy import select

        from storeflow.warehouse.schema import customer_identities as ci

        if not customer_ids:
            return []
        with self.engine.connect() as conn:
            return sorted(set(conn.execute(select(ci.c.source_id).where(
                ci.c.source_system == system, ci.c.customer_id.in_(customer_ids))).scalars()))

    def _pos_customer(self, view: View, channel: str) -> dict[str, Any] | None:
        field_ = "email_address" if channel == "email" else "phone_number"
        pool = {c["id"]: c for c in view.pos["customers"].values() if c.get(field_)}
        preferred = [pool[i] for i in self._source_ids(self._waiting(channel), "pos") if i in pool]
        candidates = preferred or sorted(pool.values(), key=lambda c: (c.get(field_) or "", c["id"]))
        return self._pick(sorted(candidates, key=lambda c: (c.get(field_) or "", c["id"])))

    def _store_customer(self, view: View, channel: str) -> dict[str, Any] | None:
        def contact(c: dict[str, Any]) -> str:
            return (c.get("email") or "") if channel == "email" else ((c.get("billing") or {}).get("phone") or "")

        pool = {str(c["id"]): c for c in view.store["customers"] if contact(c)}
        preferred = [pool[i] for i in self._source_ids(self._waiting(channel), "store") if i in pool]
        candidates = preferred or list(pool.values())
        return self._pick(sorted(candidates, key=lambda c: (contact(c), c["id"])))

    # --- one phase of one cycle ---------------------------------------------------------------------
    def run_phase(self, cycle: int, hour: int, phase: int) -> list[Event]:
        """Everything that happens in the shops during one phase; returns the events (also in the ledger)."""
        kinds = list(self.schedule.get((cycle, phase), []))
        shop_open = hour in SHOP_HOURS
        kinds += ["in_store_sale"] * (self.rng.randint(0, 2) if shop_open else int(self.rng.random() < 0.2))
        kinds += ["online_order"] * (self.rng.randint(0, 2) if 7 <= hour <= 23 else int(self.rng.random() < 0.5))
        if shop_open and self.rng.random() < 0.25:
            kinds.append("price_edit")
        if self.ledger.orders and self.rng.random() < 0.1:
            kinds.append(self.rng.choice(("cancel_order", "full_refund")))
        self.rng.shuffle(kinds)
        out = []
        for kind in kinds:
            event = Event(cycle, phase, kind)
            try:
                getattr(self, f"do_{kind}")(event, self.view())
            except Refused as exc:
                event.outcome, event.detail["why"] = "refused", str(exc)[:200]
            except requests.HTTPError as exc:
                code = exc.response.status_code if exc.response is not None else "?"
                event.outcome = "unsupported" if code in (404, 405) else "refused"
                event.detail["why"] = f"HTTP {code}: {(exc.response.text if exc.response is not None else '')[:160]}"
            except Exception as exc:  # a connector error after its retries: the shop's action did not happen
                event.outcome, event.detail["why"] = "refused", f"{type(exc).__name__}: {str(exc)[:160]}"
            self.ledger.events.append(event)
            out.append(event)
        return out

    # --- sales ---------------------------------------------------------------------------------------
    def do_in_store_sale(self, event: Event, view: View) -> None:
        skus = self._sellable_skus(view)
        lines = []
        for _ in range(self.rng.randint(1, 2)):
            sku, var = self._pick(skus)
            lines.append({"variation_id": var["id"], "quantity": self.rng.randint(1, 2)})
        body: dict[str, Any] = {"location_id": self._pick(view.active_locations), "lines": lines}
        customers = sorted(view.pos["customers"].values(), key=lambda c: (c.get("email_address") or "", c["id"]))
        if customers and self.rng.random() < 0.5:
            body["customer_id"] = self._pick(customers)["id"]
        order = self.http.json("POST", f"{self.pos_url}/_sim/sales", json=body)
        event.detail.update(lines=len(lines), order=_order_id(order))

    def do_oversell(self, event: Event, view: View) -> None:
        """A till sells more than the POS thought was there: IN_STOCK goes negative."""
        sku, var = self._pick(self._sellable_skus(view))
        location = self._pick(view.active_locations)
        have = max(0, int(view.in_stock(var["id"], location)))
        qty = have + self.rng.randint(1, 3)
        self.http.json("POST", f"{self.pos_url}/_sim/sales", json={
            "location_id": location, "lines": [{"variation_id": var["id"], "quantity": qty}]})
        event.detail.update(sku=sku, sold=qty, had=have)

    def do_online_order(self, event: Event, view: View) -> None:
        store = view.store_skus()
        # a checkout only sells what the store shows in stock (WooCommerce refuses the cart otherwise)
        skus = [sku for sku, _ in self._sellable_skus(view)
                if store[sku].get("manage_stock") and (store[sku].get("stock_quantity") or 0) >= 2]
        lines = [{"sku": sku, "quantity": self.rng.randint(1, 2)}
                 for sku in {self._pick(skus) for _ in range(self.rng.randint(1, 2))}]
        customers = sorted((c for c in view.store["customers"] if c.get("email")),
                           key=lambda c: (norm_email(c["email"]), c["id"]))
        body: dict[str, Any] = {"line_items": lines}
        if customers and self.rng.random() < 0.7:
            body["customer_id"] = self._pick(customers)["id"]
        else:
            body["email"] = f"guest.{self._next()}@soak.example"
        resp = self.http.request("POST", f"{self.store_url}/_sim/orders", json=body)
        if resp.status_code >= 400:
            raise Refused(f"checkout refused: HTTP {resp.status_code} {resp.text[:120]}")
        order_id = str(resp.json()["id"])
        self.ledger.orders[order_id] = event.cycle
        event.detail.update(order=order_id, skus=sorted(line["sku"] for line in lines))

    def _own_order(self, statuses: tuple[str, ...], view: View) -> dict[str, Any] | None:
        ids = {oid for oid in self.ledger.orders if oid not in self.ledger.bad_orders}
        mine = [o for o in view.store["orders"] if str(o["id"]) in ids and o["status"] in statuses]
        return self._pick(sorted(mine, key=lambda o: int(o["id"])))

    def _set_status(self, event: Event, view: View, status: str) -> None:
        order = self._own_order(("processing", "completed", "on-hold"), view)
        if order is None:  # nothing to change yet: a shopper orders first (then changes their mind)
            first = Event(event.cycle, event.phase, "online_order")
            self.do_online_order(first, view)
            self.ledger.events.append(first)
            order = self._own_order(("processing", "completed", "on-hold"), self.view())
        if order is None:
            raise Refused("no order of ours to change")
        self.store.call("PUT", f"/orders/{order['id']}", json={"status": status})
        event.detail.update(order=str(order["id"]), status=status)

    def do_cancel_order(self, event: Event, view: View) -> None:
        self._set_status(event, view, "cancelled")

    def do_full_refund(self, event: Event, view: View) -> None:
        self._set_status(event, view, "refunded")

    def do_partial_refund(self, event: Event, view: View) -> None:
        """One unit of one line refunded (WooCommerce ``POST /orders/{id}/refunds``); the order stays paid."""
        order = self._own_order(("processing", "completed"), view)
        if order is None:
            raise Refused("no paid order of ours to refund")
        line = order["line_items"][0]
        amount = store_minor(line.get("subtotal")) or 0
        qty = max(1, int(line.get("quantity") or 1))
        unit = amount // qty
        payload = {"amount": f"{unit / 100:.2f}", "reason": "soak: one unit returned", "api_refund": False,
                   "line_items": [{"id": line["id"], "quantity": 1, "refund_total": f"{unit / 100:.2f}"}]}
        from storeflow.connectors.http import ApiError

        try:
            self.store.call("POST", f"/orders/{order['id']}/refunds", json=payload)
        except ApiError as exc:
            if exc.status in (404, 405):
                event.outcome = "unsupported"
                event.detail["why"] = "the store simulator has no POST /orders/{id}/refunds"
                return
            raise
        event.detail.update(order=str(order["id"]))

    # --- catalog -------------------------------------------------------------------------------------
    def do_price_edit(self, event: Event, view: View) -> None:
        sku, var = self._pick(self._sellable_skus(view))
        old = var["item_variation_data"]["price_money"]["amount"]
        new = max(50, int(round(old * self.rng.choice((0.8, 0.9, 1.1, 1.25)))))
        self.http.json("POST", f"{self.pos_url}/_sim/price", json={"variation_id": var["id"], "amount": new})
        event.detail.update(sku=sku, old=old, new=new)

    def do_store_stock_edit(self, event: Event, view: View) -> None:
        """Someone sets a stock number in the store's admin (outside storeflow)."""
        store = view.store_skus()
        skus = [sku for sku, _ in self._sellable_skus(view) if store[sku].get("manage_stock")]
        sku = self._pick(skus)
        if sku is None:
            raise Refused("no stock-managed store product")
        current = store[sku].get("stock_quantity") or 0
        new = max(0, current + self.rng.choice((-3, -1, 2, 5)))
        self.http.json("PUT", f"{self.store_url}/_sim/products/stock", json={"sku": sku, "quantity": new})
        self.ledger.store_side_skus[sku] = event.cycle
        event.detail.update(sku=sku, old=current, new=new)

    def do_new_item(self, event: Event, view: View) -> None:
        n = self._next()
        sku = f"SOAK-NEW-{event.cycle:02d}-{n}"
        item = {"type": "ITEM", "id": f"#soak-item-{n}", "present_at_all_locations": True, "item_data": {
            "name": f"Soak Blend No. {n}", "variations": [{
                "type": "ITEM_VARIATION", "id": f"#soak-var-{n}", "present_at_all_locations": True,
                "item_variation_data": {"item_id": f"#soak-item-{n}", "name": "Regular", "sku": sku,
                                        "pricing_type": "FIXED_PRICING", "track_inventory": True,
                                        "price_money": {"amount": 1000 + 50 * self.rng.randint(0, 40),
                                                        "currency": self.currency}}}]}}
        result = self.pos.batch_upsert_catalog([item], key_prefix=f"soak-new-{n}")
        var_id = next(m["object_id"] for r in result for m in r.get("id_mappings") or []
                      if m["client_object_id"] == f"#soak-var-{n}")
        for location in view.active_locations:
            self.http.json("POST", f"{self.pos_url}/_sim/stock", json={
                "variation_id": var_id, "location_id": location, "quantity": str(self.rng.randint(3, 20))})
        event.detail.update(sku=sku)

    def do_delete_item(self, event: Event, view: View) -> None:
        """An item is deleted in the POS (the store must show it out of stock, never delete it)."""
        candidates = [(sku, var) for sku, var in self._sellable_skus(view)
                      if len([v for v in view.variations().values()
                              if v["item_variation_data"]["item_id"] == var["item_variation_data"]["item_id"]]) == 1]
        sku, _ = self._pick(candidates) or self._pick(self._sellable_skus(view))
        self.http.json("POST", f"{self.pos_url}/_sim/delete", json={"sku": sku})
        event.detail.update(sku=sku)

    def do_sku_rename(self, event: Event, view: View) -> None:
        """A SKU is renamed in the POS (same variation, new code): the old code is no longer sold there."""
        sku, var = self._pick(self._sellable_skus(view))
        current = self.pos.batch_retrieve_catalog([var["id"]])[0]
        current["item_variation_data"]["sku"] = new = f"{sku}-R{event.cycle}"
        self.pos.batch_upsert_catalog([current], key_prefix=f"soak-rename-{self._next()}")
        self.ledger.renamed[sku] = var["id"]
        event.detail.update(old=sku, new=new)

    # --- customers -----------------------------------------------------------------------------------
    def do_email_change_store(self, event: Event, view: View) -> None:
        customer = self._store_customer(view, "email")
        new = f"moved.store{customer['id']}.c{event.cycle}.{self._next()}@soak.example"
        self.http.json("PUT", f"{self.store_url}/_sim/customers/{customer['id']}/email", json={"email": new})
        event.detail.update(customer=str(customer["id"]))

    def do_email_change_pos(self, event: Event, view: View) -> None:
        customer = self._pos_customer(view, "email")
        current = self.pos.retrieve_customer(customer["id"])
        new = f"moved.pos.c{event.cycle}.{self._next()}@soak.example"
        self.pos.put_json(f"/v2/customers/{customer['id']}", {"email_address": new,
                                                              "version": current.get("version", 0)})
        event.detail.update(customer=customer["id"])

    def do_same_person_both(self, event: Event, view: View) -> None:
        """The same person signs up at the till and online (same email, different records)."""
        n = self._next()
        email = f"both.c{event.cycle}.{n}@soak.example"
        phone = f"+447700900{n % 1000:03d}"
        pos = self.pos.post_json("/v2/customers", {
            "idempotency_key": f"soak-both-{event.cycle}-{n}", "given_name": "Robin", "family_name": f"Both{n}",
            "email_address": email, "phone_number": phone})
        store = self.store.call("POST", "/customers", json={
            "email": email, "first_name": "Robin", "last_name": f"Both{n}", "username": f"robin.both{n}",
            "billing": {"first_name": "Robin", "last_name": f"Both{n}", "email": email, "phone": phone}})
        event.detail.update(pos=pos["customer"]["id"], store=str(store["id"]))

    # --- opt-outs ------------------------------------------------------------------------------------
    def do_optout_pos_email(self, event: Event, view: View) -> None:
        customer = self._pos_customer(view, "email")
        self.http.json("POST", f"{self.pos_url}/_sim/customers/{customer['id']}/preferences",
                       json={"email_unsubscribed": True})
        self.ledger.optouts.append(OptOut(event.cycle, "pos", "email", "marketing",
                                          emails={norm_email(customer["email_address"])},
                                          source=("pos", customer["id"])))
        event.detail.update(customer=customer["id"])

    def do_optout_pos_sms(self, event: Event, view: View) -> None:
        customer = self._pos_customer(view, "sms")
        self.http.json("POST", f"{self.pos_url}/_sim/customers/{customer['id']}/preferences",
                       json={"sms_opt_out": True})
        phone = e164(customer.get("phone_number"), self.region)
        self.ledger.optouts.append(OptOut(event.cycle, "pos", "sms", "all", phones={phone} if phone else set(),
                                          source=("pos", customer["id"])))
        event.detail.update(customer=customer["id"])

    def _store_optout(self, event: Event, view: View, channel: str) -> None:
        customer = self._store_customer(view, channel)
        self.http.json("PUT", f"{self.store_url}/_sim/customers/{customer['id']}/consent",
                       json={"channel": channel, "optout": True})
        emails = {norm_email(customer.get("email"))} if channel == "email" else set()
        phone = e164((customer.get("billing") or {}).get("phone"), self.region) if channel == "sms" else None
        self.ledger.optouts.append(OptOut(event.cycle, "store", channel, "marketing" if channel == "email" else "all",
                                          emails=emails - {None}, phones={phone} if phone else set(),
                                          source=("store", str(customer["id"]))))
        event.detail.update(customer=str(customer["id"]))

    def do_optout_store_email(self, event: Event, view: View) -> None:
        self._store_optout(event, view, "email")

    def do_optout_store_sms(self, event: Event, view: View) -> None:
        self._store_optout(event, view, "sms")

    def do_sms_stop(self, event: Event, view: View) -> None:
        """A customer replies STOP to the shop's number."""
        from sqlalchemy import select

        from storeflow.warehouse.schema import customers

        sent = [m.get("to") for m in self.http.json("GET", f"{self.sms_url}/_sim/messages")
                if m.get("direction", "outbound").startswith("outbound") and m.get("to")]
        waiting = self._waiting("sms")
        with self.engine.connect() as conn:
            phones = sorted({p for p in conn.execute(select(customers.c.phone).where(
                customers.c.customer_id.in_(waiting), customers.c.phone.is_not(None))).scalars()})
            if not phones and not sent:
                phones = sorted(set(conn.execute(select(customers.c.phone).where(
                    customers.c.phone.is_not(None))).scalars()))
        phone = self._pick(sorted(set(sent))) if sent and self.rng.random() < 0.5 else self._pick(phones)
        if phone is None:
            raise Refused("nobody with a phone number")
        self.http.json("POST", f"{self.sms_url}/_sim/inbound",
                       json={"from": phone, "body": self.rng.choice(("STOP", "stop", "Stop.", "UNSUBSCRIBE"))})
        self.ledger.optouts.append(OptOut(event.cycle, "sms_stop", "sms", "all", phones={phone}, direct=True))
        event.detail.update(reply="STOP")

    def do_one_click(self, event: Event, view: View) -> None:
        """A customer presses the mail client's unsubscribe button (RFC 8058 one-click POST)."""
        if not self.unsubscribe_url:
            raise Refused("no unsubscribe endpoint running")
        from storeflow.campaigns.optouts import make_token, verify_token

        mails = [m for m in self.http.json("GET", f"{self.smtp_api_url}/api/messages")
                 if (m.get("headers") or {}).get("List-Unsubscribe")]
        if mails:
            mail = self._pick(sorted(mails, key=lambda m: (m["headers"].get("To") or "", m["headers"]["Message-ID"])))
            link = re.search(r"<(https?://[^>]+)>", mail["headers"]["List-Unsubscribe"]).group(1)
            token = urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1]
            address = norm_email(_address(mail["headers"].get("To")))
        else:  # nothing sent yet: the link any earlier campaign email would have carried
            from sqlalchemy import select

            from storeflow.warehouse.schema import customers

            waiting = self._waiting("email")
            with self.engine.connect() as conn:
                rows = conn.execute(select(customers.c.customer_id, customers.c.email).where(
                    customers.c.customer_id.in_(waiting), customers.c.email.is_not(None))).all()
            if not rows:
                raise Refused("no email to unsubscribe from")
            row = self._pick(sorted(rows, key=lambda r: r.email))
            token, address = make_token(row.customer_id, "marketing"), norm_email(row.email)
        customer_id, topic = verify_token(token)
        resp = self.http.request("POST", f"{self.unsubscribe_url.rstrip('/')}/{token}",
                                 data={"List-Unsubscribe": "One-Click"})
        resp.raise_for_status()
        self.ledger.optouts.append(OptOut(event.cycle, "one_click", "email", topic,
                                          emails={address} if address else set(), direct=True,
                                          source=("golden", customer_id)))
        event.detail.update(topic=topic)

    # --- rows with values no system should hold -----------------------------------------------------
    def _bad(self, event: Event, stream: str, system: str, source_id: str, sku: str | None = None) -> None:
        self.ledger.bad_rows.append(BadRow(event.cycle, event.phase, event.kind, stream, system, source_id, sku))
        event.detail.update(source_id=source_id)

    def do_bad_nul(self, event: Event, view: View) -> None:
        """A store sign-up whose name carries a NUL byte (pasted from a broken form)."""
        n = self._next()
        email = f"nul.c{event.cycle}.{n}@soak.example"
        row = self.store.call("POST", "/customers", json={
            "email": email, "first_name": "Zo\u0000e", "last_name": "Nul", "username": f"zoe.nul{n}",
            "billing": {"first_name": "Zo\u0000e", "last_name": "Nul", "email": email}})
        self._bad(event, "store_customers", "store", str(row["id"]))

    def do_bad_surrogate(self, event: Event, view: View) -> None:
        """A lone UTF-16 surrogate in a name: not drivable through the simulators.

        Both simulators answer with Starlette's JSON (UTF-8, ``ensure_ascii=False``): a record holding a
        lone surrogate makes every answer that lists it a 500 (seen: ``POST /v2/customers`` stored the
        customer and then failed to render it), so the soak would test the simulator, not storeflow.
        Recorded as unsupported; storeflow's handling is covered by loader-level tests.
        """
        event.outcome = "unsupported"
        event.detail["why"] = "simulators cannot serialise a lone surrogate (Starlette UTF-8 JSON answers 500)"

    def _bad_order(self, event: Event, view: View, line: dict[str, Any]) -> None:
        sku, _ = self._pick(self._sellable_skus(view))
        order = self.store.call("POST", "/orders", json={
            "status": "processing", "set_paid": True, "payment_method": "bacs",
            "billing": {"first_name": "Import", "last_name": "Script", "email": f"import.{self._next()}@soak.example"},
            "line_items": [{"sku": sku, **line}]})
        order_id = str(order["id"])
        self.ledger.bad_orders.add(order_id)
        self.ledger.orders[order_id] = event.cycle
        self.ledger.store_side_skus[sku] = event.cycle  # the store moved its own stock for a row we refuse
        self._bad(event, "store_orders", "store", order_id, sku)

    def do_bad_price(self, event: Event, view: View) -> None:
        """An imported order whose line costs 10^20 (the store keeps whatever a plugin writes)."""
        self._bad_order(event, view, {"quantity": 1, "subtotal": "100000000000000000000",
                                      "total": "100000000000000000000"})

    def do_bad_qty(self, event: Event, view: View) -> None:
        """An order line of quantity -5 (a returns plugin writing negative lines)."""
        self._bad_order(event, view, {"quantity": -5})

    def do_bad_stock(self, event: Event, view: View) -> None:
        """A POS count of 1e400 (a scanner's exponent notation reaching the inventory record)."""
        sku, var = self._pick(self._sellable_skus(view))
        location = self._pick(view.active_locations)
        self.http.json("POST", f"{self.pos_url}/_sim/stock", json={
            "variation_id": var["id"], "location_id": location, "quantity": "1e400"})
        self.ledger.bad_stock_skus.add(sku)
        self._bad(event, "pos_inventory", "pos", var["id"], sku)

    def do_bad_year1(self, event: Event, view: View) -> None:
        """An order dated 0001-01-02 (a migrated row: WooCommerce returns whatever its database holds).

        The REST API cannot set ``date_created`` and the POS simulator refuses year-1 stamps of its own
        (``/_sim/sales`` with ``created_at`` 0001-01-01 answers 400 INVALID_TIME), so the soak places a
        normal checkout and then edits the date in the store simulator's records, as a database import
        would. ``date_modified`` moves, so the hourly extract reads it.
        """
        from datetime import UTC, datetime

        sku, _ = self._pick(self._sellable_skus(view))
        resp = self.http.request("POST", f"{self.store_url}/_sim/orders", json={
            "email": f"migrated.{self._next()}@soak.example", "line_items": [{"sku": sku, "quantity": 1}]})
        if resp.status_code >= 400:
            raise Refused(f"checkout refused: HTTP {resp.status_code} {resp.text[:120]}")
        order_id = str(resp.json()["id"])
        state = self.sims.store_state
        with state.lock:
            record = state.orders[int(order_id)]
            record["date_created"] = datetime(1, 1, 2, 12, tzinfo=UTC)
            record["date_modified"] = state.now()
            state.bump()
        self.ledger.bad_orders.add(order_id)
        self.ledger.orders[order_id] = event.cycle
        self.ledger.store_side_skus[sku] = event.cycle
        self._bad(event, "store_orders", "store", order_id, sku)

def _order_id(body: Any) -> str:
    if isinstance(body, dict):
        order = body.get("order") if isinstance(body.get("order"), dict) else body
        return str(order.get("id"))
    return "?"


def _address(header: str | None) -> str | None:
    if not header:
        return None
    from email.utils import parseaddr

    return parseaddr(header)[1] or None
