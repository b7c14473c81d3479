"""Chunks: the one place that splits a long list into bounded pieces.

SQLite allows 32,766 bound parameters per statement and PostgreSQL 65,535; a few hundred keys per
query keeps every plan cheap on both. Every ``column IN (keys)`` over a list whose length the data
decides goes through :func:`chunked`, and so do write batches (bulk upsert) and API batches (the
connectors' batch sizes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

#: keys per ``IN`` list
IN_CHUNK = 500


def chunked(items: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size`` (the last may be shorter; nothing for an empty input)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    seq: Sequence[T] = items if isinstance(items, Sequence) else list(items)
    for start in range(0, len(seq), size):
        yield list(seq[start:start + size])

