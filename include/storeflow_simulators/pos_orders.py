"""Orders and Invoices APIs of the POS simulator.

CreateOrder accepts the states OPEN (default) and DRAFT only; an order becomes COMPLETED when it is
paid in full (``POST /v2/payments`` with ``source_id`` EXTERNAL or CASH and its ``order_id``) - an
unpaid order cannot be set COMPLETED through UpdateOrder, as on Square.

SearchOrders follows the contract notes (§2.9): ≤10 locations, filters ANDed, one time range only,
``sort_field`` must match the filtered timestamp field (else 400), default sort ``CREATED_AT DESC``,
inclusive ranges, an absent ``end_at`` frozen at the first request of a cursor chain, ``limit`` default
500 (values above 1000 are clamped), ``return_entries``. Invoices wrap an OPEN order; publishing moves
DRAFT → UNPAID; ``/_sim/invoices/{id}/pay`` marks one PAID (Square would take a payment).
"""

from __future__ import annotations

import copy
from typing import Any

from storeflow_simulators.pos_common import (
    SquareError,
    bad_request,
    body_hash,
    decode_cursor,
    fmt_ts,
    found,
    id_list,
    keyset_page,
    listify,
    money,
    new_id,
    parse_qty,
    parse_ts,
    parse_ts_field,
    sort_key_ts,
)
from storeflow_simulators.pos_inventory import apply_changes
from storeflow_simulators.pos_state import POS_SOURCE_NAME, PosState, make_line_item, order_totals

ORDER_STATES = {"OPEN", "COMPLETED", "CANCELED", "DRAFT"}
TIME_FIELDS = {"created_at": "CREATED_AT", "updated_at": "UPDATED_AT", "closed_at": "CLOSED_AT"}


def _version_mismatch(state: PosState, what: str) -> SquareError:
    return SquareError(state.config.version_mismatch_status, state.config.stale_version_code,
                       f"The {what} version does not match the latest version.", field="version")


def _metadata(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 10:
        raise bad_request("INVALID_VALUE", "metadata holds at most 10 string entries.", field)
    for k, v in value.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 60 or (v is not None and not isinstance(v, str)):
            raise bad_request("INVALID_VALUE", "metadata keys are 1-60 chars and values strings.", field)
        if v is not None and len(v) > 255:
            raise bad_request("VALUE_TOO_LONG", "metadata values are at most 255 characters.", field)
    return dict(value)


def _line_items(state: PosState, raw_lines: list[Any], location_id: str) -> list[dict[str, Any]]:
    lines = []
    for i, raw in enumerate(raw_lines):
        field = f"order.line_items[{i}]"
        if not isinstance(raw, dict):
            raise bad_request("INVALID_VALUE", "line items must be objects.", field)
        qty = parse_qty(raw.get("quantity"), f"{field}.quantity")
        if qty <= 0:
            raise bad_request("INVALID_VALUE", "quantity must be positive.", f"{field}.quantity")
        var_id = raw.get("catalog_object_id")
        name = raw.get("name")
        variation_name = raw.get("variation_name")
        version = None
        price = (raw.get("base_price_money") or {}).get("amount")
        if var_id:
            var = state.catalog.get(var_id)
            if var is None or var["type"] != "ITEM_VARIATION" or var.get("is_deleted"):
                raise bad_request("INVALID_VALUE", f"Item variation {var_id} not found.", f"{field}.catalog_object_id")
            item = state.catalog.get(var["item_variation_data"]["item_id"], {})
            name = name or item.get("item_data", {}).get("name")
            variation_name = variation_name or var["item_variation_data"].get("name")
            version = var["version"]
            if price is None:
                price = state.variation_price(var_id, location_id)
        if not name:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Ad hoc line items need a name.", f"{field}.name")
        if not isinstance(price, int) or price < 0:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "Line items need base_price_money.",
                              f"{field}.base_price_money")
        lines.append(make_line_item(
            uid=raw.get("uid") or new_id(22), name=name, quantity=raw["quantity"], unit_minor=price,
            currency=state.currency, catalog_object_id=var_id, variation_name=variation_name,
            catalog_version=version, metadata=_metadata(raw.get("metadata"), f"{field}.metadata") or None,
        ))
    return lines


def create_order(state: PosState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/orders (idempotency handled by the caller)."""
    raw = body.get("order")
    if not isinstance(raw, dict):
        raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter: order", "order")
    with state.lock:
        loc = raw.get("location_id")
        if not any(x["id"] == loc for x in state.locations):
            raise bad_request("INVALID_VALUE", f"Unknown location {loc!r}.", "order.location_id")
        ref = raw.get("reference_id")
        if ref is not None and (not isinstance(ref, str) or len(ref) > 40):
            raise bad_request("VALUE_TOO_LONG", "reference_id is at most 40 characters.", "order.reference_id")
        order_state = str(raw.get("state") or "OPEN").upper()
        if order_state not in {"OPEN", "DRAFT"}:
            raise bad_request("INVALID_VALUE", "New orders are OPEN or DRAFT.", "order.state")
        lines = _line_items(state, listify(raw.get("line_items")), loc)
        stamp = state.stamp()
        order: dict[str, Any] = {
            "id": new_id(),
            "location_id": loc,
            "source": {"name": (raw.get("source") or {}).get("name") or "storeflow"},
            "line_items": lines,
            "state": order_state,
            "version": 1,
            "created_at": stamp,
            "updated_at": stamp,
            **order_totals(lines, state.currency),
        }
        order["net_amount_due_money"] = dict(order["total_money"])
        for key in ("reference_id", "customer_id", "ticket_name"):
            if raw.get(key):
                order[key] = raw[key]
        meta = _metadata(raw.get("metadata"), "order.metadata")
        if meta:
            order["metadata"] = meta
        state.orders[order["id"]] = order
        return 200, {"order": copy.deepcopy(order)}


def get_order(state: PosState, order_id: str) -> dict[str, Any]:
    with state.lock:
        order = found(state.orders, "order", order_id)
        return {"order": copy.deepcopy(order)}


def batch_retrieve_orders(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    ids = id_list(body, "order_ids", 100)
    with state.lock:
        orders = [copy.deepcopy(state.orders[i]) for i in ids if i in state.orders]
    loc = body.get("location_id")
    if loc:
        orders = [o for o in orders if o["location_id"] == loc]
    return {"orders": orders}


def update_order(state: PosState, order_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """PUT /v2/orders/{id}: sparse update with ``version`` (idempotency handled by the caller)."""
    raw = body.get("order") or {}
    with state.lock:
        order = found(state.orders, "order", order_id)
        if raw.get("version") is None or int(raw["version"]) != int(order["version"]):
            raise _version_mismatch(state, "order")
        if order["state"] in {"COMPLETED", "CANCELED"}:
            raise bad_request("BAD_REQUEST", f"An order in state {order['state']} cannot be updated.", "order.state")
        new = copy.deepcopy(order)
        for path in listify(body.get("fields_to_clear")):
            if path.startswith("metadata."):
                new.get("metadata", {}).pop(path.split(".", 1)[1], None)
            elif path in {"reference_id", "customer_id", "metadata", "ticket_name"}:
                new.pop(path, None)
        if "metadata" in raw:
            meta = {**new.get("metadata", {}), **_metadata(raw["metadata"], "order.metadata")}
            new["metadata"] = {k: v for k, v in meta.items() if v is not None}
        for key in ("reference_id", "customer_id", "ticket_name"):
            if key in raw:
                new[key] = raw[key]
        if raw.get("line_items") is not None:
            new["line_items"] = _line_items(state, listify(raw["line_items"]), new["location_id"])
            new.update(order_totals(new["line_items"], state.currency))
        stamp = state.stamp()
        if raw.get("state"):
            target = str(raw["state"]).upper()
            if target not in ORDER_STATES:
                raise bad_request("INVALID_ENUM_VALUE", f"Invalid order state {target!r}.", "order.state")
            due = int((new.get("net_amount_due_money") or {}).get("amount", 0))
            if target == "COMPLETED" and due > 0:
                raise bad_request("BAD_REQUEST", "An order must be fully paid before it can be COMPLETED.",
                                  "order.state")
            new["state"] = target
            if target in {"COMPLETED", "CANCELED"}:
                new["closed_at"] = stamp
        new["version"] = order["version"] + 1
        new["updated_at"] = stamp
        state.orders[order_id] = new
        return 200, {"order": copy.deepcopy(new)}


def search_orders(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/orders/search."""
    locations = listify(body.get("location_ids"))
    if not locations:
        raise bad_request("MISSING_REQUIRED_PARAMETER", "location_ids must contain at least one location.",
                          "location_ids")
    if len(locations) > 10:
        raise bad_request("ARRAY_LENGTH_TOO_LONG", "location_ids may contain at most 10 locations.", "location_ids")
    query = body.get("query") or {}
    flt = query.get("filter") or {}
    sort = query.get("sort") or {}
    sort_field = str(sort.get("sort_field") or "CREATED_AT").upper()
    sort_order = str(sort.get("sort_order") or "DESC").upper()
    if sort_field not in TIME_FIELDS.values():
        raise bad_request("INVALID_ENUM_VALUE", f"Invalid sort_field {sort_field!r}.", "query.sort.sort_field")
    if sort_order not in {"ASC", "DESC"}:
        raise bad_request("INVALID_SORT_ORDER", f"Invalid sort_order {sort_order!r}.", "query.sort.sort_order")
    dt_filter = {k: v for k, v in (flt.get("date_time_filter") or {}).items() if v}
    if len(dt_filter) > 1:
        raise bad_request("INVALID_VALUE", "Only one of created_at, updated_at or closed_at may be filtered.",
                          "query.filter.date_time_filter")
    time_field = next(iter(dt_filter), None)
    if time_field is not None:
        if time_field not in TIME_FIELDS:
            raise bad_request("INVALID_VALUE", f"Unknown time filter {time_field!r}.",
                              "query.filter.date_time_filter")
        if TIME_FIELDS[time_field] != sort_field:
            raise bad_request(
                "INVALID_VALUE",
                f"The sort_field must match the date_time_filter field: filtering on {time_field} requires "
                f"sort_field {TIME_FIELDS[time_field]}.",
                "query.sort.sort_field",
            )
    states = {s.upper() for s in listify((flt.get("state_filter") or {}).get("states"))} or None
    if sort_field == "CLOSED_AT" and (states is None or states & {"OPEN", "DRAFT"}):
        raise bad_request("INVALID_VALUE", "Sorting by CLOSED_AT needs a state_filter of closed states.",
                          "query.filter.state_filter")
    customers = set(listify((flt.get("customer_filter") or {}).get("customer_ids"))) or None
    sources = set(listify((flt.get("source_filter") or {}).get("source_names"))) or None
    limit = body.get("limit")
    if limit is None:
        limit = 500
    elif not isinstance(limit, int) or limit < 1:
        raise bad_request("VALUE_TOO_LOW", "limit must be at least 1.", "limit")
    limit = min(limit, 1000)
    request_hash = body_hash(body)
    with state.lock:
        cursor_data = decode_cursor(body["cursor"], request_hash) if body.get("cursor") else None
        start = end = None
        frozen_end = None
        if time_field is not None:
            rng = dt_filter[time_field]
            f = f"query.filter.date_time_filter.{time_field}"
            start = parse_ts_field(rng["start_at"], f + ".start_at") if rng.get("start_at") else None
            if rng.get("end_at"):
                end = parse_ts_field(rng["end_at"], f + ".end_at")
            else:
                frozen_end = cursor_data["e"] if cursor_data else fmt_ts(state.now(), 6)
                end = parse_ts(frozen_end)
        sort_attr = sort_field.lower()
        items = []
        for order in state.orders.values():
            if order["location_id"] not in locations:
                continue
            if states is not None and order["state"] not in states:
                continue
            if customers is not None and order.get("customer_id") not in customers:
                continue
            if sources is not None and (order.get("source") or {}).get("name") not in sources:
                continue
            if time_field is not None:
                value = order.get(time_field)
                if not value:
                    continue
                ts = parse_ts(value)
                if (start is not None and ts < start) or (end is not None and ts > end):
                    continue
            key_value = order.get(sort_attr)
            if not key_value:
                continue
            items.append(((sort_key_ts(key_value), order["id"]), order))
        extra = {"e": frozen_end} if frozen_end else None
        page, cursor = keyset_page(items, limit, cursor_data, request_hash,
                                   descending=sort_order == "DESC", extra=extra)
        if body.get("return_entries"):
            out: dict[str, Any] = {"order_entries": [
                {"order_id": o["id"], "version": o["version"], "location_id": o["location_id"]} for o in page
            ]}
        else:
            out = {"orders": [copy.deepcopy(o) for o in page]}
    if cursor:
        out["cursor"] = cursor
    return out


# --- payments (external / cash only) ---------------------------------------------------------------
def create_payment(state: PosState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/payments for ``source_id`` EXTERNAL or CASH; paying an order in full completes it."""
    source = body.get("source_id")
    if source not in {"EXTERNAL", "CASH"}:
        raise bad_request("BAD_REQUEST", "The simulator accepts source_id EXTERNAL or CASH only.", "source_id")
    amount = (body.get("amount_money") or {}).get("amount")
    if not isinstance(amount, int) or amount < 0:
        raise bad_request("MISSING_REQUIRED_PARAMETER", "amount_money.amount is required.", "amount_money.amount")
    if source == "EXTERNAL" and not (body.get("external_details") or {}).get("type"):
        raise bad_request("MISSING_REQUIRED_PARAMETER", "external_details.type is required for EXTERNAL payments.",
                          "external_details.type")
    with state.lock:
        order = None
        if body.get("order_id"):
            order = state.orders.get(body["order_id"])
            if order is None:
                raise bad_request("INVALID_VALUE", f"Order {body['order_id']} not found.", "order_id")
            if order["state"] != "OPEN":
                raise bad_request("BAD_REQUEST", f"Order in state {order['state']} cannot be paid.", "order_id")
            due = int((order.get("net_amount_due_money") or order["total_money"])["amount"])
            if amount > due:
                raise bad_request("BAD_REQUEST", "The payment exceeds the amount due on the order.", "amount_money")
        stamp = state.stamp()
        loc = body.get("location_id") or (order["location_id"] if order else state.locations[0]["id"])
        payment: dict[str, Any] = {
            "id": new_id(), "created_at": stamp, "updated_at": stamp,
            "amount_money": money(amount, state.currency), "total_money": money(amount, state.currency),
            "status": "COMPLETED" if body.get("autocomplete", True) else "APPROVED",
            "source_type": source, "location_id": loc, "order_id": body.get("order_id"),
            "reference_id": body.get("reference_id"), "note": body.get("note"),
            "external_details": body.get("external_details"),
        }
        payment = {k: v for k, v in payment.items() if v is not None}
        state.payments[payment["id"]] = payment
        if order is not None:
            order["net_amount_due_money"] = money(due - amount, state.currency)
            order.setdefault("tenders", []).append({
                "id": payment["id"], "location_id": loc, "created_at": stamp,
                "amount_money": money(amount, state.currency),
                "type": "OTHER" if source == "EXTERNAL" else "CASH", "payment_id": payment["id"]})
            if due - amount == 0 and payment["status"] == "COMPLETED":
                order["state"] = "COMPLETED"
                order["closed_at"] = stamp
            order["updated_at"] = stamp
            order["version"] += 1
        return 200, {"payment": copy.deepcopy(payment)}


def get_payment(state: PosState, payment_id: str) -> dict[str, Any]:
    with state.lock:
        payment = found(state.payments, "payment", payment_id)
        return {"payment": copy.deepcopy(payment)}


# --- invoices -------------------------------------------------------------------------------------
def create_invoice(state: PosState, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/invoices: a DRAFT invoice wrapping an OPEN order."""
    raw = body.get("invoice")
    if not isinstance(raw, dict):
        raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter: invoice", "invoice")
    with state.lock:
        order = state.orders.get(raw.get("order_id") or "")
        if order is None:
            raise bad_request("INVALID_VALUE", f"Order {raw.get('order_id')!r} not found.", "invoice.order_id")
        if order["state"] != "OPEN":
            raise bad_request("BAD_REQUEST", "An invoice can only wrap an OPEN order.", "invoice.order_id")
        loc = raw.get("location_id") or order["location_id"]
        if loc != order["location_id"]:
            raise bad_request("INVALID_VALUE", "The invoice location must match the order's.", "invoice.location_id")
        if any(inv["order_id"] == order["id"] for inv in state.invoices.values()):
            raise bad_request("BAD_REQUEST", "The order already has an invoice.", "invoice.order_id")
        stamp = state.stamp()
        state.invoice_seq += 1
        total = order["total_money"]
        requests_ = []
        for i, pr in enumerate(listify(raw.get("payment_requests")) or [{"request_type": "BALANCE"}]):
            requests_.append({
                "uid": new_id(22), "request_type": pr.get("request_type", "BALANCE"),
                "due_date": pr.get("due_date") or stamp[:10],
                "computed_amount_money": dict(total) if i == 0 else money(0, state.currency),
                "total_completed_amount_money": money(0, state.currency),
                "automatic_payment_source": pr.get("automatic_payment_source", "NONE"),
            })
        tz = next((x.get("timezone") for x in state.locations if x["id"] == loc), "UTC")
        invoice: dict[str, Any] = {
            "id": "inv:0-" + new_id(20),
            "version": 0,
            "location_id": loc,
            "order_id": order["id"],
            "payment_requests": requests_,
            "invoice_number": raw.get("invoice_number") or f"{state.invoice_seq:06d}",
            "title": raw.get("title"),
            "description": raw.get("description"),
            "status": "DRAFT",
            "timezone": tz,
            "created_at": stamp,
            "updated_at": stamp,
            "delivery_method": raw.get("delivery_method", "EMAIL"),
            "accepted_payment_methods": raw.get("accepted_payment_methods") or {"card": True},
            "next_payment_amount_money": dict(total),
            "sale_or_service_date": raw.get("sale_or_service_date"),
        }
        if raw.get("primary_recipient"):
            invoice["primary_recipient"] = {"customer_id": raw["primary_recipient"].get("customer_id")}
        invoice = {k: v for k, v in invoice.items() if v is not None}
        state.invoices[invoice["id"]] = invoice
        return 200, {"invoice": copy.deepcopy(invoice)}


def publish_invoice(state: PosState, invoice_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /v2/invoices/{id}/publish."""
    with state.lock:
        inv = found(state.invoices, "invoice", invoice_id)
        if body.get("version") is None or int(body["version"]) != int(inv["version"]):
            raise _version_mismatch(state, "invoice")
        if inv["status"] != "DRAFT":
            raise bad_request("BAD_REQUEST", f"Invoice in status {inv['status']} cannot be published.", "status")
        inv["status"] = "UNPAID"
        inv["version"] += 1
        inv["updated_at"] = state.stamp()
        inv["public_url"] = f"https://squareup.com/pay-invoice/{invoice_id}"
        return 200, {"invoice": copy.deepcopy(inv)}


def get_invoice(state: PosState, invoice_id: str) -> dict[str, Any]:
    with state.lock:
        inv = found(state.invoices, "invoice", invoice_id)
        return {"invoice": copy.deepcopy(inv)}


def _invoice_limit(value: Any) -> int:
    if value is None:
        return 100
    if not isinstance(value, int) or value < 1:
        raise bad_request("VALUE_TOO_LOW", "limit must be at least 1.", "limit")
    if value > 200:
        raise bad_request("VALUE_TOO_HIGH", "limit must be at most 200.", "limit")
    return value


def list_invoices(state: PosState, location_id: str | None, cursor: str | None, limit: Any) -> dict[str, Any]:
    """GET /v2/invoices?location_id=..."""
    if not location_id:
        raise bad_request("MISSING_REQUIRED_PARAMETER", "Missing required parameter: location_id", "location_id")
    return _invoice_page(state, {"location_id": location_id, "limit": limit}, [location_id], None, cursor,
                         _invoice_limit(limit), descending=False)


def search_invoices(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v2/invoices/search."""
    flt = (body.get("query") or {}).get("filter") or {}
    locs = listify(flt.get("location_ids"))
    if len(locs) != 1:
        raise bad_request("INVALID_VALUE", "query.filter.location_ids must hold exactly one location.",
                          "query.filter.location_ids")
    customers = listify(flt.get("customer_ids"))
    if len(customers) > 1:
        raise bad_request("ARRAY_LENGTH_TOO_LONG", "customer_ids holds at most one id.", "query.filter.customer_ids")
    order = str(((body.get("query") or {}).get("sort") or {}).get("order") or "DESC").upper()
    return _invoice_page(state, body, locs, customers or None, body.get("cursor"), _invoice_limit(body.get("limit")),
                         descending=order == "DESC")


def _invoice_page(state: PosState, request: dict[str, Any], locs: list[str], customers: list[str] | None,
                  cursor: str | None, limit: int, *, descending: bool) -> dict[str, Any]:
    request_hash = body_hash(request)
    cursor_data = decode_cursor(cursor, request_hash) if cursor else None
    with state.lock:
        items = []
        for inv in state.invoices.values():
            if inv["location_id"] not in locs:
                continue
            if customers and (inv.get("primary_recipient") or {}).get("customer_id") not in customers:
                continue
            items.append(((sort_key_ts(inv["created_at"]), inv["id"]), copy.deepcopy(inv)))
        page, next_cursor = keyset_page(items, limit, cursor_data, request_hash, descending=descending)
    out: dict[str, Any] = {"invoices": page}
    if next_cursor:
        out["cursor"] = next_cursor
    return out


def sim_pay_invoice(state: PosState, invoice_id: str) -> dict[str, Any]:
    """Mark an invoice PAID (and complete its order), as a customer paying it would."""
    with state.lock:
        inv = found(state.invoices, "invoice", invoice_id)
        stamp = state.stamp()
        inv["status"] = "PAID"
        inv["version"] += 1
        inv["updated_at"] = stamp
        inv["next_payment_amount_money"] = money(0, state.currency)
        order = state.orders.get(inv["order_id"])
        if order is not None and order["state"] == "OPEN":
            order["state"] = "COMPLETED"
            order["closed_at"] = stamp
            order["updated_at"] = stamp
            order["version"] += 1
            order["tenders"] = [{"id": new_id(22), "location_id": order["location_id"], "created_at": stamp,
                                 "amount_money": dict(order["total_money"]), "type": "CARD"}]
        return copy.deepcopy(inv)


# --- in-store sales (simulator admin) -------------------------------------------------------------
def sim_record_sale(state: PosState, body: dict[str, Any]) -> dict[str, Any]:
    """Record an in-store sale: a COMPLETED order plus IN_STOCK → SOLD adjustments (reference = order id).

    Body: ``{"location_id", "lines": [{"variation_id" | "sku", "quantity", "unit_price_minor"?}],
    "customer_id"?, "tender"?: "CARD"|"CASH", "created_at"?}``; a past ``created_at`` simulates an
    offline sale that reaches the server late (``updated_at`` stays "now").
    """
    from storeflow_simulators.pos_catalog import sim_find_variation

    with state.lock:
        loc = body.get("location_id") or next(
            (x["id"] for x in state.locations if x.get("status") == "ACTIVE"), None)
        raw_lines = []
        for line in listify(body.get("lines")):
            var_id = line.get("variation_id") or sim_find_variation(state, str(line.get("sku", "")))
            if not var_id:
                raise bad_request("INVALID_VALUE", f"No variation for {line!r}.", "lines")
            raw: dict[str, Any] = {"catalog_object_id": var_id, "quantity": str(line.get("quantity", 1))}
            if line.get("unit_price_minor") is not None:
                raw["base_price_money"] = money(int(line["unit_price_minor"]), state.currency)
            raw_lines.append(raw)
        if not raw_lines:
            raise bad_request("MISSING_REQUIRED_PARAMETER", "A sale needs lines.", "lines")
        order_body: dict[str, Any] = {"location_id": loc, "line_items": raw_lines,
                                      "source": {"name": POS_SOURCE_NAME}}
        if body.get("customer_id"):
            order_body["customer_id"] = body["customer_id"]
        _, created = create_order(state, {"order": order_body})
        order = state.orders[created["order"]["id"]]
        stamp = order["created_at"]
        if body.get("created_at"):  # an offline sale reaching the server late: old created_at, new updated_at
            stamp = state.stamp(parse_ts_field(body["created_at"], "created_at"))
            order["created_at"] = stamp
        order["state"] = "COMPLETED"
        order["closed_at"] = stamp
        order["version"] = 4
        order["net_amount_due_money"] = money(0, state.currency)
        order["tenders"] = [{"id": new_id(22), "location_id": loc, "created_at": stamp,
                             "amount_money": dict(order["total_money"]), "type": body.get("tender", "CARD")}]
        changes = [{"type": "ADJUSTMENT", "adjustment": {
            "catalog_object_id": li["catalog_object_id"], "location_id": loc, "from_state": "IN_STOCK",
            "to_state": "SOLD", "quantity": li["quantity"], "occurred_at": stamp, "reference_id": order["id"],
        }} for li in order["line_items"]]
        apply_changes(state, changes, check_age=False,
                      source={"product": "SQUARE_POS", "name": POS_SOURCE_NAME})
        return copy.deepcopy(order)
