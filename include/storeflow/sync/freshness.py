"""Freshness: alert when a stream's last successful sync is older than its limit.

The watched names are every step of the job table (:mod:`storeflow.jobs`): each extract's stream and each
push's name, as their run records write them. Default limit = 2 × the schedule of the fastest job
recording the name (hourly → 2 h, nightly → 48 h); override per name with
``STOREFLOW_FRESHNESS_LIMITS_MINUTES='{"pos_orders": 90}'``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from storeflow.alerts import Alert, Channel, raise_alert, resolve_alert
from storeflow.jobs import freshness_limits
from storeflow.settings import get_settings
from storeflow.warehouse.runs import last_success


@dataclass(frozen=True)
class FreshnessResult:
    """One stream's freshness verdict."""

    stream: str
    last_success: datetime | None
    limit: timedelta
    fresh: bool

    @property
    def age(self) -> timedelta | None:
        return None if self.last_success is None else datetime.now(UTC) - self.last_success


def limits() -> dict[str, timedelta]:
    """Stream → maximum age of its last successful sync."""
    out = freshness_limits()
    for stream, minutes in get_settings().freshness_limits_minutes.items():
        out[stream] = timedelta(minutes=minutes)
    return out


def check_freshness(engine: Engine, channels: list[Channel], now: datetime | None = None,
                    streams: dict[str, timedelta] | None = None) -> list[FreshnessResult]:
    """Check every stream; open one incident per stale stream and resolve the ones fresh again.

    A stream that never succeeded is stale only once its limit has passed since it was first expected
    (we cannot know that), so it is reported as stale but without an alert until it has run once.
    """
    now = now or datetime.now(UTC)
    results = []
    for stream, limit in (streams or limits()).items():
        with engine.connect() as conn:
            last = last_success(conn, stream)
        fresh = last is not None and now - last <= limit
        results.append(FreshnessResult(stream, last, limit, fresh))
        key = f"freshness.{stream}"
        if last is None:
            continue
        if fresh:
            resolve_alert(engine, key, channels, now=now)
        else:
            raise_alert(engine, Alert(
                key=key, kind="freshness", title=f"storeflow stream {stream} is stale",
                lines={"Stream": stream, "Last success": last.isoformat(),
                       "Age": str(now - last).split(".")[0], "Limit": str(limit)},
            ), channels, now=now)
    return results
