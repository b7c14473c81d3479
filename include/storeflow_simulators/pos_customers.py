"""Customers API of the POS simulator.

ListCustomers / SearchCustomers: ``limit`` 1..100 (400 ``VALUE_TOO_LOW``/``VALUE_TOO_HIGH``), sort by
``DEFAULT`` (names, then email) or ``CREATED_AT`` only, time filters with an inclusive ``start_at`` and
an exclusive ``end_at`` (tap-square's reading; Square does not document it), profiles without any of
name/company/email/phone are not returned, and both read an index that lags writes by
``config.customer_search_delay_seconds`` (eventual consistency; default 0). ``preferences`` is
read-only through the API (ignored on create/update); ``/_sim/customers/{id}/preferences`` changes it.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from storeflow.contracts.square_note import set_note_opt_out
from storeflow_simulators.pos_common import (
    SquareError,
    bad_request,
    body_hash,
    decode_cursor,
    found,
    keyset_page,
    listify,
    new_id,
    not_found,
    parse_ts,
    parse_ts_field,
    sort_key_ts,
)
from storeflow_simulators.pos_state import PosState

WRITABLE = ("given_name", "family_name", "company_name", "nickname", "email_address", "address",
            "phone_number", "reference_id", "note", "birthday", "tax_ids")
IDENTIFYING = ("given_name", "family_name", "company_name", "email_address", "phone_number")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_CHARS = re.compile(r"^[+\d\s().\-]+$")


def _visible(customer: dict[str, Any]) -> bool:
    return any(customer.get(k) for k in IDENTIFYING)


def _limit(value: Any) -> int:
    if value is None or value == "":
        return 100
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise bad_request("INVALID_VALUE", "limit must be an integer.", "limit") from None
    if limit < 1:
        raise bad_request("VALUE_TOO_LOW", f"limit must be at least 1, got {limit}.", "limit")
    if limit > 100:
        raise bad_request("VALUE_TOO_HIGH", f"limit must be at most 100, got {limit}.", "limit")
    return limit


def _sort_key(customer: dict[str, Any], field: str) -> tuple:
    if field == "CREATED_AT":
        return (sort_key_ts(customer.get("created_at")), customer["id"])
    return (
        (customer.get("given_name") or "").lower(),
        (customer.get("family_name") or "").lower(),
        (customer.get("email_address") or "").lower(),
        customer["id"],
    )


def _sort(field: Any, order: Any, where: str) -> tuple[str, bool]:
    field = str(field or "DEFAULT").upper()
    order = str(order or "ASC").upper()
    if field not in {"DEFAULT", "CREATED_AT"}:
        raise bad_request("INVALID_ENUM_VALUE", f"Customers can be sorted by DEFAULT or CREATED_AT, not {field}.",
                          f"{where}.field" if where else "sort_field")
    if order not in {"ASC", "DESC"}:
        raise bad_request("INVALID_SORT_ORDER", f"Invalid sort order {order!r}.",
                          f"{where}.order" if where else "sort_order")
    return field, order == "DESC"


def list_customers(state: PosState, params: dict[str, Any]) -> dict[str, Any]:
    """GET /v2/customers."""
    limit = _limit(params.get("limit"))
    field, desc = _sort(params.get("sort_field"), params.get("sort_order"), "")
    request_hash = body_hash({k: v for k, v in params.items() if k != "cursor"})
    cursor_data = decode_cursor(params["cursor"], request_hash) if params.get("cursor") else None
    with state.lock:
        visible = [c for c in state.searchable_customers() if _visible(c)]
        items = [(_sort_key(c, field), c) for c in visible]
        page, cursor = keyset_page(items, limit, cursor_data, request_hash, descending=desc)
    out: dict[str, Any] = {"customers": page}
    if str(params.get("count", "")).lower() == "true":
        out["count"] = len(visible)
    if cursor:
        out["cursor"] = cursor
    return out


def _digits(text: str | None) -> str:
    return re.sub(r"\D", "", text or "")


def _time_ok(value: str | None, rng: dict[str, Any], field: str) -> bool:
    if not value:
        return False
    ts = parse_ts(value)
    if rng.get("start_at") and ts < parse_ts_field(rng["start_at"], f"{field}.start_at"):
        return False
    if rng.get("end_at") and ts >= parse_ts_field(rng["end_at"], f"{field}.end_at"):
        return False
    return True


def _text_ok(value: str | None, spec: dict[str, Any], phone: bool = False) -> bool:
    norm = _digits if phone else (lambda s: (s or "").strip().lower())
    if spec.get("exact") is not None:
        return bool(value) and norm(value) == norm(spec["exact"])
    if spec.get("fuzzy") is not None:
        needle = norm(spec["fuzzy"])
        return bool(value) and bool(needle) and needle in norm(value)
    return True


def search_customers(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/customers/search."""
    query = body.get("query") or {}
    flt = query.get("filter") or {}
    sort = query.get("sort") or {}
    field, desc = _sort(sort.get("field"), sort.get("order"), "query.sort")
    limit = _limit(body.get("limit"))
    request_hash = body_hash(body)
    cursor_data = decode_cursor(body["cursor"], request_hash) if body.get("cursor") else None
    with state.lock:
        matches = []
        for c in state.searchable_customers():
            if not _visible(c):
                continue
            if flt.get("created_at") and not _time_ok(c.get("created_at"), flt["created_at"],
                                                      "query.filter.created_at"):
                continue
            if flt.get("updated_at") and not _time_ok(c.get("updated_at"), flt["updated_at"],
                                                      "query.filter.updated_at"):
                continue
            if flt.get("email_address") and not _text_ok(c.get("email_address"), flt["email_address"]):
                continue
            if flt.get("phone_number") and not _text_ok(c.get("phone_number"), flt["phone_number"], phone=True):
                continue
            if flt.get("reference_id") and not _text_ok(c.get("reference_id"), flt["reference_id"]):
                continue
            sources = listify((flt.get("creation_source") or {}).get("values"))
            if sources and c.get("creation_source") not in sources:
                continue
            matches.append(c)
        items = [(_sort_key(c, field), c) for c in matches]
        page, cursor = keyset_page(items, limit, cursor_data, request_hash, descending=desc)
    out: dict[str, Any] = {"customers": page}
    if body.get("count"):
        out["count"] = len(matches)
    if cursor:
        out["cursor"] = cursor
    return out


def _validate_fields(body: dict[str, Any]) -> None:
    email = body.get("email_address")
    if email is not None and email != "" and not _EMAIL.match(str(email)):
        raise bad_request("INVALID_EMAIL_ADDRESS", "Email address is invalid.", "email_address")
    phone = body.get("phone_number")
    if phone is not None and phone != "":
        digits = _digits(str(phone))
        if not _PHONE_CHARS.match(str(phone)) or not 7 <= len(digits) <= 15:
            raise bad_request("INVALID_PHONE_NUMBER", "Phone number is invalid.", "phone_number")
    for key in ("given_name", "family_name", "company_name", "nickname"):
        if body.get(key) is not None and len(str(body[key])) > 300:
            raise bad_request("VALUE_TOO_LONG", f"{key} is too long.", key)
    if body.get("reference_id") is not None and len(str(body["reference_id"])) > 100:
        raise bad_request("VALUE_TOO_LONG", "reference_id is too long.", "reference_id")


def create_customer(state: PosState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/customers (idempotency handled by the caller)."""
    if not any(body.get(k) for k in IDENTIFYING):
        raise bad_request("MISSING_REQUIRED_PARAMETER",
                          "At least one of given_name, family_name, company_name, email_address or "
                          "phone_number is required.", None)
    _validate_fields(body)
    with state.lock:
        stamp = state.stamp()
        customer: dict[str, Any] = {"id": new_id(26), "created_at": stamp, "updated_at": stamp}
        for key in WRITABLE:
            if body.get(key) not in (None, ""):
                customer[key] = copy.deepcopy(body[key])
        customer["preferences"] = {"email_unsubscribed": False}
        customer["creation_source"] = "THIRD_PARTY"
        customer["version"] = 0
        state.customers[customer["id"]] = customer
        state.index_customer(customer, customer["id"])
        return 200, {"customer": copy.deepcopy(customer)}


def get_customer(state: PosState, customer_id: str) -> dict[str, Any]:
    with state.lock:
        customer = found(state.customers, "customer", customer_id)
        return {"customer": copy.deepcopy(customer)}


def update_customer(state: PosState, customer_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """PUT /v2/customers/{id}: sparse update; ``null`` removes a field; stale ``version`` → CONFLICT
    (or VERSION_MISMATCH)."""
    _validate_fields(body)
    with state.lock:
        customer = found(state.customers, "customer", customer_id)
        if body.get("version") is not None and int(body["version"]) != int(customer["version"]):
            raise SquareError(state.config.version_mismatch_status, state.config.stale_version_code,
                              "The customer version does not match the latest version.", field="version")
        new = copy.deepcopy(customer)
        for key in WRITABLE:
            if key in body:
                if body[key] is None or body[key] == "":
                    new.pop(key, None)
                else:
                    new[key] = copy.deepcopy(body[key])
        _bump(state, new)
        return 200, {"customer": copy.deepcopy(new)}


def _bump(state: PosState, customer: dict[str, Any]) -> None:
    customer["updated_at"] = state.stamp()
    customer["version"] = int(customer.get("version", 0)) + 1
    state.customers[customer["id"]] = customer
    state.index_customer(customer, customer["id"])


def delete_customer(state: PosState, customer_id: str) -> dict[str, Any]:
    """DELETE /v2/customers/{id}."""
    with state.lock:
        if state.customers.pop(customer_id, None) is None:
            raise not_found("customer", customer_id)
        state.index_customer(None, customer_id)
        return {}


def sim_set_preferences(state: PosState, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Change email/SMS consent as the customer would (dashboard/unsubscribe link); bumps version."""
    with state.lock:
        customer = found(state.customers, "customer", customer_id)
        new = copy.deepcopy(customer)
        if "email_unsubscribed" in body:
            new.setdefault("preferences", {})["email_unsubscribed"] = bool(body["email_unsubscribed"])
        if "sms_opt_out" in body:
            note = set_note_opt_out(new.get("note"), "sms", bool(body["sms_opt_out"]))
            new["note"] = note
        _bump(state, new)
        return copy.deepcopy(new)
