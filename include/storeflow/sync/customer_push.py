"""Customers both ways through the golden record (DESIGN §3).

After the nightly extract has cleaned and resolved both systems' customers into golden records
(:mod:`storeflow.quality.identity`: field-level latest update wins; consent = most recent explicit
choice per channel), this module writes the golden values back to every source record that differs:

* contact fields (email, phone, names) where the golden value is newer than what the record holds;
* opt-outs: a customer unsubscribed on a channel in the golden record is unsubscribed in every system
  (an opt-out anywhere is an opt-out everywhere); the store keeps the choice in customer meta data,
  the POS in a machine-readable line of the customer's note (its API cannot write consent fields);
* store customers missing from the POS are created there (reference_id ``store:<id>``) so shop staff
  find online customers at the till. POS-only customers are *not* created in the store: that would
  open WordPress accounts nobody asked for.

``push_state`` remembers what was last written to each record, so a nightly run sends only what
changed since (the store's customer endpoint has no date filter, so the extract scans everything, but
the push does not re-send everything).

Every consent write is read back (issue 11 item 7): in the store, the ``PUT`` response and a fresh
``GET`` must show the choice under ``storeflow_<channel>_optout`` (real WooCommerce answers 200 to
protected ``_`` meta and stores nothing); in the POS, the updated note must carry the opt-out line. A
write that does not read back is an error: the record is not marked pushed (the next run retries it),
the rest of the push goes on, and the push raises :class:`ConsentPushFailed` at the end.

Partial failure is never green (issue 11 item 9): rejected records are counted and the push ends with
:func:`~storeflow.sync.push_errors.enforce_error_budget` (fails past the budget, warns below it). A
refused connection or a 401/403 (:class:`~storeflow.connectors.http.FatalApiError`) stops the push at
once. Errors name records by source id and error code, never by email or phone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, select

from storeflow.connectors.http import ApiError, FatalApiError
from storeflow.connectors.woocommerce import ConsentNotStored
from storeflow.sync.push_errors import enforce_error_budget
from storeflow.warehouse.schema import consents, customer_identities, customers, identity_consents, push_state
from storeflow.warehouse.upsert import upsert

log = logging.getLogger(__name__)
ENTITY = "customer"
CONTACT_FIELDS = ("email", "phone", "given_name", "family_name")


@dataclass
class CustomerPushResult:
    """Counters of one customers push."""

    considered: int = 0
    updated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    opt_outs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    created_in_pos: int = 0
    errors: list[str] = field(default_factory=list)
    consent_not_stored: list[str] = field(default_factory=list)  # "system:id" whose consent did not read back

    def as_dict(self) -> dict[str, Any]:
        return {"considered": self.considered, "updated": dict(self.updated), "opt_outs": dict(self.opt_outs),
                "created_in_pos": self.created_in_pos, "errors": len(self.errors),
                "error_samples": self.errors[:5], "consent_not_stored": len(self.consent_not_stored)}


class ConsentPushFailed(RuntimeError):
    """Some consent writes did not read back; those records stay unpushed and are retried next run."""

    def __init__(self, message: str, records: list[str]):
        super().__init__(message)
        self.records = records


class _ConsentMismatch(Exception):
    pass


def _error_label(exc: BaseException) -> str:
    """Type, status and vendor code of an error: never its message (vendors echo emails in messages)."""
    parts = [type(exc).__name__]
    if isinstance(exc, ApiError):
        if exc.status:
            parts.append(str(exc.status))
        body = exc.body
        code = None
        if isinstance(body, dict):
            code = body.get("code")
            errs = body.get("errors")
            if code is None and isinstance(errs, list) and errs and isinstance(errs[0], dict):
                code = errs[0].get("code")
        if isinstance(code, str):
            parts.append(code[:80])
    return " ".join(parts)


@dataclass
class RecordPlan:
    """What one source record should receive."""

    source_system: str
    source_id: str
    customer_id: str
    fields: dict[str, Any]  # contact fields to write (golden values differing from the record)
    opt_outs: list[str]  # channels to unsubscribe in this system
    state: dict[str, Any]  # the record's desired state, remembered in push_state


def _golden(conn: Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(customers.c.customer_id, *[customers.c[f] for f in CONTACT_FIELDS])
                        .where(customers.c.erased_at.is_(None)))
    return {r.customer_id: dict(r._mapping) for r in rows}


def _unsubscribed(conn: Connection) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for cid, channel in conn.execute(
        select(consents.c.customer_id, consents.c.channel).where(
            and_(consents.c.status == "unsubscribed", consents.c.topic.in_(("marketing", "all"))))
    ):
        out[cid].add(channel)
    return out


def _record_opt_outs(conn: Connection) -> dict[tuple[str, str], dict[str, str]]:
    """(system, id) → channel → latest explicit status held by that record."""
    latest: dict[tuple[str, str], dict[str, tuple[datetime, str]]] = defaultdict(dict)
    for r in conn.execute(select(identity_consents).where(
            identity_consents.c.topic.in_(("marketing", "all")))):
        key = (r.source_system, r.source_id)
        cur = latest[key].get(r.channel)
        if cur is None or r.changed_at > cur[0]:
            latest[key][r.channel] = (r.changed_at, r.status)
    return {k: {ch: v[1] for ch, v in chans.items()} for k, chans in latest.items()}


def plan_customer_push(conn: Connection) -> tuple[list[RecordPlan], list[dict[str, Any]]]:
    """Per-record updates owed, and the store customers to create in the POS."""
    golden = _golden(conn)
    unsub = _unsubscribed(conn)
    held = _record_opt_outs(conn)
    pushed = {k: p for k, p in conn.execute(select(push_state.c.key, push_state.c.payload).where(
        and_(push_state.c.target_system == "both", push_state.c.entity == ENTITY)))}
    idents = conn.execute(select(customer_identities.c.source_system, customer_identities.c.source_id,
                                 customer_identities.c.customer_id, customer_identities.c.raw)
                          .where(customer_identities.c.customer_id.is_not(None))).all()
    systems_of: dict[str, set[str]] = defaultdict(set)
    plans: list[RecordPlan] = []
    for ident in idents:
        systems_of[ident.customer_id].add(ident.source_system)
        gold = golden.get(ident.customer_id)
        if gold is None:
            continue
        raw = ident.raw or {}
        desired = {f: gold[f] for f in CONTACT_FIELDS if gold.get(f)}
        opt_outs = sorted(ch for ch in unsub.get(ident.customer_id, ())
                          if held.get((ident.source_system, ident.source_id), {}).get(ch) != "unsubscribed")
        state = {**desired, "unsubscribed": sorted(unsub.get(ident.customer_id, ()))}
        key = f"{ident.source_system}:{ident.source_id}"
        if pushed.get(key) == state:
            continue  # this exact state was written before: nothing to re-send
        changes = {f: v for f, v in desired.items() if raw.get(f) != v}
        if changes or opt_outs:
            plans.append(RecordPlan(ident.source_system, ident.source_id, ident.customer_id, changes,
                                    opt_outs, state))
    creates = [
        {"store_id": i.source_id, "customer_id": i.customer_id, **golden[i.customer_id]}
        for i in idents
        if i.source_system == "store" and "pos" not in systems_of[i.customer_id] and i.customer_id in golden
        and (golden[i.customer_id].get("email") or golden[i.customer_id].get("phone"))
    ]
    return plans, creates


def _store_fields(plan: RecordPlan, now: datetime) -> dict[str, Any]:
    """Contact fields for the store's ``PUT /customers/{id}`` (consent meta is written by the client)."""
    body: dict[str, Any] = {}
    f = plan.fields
    if "email" in f:
        body["email"] = f["email"]
    if "given_name" in f:
        body["first_name"] = f["given_name"]
    if "family_name" in f:
        body["last_name"] = f["family_name"]
    billing = {k: f[s] for k, s in (("email", "email"), ("phone", "phone"), ("first_name", "given_name"),
                                    ("last_name", "family_name")) if s in f}
    if billing:
        body["billing"] = billing
    return body


def _push_store(store: Any, plan: RecordPlan, now: datetime) -> None:
    from storeflow.connectors.woocommerce_models import CONSENT_META

    body = _store_fields(plan, now)
    choices = {ch: True for ch in plan.opt_outs if ch in CONSENT_META}
    if choices:  # writes and reads back (PUT response and GET); raises ConsentNotStored on a mismatch
        store.set_customer_consents(int(plan.source_id), choices, now, fields=body)
    elif body:
        store.update_customer(int(plan.source_id), body)


def _push_pos(pos: Any, plan: RecordPlan) -> None:
    from storeflow.contracts.square_note import note_opt_outs

    body = _pos_fields(plan)
    if body:
        pos.update_customer(plan.source_id, body)
    for channel in plan.opt_outs:
        # note lines: the POS API has no consent field
        updated = pos.set_opt_out(plan.source_id, channel, True)
        note = updated.get("note") if isinstance(updated, dict) else getattr(updated, "note", None)
        if note_opt_outs(note).get(channel) is not True:
            raise _ConsentMismatch(
                f"pos:{plan.source_id}: {channel} opt-out not in the note after the update")


def _pos_fields(plan: RecordPlan) -> dict[str, Any]:
    names = {"email": "email_address", "phone": "phone_number", "given_name": "given_name",
             "family_name": "family_name"}
    return {names[k]: v for k, v in plan.fields.items()}


def push_customers(engine: Engine, pos: Any, store: Any, *, run_id: str | None = None,
                   now: datetime | None = None) -> CustomerPushResult:
    """Write golden values and opt-outs back to both systems; create store customers in the POS.

    Raises :class:`~storeflow.sync.push_errors.PushErrorBudgetExceeded` past the error budget,
    :class:`ConsentPushFailed` when a consent write did not read back (after pushing everything else), and
    :class:`~storeflow.connectors.http.FatalApiError` at once on a refused connection or 401/403."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        plans, creates = plan_customer_push(conn)
    result = CustomerPushResult(considered=len(plans) + len(creates))
    for plan in plans:
        ref = f"{plan.source_system}:{plan.source_id}"
        try:
            if plan.source_system == "store":
                _push_store(store, plan, now)
            else:
                _push_pos(pos, plan)
        except FatalApiError:
            raise  # configuration, not data: every other record would fail the same way
        except (ConsentNotStored, _ConsentMismatch):
            result.errors.append(f"{ref}: consent not stored (read-back mismatch)")
            result.consent_not_stored.append(ref)
            continue
        except Exception as exc:  # one rejected record must not stop the others; reported in the run
            result.errors.append(f"{ref}: {_error_label(exc)}")
            continue
        if plan.fields:
            result.updated[plan.source_system] += 1
        for channel in plan.opt_outs:
            result.opt_outs[f"{plan.source_system}:{channel}"] += 1
        _remember(engine, [(f"{plan.source_system}:{plan.source_id}", plan.state)], run_id, now)
    for c in creates:
        fields = {k: v for k, v in {"given_name": c.get("given_name"), "family_name": c.get("family_name"),
                                    "email_address": c.get("email"), "phone_number": c.get("phone"),
                                    "reference_id": f"store:{c['store_id']}"}.items() if v}
        try:
            created = pos.create_customer(fields, idempotency_key=f"sf-cust-store-{c['store_id']}")
        except FatalApiError:
            raise
        except Exception as exc:
            result.errors.append(f"create pos for store:{c['store_id']}: {_error_label(exc)}")
            continue
        pos_id = created.get("id") if isinstance(created, dict) else getattr(created, "id", None)
        raw = {"source_id": pos_id, **{f: c.get(f) for f in CONTACT_FIELDS}, "updated_at": now.isoformat()}
        upsert(engine, customer_identities, [{
            "source_system": "pos", "source_id": pos_id, "customer_id": c["customer_id"],
            "email_norm": (c.get("email") or "").lower() or None, "phone_e164": c.get("phone"),
            "given_name": c.get("given_name"), "family_name": c.get("family_name"), "raw": raw,
            "source_updated_at": now, "match_rule": "created_from_store", "match_confidence": 1.0,
            "loaded_at": now,
        }])
        result.created_in_pos += 1
    log.info("[storeflow] customers push: %s", result.as_dict())
    enforce_error_budget(job="push_customers", attempted=result.considered, failed=len(result.errors),
                         samples=result.errors)
    if result.consent_not_stored:
        records = result.consent_not_stored
        raise ConsentPushFailed(
            f"push_customers: {len(records)} consent write(s) did not read back ({', '.join(records[:10])}); "
            "not marked pushed, retried next run", records)
    return result


def _remember(engine: Engine, items: list[tuple[str, dict[str, Any]]], run_id: str | None,
              now: datetime) -> None:
    upsert(engine, push_state, [{"target_system": "both", "entity": ENTITY, "key": k, "payload": p,
                                 "pushed_at": now, "run_id": run_id} for k, p in items])
