"""GDPR access (Art. 15): everything storeflow holds about one person, as one JSON document.

**Export** (:func:`export_customer`): the golden record, identities in both systems (raw records
included), consents, orders and their lines, invoices, scores, outbox messages and their events,
suppressions, merges, quarantine rows and raw landing-zone records that mention the person, as one
JSON document, also stored at ``exports/<customer_id>/<timestamp>.json`` in the landing zone.

CLI: ``python -m storeflow.privacy export (--customer-id ID | --email E) [--print]``.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Engine, and_, select

from storeflow.privacy.erasure import aware_now
from storeflow.privacy.landing_scrub import guest_folder, landing_records
from storeflow.privacy.subject import resolve_subject
from storeflow.privacy.warehouse_rows import collect_rows
from storeflow.warehouse import schema as S
from storeflow.warehouse.chunks import chunked

if TYPE_CHECKING:
    from storeflow.landing import LandingZone

log = logging.getLogger(__name__)


def _jsonable(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def export_customer(engine: Engine, landing: LandingZone | None, *, customer_id: str | None = None,
                    email: str | None = None, now: datetime | None = None) -> dict[str, object]:
    """Everything storeflow holds about one person (JSON-able); also stored in the landing zone."""
    started = aware_now(now)
    with engine.connect() as conn:
        subject = resolve_subject(conn, customer_id=customer_id, email=email,
                                  secret=os.environ.get("STOREFLOW_PSEUDONYM_SECRET", "export").encode())
        found = collect_rows(conn, subject)
        # a row of another customer that merely mentions this person (a shared phone) is not exported
        tables = {name: [row for row, owned in rows
                         if owned or "customer_id" not in S.metadata.tables[name].c]
                  for name, rows in found.items()}
        tables = {name: rows for name, rows in tables.items() if rows}
        order_keys = [(str(r["source_system"]), str(r["order_id"])) for r in tables.get("orders", [])]
        lines = []
        for system in ("pos", "store"):
            ids = sorted({o for s, o in order_keys if s == system})
            for chunk in chunked(ids):
                lines += [dict(r._mapping) for r in conn.execute(select(S.order_lines).where(and_(
                    S.order_lines.c.source_system == system, S.order_lines.c.order_id.in_(chunk))))]
        if lines:
            tables["order_lines"] = lines
    subject_id = (sorted(subject.customer_ids)[0] if subject.customer_ids
                  else guest_folder(email or "", subject.secret))
    landed = landing_records(landing, subject) if landing is not None else []
    document = {
        "exported_at": started.isoformat(),
        "subject": {"customer_ids": sorted(subject.customer_ids),
                    "identities": {"pos": sorted(subject.pos_ids), "store": sorted(subject.store_ids)},
                    "emails": sorted(subject.emails), "phones": sorted(subject.phones)},
        "warehouse": tables,
        "landing": landed,
    }
    exported: dict[str, object] = json.loads(json.dumps(document, default=_jsonable))
    if landing is not None:
        key = f"exports/{subject_id}/{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        exported["export_uri"] = landing.put_bytes(
            key, json.dumps(exported, ensure_ascii=False, indent=1).encode("utf-8"), "application/json")
    log.info("gdpr export: %d warehouse tables, %d landing pages", len(tables), len(landed))
    return exported
