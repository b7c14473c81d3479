"""Phone cleaning to E.164 with ``phonenumbers``.

Numbers are parsed with the record's country as region when known, else the default region from
settings. A number is accepted when it parses and has a possible length for its country
(``is_possible_number``); the stricter ``is_valid_number`` rejects many real-world test ranges (e.g. the
UK 07700 900xxx drama range), which would quarantine records we can still use. Values that are in E.164
shape (``+`` then 7-15 digits) once spaces, dashes and dots are removed are taken as they are: that is
the form this cleaner and the POS write (or it spaced out), and skipping the parser for them keeps bulk
cleaning fast; the scalar and bulk paths agree. Anything else (national formats, ``(0)``, letters) goes
through ``phonenumbers``.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from storeflow.quality.results import FieldResult, accept, reject

E164 = re.compile(r"\+[1-9]\d{6,14}")
E164_PATTERN = E164.pattern
_SEPARATORS = re.compile(r"[ \-.]+")
_LETTERS = re.compile(r"[^\W\d_]")
#: Countries whose numbers really keep a leading zero after the country code (Italy, San Marino, Vatican,
#: Côte d'Ivoire, Congo, Gabon, Togo); elsewhere a kept zero means a mangled national prefix.
LEADING_ZERO_CODES = frozenset({39, 378, 379, 225, 242, 241, 228})


def e164_shape(text: str) -> str | None:
    """``text`` without spaces/dashes/dots when that is E.164-shaped, else None (the fast path)."""
    if E164.fullmatch(text):
        return text
    if text.startswith("+"):
        compact = _SEPARATORS.sub("", text)
        if E164.fullmatch(compact):
            return compact
    return None
MAX_LENGTH = 40


@lru_cache(maxsize=200_000)
def _parse(text: str, region: str) -> FieldResult:
    if _LETTERS.search(text):
        return reject("phone_unparseable", f"phone {text!r} contains letters")
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return reject("phone_unparseable", f"phone {text!r} cannot be parsed (region {region}): {exc}")
    possible = phonenumbers.is_possible_number_with_reason(num) == phonenumbers.ValidationResult.IS_POSSIBLE
    if not possible or (num.italian_leading_zero and num.country_code not in LEADING_ZERO_CODES):
        return reject("phone_impossible", f"phone {text!r} is not a possible number for its country (region {region})")
    return accept(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))


def clean_phone(value: object, region: str | None = None, default_region: str = "GB") -> FieldResult:
    """Normalise to E.164 using ``region`` (record country) or ``default_region``; empty -> ``None``."""
    if value is None:
        return accept(None)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return reject("phone_unparseable", f"phone must be text, got {type(value).__name__}")
    text = value.strip()
    if not text:
        return accept(None, value)
    if len(text) > MAX_LENGTH:
        return reject("phone_too_long", f"phone is {len(text)} characters long (max {MAX_LENGTH})")
    fast = e164_shape(text)
    if fast is not None:
        return accept(fast, value)
    res = _parse(text, (region or default_region or "GB").upper())
    return accept(res.value, value) if res.ok else res
