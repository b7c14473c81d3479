"""Person-name cleaning: whitespace, control characters, and casing only for ALL-CAPS or all-lower input.

Mixed-case input is kept as typed (``McDonald``, ``DiCaprio``, ``de Vries`` are the owner's choice).
ALL-CAPS or all-lower input is re-cased word by word: first letter up, rest down, also after hyphens
and apostrophes (``O'Brien``, ``Smith-Jones``), ``Mc`` prefixes (``McDonald``), and name particles
(``van``, ``de``, ``von`` ...) lowercased when the name has more than one word (``van der Berg``).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from storeflow.quality.results import FieldResult, accept, reject

MAX_LENGTH = 255
PARTICLES = frozenset(
    "van von der den de del della di da das dos du la le ten ter zu bin ibn al el y".split()
)
_WS = re.compile(r"\s+")
_SPLIT = re.compile(r"([\-'\u2019 ])")


def _strip_controls(text: str) -> str:
    return "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))


def _cap(word: str) -> str:
    if not word:
        return word
    if word.startswith("mc") and len(word) > 2:
        return "Mc" + word[2].upper() + word[3:]
    return word[0].upper() + word[1:]


def _recase(lower: str) -> str:
    words = lower.split(" ")
    out = []
    for i, word in enumerate(words):
        if len(words) > 1 and word in PARTICLES and i < len(words) - 1:
            out.append(word)
            continue
        out.append("".join(_cap(part) if j % 2 == 0 else part for j, part in enumerate(_SPLIT.split(word))))
    return " ".join(out)


@lru_cache(maxsize=200_000)
def _clean_text(text: str) -> FieldResult:
    text = unicodedata.normalize("NFC", text)
    if not text.isprintable():
        text = _strip_controls(text)
    text = _WS.sub(" ", text).strip()
    if not text:
        return accept(None)
    if len(text) > MAX_LENGTH:
        return reject("name_too_long", f"name is {len(text)} characters long (max {MAX_LENGTH})")
    if text.isupper() or text.islower():
        lower = text.lower()
        recased = _recase(lower)
        if recased.lower() == lower:  # guard for letters whose case mapping is not reversible (e.g. ß)
            # lower-casing can decompose (İ → i + U+0307); compose again, so cleaning twice changes nothing
            text = unicodedata.normalize("NFC", recased)
    return accept(text)


def clean_name(value: object) -> FieldResult:
    """Collapse whitespace, drop control characters, fix casing of ALL-CAPS/all-lower names."""
    if value is None:
        return accept(None)
    if not isinstance(value, str):
        return reject("name_invalid", f"name must be text, got {type(value).__name__}")
    res = _clean_text(value)
    return accept(res.value, value) if res.ok else res
