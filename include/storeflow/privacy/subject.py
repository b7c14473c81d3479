"""Who the person is: every golden id, source id, email, phone and name that identifies them."""

from __future__ import annotations

from sqlalchemy import Connection, and_, func, select

from storeflow.privacy.scrub import Subject, pseudonym_secret
from storeflow.privacy.warehouse_rows import existing_tables
from storeflow.warehouse import schema as S
from storeflow.warehouse.chunks import chunked


def resolve_subject(conn: Connection, *, customer_id: str | None = None, email: str | None = None,
                    secret: bytes | None = None) -> Subject:
    """Everything that identifies the person: golden ids, source ids, emails, phones, names."""
    if not customer_id and not email:
        raise ValueError("pass customer_id or email")
    subject = Subject(secret=secret if secret is not None else pseudonym_secret())
    present = {t.name for t in existing_tables(conn)}
    ci, cu = S.customer_identities, S.customers
    if customer_id:
        subject.customer_ids.add(customer_id)
    if email:
        e = email.strip().lower()
        subject.emails.add(email.strip())
        subject.customer_ids |= {r[0] for r in conn.execute(select(cu.c.customer_id).where(
            func.lower(cu.c.email) == e))}
        for r in conn.execute(select(ci.c.source_system, ci.c.source_id, ci.c.customer_id).where(
                func.lower(ci.c.email_norm) == e)):
            subject.add_identity(r.source_system, r.source_id)
            if r.customer_id:
                subject.customer_ids.add(r.customer_id)
        if "orders" in present:
            subject.customer_ids |= {r[0] for r in conn.execute(select(S.orders.c.customer_id).where(and_(
                func.lower(S.orders.c.email_norm) == e, S.orders.c.customer_id.is_not(None))))}
    cids = sorted(subject.customer_ids)
    for chunk in chunked(cids):
        for golden in conn.execute(select(cu).where(cu.c.customer_id.in_(chunk))):
            subject.add_values(email=golden.email, phone=golden.phone,
                               names=(golden.given_name, golden.family_name))
        for link in conn.execute(select(ci.c.source_system, ci.c.source_id).where(
                ci.c.customer_id.in_(chunk))):
            subject.add_identity(link.source_system, link.source_id)
    for system, ids in (("pos", sorted(subject.pos_ids)), ("store", sorted(subject.store_ids))):
        for chunk in chunked(ids):
            for ident in conn.execute(select(ci).where(and_(ci.c.source_system == system,
                                                            ci.c.source_id.in_(chunk)))):
                subject.add_values(email=ident.email_norm, phone=ident.phone_e164,
                                   names=(ident.given_name, ident.family_name))
                subject.add_contacts_from(ident.raw)
    return subject
