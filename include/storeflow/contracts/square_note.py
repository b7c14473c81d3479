"""Square customer-note opt-out codec, shared by the Square connector and the POS simulator.

Square has no SMS consent field, and ``preferences.email_unsubscribed`` is read-only through the
API. storeflow keeps its opt-outs as machine-readable lines ``sms_opt_out: yes|no`` and
``email_opt_out: yes|no`` in the customer's ``note`` (UpdateCustomer can write it and it bumps
``updated_at``/``version``); :func:`note_opt_outs` and :func:`set_note_opt_out` read and write those
lines without touching the rest of the note.
"""

from __future__ import annotations

import re

_OPT_LINE = re.compile(r"^\s*(email|sms)_opt_out\s*:\s*(yes|no|true|false)\s*$", re.IGNORECASE | re.MULTILINE)


def note_opt_outs(note: str | None) -> dict[str, bool]:
    """Channel → opted out (True) / opted in (False), from storeflow's lines in a customer note."""
    return {m.group(1).lower(): m.group(2).lower() in {"yes", "true"} for m in _OPT_LINE.finditer(note or "")}


def set_note_opt_out(note: str | None, channel: str, opted_out: bool) -> str:
    """``note`` with its ``<channel>_opt_out`` line set (added or replaced), other text kept."""
    line = f"{channel}_opt_out: {'yes' if opted_out else 'no'}"
    pattern = re.compile(rf"^\s*{re.escape(channel)}_opt_out\s*:.*$", re.IGNORECASE | re.MULTILINE)
    if not note:
        return line
    if pattern.search(note):
        return pattern.sub(line, note, count=1)
    return note.rstrip("\n") + "\n" + line
