"""Customer records of either system → cleaned, quarantined where needed, resolved into golden records.

Both systems' customer loaders map their vendor records to one neutral shape and call
:func:`ingest_customers`, so cleaning, quarantine and identity resolution happen the same way for the
POS and the store, whether the load comes from ``extract_all`` or the nightly ``sync_customers``.

Neutral record keys: ``source_id, email, phone, given_name, family_name, address_line1, city, postcode,
country, created_at, updated_at, source_version`` and ``consents`` — a list of explicit choices
``{"channel": "email"|"sms", "status": "subscribed"|"unsubscribed", "changed_at", "topic"?}``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from storeflow.quality.identity import _jsonable, resolve_customers
from storeflow.quality.screen import screen_batch
from storeflow.sync.streams import LoadContext, LoadResult
from storeflow.warehouse.chunks import chunked
from storeflow.warehouse.schema import customer_identities, identity_consents, orders


def _changed_only(conn: Connection, source_system: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop records whose stored identity is the same record or a newer one (overlap re-reads)."""
    ids = [str(r["source_id"]) for r in records]
    stored: dict[str, tuple[Any, Any]] = {}
    held: dict[str, set[tuple]] = {}
    for chunk in chunked(ids):
        rows = conn.execute(select(customer_identities.c.source_id, customer_identities.c.raw,
                                   customer_identities.c.source_updated_at).where(and_(
            customer_identities.c.source_system == source_system, customer_identities.c.source_id.in_(chunk))))
        stored.update({r.source_id: (r.raw, r.source_updated_at) for r in rows})
        for c in conn.execute(select(identity_consents).where(and_(
                identity_consents.c.source_system == source_system, identity_consents.c.source_id.in_(chunk)))):
            held.setdefault(c.source_id, set()).add((c.channel, c.topic, c.status, c.changed_at))
    fresh = []
    for r in records:
        raw, updated = stored.get(str(r["source_id"]), (None, None))
        if raw is None:
            fresh.append(r)
            continue
        incoming = r.get("updated_at")
        if updated is not None and incoming is not None and incoming < updated:
            continue  # an older version of a record we already hold
        same = {k: v for k, v in _jsonable(r).items() if k != "consents"} == {
            k: v for k, v in (raw or {}).items() if k != "consents"}
        choices = {(c["channel"], c.get("topic") or "marketing", c["status"], c["changed_at"])
                   for c in r.get("consents") or []}
        if not same or not choices <= held.get(str(r["source_id"]), set()):
            fresh.append(r)
    return fresh


def attach_customers(conn: Connection, source_system: str, order_rows: list[dict[str, Any]]) -> None:
    """Set ``customer_id`` on order rows: the golden record of the buyer's source record, else (guest
    checkouts) the golden record that holds the billing email. Orders whose customer is not known yet get
    linked when the customer arrives (:func:`ingest_customers`)."""
    ci = customer_identities
    ids = sorted({r["customer_source_id"] for r in order_rows if r.get("customer_source_id")})
    emails = sorted({r["email_norm"] for r in order_rows if not r.get("customer_source_id") and r.get("email_norm")})
    by_id: dict[str, str] = {}
    by_email: dict[str, str] = {}
    for chunk in chunked(ids):
        by_id.update(conn.execute(select(ci.c.source_id, ci.c.customer_id).where(and_(
            ci.c.source_system == source_system, ci.c.source_id.in_(chunk),
            ci.c.customer_id.is_not(None)))).all())
    for chunk in chunked(emails):
        by_email.update(conn.execute(select(ci.c.email_norm, ci.c.customer_id).where(and_(
            ci.c.email_norm.in_(chunk), ci.c.customer_id.is_not(None)))
            .order_by(ci.c.customer_id)).all())
    for r in order_rows:
        sid = r.get("customer_source_id")
        r["customer_id"] = by_id.get(sid) if sid else by_email.get(r.get("email_norm", ""))


def _link_guest_orders(conn: Connection, records: list[dict[str, Any]]) -> None:
    """Guest orders placed with a customer's email before the customer was known → that customer."""
    pairs = [(r["email_norm"], r["source_id"]) for r in records if r.get("email_norm")]
    if not pairs:
        return
    ci = customer_identities
    stmt = (update(orders).where(and_(orders.c.customer_id.is_(None), orders.c.customer_source_id.is_(None),
                                      orders.c.email_norm == bindparam("b_email")))
            .values(customer_id=select(ci.c.customer_id).where(and_(
                ci.c.source_id == bindparam("b_sid"), ci.c.email_norm == bindparam("b_email")))
                .limit(1).scalar_subquery()))
    conn.execute(stmt, [{"b_email": e, "b_sid": str(sid)} for e, sid in pairs])


def ingest_customers(conn: Connection, records: list[dict[str, Any]], ctx: LoadContext,
                     *, read: int | None = None, already_quarantined: int = 0) -> LoadResult:
    """Clean ``records`` (neutral shape), quarantine what fails, resolve the rest; return the counts.

    A bad *field* (broken email, unparseable phone) is quarantined with its reason and dropped, and the
    customer still loads; a bad *record* (no id) is quarantined whole. Quarantine rows of records that
    come back clean are resolved.
    """
    # customers' warnings (no_contact, postcode) are reported by the run's GX suite, not per page
    screened = screen_batch(conn, ctx, "customers", records, "source_id", report_warnings=False,
                            stage_without=("consents",))
    if not screened.outcome.resolved_rows:  # customer runs always report the counter, 0 included
        ctx.count("quarantine_resolved", 0)
    cleaned, rejected, outcome = screened.loaded, screened.rejected_records, screened.outcome
    fresh = _changed_only(conn, ctx.source_system, cleaned)
    ctx.count("unchanged_skipped", len(cleaned) - len(fresh))
    changed = 0
    if fresh:
        report = resolve_customers(conn, fresh, source_system=ctx.source_system, run_id=ctx.run_id)
        _link_guest_orders(conn, fresh)
        changed = len(fresh)
        for name, value in report.as_dict().items():
            if isinstance(value, int):
                ctx.count(name, value)
    ctx.count("records_with_quarantined_fields", outcome.quarantined_records - rejected)
    # the batch threshold counts rows that could not be loaded, not rows loaded without one bad field
    return LoadResult(read=read if read is not None else len(records), changed=changed,
                      quarantined=already_quarantined + rejected)
