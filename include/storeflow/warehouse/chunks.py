"""Chunked ``IN (...)`` lookups: the one place that splits a long key list into bounded queries.

SQLite allows 32,766 bound parameters per statement and PostgreSQL 65,535; a few hundred keys per
query keeps every plan cheap on both. Every ``column IN (keys)`` over a list whose length the data
decides goes through :func:`chunked` (or :func:`select_in` when the query is a plain select).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select

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


def select_in(conn: Connection, keys: Iterable[Any], query: Callable[[list[Any]], Select[Any]],
              size: int = IN_CHUNK) -> Iterator[Row[Any]]:
    """Rows of ``query(chunk)`` for every chunk of ``keys`` (``query`` puts the chunk in its ``IN``)."""
    for chunk in chunked(keys, size):
        yield from conn.execute(query(chunk))
