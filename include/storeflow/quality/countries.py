"""Country names and codes to ISO 3166-1 alpha-2.

Accepts the alpha-2 code in any case, a small table of English and local names, and common aliases
("UK", "England", "Deutschland", "USA", "Holland" ...). Anything else is rejected with a reason rather
than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from storeflow.quality.codes import ISO_COUNTRIES
from storeflow.quality.results import FieldResult, accept, reject

_NAMES: dict[str, str] = {
    # British Isles
    "united kingdom": "GB", "uk": "GB", "u k": "GB", "great britain": "GB", "britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "cymru": "GB", "northern ireland": "GB",
    "united kingdom of great britain and northern ireland": "GB", "gbr": "GB",
    "ireland": "IE", "eire": "IE", "éire": "IE", "republic of ireland": "IE", "irl": "IE",
    # North America
    "united states": "US", "united states of america": "US", "usa": "US", "us": "US", "u s a": "US",
    "u s": "US", "america": "US", "canada": "CA", "can": "CA", "mexico": "MX", "méxico": "MX",
    # Europe
    "germany": "DE", "deutschland": "DE", "deu": "DE", "allemagne": "DE", "alemania": "DE",
    "france": "FR", "fra": "FR", "frankreich": "FR", "francia": "FR",
    "netherlands": "NL", "the netherlands": "NL", "nederland": "NL", "holland": "NL", "nld": "NL",
    "sweden": "SE", "sverige": "SE", "swe": "SE", "portugal": "PT", "prt": "PT",
    "spain": "ES", "españa": "ES", "espana": "ES", "esp": "ES", "italy": "IT", "italia": "IT", "ita": "IT",
    "belgium": "BE", "belgië": "BE", "belgie": "BE", "belgique": "BE", "luxembourg": "LU",
    "austria": "AT", "österreich": "AT", "osterreich": "AT", "switzerland": "CH", "schweiz": "CH",
    "suisse": "CH", "svizzera": "CH", "denmark": "DK", "danmark": "DK", "norway": "NO", "norge": "NO",
    "finland": "FI", "suomi": "FI", "iceland": "IS", "poland": "PL", "polska": "PL",
    "czech republic": "CZ", "czechia": "CZ", "slovakia": "SK", "hungary": "HU", "greece": "GR",
    "romania": "RO", "bulgaria": "BG", "croatia": "HR", "slovenia": "SI", "estonia": "EE", "latvia": "LV",
    "lithuania": "LT", "malta": "MT", "cyprus": "CY", "ukraine": "UA", "turkey": "TR", "türkiye": "TR",
    "russia": "RU", "serbia": "RS",
    # Rest of the world (common in shop data)
    "australia": "AU", "new zealand": "NZ", "japan": "JP", "china": "CN", "india": "IN",
    "brazil": "BR", "brasil": "BR", "argentina": "AR", "south africa": "ZA", "singapore": "SG",
    "hong kong": "HK", "south korea": "KR", "korea": "KR", "israel": "IL",
    "united arab emirates": "AE", "uae": "AE",
}
_PUNCT = re.compile(r"[.\-_,()']+")
_WS = re.compile(r"\s+")


def _key(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    return _WS.sub(" ", _PUNCT.sub(" ", text)).strip()


@lru_cache(maxsize=4096)
def _lookup(text: str) -> FieldResult:
    stripped = text.strip()
    if len(stripped) == 2 and stripped.upper() in ISO_COUNTRIES:
        return accept(stripped.upper())
    code = _NAMES.get(_key(stripped))
    if code:
        return accept(code)
    return reject("country_unknown", f"country {stripped[:80]!r} is not an ISO 3166 code or a known name")


def clean_country(value: object) -> FieldResult:
    """Map a country code, name or alias to ISO 3166-1 alpha-2; empty input -> ``None``."""
    if value is None:
        return accept(None)
    if not isinstance(value, str):
        return reject("country_unknown", f"country must be text, got {type(value).__name__}")
    if not value.strip():
        return accept(None, value)
    if len(value) > 100:
        return reject("country_unknown", f"country is {len(value)} characters long")
    res = _lookup(value)
    return accept(res.value, value) if res.ok else res
