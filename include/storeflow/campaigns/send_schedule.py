"""Send schedule: the customer's preferred hour in their own time zone, held out of quiet hours.

(:mod:`storeflow.scoring.send_time` is what learns the preferred hours.)

Rules: with a preferred hour, the next occurrence of that hour (today if not yet passed — the current
hour means "now" — else tomorrow); without one, now. If the resulting local hour lies outside the
channel's allowed window ``[start, end)`` (``settings.quiet_hours_email`` / ``quiet_hours_sms``), the
message is *held* to the next window start (same day if before the window, else the next day): quiet
hours never drop a message. Unknown or invalid time zones fall back to ``default_tz``.
Vectorised: one ``zoneinfo`` computation per (time zone, day, hour), array look-ups for customers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pandas as pd

DEFAULT_TZ = "Europe/London"


@lru_cache(maxsize=4096)
def zone(name: str | None, default_tz: str = DEFAULT_TZ) -> ZoneInfo:
    """ZoneInfo for ``name``, falling back to ``default_tz``."""
    try:
        return ZoneInfo(name) if name else ZoneInfo(default_tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return ZoneInfo(default_tz)


def _local_slot_utc(local_date: date, day: int, hour: int, tz: ZoneInfo) -> datetime:
    local = datetime.combine(local_date + timedelta(days=day), time(hour), tzinfo=tz)
    return local.astimezone(UTC)


def next_send_time(now: datetime, tz_name: str | None, preferred_hour: int | None,
                   window: tuple[int, int]) -> tuple[datetime, bool]:
    """Scalar reference implementation: (UTC send time, held by quiet hours)."""
    times, held = schedule(now, pd.Series([tz_name]), pd.Series([preferred_hour], dtype="float64"), window)
    return times[0].to_pydatetime(), bool(held[0])


def schedule(now: datetime, tz_names: pd.Series, preferred_hours: pd.Series,
             window: tuple[int, int]) -> tuple[pd.DatetimeIndex, npt.NDArray[np.bool_]]:
    """Vectorised send times (UTC) and a held-by-quiet-hours flag for each row."""
    start, end = window
    n = len(tz_names)
    out = np.empty(n, dtype="datetime64[us]")
    held = np.zeros(n, dtype=bool)
    now_utc = now.astimezone(UTC)
    now64 = np.datetime64(now_utc.replace(tzinfo=None), "us")
    tzs = tz_names.fillna("").astype(str).to_numpy()
    pref = pd.to_numeric(preferred_hours, errors="coerce").to_numpy(dtype="float64")
    for tz_name in pd.unique(tzs):
        rows = np.flatnonzero(tzs == tz_name)
        tz = zone(tz_name or None)
        local_now = now_utc.astimezone(tz)
        hour_now = local_now.hour
        p = pref[rows]
        has_pref = ~np.isnan(p) & (p >= 0) & (p <= 23)
        hour = np.where(has_pref, np.nan_to_num(p, nan=hour_now), hour_now).astype(int)
        day = np.where(has_pref & (hour < hour_now), 1, 0)
        is_now = (day == 0) & (hour == hour_now)
        before = hour < start
        after = hour >= end
        moved = before | after
        hour = np.where(moved, start, hour)
        day = np.where(after, day + 1, day)
        is_now &= ~moved
        # table of slot instants for this zone
        table = np.empty((3, 24), dtype="datetime64[us]")
        for d in range(3):
            for h in range(24):
                table[d, h] = np.datetime64(_local_slot_utc(local_now.date(), d, h, tz).replace(tzinfo=None), "us")
        slots = table[day, hour]
        out[rows] = np.where(is_now, now64, np.maximum(slots, now64))
        held[rows] = moved
    return pd.DatetimeIndex(out).tz_localize(UTC), held


def local_hour(ts: datetime, tz_name: str | None) -> int:
    """Hour of ``ts`` in the customer's zone (used by checks and tests)."""
    return ts.astimezone(zone(tz_name)).hour
