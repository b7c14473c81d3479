"""The contract between connectors and the extract/load runner.

A stream knows how to *fetch* raw pages from its system for a time window and how to *load* one raw
page into the warehouse. The runner (:mod:`storeflow.sync.extract`) does the rest, the same way for
every stream: cursor and window, landing each raw page before parsing it, committing the load and
advancing the cursor only after the whole window succeeded, run statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection


@dataclass(frozen=True)
class Window:
    """The slice of changes one run reads.

    ``start`` is the stored cursor minus the stream's overlap (``None`` on a first, full load);
    ``end`` is frozen when the run starts, so rows changing while we page cannot extend the window.
    Fetchers treat ``start`` as exclusive and ``end`` as inclusive and may over-fetch: loads upsert by
    key and version, so re-reading the overlap is harmless.
    """

    start: datetime | None
    end: datetime


@dataclass
class LoadContext:
    """What a loader needs besides the raw page."""

    run_id: str
    stream: str
    source_system: str
    loaded_at: datetime
    counters: dict[str, int] = field(default_factory=dict)
    staged: list[dict[str, Any]] = field(default_factory=list)
    memo: dict[str, Any] = field(default_factory=dict)  # what one page tells a later page of the same run

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a named counter reported in ``sync_runs.details``."""
        self.counters[name] = self.counters.get(name, 0) + n

    def stage(self, records: list[dict[str, Any]]) -> None:
        """Keep the run's loaded records (in the DQ suite's shape) for the end-of-run GX validation."""
        self.staged.extend(records)


@dataclass(frozen=True)
class LoadResult:
    """Rows a loader wrote (``changed``) and rows it quarantined."""

    read: int
    changed: int
    quarantined: int = 0


FetchFn = Callable[[Any, Window], Iterable[list[dict[str, Any]]]]
LoadFn = Callable[[Connection, list[dict[str, Any]], LoadContext], LoadResult]


@dataclass(frozen=True)
class StreamSpec:
    """One extractable stream of one system."""

    name: str  # e.g. "pos_orders"
    source_system: str  # "pos" | "store"
    fetch: FetchFn  # (client, window) -> raw pages, each a list of JSON objects as the API returned them
    load: LoadFn  # (conn, raw page, ctx) -> LoadResult; upserts, quarantines bad records
    overlap: timedelta = timedelta(minutes=5)
    incremental: bool = True  # False: every run reads everything (e.g. locations)
    cursor_field: str | None = None  # documentation: which vendor field the window filters on
    dq_suite: str | None = None  # GX suite run over the run's staged records (storeflow.quality.suites)
    # drops records that must never be stored again (erased people) before the page is landed
    pre_land: Callable[[Connection, list[dict[str, Any]]], list[dict[str, Any]]] | None = None
