"""Postcode normalisation and validity for GB, US, DE, FR, NL, SE, PT, ES and IT.

Each country has a *compact* form (upper case, no spaces or hyphens, optional country prefix such as
``D-`` or ``SE-`` removed), a validity regex on the compact form and a display format (``SW1A 1AA``,
``1234 AB``, ``114 55``, ``1000-001``, ``12345-6789``). Other countries (or an unknown country) only get
whitespace collapsed and upper case. An invalid postcode is rejected with ``postcode_invalid``; callers
decide whether that is an error (the customer loader reports it as a warning and keeps the trimmed
upper-cased text, see :func:`fallback`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from storeflow.quality.results import FieldResult, accept, reject

MAX_LENGTH = 32


@dataclass(frozen=True)
class PostcodeRule:
    """Compact validity regex and display format (``pattern`` -> ``repl`` on the compact form)."""

    valid: str
    fmt: tuple[str, str] | None = None
    numeric: bool = True  # compact form starts with a digit, so a letter prefix is a country prefix


RULES: dict[str, PostcodeRule] = {
    "GB": PostcodeRule(r"GIR0AA|[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}", (r"^(\S+)(\d[A-Z]{2})$", r"\1 \2"), numeric=False),
    "US": PostcodeRule(r"\d{5}(?:\d{4})?", (r"^(\d{5})(\d{4})$", r"\1-\2")),
    "DE": PostcodeRule(r"\d{5}"),
    "FR": PostcodeRule(r"\d{5}"),
    "IT": PostcodeRule(r"\d{5}"),
    "ES": PostcodeRule(r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}"),
    "NL": PostcodeRule(r"[1-9]\d{3}(?!SA|SD|SS)[A-Z]{2}", (r"^(\d{4})([A-Z]{2})$", r"\1 \2")),
    "SE": PostcodeRule(r"[1-9]\d{4}", (r"^(\d{3})(\d{2})$", r"\1 \2")),
    "PT": PostcodeRule(r"[1-9]\d{6}", (r"^(\d{4})(\d{3})$", r"\1-\2")),
}
COMPACT_STRIP = r"[\s\-]+"
PREFIX = r"^[A-Z]{1,3}(?=\d)"
_STRIP = re.compile(COMPACT_STRIP)
_PREFIX = re.compile(PREFIX)
_WS = re.compile(r"\s+")
_VALID = {c: re.compile(r.valid) for c, r in RULES.items()}
_FMT = {c: (re.compile(r.fmt[0]), r.fmt[1]) for c, r in RULES.items() if r.fmt}
#: Already-canonical forms (what :func:`clean_postcode` outputs): accepted without re-formatting.
CANONICAL = {
    "GB": re.compile(r"GIR 0AA|[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}"),
    "US": re.compile(r"\d{5}(?:-\d{4})?"),
    "NL": re.compile(r"[1-9]\d{3} (?!SA|SD|SS)[A-Z]{2}"),
    "SE": re.compile(r"[1-9]\d{2} \d{2}"),
    "PT": re.compile(r"[1-9]\d{3}-\d{3}"),
    **{c: _VALID[c] for c in ("DE", "FR", "IT", "ES")},
}


def canonical(value: object, country: object) -> str | None:
    """``value`` itself when it is already the canonical valid form for ``country``, else None (fast path)."""
    if type(value) is str:
        pattern = CANONICAL.get(country) if type(country) is str else None
        if pattern is not None and pattern.fullmatch(value):
            return value
    return None


def fallback(value: str) -> str:
    """The form kept for a postcode that is not valid for its country: trimmed, single-spaced, upper."""
    return _WS.sub(" ", value).strip().upper()


@lru_cache(maxsize=200_000)
def _clean(text: str, country: str | None) -> FieldResult:
    if not country or (rule := RULES.get(country)) is None:
        return accept(fallback(text))
    compact = _STRIP.sub("", text.upper())
    if rule.numeric:
        compact = _PREFIX.sub("", compact)
    if not _VALID[country].fullmatch(compact):
        return reject("postcode_invalid", f"postcode {text[:40]!r} is not a valid {country} postcode")
    if country in _FMT:
        pattern, repl = _FMT[country]
        compact = pattern.sub(repl, compact)
    return accept(compact)


def clean_postcode(value: object, country: str | None = None) -> FieldResult:
    """Normalise and check a postcode for ``country`` (ISO alpha-2); empty input -> ``None``."""
    if value is None:
        return accept(None)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return reject("postcode_invalid", f"postcode must be text, got {type(value).__name__}")
    if not value.strip():
        return accept(None, value)
    if len(value) > MAX_LENGTH:
        return reject("postcode_too_long", f"postcode is {len(value)} characters long (max {MAX_LENGTH})")
    if canonical(value, country) is not None:
        return accept(value, value)
    res = _clean(value, (country or "").upper() or None)
    return accept(res.value, value) if res.ok else res
