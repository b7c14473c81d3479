"""The soak's invariants, checked after every cycle against the systems themselves (ground truth).

Each check reads what the POS and the store hold (their admin exports), what the SMTP sink and the SMS
gateway received, and - only where the invariant is about storeflow's own records - the warehouse:

* ``store_stock`` - every store product of a POS SKU shows max(0, sellable POS stock - buffer -
  unapplied online units); a SKU the POS deleted or no longer has (renamed) shows 0. "Unapplied" is
  computed from the store's order statuses and the POS's adjustments (reference id = store order id).
  Excused, and counted as such: SKUs whose store stock was moved outside storeflow (an admin edit, an
  order we must refuse) until the next nightly reconciliation; SKUs whose POS count is garbage.
* ``store_price`` - store regular price = POS price for every live fixed-price POS SKU (and the SKU
  exists in the store).
* ``online_lines_once`` - every line of every online order placed since go-live moved POS stock exactly
  once (reversed exactly once when cancelled or refunded) once an orders sync has run after it; never
  twice; never for an order that must be quarantined.
* ``no_message_to_opted_out`` - no email or SMS reached an address after its owner opted out: at once
  for opt-outs storeflow receives itself (one-click, SMS STOP), after the next customer sync for those
  made in the POS or the store.
* ``optout_everywhere`` - after that customer sync, every record of the person in the POS and the
  store shows the opt-out (and a store write that was not kept is caught here).
* ``source_rows_accounted`` - every source row present before a stream's last successful extract is in
  the warehouse or in quarantine with a reason.
* ``bad_rows_quarantined`` - every row with a value no system should hold is in quarantine with a
  reason once its stream has been extracted.
* ``no_job_failed`` - no job failed (recorded by the runner, see :mod:`tests.soak.run`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from tests.soak.world_events import TOPIC_ALL, Ledger, View, norm_email, store_minor

INVARIANTS = ("store_stock", "store_price", "online_lines_once", "no_message_to_opted_out", "optout_everywhere",
              "source_rows_accounted", "bad_rows_quarantined", "no_job_failed")
REDUCING = ("processing", "completed", "on-hold")
RESTORED = ("cancelled", "pending")  # the store gives reduced stock back (WooCommerce's own hooks)


@dataclass
class Violation:
    """One invariant broken at one cycle."""

    cycle: int
    invariant: str
    message: str

    def __str__(self) -> str:
        return f"cycle {self.cycle}: {self.invariant}: {self.message}"


@dataclass
class Progress:
    """What the runner has done so far (the invariants' clock)."""

    ok_runs: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))  # job -> cycles it succeeded
    received: dict[str, int] = field(default_factory=dict)  # gateway message id -> cycle first seen
    snapshots: dict[str, set[str]] = field(default_factory=dict)  # stream -> source ids before its last good extract
    failures: list[Violation] = field(default_factory=list)

    def first_ok(self, job: str, at_or_after: int) -> int | None:
        cycles = sorted(c for c in self.ok_runs.get(job, ()) if c >= at_or_after)
        return cycles[0] if cycles else None

    def last_ok(self, job: str) -> int | None:
        return max(self.ok_runs.get(job) or [-1]) if self.ok_runs.get(job) else None


@dataclass
class CheckResult:
    """Checks made and violations found at one cycle, per invariant."""

    checks: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    excused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    violations: list[Violation] = field(default_factory=list)

    def fail(self, cycle: int, invariant: str, message: str) -> None:
        self.violations.append(Violation(cycle, invariant, message))


def _dec(value: Any) -> Decimal | None:
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() and abs(out) < Decimal(10) ** 12 else None


# --- ground truth -----------------------------------------------------------------------------------------
def pos_adjustments(view: View) -> dict[tuple[str, str], list[int]]:
    """(store order id, variation id) -> [SOLD adjustments, reversals, SOLD qty, reversed qty] in the POS."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for change in view.pos["changes"]:
        adj = change.get("adjustment") if change.get("type") == "ADJUSTMENT" else None
        if not adj or not adj.get("reference_id"):
            continue
        qty = int(_dec(adj.get("quantity")) or 0)
        key = (str(adj["reference_id"]), adj.get("catalog_object_id"))
        if (adj.get("from_state"), adj.get("to_state")) == ("IN_STOCK", "SOLD"):
            out[key][0] += 1
            out[key][2] += qty
        elif (adj.get("from_state"), adj.get("to_state")) == ("SOLD", "IN_STOCK"):
            out[key][1] += 1
            out[key][3] += qty
    return out


def sku_to_variation(view: View, ledger: Ledger) -> dict[str, str]:
    """Every SKU the POS has or had (renamed away) -> its variation id."""
    out = dict(ledger.renamed)
    for obj in view.pos["catalog"].values():
        if obj.get("type") == "ITEM_VARIATION":
            sku = (obj.get("item_variation_data") or {}).get("sku")
            if sku:
                out[sku] = obj["id"]
    return out


def unapplied_units(view: View, ledger: Ledger, adjustments: dict) -> dict[str, int]:
    """Variation id -> units the store has taken out (or given back) that the POS does not reflect yet."""
    var_of = sku_to_variation(view, ledger)
    wanted: dict[tuple[str, str], int] = defaultdict(int)
    statuses = {}
    for order in view.store["orders"]:
        oid = str(order["id"])
        if oid not in ledger.orders or oid in ledger.bad_orders:
            continue
        statuses[oid] = order["status"]
        for line in order["line_items"]:
            var = var_of.get(line.get("sku") or "")
            if var:
                wanted[(oid, var)] += int(line.get("quantity") or 0)
    out: dict[str, int] = defaultdict(int)
    for (oid, var), qty in wanted.items():
        status = statuses[oid]
        sold, _, sold_qty, back_qty = adjustments.get((oid, var), [0, 0, 0, 0])
        net = sold_qty - back_qty
        if status in REDUCING:
            out[var] += qty - net
        elif status in RESTORED:
            out[var] -= net  # the store gave the units back; the POS still holds them as sold
        # refunded: the store keeps them out and the POS returns them to the shelf: nothing in flight
    return out


def sellable(view: View, online_locations: list[str] | None) -> dict[str, Decimal | None]:
    """Variation id -> IN_STOCK at the online-feeding locations (None: a garbage count)."""
    locations = set(online_locations or view.active_locations)
    out: dict[str, Decimal | None] = defaultdict(Decimal)
    for count in view.pos["counts"].values():
        if count.get("state") != "IN_STOCK" or count.get("location_id") not in locations:
            continue
        qty = _dec(count.get("quantity"))
        var = count["catalog_object_id"]
        out[var] = None if qty is None or out[var] is None else out[var] + qty
    return out


def store_records(view: View) -> dict[str, dict[str, Any]]:
    """SKU -> store product or variation (not trashed)."""
    return {p["sku"]: p for p in view.store["products"] if p.get("sku") and p.get("status") != "trash"}


def _store_stock(view: View, rec: dict[str, Any]) -> tuple[bool, int | None]:
    """(stock held by this record itself, its stock_quantity)."""
    if rec.get("manage_stock") and rec.get("manage_stock") != "parent":
        return True, rec.get("stock_quantity")
    return False, None


# --- the checks ----------------------------------------------------------------------------------------------
def _storeflow_record(engine, sku: str) -> str:
    """What storeflow believes about ``sku`` (for the message only, never for the verdict)."""
    if engine is None:
        return ""
    from storeflow.warehouse.schema import catalog_push_state, products

    with engine.connect() as conn:
        pushed = conn.execute(select(catalog_push_state.c.stock_quantity).where(
            catalog_push_state.c.sku == sku)).scalar()
        read = conn.execute(select(products.c.store_stock).where(products.c.sku == sku)).scalar()
    return f"; storeflow recorded pushing {pushed}, last read {read}"


def check_stock_and_price(cycle: int, view: View, ledger: Ledger, progress: Progress, result: CheckResult, *,
                          buffer: int, online_locations: list[str] | None, engine=None) -> None:
    adjustments = pos_adjustments(view)
    pending = unapplied_units(view, ledger, adjustments)
    stock = sellable(view, online_locations)
    store = store_records(view)
    last_reconcile = progress.last_ok("reconcile_inventory")
    live: dict[str, dict[str, Any]] = {}
    every_pos_sku = set(ledger.renamed)
    for obj in view.pos["catalog"].values():
        if obj.get("type") != "ITEM_VARIATION":
            continue
        data = obj.get("item_variation_data") or {}
        if not data.get("sku"):
            continue
        every_pos_sku.add(data["sku"])
        item = view.pos["catalog"].get(data.get("item_id") or "")
        if not obj.get("is_deleted") and not (item or {}).get("is_deleted"):
            live[data["sku"]] = obj
    for sku in sorted(every_pos_sku):
        var = live.get(sku)
        rec = store.get(sku)
        if rec is None:
            if var is not None:
                result.checks["store_price"] += 1
                result.fail(cycle, "store_price", f"POS SKU {sku} is not in the store after the catalog sync")
            continue
        # price
        data = (var or {}).get("item_variation_data") or {}
        if var is not None and data.get("pricing_type") == "FIXED_PRICING" and data.get("price_money"):
            result.checks["store_price"] += 1
            want, have = data["price_money"]["amount"], store_minor(rec.get("regular_price"))
            if have != want:
                result.fail(cycle, "store_price", f"{sku}: store price {have} != POS price {want}")
        # stock
        if var is not None and not data.get("track_inventory"):
            continue
        own, have_stock = _store_stock(view, rec)
        if not own:
            continue  # the store does not keep a number for this record (parent-managed or untracked)
        if sku in ledger.bad_stock_skus:
            result.excused["store_stock"] += 1
            continue
        edited = ledger.store_side_skus.get(sku)
        if edited is not None and (last_reconcile is None or last_reconcile < edited):
            result.excused["store_stock"] += 1  # moved in the store outside storeflow: the nightly run fixes it
            continue
        result.checks["store_stock"] += 1
        if var is None:
            want_stock = 0
            why = "deleted in the POS" if sku not in ledger.renamed else "renamed in the POS"
        else:
            units = stock.get(var["id"], Decimal(0))
            if units is None:
                result.excused["store_stock"] += 1
                continue
            want_stock = max(0, math.floor(units) - buffer - pending.get(var["id"], 0))
            why = (f"POS sellable {units}, buffer {buffer}, unapplied {pending.get(var['id'], 0)}")
        if have_stock != want_stock:
            risk = ("oversell risk" if (have_stock or 0) > want_stock else "undersell") if have_stock is not None \
                else "no stock number"
            result.fail(cycle, "store_stock", f"{sku}: store shows {have_stock}, should be {want_stock} "
                                              f"({why}; {risk}{_storeflow_record(engine, sku)})")


def check_lines_once(cycle: int, view: View, ledger: Ledger, progress: Progress, result: CheckResult) -> None:
    adjustments = pos_adjustments(view)
    var_of = sku_to_variation(view, ledger)
    touched: dict[str, tuple[int, int]] = {}
    for event in ledger.events:
        oid = event.detail.get("order") or (event.detail.get("source_id") if event.kind.startswith("bad_") else None)
        if oid in ledger.orders and event.outcome == "applied":
            touched[oid] = max(touched.get(oid, (-1, 0)), (event.cycle, event.phase))
    orders = {str(o["id"]): o for o in view.store["orders"]}
    for oid in sorted(ledger.orders, key=int):
        order = orders.get(oid)
        if order is None:
            continue
        by_var: dict[str, int] = defaultdict(int)
        for line in order["line_items"]:
            var = var_of.get(line.get("sku") or "")
            if var:
                by_var[var] += 1
        t_cycle, t_phase = touched.get(oid, (ledger.orders[oid], 1))
        settled = progress.first_ok("sync_orders", t_cycle if t_phase == 1 else t_cycle + 1) is not None
        for var, n_lines in by_var.items():
            sold, back, _, _ = adjustments.get((oid, var), [0, 0, 0, 0])
            result.checks["online_lines_once"] += 1
            if oid in ledger.bad_orders:
                if sold:
                    result.fail(cycle, "online_lines_once",
                                f"order {oid} (a row to quarantine) moved POS stock {sold} time(s)")
                continue
            if sold > n_lines or back > sold:
                result.fail(cycle, "online_lines_once",
                            f"order {oid}: {sold} SOLD adjustment(s), {back} reversal(s) for {n_lines} line(s)")
            elif settled and order["status"] in REDUCING and (sold, back) != (n_lines, 0):
                result.fail(cycle, "online_lines_once", f"order {oid} ({order['status']}): {sold} SOLD, {back} "
                                                        f"reversed for {n_lines} line(s) after an orders sync")
            elif settled and order["status"] not in REDUCING and sold != back:
                result.fail(cycle, "online_lines_once",
                            f"order {oid} ({order['status']}): {sold} SOLD but {back} reversed after an orders sync")


def _golden(conn, source: tuple[str, str] | None) -> set[str]:
    from storeflow.warehouse.schema import customer_identities as ci

    if source is None:
        return set()
    system, sid = source
    if system == "golden":
        return {sid}
    return set(conn.execute(select(ci.c.customer_id).where(ci.c.source_system == system, ci.c.source_id == sid))
               .scalars()) - {None}


def _effective(optout, progress: Progress) -> int | None:
    """From which cycle's dispatch on no message may reach the opted-out address."""
    return optout.cycle if optout.direct else progress.first_ok("sync_customers", optout.cycle)


def _propagated(optout, progress: Progress) -> int | None:
    """The customer sync that must have carried the opt-out to both systems (STOP replies are recorded
    at dispatch, after that hour's customer sync; everything else before the :00 jobs)."""
    return progress.first_ok("sync_customers", optout.cycle + (1 if optout.kind == "sms_stop" else 0))


def check_messages(cycle: int, engine, ledger: Ledger, progress: Progress, result: CheckResult,
                   mails: list[dict[str, Any]], texts: list[dict[str, Any]]) -> None:
    from storeflow.warehouse.schema import messages

    with engine.connect() as conn:
        rows = {r.message_key: r for r in conn.execute(select(
            messages.c.message_key, messages.c.customer_id, messages.c.topic, messages.c.kind, messages.c.channel))}
        golden = {id(o): _golden(conn, o.source) for o in ledger.optouts}
    received = []
    for mail in mails:
        headers = mail.get("headers") or {}
        key = headers.get("X-Storeflow-Message-Key")
        seen = progress.received.get(f"email:{headers.get('Message-ID')}")
        received.append(("email", norm_email(_addr(headers.get("To"))), rows.get(key), seen, key))
    for text in texts:
        if not str(text.get("direction", "outbound")).startswith("outbound"):
            continue
        key = (text.get("metadata") or {}).get("message_key")
        seen = progress.received.get(f"sms:{text.get('sid')}")
        received.append(("sms", text.get("to"), rows.get(key), seen, key))
    for optout in ledger.optouts:
        start = _effective(optout, progress)
        if start is None:
            continue
        addresses = optout.emails if optout.channel == "email" else optout.phones
        for channel, address, row, seen, key in received:
            if channel != optout.channel or seen is None or seen < start:
                continue
            if row is not None and row.kind == "transactional":
                continue
            topic = row.topic if row is not None else None
            if optout.topic not in TOPIC_ALL and topic is not None and topic != optout.topic:
                continue
            result.checks["no_message_to_opted_out"] += 1
            if address in addresses or (row is not None and row.customer_id in golden[id(optout)]):
                result.fail(cycle, "no_message_to_opted_out",
                            f"{channel} message {str(key)[:12]} ({topic}) sent at cycle {seen} after a "
                            f"{optout.kind} opt-out at cycle {optout.cycle} (honoured from cycle {start})")


def _store_optout(customer: dict[str, Any], channel: str) -> bool:
    for meta in customer.get("meta_data") or []:
        if meta.get("key") in (f"storeflow_{channel}_optout", f"_storeflow_{channel}_optout"):
            value = meta.get("value")
            if isinstance(value, dict):
                value = value.get("optout")
            if value in (True, "yes", "true", "1", 1):
                return True
    return False


def check_optout_everywhere(cycle: int, engine, view: View, ledger: Ledger, progress: Progress,
                            result: CheckResult) -> None:
    from storeflow.contracts.square_note import note_opt_outs
    from storeflow.warehouse.schema import customer_identities as ci

    store = {str(c["id"]): c for c in view.store["customers"]}
    with engine.connect() as conn:
        for optout in ledger.optouts:
            if optout.topic not in TOPIC_ALL:
                continue  # a one-topic unsubscribe is not a channel opt-out
            synced = _propagated(optout, progress)
            if synced is None:
                continue
            golden = _golden(conn, optout.source)
            if not golden and optout.phones:
                from storeflow.warehouse.schema import customers

                golden = set(conn.execute(select(customers.c.customer_id).where(
                    customers.c.phone.in_(sorted(optout.phones)))).scalars())
            records = conn.execute(select(ci.c.source_system, ci.c.source_id).where(
                ci.c.customer_id.in_(sorted(golden)))).all() if golden else []
            for system, sid in records:
                if system == "pos":
                    customer = view.pos["customers"].get(sid)
                    if customer is None:
                        continue
                    result.checks["optout_everywhere"] += 1
                    # Square keeps email_unsubscribed read-only: storeflow writes both channels into the note
                    ok = bool(note_opt_outs(customer.get("note")).get(optout.channel)) or (
                        optout.channel == "email"
                        and bool((customer.get("preferences") or {}).get("email_unsubscribed")))
                elif system == "store":
                    customer = store.get(sid)
                    if customer is None:
                        continue
                    result.checks["optout_everywhere"] += 1
                    ok = _store_optout(customer, optout.channel)
                else:
                    continue
                if not ok:
                    result.fail(cycle, "optout_everywhere",
                                f"{system} customer {sid} does not show the {optout.channel} opt-out made "
                                f"({optout.kind}) at cycle {optout.cycle}, after the customer sync of cycle {synced}")


# --- source rows --------------------------------------------------------------------------------------------------
def source_ids(view: View, stream: str) -> set[str]:
    """The ids a stream's extract can see in its system right now."""
    if stream == "store_orders":
        return {str(o["id"]) for o in view.store["orders"] if o["status"] not in ("trash", "checkout-draft")}
    if stream == "store_customers":
        return {str(c["id"]) for c in view.store["customers"] if c.get("role", "customer") == "customer"}
    if stream == "store_products":
        return {p["sku"] for p in view.store["products"]
                if p.get("sku") and p.get("type") != "variable" and p.get("status") != "trash"}
    if stream == "pos_customers":
        return set(view.pos["customers"])
    if stream == "pos_orders":
        return {oid for oid, o in view.pos["orders"].items()
                if (o.get("metadata") or {}).get("storeflow_source") != "store"}
    if stream == "pos_catalog":
        return {oid for oid, o in view.pos["catalog"].items()
                if o.get("type") == "ITEM_VARIATION" and not o.get("is_deleted")
                and (o.get("item_variation_data") or {}).get("sku")}
    if stream == "pos_inventory":
        return {f"{c['catalog_object_id']}|{c['location_id']}|{c['state']}" for c in view.pos["counts"].values()}
    return set()


SNAPSHOT_STREAMS = ("store_orders", "store_customers", "store_products", "pos_customers", "pos_orders",
                    "pos_catalog", "pos_inventory")


def _loaded(conn, stream: str) -> set[str]:
    from storeflow.warehouse import schema as s

    if stream == "store_orders":
        return set(conn.execute(select(s.orders.c.order_id).where(s.orders.c.source_system == "store")).scalars())
    if stream in ("store_customers", "pos_customers"):
        system = stream.split("_")[0]
        return set(conn.execute(select(s.customer_identities.c.source_id).where(
            s.customer_identities.c.source_system == system)).scalars())
    if stream == "store_products":
        return set(conn.execute(select(s.products.c.sku).where(s.products.c.store_product_id.is_not(None))).scalars())
    if stream == "pos_orders":
        return set(conn.execute(select(s.orders.c.order_id).where(s.orders.c.source_system == "pos")).scalars())
    if stream == "pos_catalog":
        return set(conn.execute(select(s.products.c.pos_variation_id)).scalars()) - {None}
    if stream == "pos_inventory":
        return {f"{v}|{loc}|{st}" for v, loc, st in conn.execute(select(
            s.stock_levels.c.pos_variation_id, s.stock_levels.c.location_id, s.stock_levels.c.state))}
    return set()


def _quarantined(conn, stream: str) -> set[str]:
    from storeflow.warehouse.schema import quarantine

    rows = conn.execute(select(quarantine.c.source_id, quarantine.c.reason).where(quarantine.c.stream == stream))
    out = set()
    for sid, reason in rows:
        if reason and reason.strip():
            out.add(sid)
            out.add(sid.split("@")[0])  # stock rows are quarantined as <variation>@<location>:<state>
    return out


def check_source_rows(cycle: int, engine, ledger: Ledger, progress: Progress, result: CheckResult) -> None:
    with engine.connect() as conn:
        for stream, ids in sorted(progress.snapshots.items()):
            loaded, held = _loaded(conn, stream), _quarantined(conn, stream)
            missing = []
            for sid in sorted(ids):
                result.checks["source_rows_accounted"] += 1
                if sid in loaded or sid in held or sid.split("|")[0] in held:
                    continue
                missing.append(sid)
            if missing:
                result.fail(cycle, "source_rows_accounted",
                            f"{stream}: {len(missing)} row(s) neither in the warehouse nor in quarantine, "
                            f"e.g. {', '.join(missing[:3])}")
        extracted_by = {"store_customers": "sync_customers", "pos_customers": "sync_customers",
                        "store_orders": "sync_orders", "pos_orders": "sync_orders",
                        "pos_inventory": "sync_catalog", "pos_catalog": "sync_catalog"}
        for bad in ledger.bad_rows:
            job = extracted_by.get(bad.stream, "?")
            # sync_orders runs between the two phases: a row of phase 2 is read by the next cycle's run
            after = bad.cycle + 1 if job == "sync_orders" and bad.phase == 2 else bad.cycle
            if progress.first_ok(job, after) is None:
                continue
            result.checks["bad_rows_quarantined"] += 1
            held = _quarantined(conn, bad.stream)
            if bad.source_id not in held:
                where = "loaded into the warehouse" if bad.source_id in _loaded(conn, bad.stream) or any(
                    k.startswith(bad.source_id) for k in _loaded(conn, bad.stream)) else "nowhere"
                result.fail(cycle, "bad_rows_quarantined",
                            f"{bad.kind} row {bad.stream}/{bad.source_id} (cycle {bad.cycle}) is not in quarantine "
                            f"({where})")


def check_all(cycle: int, engine, view: View, ledger: Ledger, progress: Progress, *, buffer: int,
              online_locations: list[str] | None, mails: list[dict[str, Any]], texts: list[dict[str, Any]]
              ) -> CheckResult:
    """Every invariant at the end of ``cycle``."""
    result = CheckResult()
    check_stock_and_price(cycle, view, ledger, progress, result, buffer=buffer, online_locations=online_locations,
                          engine=engine)
    check_lines_once(cycle, view, ledger, progress, result)
    check_messages(cycle, engine, ledger, progress, result, mails, texts)
    check_optout_everywhere(cycle, engine, view, ledger, progress, result)
    check_source_rows(cycle, engine, ledger, progress, result)
    new_failures = [f for f in progress.failures if f.cycle == cycle]
    result.checks["no_job_failed"] += 1
    result.violations.extend(new_failures)
    return result


def _addr(header: str | None) -> str | None:
    from email.utils import parseaddr

    return parseaddr(header or "")[1] or None
