"""Email cleaning.

Decision on the local part: it is kept exactly as typed (after trimming and Unicode NFC), because
RFC 5321 lets a mailbox be case-sensitive and a few systems still rely on it; the domain is lowercased
(and IDNA-normalised) by ``email-validator``. For identity matching use :func:`email_key`, which
lowercases the whole address; provider-specific tricks (Gmail dots, ``+tags``) are *not* stripped,
because a ``+tag`` address can be deliberately distinct and stripping it would merge wrong people.
Syntax is checked with ``email-validator`` without DNS (``check_deliverability=False``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from storeflow.quality.results import FieldResult, accept, reject

MAX_LENGTH = 254

# A strict ASCII subset of valid addresses. Anything it accepts, email-validator accepts with the same
# normalised form (local part unchanged, domain lowercased) -- a property test checks this; everything
# else goes through email-validator itself (cached per distinct value).
_LOCAL = r"[A-Za-z0-9_%+\-]+(?:\.[A-Za-z0-9_%+\-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_SPECIAL_TLDS = r"(?!(?:arpa|invalid|local|localhost|onion|test|home|lan|internal|intranet|corp|private)$)"
FAST_EMAIL = re.compile(
    rf"(?=.{{3,{MAX_LENGTH}}}$)(?=[^@]{{1,64}}@){_LOCAL}@(?:{_LABEL}\.)+{_SPECIAL_TLDS}[A-Za-z]{{2,63}}")
FAST_EMAIL_PATTERN = FAST_EMAIL.pattern


def _fast(value: str) -> str | None:
    if FAST_EMAIL.fullmatch(value):
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}"
    return None


@lru_cache(maxsize=200_000)
def _slow(value: str) -> FieldResult:
    try:
        info = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return reject("email_invalid", f"email {value[:80]!r} is not a valid address: {exc}")
    return accept(info.normalized, value)


def clean_email(value: object) -> FieldResult:
    """Trim, lowercase the domain and check the syntax; empty input is accepted as ``None``."""
    if value is None:
        return accept(None)
    if not isinstance(value, str):
        return reject("email_invalid", f"email must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return accept(None, value)
    if len(text) > MAX_LENGTH:
        return reject("email_too_long", f"email is {len(text)} characters long (max {MAX_LENGTH})")
    fast = _fast(text)
    if fast is not None:
        return accept(fast, value)
    res = _slow(text)
    if res.ok:
        return accept(res.value, value)
    return res


def email_key(cleaned: str | None) -> str | None:
    """The identity key of a *cleaned* email: the whole address lowercased."""
    return cleaned.lower() if cleaned else None
