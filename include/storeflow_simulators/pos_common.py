"""Shared pieces of the Square-contract POS simulator: clock, timestamps, ids, errors, cursors, money.

Timestamps are rendered RFC 3339 UTC with a *varying* number of fractional digits (0, 3, 5, 6 or 9, in
a deterministic rotation) like the real API; the stored instant is truncated to the rendered precision,
so what a client reads is exactly what the server compares with. Nine-digit values carry three extra
nanosecond digits that Python cannot represent (clients truncate them; so does the server).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from storeflow_simulators.clock import SimClock

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRECISIONS = (3, 0, 6, 9, 3, 5, 6, 1)
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

UNAUTHORIZED_DETAIL = (
    "The `Authorization` http header of your request was incorrect or expired. The header value is expected "
    'to be of the format "Bearer TOKEN" (without quotation marks), where TOKEN is a valid access token (e.g. '
    '"Bearer ABC123def456GHI789jkl0"). For more information, see '
    "https://developer.squareup.com/docs/build-basics/using-rest-api#__set-the-headers__ ."
)


class SquareError(Exception):
    """An error the simulator answers in Square's shape ``{"errors": [...]}``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        category: str = "INVALID_REQUEST_ERROR",
    ):
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.category = category

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"category": self.category, "code": self.code, "detail": self.detail}
        if self.field:
            err["field"] = self.field
        return {"errors": [err]}


def bad_request(code: str, detail: str, field: str | None = None) -> SquareError:
    """A 400 INVALID_REQUEST_ERROR."""
    return SquareError(400, code, detail, field=field)


def not_found(kind: str, object_id: str) -> SquareError:
    """A 404 NOT_FOUND (category INVALID_REQUEST_ERROR, as Square does)."""
    return SquareError(404, "NOT_FOUND", f"Could not find {kind} with id: {object_id}")


def found(records: dict[str, Any], kind: str, object_id: str) -> Any:
    """``records[object_id]``, or Square's 404 NOT_FOUND for a ``kind``."""
    rec = records.get(object_id)
    if rec is None:
        raise not_found(kind, object_id)
    return rec


class PosClock(SimClock):
    """The POS clock: microsecond time, and timestamps rendered with Square's varying precision."""

    def __init__(self) -> None:
        super().__init__()
        self._digits = itertools.cycle(PRECISIONS)
        self._last: datetime | None = None

    def next_digits(self) -> int:
        """Fractional digits for the next rendered timestamp (rotating)."""
        with self._lock:
            return next(self._digits)

    def stamp(self, at: datetime | None = None, digits: int | None = None) -> str:
        """Render ``at`` (default now) as RFC 3339 with the next precision in the rotation.

        Server "now" stamps never go backwards: when truncating to fewer digits would put this stamp
        before one already issued (e.g. a ``latest_time``), it is rendered with full precision instead.
        """
        if at is not None:
            return fmt_ts(at, digits if digits is not None else self.next_digits())
        dt = self.now()
        text = fmt_ts(dt, digits if digits is not None else self.next_digits())
        with self._lock:
            if self._last is not None and parse_ts(text) < self._last:
                text = fmt_ts(dt, 6)
            value = parse_ts(text)
            if self._last is None or value > self._last:
                self._last = value
        return text


def fmt_ts(dt: datetime, digits: int = 3) -> str:
    """RFC 3339 UTC with ``digits`` fractional digits (truncated, never rounded up)."""
    dt = dt.astimezone(UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if digits <= 0:
        return base + "Z"
    micro = f"{dt.microsecond:06d}"
    if digits <= 6:
        return f"{base}.{micro[:digits]}Z"
    extra = f"{(dt.microsecond * 7 + dt.second) % 1000:03d}"[: digits - 6]
    return f"{base}.{micro}{extra}Z"


_TS_CACHE: dict[str, datetime] = {}


def parse_ts(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with 0-9 fractional digits into aware UTC (extra digits truncated)."""
    hit = _TS_CACHE.get(value)
    if hit is not None:
        return hit
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, rest = text.split(".", 1)
        frac = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            i += 1
        frac, tz = rest[:i], rest[i:]
        text = head + ("." + (frac[:6].ljust(6, "0")) if frac else "") + tz
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    dt = dt.astimezone(UTC)
    if len(_TS_CACHE) < 500_000:
        _TS_CACHE[value] = dt
    return dt


def parse_ts_field(value: Any, field: str) -> datetime:
    """Parse a request timestamp or raise Square's 400 ``INVALID_TIME``."""
    if not isinstance(value, str):
        raise bad_request("INVALID_TIME", f"Invalid timestamp for {field}.", field)
    try:
        return parse_ts(value)
    except ValueError:
        raise bad_request("INVALID_TIME", f"Invalid RFC 3339 timestamp {value!r}.", field) from None


def sort_key_ts(value: str | None) -> str:
    """A lexicographically sortable key for a rendered timestamp (fixed 6 digits, UTC)."""
    if not value:
        return ""
    return parse_ts(value).strftime("%Y-%m-%dT%H:%M:%S.%f")


def new_id(n: int = 24) -> str:
    """An opaque Square-like id (uppercase base32 characters)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(n))


def money(amount: int, currency: str) -> dict[str, Any]:
    """Square Money."""
    return {"amount": int(amount), "currency": currency}


def parse_qty(value: Any, field: str) -> Decimal:
    """A decimal-string quantity (≤5 decimal places) or Square's 400."""
    if not isinstance(value, str):
        raise bad_request("INVALID_VALUE", f"Expected a decimal string for {field}.", field)
    try:
        qty = Decimal(value)
    except InvalidOperation:
        raise bad_request("INVALID_VALUE", f"Invalid quantity {value!r}.", field) from None
    if not qty.is_finite() or qty.as_tuple().exponent < -5:  # type: ignore[operator]
        raise bad_request("INVALID_VALUE", f"Invalid quantity {value!r}.", field)
    return qty


def fmt_qty(qty: Decimal) -> str:
    """Render a quantity like Square: ``"53"``, ``"1.5"``."""
    text = format(qty.normalize(), "f")
    return text if text != "-0" else "0"


def canonical(body: Any) -> str:
    """Canonical JSON used to compare request bodies (idempotency, cursor binding)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


def body_hash(body: Any, drop: tuple[str, ...] = ("cursor",)) -> str:
    """Hash of a request body without its paging fields."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in drop}
    return hashlib.sha256(canonical(body).encode()).hexdigest()[:16]


def encode_cursor(data: dict[str, Any]) -> str:
    """An opaque cursor."""
    return base64.urlsafe_b64encode(canonical(data).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, expected_hash: str) -> dict[str, Any]:
    """Decode a cursor and check it belongs to the same request, else 400 ``INVALID_CURSOR``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, TypeError):
        raise bad_request("INVALID_CURSOR", "The pagination cursor is invalid.", "cursor") from None
    if not isinstance(data, dict) or data.get("h") != expected_hash:
        raise bad_request(
            "INVALID_CURSOR", "The cursor does not belong to this request (the query changed).", "cursor"
        )
    return data


def keyset_page(
    items: list[tuple[tuple, Any]],
    limit: int,
    cursor_data: dict[str, Any] | None,
    request_hash: str,
    *,
    descending: bool = False,
    extra: dict[str, Any] | None = None,
) -> tuple[list[Any], str | None]:
    """One page of ``items`` ((sort key, value) pairs) after the cursor's last key; return (values, cursor).

    Keyset paging: rows updated while a client pages move behind the cursor and are read again rather
    than shifting later rows forward (no skips).
    """
    items = sorted(items, key=lambda kv: kv[0], reverse=descending)
    if cursor_data is not None:
        last = tuple(cursor_data["k"])
        if descending:
            items = [kv for kv in items if tuple(kv[0]) < last]
        else:
            items = [kv for kv in items if tuple(kv[0]) > last]
    page = items[:limit]
    cursor = None
    if len(items) > limit:
        data = {"h": request_hash, "k": list(page[-1][0])}
        data.update(extra or {})
        cursor = encode_cursor(data)
    return [v for _, v in page], cursor


def listify(value: Any) -> list[Any]:
    """``None`` → ``[]``; a list stays; a scalar becomes a one-element list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def id_list(body: dict[str, Any], field: str, limit: int) -> list[Any]:
    """The ids in ``body[field]``: Square's 400 when missing/empty or longer than ``limit``."""
    ids = listify(body.get(field))
    if not ids:
        raise bad_request("MISSING_REQUIRED_PARAMETER", f"Missing required parameter: {field}", field)
    if len(ids) > limit:
        raise bad_request("ARRAY_LENGTH_TOO_LONG", f"{field} may contain at most {limit} ids.", field)
    return ids
