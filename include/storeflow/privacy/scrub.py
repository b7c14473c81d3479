"""Pure helpers for GDPR erasure: keyed pseudonyms, the person's identifiers, and JSON scrubbing.

A :class:`Subject` holds everything that identifies one person (golden ids, POS and store ids, emails,
phones, names). :meth:`Subject.scrub_json` rewrites any JSON value so that nothing in it points to the
person any more: the first dict (from the top) whose subtree mentions them (an email, a phone, a POS id,
a store id under a customer-id key, the golden id) is *theirs*; in it personal fields are blanked, ids
replaced by pseudonyms and remaining mentions in free text replaced by ``[erased]``. Other people's
records next to it (same page, same list) are left as they are.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar, cast

SECRET_ENV = "STOREFLOW_PSEUDONYM_SECRET"
ERASED = "[erased]"

J = TypeVar("J")

#: keys whose values are personal data wherever they appear in a person's record
PERSONAL_KEYS = frozenset({
    "email", "email_address", "email_norm", "billing_email", "phone", "phone_number", "phone_e164", "mobile",
    "given_name", "family_name", "first_name", "last_name", "nickname", "display_name", "full_name",
    "username", "company", "company_name", "address_1", "address_2", "address_line_1", "address_line_2",
    "address_line_3", "address_line1", "address_line2", "locality", "sublocality", "city", "postcode",
    "postal_code", "birthday",
    "note", "customer_note", "customer_ip_address", "ip_address", "customer_user_agent", "user_agent",
    "avatar_url", "recipient", "recipient_name", "to", "tax_ids", "address",
})
#: keys under which a store (numeric) customer id may appear
STORE_ID_KEYS = frozenset({"customer_id", "customer_source_id", "source_id", "user_id"})
_PHONE_KEYS = ("phone", "phone_number", "phone_e164", "mobile")
_EMAIL_KEYS = ("email", "email_address", "email_norm", "billing_email")
_NAME_KEYS = ("given_name", "family_name", "first_name", "last_name")


class MissingSecret(RuntimeError):
    """``STOREFLOW_PSEUDONYM_SECRET`` is not set."""


def pseudonym_secret() -> bytes:
    """The HMAC key for pseudonyms (env ``STOREFLOW_PSEUDONYM_SECRET``; there is no default)."""
    value = os.environ.get(SECRET_ENV)
    if not value:
        raise MissingSecret(f"set {SECRET_ENV} (a long random string) before erasing customers")
    return value.encode("utf-8")


def keyed_hash(kind: str, value: str, secret: bytes) -> str:
    """Hex HMAC-SHA256 of ``kind:value`` (stable for the same secret)."""
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def pseudonym(kind: str, value: str, secret: bytes) -> str:
    """A stable, non-reversible replacement id, e.g. ``anon_3f2a…`` (28 characters)."""
    return "anon_" + keyed_hash(kind, value, secret)[:23]


def _walk_strings(value: object, keys: tuple[str, ...], out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in keys and isinstance(v, str) and v.strip():
                out.add(v.strip())
            else:
                _walk_strings(v, keys, out)
    elif isinstance(value, list):
        for v in value:
            _walk_strings(v, keys, out)


@dataclass
class Subject:
    """One person's identifiers and their pseudonyms."""

    secret: bytes
    customer_ids: set[str] = field(default_factory=set)
    pos_ids: set[str] = field(default_factory=set)
    store_ids: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)

    # --- building ----------------------------------------------------------------------------------
    def add_identity(self, source_system: str, source_id: str) -> None:
        (self.pos_ids if source_system == "pos" else self.store_ids).add(str(source_id))

    def add_contacts_from(self, raw: object) -> None:
        """Collect emails, phones and names found under personal keys of a raw record."""
        found: set[str] = set()
        _walk_strings(raw, _EMAIL_KEYS, found)
        self.emails |= {e for e in found if "@" in e}
        found = set()
        _walk_strings(raw, _PHONE_KEYS, found)
        self.phones |= {p for p in found if sum(ch.isdigit() for ch in p) >= 7}
        found = set()
        _walk_strings(raw, _NAME_KEYS, found)
        self.names |= {n for n in found if len(n) >= 2}

    def add_values(self, *, email: str | None = None, phone: str | None = None,
                   names: Iterable[str | None] = ()) -> None:
        if email and "@" in email:
            self.emails.add(email.strip())
        if phone and sum(ch.isdigit() for ch in phone) >= 7:
            self.phones.add(phone.strip())
        self.names |= {n.strip() for n in names if n and len(n.strip()) >= 2}

    @property
    def is_empty(self) -> bool:
        return not (self.customer_ids or self.pos_ids or self.store_ids or self.emails or self.phones)

    # --- pseudonyms ----------------------------------------------------------------------------------
    def pseudo_customer(self, customer_id: str) -> str:
        return pseudonym("customer", customer_id, self.secret)

    def pseudo_source(self, source_system: str, source_id: str) -> str:
        return pseudonym(source_system, str(source_id), self.secret)

    def pseudo_email(self, email: str) -> str:
        return f"{pseudonym('email', email.lower(), self.secret)}@erased.invalid"

    def erased_keys(self) -> list[tuple[str, str]]:
        """(kind, keyed hash) of every identifier, for the ``erased_subjects`` table."""
        items = [("customer", c) for c in self.customer_ids] + [("pos", i) for i in self.pos_ids]
        items += [("store", i) for i in self.store_ids] + [("email", e.lower()) for e in self.emails]
        items += [("phone", p) for p in self.phones if p.startswith("+")]
        return [(kind, keyed_hash(kind, value, self.secret)) for kind, value in items]

    # --- matching ------------------------------------------------------------------------------------
    def strong_needles(self) -> list[str]:
        """Strings that identify the person wherever they appear (for searching other people's rows)."""
        needles = set(self.emails) | {e.lower() for e in self.emails} | set(self.phones)
        needles |= {p.lstrip("+") for p in self.phones if p.startswith("+")}
        needles |= self.pos_ids | self.customer_ids
        return sorted((n for n in needles if len(n) >= 6), key=len, reverse=True)

    def mentions(self, text: str) -> bool:
        """True when ``text`` contains a strong identifier of the person."""
        low = text.lower()
        return any(n in low for n in self._matchers()[0])

    def replace_text(self, text: str, with_names: bool = False) -> str:
        """``text`` with every mention of the person (ids → pseudonyms, contacts → ``[erased]``)."""
        for cid in self.customer_ids:
            text = text.replace(cid, self.pseudo_customer(cid))
        for pid in self.pos_ids:
            text = text.replace(pid, self.pseudo_source("pos", pid))
        for sid in self.store_ids:
            text = re.sub(rf"\bstore:{re.escape(sid)}\b", f"store:{self.pseudo_source('store', sid)}", text)
        contacts = sorted(self.emails | self.phones | (self.names if with_names else set()),
                          key=len, reverse=True)
        for needle in contacts:
            boundary = r"\b" if needle[:1].isalnum() else ""
            end = r"\b" if needle[-1:].isalnum() else ""
            text = re.sub(f"{boundary}{re.escape(needle)}{end}", ERASED, text, flags=re.I)
        return text

    # --- JSON ----------------------------------------------------------------------------------------
    def _matchers(self) -> tuple[tuple[str, ...], re.Pattern[str] | None]:
        """Lower-cased strong needles and a regex for store ids under customer-id keys (cached)."""
        key = (frozenset(self.customer_ids), frozenset(self.pos_ids), frozenset(self.store_ids),
               frozenset(self.emails), frozenset(self.phones))
        cached = getattr(self, "_cache", None)
        if cached is None or cached[0] != key:
            needles = tuple(n.lower() for n in self.strong_needles())
            store = None
            if self.store_ids:
                ids = "|".join(re.escape(i) for i in sorted(self.store_ids))
                keys = "|".join(sorted(STORE_ID_KEYS))
                store = re.compile(rf'"(?:{keys})":\s*"?(?:{ids})"?\s*[,}}]|store:(?:{ids})\b')
            cached = (key, (needles, store))
            self._cache = cached
        return cached[1]

    def _owns(self, value: object, top_id_key: str | None = None, system: str | None = None) -> bool:
        if isinstance(value, dict) and top_id_key and value.get(top_id_key) is not None and str(
                value[top_id_key]) in (self.store_ids if system == "store" else self.pos_ids):
            return True
        needles, store = self._matchers()
        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
        low = text.lower()
        if any(n in low for n in needles):
            return True
        return bool(store is not None and system != "pos" and store.search(text))

    def _redact(self, value: object, system: str | None, top_id_key: str | None = None) -> object:
        if isinstance(value, dict):
            out: dict[str, object] = {}
            for k, v in value.items():
                if k == top_id_key and str(v) in (self.store_ids if system == "store" else self.pos_ids):
                    out[k] = self.pseudo_source(system or "pos", str(v))
                elif k in PERSONAL_KEYS and not isinstance(v, dict | list):
                    out[k] = "" if isinstance(v, str) else None
                elif k in STORE_ID_KEYS and v is not None and str(v) in self.store_ids and system != "pos":
                    out[k] = self.pseudo_source("store", str(v))
                else:
                    out[k] = self._redact(v, system)
            return out
        if isinstance(value, list):
            return [self._redact(v, system) for v in value]
        if isinstance(value, str):
            return self.replace_text(value, with_names=True)
        return value

    def scrub_json(self, value: J, *, system: str | None = None, top_id_key: str | None = None,
                   owned: bool = False) -> J:
        """``value`` with the person's records redacted (see module docstring); others untouched.

        ``system`` ('pos' | 'store') tells which id space bare ids belong to; ``top_id_key`` names the key
        holding a record's own customer id (``"id"`` for customer streams); ``owned`` forces the whole
        value to be treated as the person's.
        """
        if isinstance(value, list) and not owned:  # a list is never one person's record: look at each item
            return cast(J, [self.scrub_json(v, system=system, top_id_key=top_id_key) for v in value])
        if owned or self._owns(value, top_id_key, system):
            return cast(J, self._redact(value, system, top_id_key))  # the same JSON shape
        return value
