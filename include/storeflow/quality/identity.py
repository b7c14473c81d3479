"""Golden customer record: identity resolution across POS and store, survivorship, merge log and undo.

Matching, in order, for an identity (source system + source id) not seen before:

1. ``email`` -- same normalised email (:func:`emails.email_key`) as a known identity: confidence 1.0.
2. ``phone`` -- same E.164 phone, unless both records carry names that clearly differ (a shared
   household or office number): then only a possible duplicate (``phone_name_conflict``).
3. ``fuzzy_name_address`` -- identities in the same postcode (blocking key) scored with ``rapidfuzz``:
   ``0.5 * name + 0.3 * address + 0.2`` (same postcode), where the name score is a token-sort ratio of the
   accent-folded full names (so swapped given/family names still match) and the address score is 0
   when the house numbers differ. At or above ``settings.fuzzy_match_threshold`` the identity is merged;
   from :data:`REPORT_FLOOR` up to the threshold it is only written to ``possible_duplicates``.

Every attachment of an identity to an existing golden record is a row in ``customer_merges`` (rule,
confidence, matched identity) and can be reverted with :func:`undo_merge`; an undone pair is never
merged automatically again. Survivorship: for each field, the newest non-empty value across the
customer's identities wins (timestamps from the record's ``field_updated_at`` map, else its
``updated_at``), recorded in ``customers.field_updated_at``; for consent, the most recent explicit
choice per channel and topic wins (an unsubscribe wins a tie).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, delete, insert, select, tuple_, update

from storeflow.warehouse.chunks import chunked
from storeflow.warehouse.schema import (
    consents,
    customer_identities,
    customer_merges,
    customers,
    identity_consents,
    orders,
    possible_duplicates,
)
from storeflow.warehouse.upsert import upsert

REPORT_FLOOR = 0.75
#: ``consents.reason`` of rows written by :func:`rebuild_customers` (other writers' rows are kept as choices).
REBUILD_REASON = "most recent explicit choice"
PHONE_NAME_CONFLICT = 0.5  # name similarity below which a shared phone is not trusted
SURVIVING_FIELDS = ("email", "phone", "given_name", "family_name", "address_line1", "city", "postcode", "country")
_NON_ALNUM = re.compile(r"[^0-9a-z ]+")
_DIGITS = re.compile(r"\d+")


def customer_id_for(source_system: str, source_id: str) -> str:
    """The deterministic golden id a customer gets when this identity is its first one."""
    digest = hashlib.sha1(f"{source_system}:{source_id}".encode()).hexdigest()
    return f"cus_{digest[:24]}"


def fold(text: str | None) -> str:
    """Lower-case, accent-free, alphanumeric-and-space form used for fuzzy comparison."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_text = ascii_text.replace("ß", "ss").replace("ł", "l").replace("Ł", "L").replace("ø", "o").replace("Ø", "O")
    return " ".join(_NON_ALNUM.sub(" ", ascii_text.lower()).split())


def postcode_key(postcode: str | None, country: str | None) -> str | None:
    """Blocking key for the fuzzy rule: country + postcode without spaces."""
    if not postcode:
        return None
    return f"{country or ''}:{postcode.replace(' ', '').upper()}"


@dataclass
class Identity:
    """One source record of a customer, cleaned, as the resolver sees it."""

    source_system: str
    source_id: str
    customer_id: str | None = None
    email_norm: str | None = None
    phone: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    address_line1: str | None = None
    postcode: str | None = None
    country: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_system, self.source_id)

    @property
    def full_name(self) -> str:
        return fold(f"{self.given_name or ''} {self.family_name or ''}")


def _golden(ident: Identity) -> str:
    """The golden id of a resolved identity (every identity a :class:`Resolver` holds has one)."""
    assert ident.customer_id is not None, "identity not resolved yet"
    return ident.customer_id


@dataclass
class Match:
    """A candidate golden record for an identity."""

    customer_id: str
    matched: tuple[str, str]
    rule: str
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)


def name_similarity(a: Identity, b: Identity) -> float | None:
    """Token-sort similarity (0..1) of the folded full names; None when either is missing."""
    from rapidfuzz import fuzz

    na, nb = a.full_name, b.full_name
    if not na or not nb:
        return None
    return fuzz.token_sort_ratio(na, nb) / 100.0


def address_similarity(a: Identity, b: Identity) -> float | None:
    """Similarity (0..1) of the folded first address lines; 0 when their house numbers differ."""
    from rapidfuzz import fuzz

    aa, ab = fold(a.address_line1), fold(b.address_line1)
    if not aa or not ab:
        return None
    if set(_DIGITS.findall(aa)) != set(_DIGITS.findall(ab)):
        return 0.0
    return fuzz.token_sort_ratio(aa, ab) / 100.0


def fuzzy_score(a: Identity, b: Identity) -> tuple[float, dict[str, Any]]:
    """Confidence (0..1) that two identities in the same postcode are one person, with its parts."""
    name = name_similarity(a, b)
    addr = address_similarity(a, b)
    same_pc = postcode_key(a.postcode, a.country) == postcode_key(b.postcode, b.country) and a.postcode is not None
    score = 0.5 * (name or 0.0) + 0.3 * (addr or 0.0) + (0.2 if same_pc else 0.0)
    return round(score, 4), {"name": name, "address": addr, "same_postcode": same_pc}


class Resolver:
    """In-memory matcher over known identities (pure; the database wrapper is :func:`resolve_customers`)."""

    def __init__(self, threshold: float, report_floor: float = REPORT_FLOOR,
                 blocked: Iterable[tuple[str, str, str]] = ()) -> None:
        self.threshold = threshold
        self.report_floor = min(report_floor, threshold)
        self.by_email: dict[str, Identity] = {}
        self.by_phone: dict[str, list[Identity]] = defaultdict(list)
        self.by_postcode: dict[str, list[Identity]] = defaultdict(list)
        self.blocked = set(blocked)  # (source_system, source_id, customer_id) pairs whose merge was undone

    def add(self, ident: Identity) -> None:
        """Make a resolved identity (with ``customer_id``) matchable by later ones."""
        if ident.email_norm:
            self.by_email.setdefault(ident.email_norm, ident)
        if ident.phone:
            self.by_phone[ident.phone].append(ident)
        pk = postcode_key(ident.postcode, ident.country)
        if pk:
            self.by_postcode[pk].append(ident)

    def _allowed(self, ident: Identity, other: Identity) -> bool:
        return other.key != ident.key and (ident.source_system, ident.source_id, other.customer_id) not in self.blocked

    def match(self, ident: Identity) -> tuple[Match | None, list[Match]]:
        """Best merge for ``ident`` (or None) and the possible duplicates to report."""
        reports: list[Match] = []
        chosen: Match | None = None
        other = self.by_email.get(ident.email_norm) if ident.email_norm else None
        if other is not None and self._allowed(ident, other):
            chosen = Match(_golden(other), other.key, "email", 1.0)
        for other in self.by_phone.get(ident.phone, []) if ident.phone else []:
            if not self._allowed(ident, other) or (chosen and other.customer_id == chosen.customer_id):
                continue
            sim = name_similarity(ident, other)
            if sim is not None and sim < PHONE_NAME_CONFLICT:
                reports.append(Match(_golden(other), other.key, "phone_name_conflict", round(sim, 4),
                                     {"name": sim}))
            elif chosen is None:
                chosen = Match(_golden(other), other.key, "phone", 1.0, {"name": sim})
            else:
                reports.append(Match(_golden(other), other.key, "phone_conflict", 1.0,
                                     {"merged_into": chosen.customer_id}))
        pk = postcode_key(ident.postcode, ident.country)
        best: Match | None = None
        for other in self.by_postcode.get(pk, []) if pk else []:
            if not self._allowed(ident, other) or (chosen and other.customer_id == chosen.customer_id):
                continue
            score, parts = fuzzy_score(ident, other)
            if best is None or score > best.confidence:
                best = Match(_golden(other), other.key, "fuzzy_name_address", score, parts)
        if best is not None:
            if chosen is None and best.confidence >= self.threshold:
                chosen = best
            elif best.confidence >= self.report_floor:
                reports.append(best)
        return chosen, reports


# --- database -------------------------------------------------------------------------------------
@dataclass
class ResolutionReport:
    """What one resolution run did."""

    identities: int = 0
    new_identities: int = 0
    new_customers: int = 0
    merges_by_rule: dict[str, int] = field(default_factory=dict)
    possible_duplicates: int = 0
    customers_rebuilt: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for ``sync_runs.details``."""
        return {
            "identities": self.identities,
            "new_identities": self.new_identities,
            "new_customers": self.new_customers,
            "merged": sum(self.merges_by_rule.values()),
            "merges_by_rule": dict(self.merges_by_rule),
            "possible_duplicates": self.possible_duplicates,
            "customers_rebuilt": self.customers_rebuilt,
        }


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in record.items():
        if isinstance(v, datetime):
            v = v.isoformat()
        elif isinstance(v, float) and v != v:
            v = None
        out[k] = v
    return out


def _ident_from_row(row: Row[Any]) -> Identity:
    raw = row.raw or {}
    return Identity(row.source_system, row.source_id, row.customer_id, row.email_norm, row.phone_e164,
                    row.given_name, row.family_name, raw.get("address_line1"), row.postcode, row.country)


def _load_candidates(conn: Connection, idents: list[Identity]) -> list[Identity]:
    """Known identities sharing an email, phone or postcode with the batch (queried in chunks)."""
    ci = customer_identities
    found: dict[tuple[str, str], Identity] = {}
    keys = {
        ci.c.email_norm: sorted({i.email_norm for i in idents if i.email_norm}),
        ci.c.phone_e164: sorted({i.phone for i in idents if i.phone}),
        ci.c.postcode: sorted({i.postcode for i in idents if i.postcode}),
    }
    for column, values in keys.items():
        for chunk in chunked(values):
            for row in conn.execute(select(ci).where(column.in_(chunk), ci.c.customer_id.is_not(None))):
                found[(row.source_system, row.source_id)] = _ident_from_row(row)
    return list(found.values())


def _existing(conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    ci = customer_identities
    out: dict[tuple[str, str], str] = {}
    for chunk in chunked(keys):
        rows = conn.execute(
            select(ci.c.source_system, ci.c.source_id, ci.c.customer_id).where(
                tuple_(ci.c.source_system, ci.c.source_id).in_(chunk))
        )
        out.update({(r.source_system, r.source_id): r.customer_id for r in rows if r.customer_id})
    return out


def _blocked(conn: Connection, keys: list[tuple[str, str]]) -> set[tuple[str, str, str]]:
    m = customer_merges
    out: set[tuple[str, str, str]] = set()
    for chunk in chunked(keys):
        rows = conn.execute(
            select(m.c.source_system, m.c.source_id, m.c.customer_id).where(
                and_(tuple_(m.c.source_system, m.c.source_id).in_(chunk), m.c.undone_at.is_not(None)))
        )
        out.update((r.source_system, r.source_id, r.customer_id) for r in rows)
    return out


def resolve_customers(
    conn: Connection,
    records: Sequence[dict[str, Any]],
    *,
    source_system: str,
    run_id: str | None = None,
    threshold: float | None = None,
) -> ResolutionReport:
    """Attach cleaned customer records of one source system to golden records and rebuild those.

    ``records`` are outputs of :func:`records.clean_customer` (keys ``source_id, email, email_norm,
    phone, given_name, family_name, address_line1, city, postcode, country, updated_at``; optional
    ``source_version``, ``created_at``, ``field_updated_at`` {field: timestamp} and ``consents``
    [{channel, status: subscribed|unsubscribed, changed_at, topic?}] with explicit choices only).
    Known identities keep their golden record; new ones are matched (see module docstring).
    """
    from storeflow.settings import get_settings

    threshold = get_settings().fuzzy_match_threshold if threshold is None else threshold
    now = datetime.now(UTC)
    report = ResolutionReport(identities=len(records))
    records = list({str(r["source_id"]): r for r in records}.values())  # last record of an id wins
    idents = [
        Identity(source_system, str(r["source_id"]), None,
                 r.get("email_norm") or (r.get("email") or "").lower() or None,
                 r.get("phone"), r.get("given_name"), r.get("family_name"), r.get("address_line1"),
                 r.get("postcode"), r.get("country"))
        for r in records
    ]
    keys = [i.key for i in idents]
    known = _existing(conn, keys)
    resolver = Resolver(threshold, blocked=_blocked(conn, keys))
    for cand in _load_candidates(conn, idents):
        if cand.key not in known:
            resolver.add(cand)
    merges: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for ident in idents:  # known identities first: they are what new ones match against
        if ident.key in known:
            ident.customer_id = known[ident.key]
            resolver.add(ident)
    for ident in idents:
        if ident.key in known:
            continue
        report.new_identities += 1
        chosen, found = resolver.match(ident)
        own = customer_id_for(*ident.key)
        if chosen is None:
            ident.customer_id = own
            report.new_customers += 1
        else:
            ident.customer_id = chosen.customer_id
            report.merges_by_rule[chosen.rule] = report.merges_by_rule.get(chosen.rule, 0) + 1
            merges.append({
                "customer_id": chosen.customer_id, "source_system": ident.source_system,
                "source_id": ident.source_id, "previous_customer_id": own,
                "matched_source_system": chosen.matched[0], "matched_source_id": chosen.matched[1],
                "rule": chosen.rule, "confidence": chosen.confidence, "details": chosen.details,
                "run_id": run_id, "created_at": now, "undone_at": None, "undo_reason": None,
            })
        for rep in found:
            reports.append({
                "source_system": ident.source_system, "source_id": ident.source_id,
                "customer_id": ident.customer_id, "candidate_source_system": rep.matched[0],
                "candidate_source_id": rep.matched[1], "candidate_customer_id": rep.customer_id,
                "rule": rep.rule, "confidence": rep.confidence, "details": rep.details, "status": "open",
                "run_id": run_id, "created_at": now,
            })
        resolver.add(ident)
    report.possible_duplicates = len(reports)
    _write_identities(conn, source_system, records, idents, now)
    if merges:
        conn.execute(insert(customer_merges), merges)
        _set_match_info(conn, merges)
    if reports:
        upsert(conn, possible_duplicates, reports,
               key=["source_system", "source_id", "candidate_source_system", "candidate_source_id"],
               update=["customer_id", "candidate_customer_id", "rule", "confidence", "details", "run_id"])
    affected = sorted({_golden(i) for i in idents})
    report.customers_rebuilt = rebuild_customers(conn, affected)
    relink_orders(conn, [(i.source_system, i.source_id, _golden(i)) for i in idents])
    return report


def _write_identities(conn: Connection, source_system: str, records: Sequence[dict[str, Any]],
                      idents: list[Identity], now: datetime) -> None:
    rows, consent_rows = [], []
    for rec, ident in zip(records, idents, strict=True):
        raw = _jsonable({k: v for k, v in rec.items() if k != "consents"})
        rows.append({
            "source_system": source_system, "source_id": ident.source_id, "customer_id": ident.customer_id,
            "email_norm": ident.email_norm, "phone_e164": ident.phone, "given_name": ident.given_name,
            "family_name": ident.family_name, "postcode": ident.postcode, "country": ident.country,
            "source_version": rec.get("source_version"), "source_updated_at": _aware(rec.get("updated_at")),
            "raw": raw, "match_rule": None, "match_confidence": None, "loaded_at": now,
        })
        for c in rec.get("consents") or []:
            if c.get("status") in ("subscribed", "unsubscribed") and c.get("changed_at"):
                consent_rows.append({
                    "source_system": source_system, "source_id": ident.source_id, "channel": c["channel"],
                    "topic": c.get("topic", "marketing"), "status": c["status"], "changed_at": _aware(c["changed_at"]),
                })
    if rows:
        keep = ("source_system", "source_id", "match_rule", "match_confidence")
        upsert(conn, customer_identities, rows, update=[c for c in rows[0] if c not in keep])
    if consent_rows:
        upsert(conn, identity_consents, consent_rows)


def _set_match_info(conn: Connection, merges: Sequence[dict[str, Any]]) -> None:
    """Denormalise each new merge's rule/confidence onto ``customer_identities`` (for browsing)."""
    if not merges:
        return
    ci = customer_identities
    stmt = (update(ci)
            .where(and_(ci.c.source_system == bindparam("b_ss"), ci.c.source_id == bindparam("b_sid")))
            .values(match_rule=bindparam("b_rule"), match_confidence=bindparam("b_conf")))
    conn.execute(stmt, [{"b_ss": r["source_system"], "b_sid": r["source_id"], "b_rule": r["rule"],
                         "b_conf": r["confidence"]} for r in merges])


def _field_times(raw: dict[str, Any], fallback: datetime | None) -> dict[str, datetime | None]:
    per_field = raw.get("field_updated_at") or {}
    return {f: _aware(per_field.get(f)) or fallback for f in SURVIVING_FIELDS}


def survive(identities: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Field-level latest-update-wins over a customer's identity rows; returns (values, provenance).

    Each identity is ``{"source_system", "source_id", "source_updated_at", "raw"}`` (``raw`` = the cleaned
    record). Empty values never win; ties go to the later source key (deterministic).
    """
    epoch = datetime.min.replace(tzinfo=UTC)
    values: dict[str, Any] = {f: None for f in SURVIVING_FIELDS}
    provenance: dict[str, Any] = {}
    best: dict[str, tuple[datetime, str, str]] = {}
    for ident in identities:
        raw = ident.get("raw") or {}
        times = _field_times(raw, _aware(ident.get("source_updated_at")))
        for f in SURVIVING_FIELDS:
            value = raw.get(f)
            if value is None or value == "":
                continue
            at = times[f]
            rank = (at or epoch, ident["source_system"], ident["source_id"])
            if f not in best or rank > best[f]:
                best[f] = rank
                values[f] = value
                provenance[f] = {"at": at.isoformat() if at else None,
                                 "source": f"{ident['source_system']}:{ident['source_id']}"}
    return values, provenance


def survive_consents(choices: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Most recent explicit choice per (channel, topic); an unsubscribe wins a tie."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for c in choices:
        key = (c["channel"], c.get("topic") or "marketing")
        rank = (_aware(c["changed_at"]), c["status"] == "unsubscribed")
        cur = out.get(key)
        if cur is None or rank > (cur["changed_at"], cur["status"] == "unsubscribed"):
            out[key] = {**c, "changed_at": rank[0]}
    return out


def rebuild_customers(conn: Connection, customer_ids: Sequence[str]) -> int:
    """Recompute golden ``customers`` rows and ``consents`` of these customers from their identities."""
    ci, ic = customer_identities, identity_consents
    now = datetime.now(UTC)
    rows, consent_rows, empty = [], [], []
    for chunk in chunked(list(customer_ids)):
        by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in conn.execute(select(ci.c.customer_id, ci.c.source_system, ci.c.source_id, ci.c.source_updated_at,
                                     ci.c.raw).where(ci.c.customer_id.in_(chunk))):
            by_customer[r.customer_id].append(dict(r._mapping))
        choices: dict[str, list[dict[str, Any]]] = defaultdict(list)
        joined = select(ci.c.customer_id, ic.c.channel, ic.c.topic, ic.c.status, ic.c.changed_at, ic.c.source_system,
                        ic.c.source_id).join(ic, and_(ic.c.source_system == ci.c.source_system,
                                                      ic.c.source_id == ci.c.source_id))
        for jr in conn.execute(joined.where(ci.c.customer_id.in_(chunk))):
            choices[jr.customer_id].append(dict(jr._mapping))
        # choices recorded directly on the golden record by other flows (e.g. an unsubscribe link) count too
        others = select(consents).where(consents.c.customer_id.in_(chunk),
                                        consents.c.reason.is_distinct_from(REBUILD_REASON),
                                        consents.c.status.in_(("subscribed", "unsubscribed")))
        for cr in conn.execute(others):
            choices[cr.customer_id].append({**cr._mapping, "_other": True})
        conn.execute(delete(consents).where(consents.c.customer_id.in_(chunk), consents.c.reason == REBUILD_REASON))
        for cid in chunk:
            idents = by_customer.get(cid)
            if not idents:
                empty.append(cid)
                continue
            values, provenance = survive(idents)
            created = [_aware((i["raw"] or {}).get("created_at")) for i in idents]
            updated = [_aware(i["source_updated_at"]) for i in idents]
            rows.append({"customer_id": cid, **values, "field_updated_at": provenance,
                         "created_at": min((c for c in created if c), default=None),
                         "updated_at": max((u for u in updated if u), default=None), "loaded_at": now})
            for (channel, topic), c in survive_consents(choices.get(cid, [])).items():
                if c.get("_other"):
                    continue  # that row is already in place and stays its writer's
                consent_rows.append({"customer_id": cid, "channel": channel, "topic": topic, "status": c["status"],
                                     "source_system": c["source_system"], "changed_at": c["changed_at"],
                                     "reason": REBUILD_REASON})
    if rows:
        upsert(conn, customers, rows)
    if consent_rows:
        upsert(conn, consents, consent_rows)
    for chunk in chunked(empty):
        conn.execute(delete(customers).where(customers.c.customer_id.in_(chunk)))
        conn.execute(delete(consents).where(consents.c.customer_id.in_(chunk)))
    return len(rows)


def relink_orders(conn: Connection, assignments: Sequence[tuple[str, str, str]]) -> None:
    """Point ``orders.customer_id`` at the golden record of each (source_system, source_id)."""
    if not assignments:
        return
    stmt = (update(orders)
            .where(and_(orders.c.source_system == bindparam("b_ss"), orders.c.customer_source_id == bindparam("b_sid"),
                        orders.c.customer_id.is_distinct_from(bindparam("b_cid"))))
            .values(customer_id=bindparam("b_cid")))
    conn.execute(stmt, [{"b_ss": s, "b_sid": i, "b_cid": c} for s, i, c in assignments])


class MergeNotFound(LookupError):
    """No active merge with that id."""


def undo_merge(conn: Connection, merge_id: int, reason: str = "manual undo") -> str:
    """Detach the merged identity into its own golden record again; return that customer id.

    Both golden records are rebuilt, orders are relinked, and the pair is blocked from automatic
    re-merging. Identities that later matched *through* this identity stay where they are.
    """
    m, ci = customer_merges, customer_identities
    row = conn.execute(select(m).where(m.c.merge_id == merge_id)).first()
    if row is None or row.undone_at is not None:
        raise MergeNotFound(f"no active merge {merge_id}")
    conn.execute(update(m).where(m.c.merge_id == merge_id).values(undone_at=datetime.now(UTC), undo_reason=reason))
    conn.execute(update(ci)
                 .where(and_(ci.c.source_system == row.source_system, ci.c.source_id == row.source_id))
                 .values(customer_id=row.previous_customer_id, match_rule=None, match_confidence=None))
    rebuild_customers(conn, [row.customer_id, row.previous_customer_id])
    relink_orders(conn, [(row.source_system, row.source_id, row.previous_customer_id)])
    return row.previous_customer_id
