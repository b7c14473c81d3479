"""Source customer records: one per system a person uses, with planted format variants and defects."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from storeflow_simulators.seed.identities import _EMAIL_DOMAINS, _Identity
from storeflow_simulators.seed.params import TZ_COUNTRY
from storeflow_simulators.world import (
    SourceCustomer,
)

#: labels in ``SourceCustomer.dirty``: harmless format differences a cleaner must normalise
FORMAT_VARIANTS = frozenset({
    "email_case", "email_whitespace", "phone_national", "phone_spaced", "name_upper", "name_lower",
    "postcode_nospace", "postcode_lower", "country_name", "unicode_name",
})  # fmt: skip
#: labels for real defects (bad or missing values, duplicates, conflicting opt-outs)
HARD_DEFECTS = frozenset({
    "email_broken", "email_missing", "phone_unparseable", "long_string", "name_swapped", "name_ascii_folded",
    "duplicate_record", "email_alias", "email_optout_only_here", "sms_optout_only_here",
})  # fmt: skip
_COUNTRY_NAMES = {
    "GB": ["United Kingdom", "uk", "U.K.", "England"],
    "FR": ["France", "fr"],
    "DE": ["Germany", "Deutschland"],
    "US": ["USA", "United States"],
}
_BROKEN_EMAIL = ["double_at", "no_at", "trailing_dot", "space_inside"]
_BAD_PHONES = ["n/a", "call after 5pm", "123", "tel: unknown", "+44 7700 900{d:03d} 456 789", "+0 000"]


def _break_email(email: str, kind: str) -> str:
    local, _, domain = email.partition("@")
    if kind == "double_at":
        return f"{local}@@{domain}"
    if kind == "no_at":
        return f"{local}.{domain}"
    if kind == "trailing_dot":
        return f"{email}."
    return f"{local} @{domain}"


def _email_case(email: str) -> str:
    local, _, domain = email.partition("@")
    parts = ".".join(p[:1].upper() + p[1:] for p in local.split("."))
    return f"{parts}@{domain.capitalize()}"


@dataclass
class _Rec:
    system: str  # "pos" | "store"
    person: int
    created_s: int
    duplicate: bool


def _dt(s: float | int) -> datetime:
    return datetime.fromtimestamp(int(s), UTC)


@dataclass
class _PersonLists:
    """Per-person values as Python lists (fast scalar access in the record loop)."""

    tz: list[int]
    email_consent: list[bool]
    sms_consent: list[bool]


def _make_record(
    rec: _Rec,
    source_id: str,
    pop: _PersonLists,
    ident: _Identity,
    u: list[float],
    now_s: int,
    optout_here: tuple[bool, bool],
) -> SourceCustomer:
    """One system's (possibly dirty) view of a person. ``u`` holds this record's uniforms."""
    i = rec.person
    pos = rec.system == "pos"
    dirty: list[str] = []
    given, family = ident.given[i], ident.family[i]
    email = ident.email[i]
    phone_t = ident.phone[i]
    country = TZ_COUNTRY[pop.tz[i]]
    address, postcode = ident.address[i], ident.postcode[i]
    if ident.unicode_name[i]:
        dirty.append("unicode_name")
    if rec.duplicate:
        dirty.append("duplicate_record")
        if not pos and email:  # a second store account needs its own email
            local, _, domain = email.partition("@")
            other_domain = _EMAIL_DOMAINS[(_EMAIL_DOMAINS.index(domain) + 1) % 3]
            email = f"{local}+shop@{domain}" if u[0] < 0.5 else f"{local}@{other_domain}"
            dirty.append("email_alias")
        elif pos and u[0] < 0.5:
            email = None
            dirty.append("email_missing")
    # format variants
    if email and u[1] < 0.12:
        email = _email_case(email)
        dirty.append("email_case")
    if email and u[2] < 0.04:
        email = f" {email} " if u[2] < 0.02 else f"{email} "
        dirty.append("email_whitespace")
    phone: str | None = None
    if phone_t:
        fmt = u[3]
        cut_e164, cut_nat = (0.6, 0.85) if pos else (0.3, 0.85)
        if fmt < cut_e164:
            phone = phone_t[0]
        elif fmt < cut_nat:
            phone = phone_t[1]
            dirty.append("phone_national")
        else:
            phone = phone_t[2]
            dirty.append("phone_spaced")
    if u[4] < 0.04:
        given, family = given.upper(), family.upper()
        dirty.append("name_upper")
    elif u[4] < 0.08:
        given, family = given.lower(), family.lower()
        dirty.append("name_lower")
    if country == "GB" and u[5] < 0.10:
        postcode = postcode.replace(" ", "")
        dirty.append("postcode_nospace")
    elif country == "GB" and u[5] < 0.13:
        postcode = postcode.lower()
        dirty.append("postcode_lower")
    if not pos and u[6] < 0.03:  # Square's address.country is an ISO 3166-1 alpha-2 enum: no dirt there
        names = _COUNTRY_NAMES[country]
        country = names[int(u[7] * len(names))]
        dirty.append("country_name")
    # planted defects (~6 %)
    if u[8] < 0.06:
        kinds = ["email_broken", "phone_unparseable", "long_string", "name_swapped"]
        if pos:
            kinds.append("email_missing")
        if ident.unicode_name[i]:
            kinds.append("name_ascii_folded")
        kind = kinds[int(u[9] * len(kinds))]
        applied = True
        if kind == "email_broken":
            applied = email is not None
            if email:
                email = _break_email(email, _BROKEN_EMAIL[int(u[10] * 4)])
        elif kind == "email_missing":
            applied = email is not None
            email = None
            dirty = [d for d in dirty if d not in ("email_case", "email_whitespace")]
        elif kind == "phone_unparseable":
            phone = _BAD_PHONES[int(u[10] * len(_BAD_PHONES))].format(d=int(u[11] * 1000))
            dirty = [d for d in dirty if d not in ("phone_national", "phone_spaced")]
        elif kind == "long_string":
            address = address + ", " + ", ".join(["Flat 2B, The Old Mill Buildings, Rear Entrance"] * 6)
        elif kind == "name_swapped":
            given, family = family, given
        elif kind == "name_ascii_folded":
            given, family = _ascii_fold(given), _ascii_fold(family)
        if applied and kind not in dirty:
            dirty.append(kind)
    email_unsub = not bool(pop.email_consent[i]) or optout_here[0]
    sms_unsub = not bool(pop.sms_consent[i]) or optout_here[1]
    if optout_here[0] and pop.email_consent[i]:
        dirty.append("email_optout_only_here")
    if optout_here[1] and pop.sms_consent[i]:
        dirty.append("sms_optout_only_here")
    created = rec.created_s
    updated = created + int(u[12] * (now_s - 1 - created)) if u[13] < 0.4 else created
    return SourceCustomer(
        source_id,
        f"P{i + 1:07d}",
        given,
        family,
        email,
        phone,
        address,
        ident.city[i],
        postcode,
        country,
        _dt(created),
        _dt(updated),
        email_unsub,
        sms_unsub,
        dirty,
    )


def _ascii_fold(s: str) -> str:
    folded = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    return folded.replace("Ł", "L").replace("ł", "l").replace("Ø", "O").replace("ø", "o")
