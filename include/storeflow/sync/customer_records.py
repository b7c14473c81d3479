"""Both systems' customer records → the neutral shape :func:`ingest_customers` takes.

Consent facts are explicit choices only: the store keeps storeflow's opt-out meta (with its time); the
POS exposes ``preferences.email_unsubscribed`` (true = an explicit unsubscribe; false is merely the
default) and storeflow's machine-readable opt-out lines in the customer note (``email_opt_out: yes``,
``sms_opt_out: no``), stamped with the record's ``updated_at`` since the POS keeps no consent time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, and_, select

from storeflow.privacy.erased_values import erased_values
from storeflow.quality import quarantine
from storeflow.sync.customer_load import ingest_customers
from storeflow.sync.streams import LoadContext, LoadResult
from storeflow.warehouse.schema import identity_consents


def pos_customer_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A Square-contract customer → neutral record (raises ValidationError on a malformed record)."""
    from storeflow.connectors.square_models import Customer
    from storeflow.contracts.square_note import note_opt_outs

    c = Customer.model_validate(raw)
    when = c.updated_at or c.created_at
    consents = []
    notes = note_opt_outs(c.note)
    if c.email_unsubscribed or "email" in notes:
        out = bool(c.email_unsubscribed) or notes.get("email", False)
        consents.append({"channel": "email", "status": "unsubscribed" if out else "subscribed",
                         "changed_at": when})
    if "sms" in notes:
        consents.append({"channel": "sms", "status": "unsubscribed" if notes["sms"] else "subscribed",
                         "changed_at": when})
    a = c.address
    return {
        "source_id": c.id, "email": c.email_address, "phone": c.phone_number, "given_name": c.given_name,
        "family_name": c.family_name, "address_line1": a.address_line_1 if a else None,
        "city": a.locality if a else None, "postcode": a.postal_code if a else None,
        "country": a.country if a else None, "created_at": c.created_at, "updated_at": when,
        "source_version": c.version, "consents": [x for x in consents if x["changed_at"]],
    }


def store_customer_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A WooCommerce-contract customer → neutral record (raises ValidationError on a malformed record)."""
    from storeflow.connectors.woocommerce_models import Customer

    c = Customer.model_validate(raw)
    b, s = c.billing, c.shipping
    consents = []
    for channel in ("email", "sms"):
        choice = c.consent(channel)
        if choice is not None:
            opted_out, when = choice
            consents.append({"channel": channel, "status": "unsubscribed" if opted_out else "subscribed",
                             "changed_at": when or c.changed_at})
    return {
        "source_id": str(c.id), "email": c.email or b.email, "phone": b.phone or s.phone,
        "given_name": c.first_name or b.first_name or None, "family_name": c.last_name or b.last_name or None,
        "address_line1": getattr(b, "address_1", None) or None, "city": b.city or None,
        "postcode": b.postcode or s.postcode or None, "country": b.country or s.country or None,
        "created_at": c.date_created_gmt, "updated_at": c.changed_at,
        "source_version": int(c.changed_at.timestamp()) if c.changed_at else None,
        "consents": [x for x in consents if x["changed_at"]],
    }


def _drop_erased(conn: Connection, page: list[dict[str, Any]], system: str,
                 email_of: Callable[[dict[str, Any]], str | None]) -> list[dict[str, Any]]:
    ids = erased_values(conn, system, [str(r.get("id")) for r in page if isinstance(r, dict)])
    emails = erased_values(conn, "email", [e for r in page if isinstance(r, dict) and (e := email_of(r))])
    return [r for r in page if not isinstance(r, dict)
            or (str(r.get("id")) not in ids and (email_of(r) or None) not in emails)]


def drop_erased_pos(conn: Connection, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POS customer records of erased people are not landed or loaded again."""
    return _drop_erased(conn, page, "pos", lambda r: r.get("email_address"))


def drop_erased_store(conn: Connection, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Store customer records of erased people are not landed or loaded again."""
    return _drop_erased(conn, page, "store",
                        lambda r: r.get("email") or (r.get("billing") or {}).get("email"))


def _load(mapper: Callable[[dict[str, Any]], dict[str, Any]], conn: Connection, page: list[dict[str, Any]],
          ctx: LoadContext, amend: Callable[[Connection, list[dict[str, Any]]], None] | None = None) -> LoadResult:
    records, bad = [], 0
    for raw in page:
        try:
            records.append(mapper(raw))
        except (ValidationError, TypeError, ValueError) as exc:
            bad += 1
            quarantine.record(conn, stream=ctx.stream, source_system=ctx.source_system,
                              source_id=str(raw.get("id", "?")) if isinstance(raw, dict) else "?",
                              rule="customer_unparseable", reason=f"{type(exc).__name__}: {exc}"[:500],
                              payload=raw, run_id=ctx.run_id)
    if amend is not None:
        amend(conn, records)
    return ingest_customers(conn, records, ctx, read=len(page), already_quarantined=bad)


def _pos_resubscriptions(conn: Connection, records: list[dict[str, Any]]) -> None:
    """An email opt-out we had seen that the POS no longer shows is an explicit re-subscription."""
    ids = [r["source_id"] for r in records if not any(c["channel"] == "email" for c in r["consents"])]
    if not ids:
        return
    rows = conn.execute(select(identity_consents.c.source_id).where(and_(
        identity_consents.c.source_system == "pos", identity_consents.c.channel == "email",
        identity_consents.c.status == "unsubscribed", identity_consents.c.source_id.in_(ids))))
    was_out = {r[0] for r in rows}
    for r in records:
        if r["source_id"] in was_out and r.get("updated_at"):
            r["consents"].append({"channel": "email", "status": "subscribed", "changed_at": r["updated_at"]})


def load_pos_customers(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    """POS customers page → cleaned, quarantined, resolved into golden records."""
    return _load(pos_customer_record, conn, page, ctx, _pos_resubscriptions)


def load_store_customers(conn: Connection, page: list[dict[str, Any]], ctx: LoadContext) -> LoadResult:
    """Store customers page → cleaned, quarantined, resolved into golden records."""
    return _load(store_customer_record, conn, page, ctx)
