"""The person in the landing zone: raw pages rewritten, reports scrubbed, earlier exports overwritten.

Raw landing pages of customer, order and invoice streams are rewritten with :meth:`Subject.scrub_json`
(other people's records on the same page stay as they are); other text objects of the zone (Data Docs
with samples of failing values, reports) have mentions replaced; earlier exports are overwritten.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from storeflow.privacy.scrub import Subject, pseudonym

if TYPE_CHECKING:
    from storeflow.landing import LandingZone

Records = list[dict[str, object]]

#: landed streams that never contain customers
NON_PERSONAL_STREAMS = frozenset({"pos_catalog", "pos_inventory", "pos_locations", "store_products"})
TEXT_SUFFIXES = (".html", ".htm", ".json", ".txt", ".csv", ".md")


def _personal_streams(landing: LandingZone) -> list[str]:
    return [s for s in landing.list_streams() if s not in NON_PERSONAL_STREAMS]


def _stream_shape(stream: str) -> tuple[str | None, str | None]:
    system = stream.split("_", 1)[0] if stream.split("_", 1)[0] in ("pos", "store") else None
    return system, ("id" if stream.endswith("_customers") else None)


def rewrite_landing(landing: LandingZone, subject: Subject, dry_run: bool) -> int:
    """Pseudonymise the person in raw landing pages; the number of pages that mention them."""
    pages = 0
    for stream in _personal_streams(landing):
        system, top = _stream_shape(stream)

        def fn(records: Records, system: str | None = system, top: str | None = top) -> Records | None:
            nonlocal pages
            new = subject.scrub_json(records, system=system, top_id_key=top)
            if new == records:
                return None
            pages += 1
            return None if dry_run else new

        landing.rewrite_pages(stream, fn)
    return pages


def landing_records(landing: LandingZone, subject: Subject) -> list[dict[str, object]]:
    """The person's raw landed records, by stream and page (for the export)."""
    out: list[dict[str, object]] = []
    for stream in _personal_streams(landing):
        system, top = _stream_shape(stream)
        for run in landing.list_runs(stream):
            for uri, records in landing.iter_pages(stream, run):
                mine = [r for r in records if subject.scrub_json(r, system=system, top_id_key=top) != r]
                if mine:
                    out.append({"stream": stream, "page": uri, "records": mine})
    return out


def scrub_objects(landing: LandingZone, subject: Subject, dry_run: bool) -> int:
    """Reports and Data Docs (GX samples of failing values can hold emails/phones) that mention the person."""
    n = 0
    for key in landing.list_keys():
        parts = key.split("/")
        if parts[0] == "exports" or (len(parts) == 6 and parts[5].endswith(".jsonl.gz")):
            continue
        if not key.endswith(TEXT_SUFFIXES):
            continue
        text = landing.get_bytes(key).decode("utf-8", "replace")
        if not subject.mentions(text):
            continue
        n += 1
        if not dry_run:
            ctype = "text/html" if key.endswith((".html", ".htm")) else "application/octet-stream"
            landing.put_bytes(key, subject.replace_text(text).encode("utf-8"), ctype)
    return n


def guest_folder(email: str, secret: bytes) -> str:
    """The export folder of a person known only by email (a pseudonym, never the address)."""
    return pseudonym("email", email.strip().lower(), secret)


def overwrite_exports(landing: LandingZone, subject: Subject, now: datetime, dry_run: bool) -> int:
    """Overwrite earlier exports of the person; the number of exports."""
    n = 0
    folders = sorted(subject.customer_ids) + sorted(guest_folder(e, subject.secret) for e in subject.emails)
    for folder in folders:
        for key in landing.list_keys(f"exports/{folder}"):
            n += 1
            if not dry_run:
                body = json.dumps({"erased": True, "erased_at": now.isoformat()}).encode()
                landing.put_bytes(key, body, "application/json")
    return n
