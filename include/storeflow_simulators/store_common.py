"""Shared pieces of the WooCommerce-contract store simulator: errors, money, dates, clock.

Money is held as integer minor units and rendered as strings with two decimals (``"21.99"``; unset is
``""``). Timestamps are held as aware UTC datetimes truncated to the second (MySQL ``DATETIME``) and
rendered twice, like WordPress: ``date_x`` in the site's timezone and ``date_x_gmt`` in UTC, both naive
``YYYY-MM-DDTHH:MM:SS``. The local value is computed from the *current* site timezone (WordPress stores the
local string it had when the row was written; the simulator recomputes it - a documented simplification).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo


class WooError(Exception):
    """An error answered in the WordPress REST shape ``{"code", "message", "data": {"status", ...}}``."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        """The JSON body WordPress would send."""
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def invalid_params(reasons: dict[str, tuple[str, str]]) -> WooError:
    """400 ``rest_invalid_param`` for ``{param: (inner_code, reason)}`` exactly as WP core renders it."""
    return WooError(
        400,
        "rest_invalid_param",
        "Invalid parameter(s): " + ", ".join(reasons),
        params={name: reason for name, (_code, reason) in reasons.items()},
        details={name: {"code": code, "message": reason, "data": None} for name, (code, reason) in reasons.items()},
    )


def _is_integer(value: Any) -> bool:
    """WordPress ``rest_is_integer()``: an int, or a numeric string/float with an integral value."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    try:
        number = float(value) if isinstance(value, float | str) else None
    except ValueError:
        return False
    return number is not None and number == number and number == round(number)


def check_types(payload: dict[str, Any], types: dict[str, str]) -> None:
    """WP core's schema type check of request fields (``null`` is skipped, like PHP's ``isset``).

    ``types`` maps a field to ``"string"`` or ``"integer"``; every failure is collected into one 400
    ``rest_invalid_param`` ("regular_price is not of type string.").
    """
    errors: dict[str, tuple[str, str]] = {}
    for name, kind in types.items():
        value = payload.get(name)
        if value is None:
            continue
        ok = isinstance(value, str) if kind == "string" else _is_integer(value)
        if not ok:
            errors[name] = ("rest_invalid_type", f"{name} is not of type {kind}.")
    if errors:
        raise invalid_params(errors)


def wp_list(values: list[str]) -> str:
    """WordPress ``%l`` list formatting: ``a, b, and c``."""
    if len(values) <= 2:
        return " and ".join(values)
    return ", ".join(values[:-1]) + ", and " + values[-1]


# --- money ---------------------------------------------------------------------------------------
def fmt_money(minor: int | None) -> str:
    """Minor units to the store's string form (2 decimals); ``None`` -> ``""``."""
    if minor is None:
        return ""
    return f"{Decimal(minor).scaleb(-2):.2f}"


def parse_money(value: Any, field: str) -> int | None:
    """A request money value (string or number) to minor units; ``""``/``None`` -> ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid_params({field: ("rest_invalid_type", f"{field} is not of type string.")})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise invalid_params({field: ("rest_invalid_type", f"{field} is not of type string.")}) from None
    return int((amount * 100).to_integral_value())


# --- dates ---------------------------------------------------------------------------------------
_WP_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$"
)


def fmt_gmt(dt: datetime | None) -> str | None:
    """Aware datetime -> naive UTC ``YYYY-MM-DDTHH:MM:SS``."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def fmt_local(dt: datetime | None, tz: ZoneInfo) -> str | None:
    """Aware datetime -> naive site-local ``YYYY-MM-DDTHH:MM:SS``."""
    if dt is None:
        return None
    return dt.astimezone(tz).replace(tzinfo=None).isoformat(timespec="seconds")


def parse_wp_date(value: str, tz: ZoneInfo) -> datetime | None:
    """How ``WP_Date_Query::build_mysql_datetime`` reads a filter value: the naive *wall-clock* result.

    ``date_create(value, site_tz)`` then ``setTimezone(site_tz)``: a naive string is kept literally; a ``Z``
    or ``±hh:mm`` value is converted to site-local time. Returns ``None`` when the value is not a valid
    RFC 3339 date-time (the caller answers 400 "Invalid date.").
    """
    m = _WP_DATE.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    try:
        naive = datetime(y, mo, d, h, mi, s)
    except ValueError:
        return None
    if m.group(8):
        offset = timedelta(0)
    elif m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11) or 0))
        if m.group(9) == "-":
            offset = -offset
    else:
        return naive
    aware = (naive - offset).replace(tzinfo=UTC)
    return aware.astimezone(tz).replace(tzinfo=None)


def parse_gmt(value: str | None) -> datetime | None:
    """A naive UTC string (our own rendering, or a request field) -> aware UTC."""
    if not value:
        return None
    text = value.strip().replace("Z", "").replace(" ", "T")
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def wall_time() -> int:
    """Real Unix time (OAuth timestamps are checked against it, not against the simulated clock)."""
    return int(time.time())
