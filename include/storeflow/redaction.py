"""Personal data out of error texts and alerts: rows are named by source id, never by email or phone.

:func:`redact` masks, in any free text (an exception message, an alert line):

- email addresses -> ``<email>``;
- phone-number-like strings (``+`` and 8-15 digits, or 9-15 digits in phone grouping, or what
  ``phonenumbers`` recognises as a valid number) -> ``<phone>``;
- the values database drivers quote in their messages: PostgreSQL's ``Key (col)=(value)`` details,
  ``COPY ..., column col: "value"`` contexts, ``invalid input syntax for type T: "value"``, and
  SQLAlchemy's ``[parameters: ...]`` block -> ``<redacted>``.

Values the caller knows to be personal (``known``: e.g. a quarantined row's email and names) are masked
first, keeping two characters as a hint (``ja***``). Ids, timestamps, counts and SQL text stay readable.
The result is idempotent (redacting twice changes nothing more).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from storeflow.logscan import mask

EMAIL = re.compile(r"[A-Za-z0-9._%+'!#$&*/=?^`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE_CANDIDATE = re.compile(r"(?<![\w.:/@-])(\+?\(?\d[\d ().\-]{6,22}\d)(?![\w:/@-])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}")
_DB_VALUES = [
    (re.compile(r"(Key \([^)]*\)=\()(.*?)(\)(?: already exists| is not present| conflicts|\.|$))", re.M),
     r"\1<redacted>\3"),
    (re.compile(r"(Failing row contains \()(.*)(\)\.?)$", re.M), r"\1<redacted>\3"),
    (re.compile(r'(COPY [^,\n]*, line \d+, column [^:\n]*: )("(?:[^"\\]|\\.)*"|(?!"<redacted>")[^\n]*)'),
     r'\1"<redacted>"'),
    (re.compile(r'((?:invalid input (?:syntax|value) for (?:type )?[\w ]+|out of range for type \w+): )'
                r'("(?:[^"\\]|\\.)*")'), r'\1"<redacted>"'),
    (re.compile(r"\[parameters: .*?\](?=\n|$|\s*\(Background)", re.S), "[parameters: <redacted>]"),
]


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(1)
    digits = sum(c.isdigit() for c in text)
    if _DATE.search(text) or digits > 15:
        return match.group(0)
    if text.startswith("+") and digits >= 8:
        return "<phone>"
    grouped = any(c in text for c in " ().-")
    if digits >= 9 and grouped:
        return "<phone>"
    if digits >= 10 and text.startswith("0"):
        return "<phone>"
    return match.group(0)


def _valid_numbers(text: str, region: str | None) -> str:
    try:
        import phonenumbers
    except ImportError:  # pragma: no cover - phonenumbers is a runtime dependency
        return text
    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(
        text, region or "GB", leniency=phonenumbers.Leniency.VALID)]
    for start, end in reversed(spans):
        text = text[:start] + "<phone>" + text[end:]
    return text


def redact(text: Any, *, region: str | None = None, known: Iterable[str] = ()) -> str:
    """``text`` (anything; ``str()`` is applied) with the ``known`` personal values, emails, phone numbers
    and quoted DB values masked."""
    if text is None:
        return ""
    out = str(text)
    for value in sorted(known, key=len, reverse=True):
        if len(value) >= 3:
            out = out.replace(value, mask(value))
    for pattern, repl in _DB_VALUES:
        out = pattern.sub(repl, out)
    out = EMAIL.sub("<email>", out)
    out = _PHONE_CANDIDATE.sub(_mask_phone, out)
    if region is None:
        try:
            from storeflow.settings import get_settings

            region = get_settings().default_phone_region
        except Exception:  # settings unreadable: still redact with the default region
            region = "GB"
    return _valid_numbers(out, region)
