"""Scan log files (or captured log text) for secrets and personal data.

Looks for literal forbidden values (tokens, keys, known customer emails and phone numbers) and, by
pattern, for anything shaped like an email address or an E.164 phone number. Values on the allow-list
(e.g. the shop's own sender address) are ignored. Findings never repeat the value they found: they carry
the file, line, kind and a masked excerpt, so the report itself does not leak what it flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

__all__ = ["EMAIL_RE", "PHONE_RE", "URL_CREDENTIALS_RE", "Finding", "mask", "scan", "scan_text"]

EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
PHONE_RE = re.compile(r"(?<![\w+])\+[1-9]\d{7,14}(?!\d)")
URL_CREDENTIALS_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/\s:@'\"]+):([^/\s@'\"]+)@")
#: passwords in documentation examples (e.g. ``postgresql://user:password@host/db`` in library docstrings)
PLACEHOLDER_PASSWORDS = frozenset({"password", "pass", "passwd", "secret", "***", "xxx", "xxxx", "<password>",
                                   "changeme", "pwd", "{password}", "%s"})


@dataclass(frozen=True)
class Finding:
    """One forbidden value on one line."""

    path: str
    line: int
    kind: str  # forbidden | email | phone | url_credentials
    excerpt: str  # the line with the value masked

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.excerpt}"


def mask(value: str) -> str:
    """``ab***`` (never more than two characters of the value)."""
    return value[:2] + "***" if len(value) > 4 else "***"


def _placeholder(password: str, allowed: set[str]) -> bool:
    low = password.lower()
    return low in PLACEHOLDER_PASSWORDS or low in allowed or bool(re.fullmatch(r"[<{\[$].*", password))


def _masked_line(line: str, spans: list[tuple[int, int]], width: int = 200) -> str:
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            continue
        out += [line[pos:start], mask(line[start:end])]
        pos = end
    out.append(line[pos:])
    return "".join(out).strip()[:width]


def scan_text(text: str, forbidden: Iterable[str] = (), *, allow: Iterable[str] = (), path: str = "<text>",
              patterns: bool = True) -> list[Finding]:
    """Findings in ``text``: literal ``forbidden`` values (case-insensitive) and email/phone shapes."""
    literals = sorted({f for f in forbidden if f and len(f) >= 4}, key=len, reverse=True)
    allowed = {a.lower() for a in allow}
    literal_re = re.compile("|".join(re.escape(f) for f in literals), re.I) if literals else None
    findings: list[Finding] = []
    for no, raw_line in enumerate(text.splitlines(), start=1):
        # URLs in logs are percent-encoded (``email=a%40b.com``): judge the decoded line
        line = unquote(raw_line) if "%" in raw_line else raw_line
        hits: list[tuple[str, int, int]] = []
        if literal_re is not None:
            hits += [("forbidden", *m.span()) for m in literal_re.finditer(line) if m.group(0).lower() not in allowed]
        if patterns:
            creds = [m for m in URL_CREDENTIALS_RE.finditer(line)]
            hits += [("url_credentials", *m.span(2)) for m in creds if not _placeholder(m.group(2), allowed)]
            in_url = [m.span() for m in creds]
            for kind, regex in (("email", EMAIL_RE), ("phone", PHONE_RE)):
                hits += [(kind, *m.span()) for m in regex.finditer(line) if m.group(0).lower() not in allowed
                         and not any(s <= m.start() < e for s, e in in_url)
                         and not any(s <= m.start() < e for k, s, e in hits if k == "forbidden")]
        if hits:
            excerpt = _masked_line(line, [(s, e) for _, s, e in hits])
            findings += [Finding(path, no, kind, excerpt) for kind, _, _ in hits]
    return findings


def scan(paths: Iterable[str | Path], forbidden: Iterable[str] = (), *, allow: Iterable[str] = (),
         patterns: bool = True) -> list[Finding]:
    """Findings in every file under ``paths`` (files or folders, searched recursively)."""
    forbidden = list(forbidden)
    allow = list(allow)
    findings: list[Finding] = []
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            text = file.read_text(encoding="utf-8", errors="replace")
            findings += scan_text(text, forbidden, allow=allow, path=str(file), patterns=patterns)
    return findings
