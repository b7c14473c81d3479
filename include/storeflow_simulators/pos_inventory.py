"""Inventory API of the POS simulator (counts, change history, BatchChangeInventory).

Counts are derived from the change history: for each (variation, location) the changes are replayed
in ``occurred_at`` order, a PHYSICAL_COUNT setting the absolute IN_STOCK quantity and an ADJUSTMENT
moving a delta between states (``NONE`` and ``SOLD`` are not tracked as counts). ``occurred_at`` must
not lie in the future nor be older than ``config.inventory_max_age_hours`` (24 h by default). A call
is atomic: one invalid change rejects the whole call. ``config.inventory_changes_cap`` (default 100)
bounds the changes per call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from storeflow_simulators.pos_common import (
    bad_request,
    body_hash,
    decode_cursor,
    fmt_qty,
    keyset_page,
    listify,
    new_id,
    parse_qty,
    parse_ts,
    parse_ts_field,
    sort_key_ts,
)
from storeflow_simulators.pos_state import PosState, change_body, public_change

# states the Inventory API may move quantities from/to (others are read-only for the API)
WRITABLE_STATES = {"NONE", "IN_STOCK", "SOLD", "WASTE", "UNLINKED_RETURN"}
ALL_STATES = WRITABLE_STATES | {
    "CUSTOM", "RETURNED_BY_CUSTOMER", "RESERVED_FOR_SALE", "SOLD_ONLINE", "ORDERED_FROM_VENDOR",
    "RECEIVED_FROM_VENDOR", "IN_TRANSIT_TO", "IN_TRANSIT", "COMPOSED", "DECOMPOSED",
    "SUPPORTED_BY_NEWER_VERSION",
}
API_SOURCE = {"product": "EXTERNAL_API", "name": "storeflow"}


def _limit(value: Any, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise bad_request("INVALID_VALUE", "limit must be an integer.", "limit")
    if value < 1:
        raise bad_request("VALUE_TOO_LOW", f"limit must be at least 1, got {value}.", "limit")
    if value > maximum:
        raise bad_request("VALUE_TOO_HIGH", f"limit must be at most {maximum}, got {value}.", "limit")
    return value


def retrieve_counts(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/inventory/counts/batch-retrieve (and the deprecated batch-retrieve-counts path)."""
    request_hash = body_hash(body)
    cursor_data = decode_cursor(body["cursor"], request_hash) if body.get("cursor") else None
    ids = set(listify(body.get("catalog_object_ids"))) or None
    locs = set(listify(body.get("location_ids"))) or None
    states = {s.upper() for s in listify(body.get("states"))} or None
    after = parse_ts_field(body["updated_after"], "updated_after") if body.get("updated_after") else None
    limit = _limit(body.get("limit"), 1000, 1000)
    with state.lock:
        items = []
        for count in state.counts.values():
            if ids is not None and count["catalog_object_id"] not in ids:
                continue
            if locs is not None and count["location_id"] not in locs:
                continue
            if states is not None and count["state"] not in states:
                continue
            if after is not None and not parse_ts(count["calculated_at"]) > after:
                continue
            key = (sort_key_ts(count["calculated_at"]), count["catalog_object_id"], count["location_id"],
                   count["state"])
            items.append((key, dict(count)))
        page, cursor = keyset_page(items, limit, cursor_data, request_hash, descending=True)
    out: dict[str, Any] = {"counts": page, "errors": []}
    if cursor:
        out["cursor"] = cursor
    return out


def retrieve_variation_counts(state: PosState, variation_id: str, location_ids: str | None) -> dict[str, Any]:
    """GET /v2/inventory/{catalog_object_id}."""
    body: dict[str, Any] = {"catalog_object_ids": [variation_id]}
    if location_ids:
        body["location_ids"] = [x for x in location_ids.split(",") if x]
    return retrieve_counts(state, body)


def _validate(state: PosState, change: Any, i: int, now_dt: datetime, max_age: timedelta | None) -> dict[str, Any]:
    field = f"changes[{i}]"
    if not isinstance(change, dict):
        raise bad_request("INVALID_VALUE", "Each change must be an object.", field)
    kind = change.get("type")
    if kind == "PHYSICAL_COUNT":
        body = change.get("physical_count")
        field += ".physical_count"
    elif kind == "ADJUSTMENT":
        body = change.get("adjustment")
        field += ".adjustment"
    elif kind == "TRANSFER":
        raise bad_request("BAD_REQUEST", "TRANSFER changes are not supported by the simulator.", f"{field}.type")
    else:
        raise bad_request("INVALID_ENUM_VALUE", f"Invalid inventory change type {kind!r}.", f"{field}.type")
    if not isinstance(body, dict):
        raise bad_request("MISSING_REQUIRED_PARAMETER", f"Missing {field}.", field)
    var_id = body.get("catalog_object_id")
    var = state.catalog.get(var_id) if isinstance(var_id, str) else None
    if var is None or var["type"] != "ITEM_VARIATION" or var.get("is_deleted"):
        raise bad_request("INVALID_VALUE", f"Catalog object {var_id!r} is not an item variation.",
                          f"{field}.catalog_object_id")
    loc_id = body.get("location_id")
    if not any(loc["id"] == loc_id for loc in state.locations):
        raise bad_request("INVALID_VALUE", f"Unknown location {loc_id!r}.", f"{field}.location_id")
    qty = parse_qty(body.get("quantity"), f"{field}.quantity")
    if qty < 0 or (kind == "ADJUSTMENT" and qty == 0):
        raise bad_request("INVALID_VALUE", "quantity must be positive.", f"{field}.quantity")
    if not body.get("occurred_at"):
        raise bad_request("MISSING_REQUIRED_PARAMETER", "occurred_at is required.", f"{field}.occurred_at")
    occurred = parse_ts_field(body["occurred_at"], f"{field}.occurred_at")
    if occurred > now_dt:
        raise bad_request("INVALID_VALUE", "occurred_at cannot be in the future.", f"{field}.occurred_at")
    if max_age is not None and now_dt - occurred > max_age:
        raise bad_request("INVALID_VALUE", "occurred_at cannot be older than 24 hours.", f"{field}.occurred_at")
    ref = body.get("reference_id")
    if ref is not None and (not isinstance(ref, str) or len(ref) > 255):
        raise bad_request("VALUE_TOO_LONG", "reference_id is at most 255 characters.", f"{field}.reference_id")
    if kind == "PHYSICAL_COUNT":
        st = str(body.get("state", "")).upper()
        if st not in {"IN_STOCK", "WASTE"}:
            raise bad_request("INVALID_VALUE", f"Physical counts cannot be recorded in state {st!r}.",
                              f"{field}.state")
    else:
        for side in ("from_state", "to_state"):
            st = str(body.get(side, "")).upper()
            if st not in ALL_STATES:
                raise bad_request("INVALID_ENUM_VALUE", f"Invalid inventory state {st!r}.", f"{field}.{side}")
            if st not in WRITABLE_STATES:
                raise bad_request("INVALID_VALUE", f"The Inventory API cannot move quantities to or from {st}.",
                                  f"{field}.{side}")
        if body["from_state"].upper() == body["to_state"].upper():
            raise bad_request("INVALID_VALUE", "from_state and to_state must differ.", field)
    return {"type": kind, "body": body, "qty": qty}


def apply_changes(
    state: PosState,
    changes: list[dict[str, Any]],
    *,
    ignore_unchanged_counts: bool = True,
    source: dict[str, Any] | None = None,
    check_age: bool = True,
) -> dict[str, Any]:
    """Validate (all or nothing) and record ``changes``; return the BatchChangeInventory response body."""
    with state.lock:
        now_dt = state.now()
        hours = state.config.inventory_max_age_hours
        max_age = timedelta(hours=hours) if (hours is not None and check_age) else None
        valid = [_validate(state, c, i, now_dt, max_age) for i, c in enumerate(changes)]
        stamp = state.stamp()
        recorded: list[dict[str, Any]] = []
        touched: list[tuple[str, str]] = []
        pending: dict[str, Decimal] = {}
        for item in valid:
            body = item["body"]
            var_id, loc_id = body["catalog_object_id"], body["location_id"]
            if item["type"] == "PHYSICAL_COUNT":
                key = state.count_key(var_id, loc_id, body["state"].upper())
                current = pending.get(key, state.quantity(var_id, loc_id, body["state"].upper()))
                if ignore_unchanged_counts and current == item["qty"]:
                    continue
                pending[key] = item["qty"]
                rec_body = {
                    "id": new_id(), "reference_id": body.get("reference_id"),
                    "catalog_object_id": var_id, "catalog_object_type": "ITEM_VARIATION",
                    "state": body["state"].upper(), "location_id": loc_id, "quantity": fmt_qty(item["qty"]),
                    "occurred_at": body["occurred_at"], "created_at": stamp, "source": source or API_SOURCE,
                }
                change = {"type": "PHYSICAL_COUNT", "physical_count": rec_body}
            else:
                rec_body = {
                    "id": new_id(), "reference_id": body.get("reference_id"),
                    "from_state": body["from_state"].upper(), "to_state": body["to_state"].upper(),
                    "catalog_object_id": var_id, "catalog_object_type": "ITEM_VARIATION",
                    "location_id": loc_id, "quantity": fmt_qty(item["qty"]),
                    "occurred_at": body["occurred_at"], "created_at": stamp, "source": source or API_SOURCE,
                }
                price = state.variation_price(var_id, loc_id)
                if price is not None:
                    rec_body["total_price_money"] = {
                        "amount": int((item["qty"] * price).to_integral_value()), "currency": state.currency,
                    }
                change = {"type": "ADJUSTMENT", "adjustment": rec_body}
                for side in ("from_state", "to_state"):
                    key = state.count_key(var_id, loc_id, rec_body[side])
                    pending.pop(key, None)
            if rec_body["reference_id"] is None:
                del rec_body["reference_id"]
            state.add_change(change)
            recorded.append(public_change(change))
            if (var_id, loc_id) not in touched:
                touched.append((var_id, loc_id))
        counts: list[dict[str, Any]] = []
        for var_id, loc_id in touched:
            counts += [dict(c) for c in state.recompute_counts(var_id, loc_id, stamp)]
        return {"counts": counts, "changes": recorded, "errors": []}


def batch_change(state: PosState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/inventory/changes/batch-create (idempotency handled by the caller)."""
    changes = listify(body.get("changes"))
    cap = state.config.inventory_changes_cap
    if cap and len(changes) > cap:
        raise bad_request("ARRAY_LENGTH_TOO_LONG", f"changes may contain at most {cap} elements.", "changes")
    ignore = body.get("ignore_unchanged_counts", True)
    return 200, apply_changes(state, changes, ignore_unchanged_counts=ignore is not False)


def retrieve_changes(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/inventory/changes/batch-retrieve (history), sorted by ``occurred_at``, oldest first."""
    request_hash = body_hash(body)
    cursor_data = decode_cursor(body["cursor"], request_hash) if body.get("cursor") else None
    ids = set(listify(body.get("catalog_object_ids"))) or None
    locs = set(listify(body.get("location_ids"))) or None
    types = {t.upper() for t in listify(body.get("types"))} or None
    states = {s.upper() for s in listify(body.get("states"))} or None
    after = parse_ts_field(body["updated_after"], "updated_after") if body.get("updated_after") else None
    before = parse_ts_field(body["updated_before"], "updated_before") if body.get("updated_before") else None
    limit = _limit(body.get("limit"), 100, 1000)
    with state.lock:
        items = []
        for change in state.changes:
            b = change_body(change)
            if ids is not None and b["catalog_object_id"] not in ids:
                continue
            if locs is not None and b["location_id"] not in locs:
                continue
            if types is not None and change["type"] not in types:
                continue
            if states is not None and not ({b.get("state"), b.get("from_state"), b.get("to_state")} & states):
                continue
            created = parse_ts(b["created_at"])
            if after is not None and not created > after:
                continue
            if before is not None and created > before:
                continue
            # Square returns history oldest first by occurred_at (ties: the order they were recorded in)
            items.append(((sort_key_ts(b["occurred_at"]), change["_seq"]), public_change(change)))
        page, cursor = keyset_page(items, limit, cursor_data, request_hash)
    out: dict[str, Any] = {"changes": page, "errors": []}
    if cursor:
        out["cursor"] = cursor
    return out


def sim_set_stock(state: PosState, variation_id: str, location_id: str, quantity: str,
                  reference_id: str | None = None) -> dict[str, Any]:
    """Record a physical count at the simulator's now (as a stock-take in the POS would)."""
    stamp_ts = state.stamp()
    change: dict[str, Any] = {"type": "PHYSICAL_COUNT", "physical_count": {
        "catalog_object_id": variation_id, "state": "IN_STOCK", "location_id": location_id,
        "quantity": quantity, "occurred_at": stamp_ts,
    }}
    if reference_id:
        change["physical_count"]["reference_id"] = reference_id
    return apply_changes(state, [change], ignore_unchanged_counts=False,
                         source={"product": "SQUARE_POS", "name": "Square Point of Sale"})
