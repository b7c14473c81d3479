"""The simulators' clock: real UTC time plus an offset, or frozen at one instant (tests, demos)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any


class SimClock:
    """Aware-UTC simulated time; ``whole_seconds`` truncates every reading (the store's 1 s granularity)."""

    def __init__(self, *, whole_seconds: bool = False) -> None:
        self.frozen_at: datetime | None = None
        self.offset = timedelta(0)
        self.whole_seconds = whole_seconds
        self._lock = threading.Lock()

    def _trim(self, value: datetime) -> datetime:
        return value.replace(microsecond=0) if self.whole_seconds else value

    def now(self) -> datetime:
        """Current simulated time."""
        with self._lock:
            base = self.frozen_at if self.frozen_at is not None else datetime.now(UTC) + self.offset
        return self._trim(base)

    def freeze(self, at: datetime | None = None) -> None:
        """Stop the clock at ``at`` (default: now)."""
        target = self._trim((at or self.now()).astimezone(UTC))
        with self._lock:
            self.frozen_at = target

    def unfreeze(self) -> None:
        """Let the clock run again, continuing from the frozen instant."""
        with self._lock:
            if self.frozen_at is not None:
                self.offset = self.frozen_at - datetime.now(UTC)
            self.frozen_at = None

    def advance(self, seconds: float) -> None:
        """Move the clock forward (frozen or running)."""
        with self._lock:
            if self.frozen_at is not None:
                self.frozen_at += timedelta(seconds=seconds)
            else:
                self.offset += timedelta(seconds=seconds)

    def as_json(self) -> dict[str, Any]:
        """Persistable form (``--state`` files)."""
        return {"frozen_at": self.frozen_at.isoformat() if self.frozen_at else None,
                "offset_seconds": self.offset.total_seconds()}

    def load_json(self, data: dict[str, Any] | None) -> None:
        """Restore :meth:`as_json` output (older POS files used the key ``frozen``)."""
        if not data:
            return
        frozen = data.get("frozen_at") or data.get("frozen")
        self.frozen_at = datetime.fromisoformat(frozen) if frozen else None
        self.offset = timedelta(seconds=data.get("offset_seconds", 0.0))
