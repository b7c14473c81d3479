"""Test-only admin routes of the store simulator (no auth) under ``/_sim/`` (listed in :mod:`.store`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators.store_common import WooError, parse_gmt
from storeflow_simulators.store_render import customer_json, order_json
from storeflow_simulators.store_state import ATTRIBUTION_META, StoreState


def sim_router(state: StoreState) -> APIRouter:
    """State, export, time zone, options, clock, checkouts, customer e-mail/consent, product touch/stock."""
    router = APIRouter()

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        return json.loads(raw) if raw.strip() else {}

    @router.get("/_sim/state")
    async def sim_state() -> dict[str, Any]:
        return state.summary()

    @router.get("/_sim/export")
    async def sim_export() -> dict[str, Any]:
        return state.to_json()

    @router.put("/_sim/timezone")
    async def sim_timezone(request: Request) -> dict[str, Any]:
        from zoneinfo import ZoneInfo

        tz = (await body(request))["timezone"]
        ZoneInfo(tz)  # validate
        state.options.timezone = tz
        return {"timezone": tz}

    @router.put("/_sim/options")
    async def sim_options(request: Request) -> dict[str, Any]:
        data = await body(request)
        if "stock_bumps_modified" in data:  # the old, inverse name
            data["legacy_stock_date_modified"] = not data.pop("stock_bumps_modified")
        for key, value in data.items():
            if not hasattr(state.options, key):
                return JSONResponse({"error": f"unknown option {key}"}, status_code=400)
            setattr(state.options, key, value)
        state.bump()
        return state.summary()["options"]

    @router.api_route("/_sim/clock", methods=["GET", "PUT"])
    async def sim_clock(request: Request) -> dict[str, Any]:
        if request.method == "PUT":
            data = await body(request)
            if data.get("unfreeze"):
                state.clock.unfreeze()
            if "freeze" in data and data["freeze"] is not None:
                at = None if data["freeze"] == "now" else parse_gmt(data["freeze"])
                state.clock.freeze(at)
            if data.get("advance_seconds"):
                state.clock.advance(float(data["advance_seconds"]))
        return {"now": state.now().isoformat(), "frozen": state.clock.frozen_at is not None}

    @router.post("/_sim/orders")
    async def sim_order(request: Request) -> JSONResponse:
        data = await body(request)
        customer = None
        if data.get("customer_id"):
            customer = state.customers.get(int(data["customer_id"]))
        elif data.get("email"):
            customer = state.find_customer_by_email(data["email"])
        billing = dict(customer["billing"]) if customer else {}
        if customer and not billing.get("email"):
            billing["email"] = customer["email"]
        if data.get("email") and not customer:
            billing["email"] = data["email"]
        billing.update(data.get("billing") or {})
        channel = data.get("acquisition_channel")
        payload = {
            "customer_id": customer["id"] if customer else 0, "billing": billing,
            "shipping": {k: v for k, v in billing.items() if k not in ("email",)},
            "line_items": data.get("line_items") or [], "payment_method": "stripe",
            "payment_method_title": "Credit card",
            "coupon_lines": [{"code": data["coupon"], "discount": data.get("discount", "0")}]
            if data.get("coupon") else [],
            "meta_data": [{"key": k, "value": v} for k, v in ATTRIBUTION_META.get(channel or "", {}).items()],
            "status": "pending",
        }
        try:
            with state.lock:
                rec = state.create_order(payload, created_via="checkout", user_agent=data.get("user_agent", ""))
                state.update_order(rec, {"status": data.get("status", "processing"), "set_paid": True})
                if customer:
                    customer["is_paying_customer"] = True
        except WooError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(order_json(state, rec), status_code=201)

    @router.put("/_sim/customers/{cid}/email")
    async def sim_email(cid: int, request: Request) -> JSONResponse:
        data = await body(request)
        rec = state.customers.get(cid)
        if rec is None:
            return JSONResponse({"error": "no such customer"}, status_code=404)
        try:
            rec = state.write_customer({"email": data["email"], "billing": {"email": data["email"]}}, rec)
        except WooError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        return JSONResponse(customer_json(state, rec))

    @router.put("/_sim/customers/{cid}/consent")
    async def sim_consent(cid: int, request: Request) -> JSONResponse:
        data = await body(request)
        rec = state.customers.get(cid)
        if rec is None:
            return JSONResponse({"error": "no such customer"}, status_code=404)
        at = parse_gmt(data["at"]) if data.get("at") else None
        state.set_consent(rec, data.get("channel", "email"), bool(data.get("optout", True)), at)
        return JSONResponse(customer_json(state, rec))

    @router.post("/_sim/products/touch")
    async def sim_touch(request: Request) -> dict[str, Any]:
        data = await body(request)
        with state.lock:
            if data.get("ids"):
                ids = [int(i) for i in data["ids"]]
            elif data.get("skus"):
                wanted = set(data["skus"])
                ids = [p["id"] for p in state.products.values() if p["sku"] in wanted]
            elif data.get("first"):
                ids = sorted(p["id"] for p in state.products.values() if p["type"] != "variation")[: data["first"]]
            else:
                ids = sorted(state.products) if data.get("all") else []
            touched = state.touch_products(ids, data.get("changes"))
        return {"touched": touched, "ids": ids, "at": state.now().isoformat()}

    @router.put("/_sim/products/stock")
    async def sim_stock(request: Request) -> JSONResponse:
        data = await body(request)
        with state.lock:
            rec = state.find_sku_owner(data["sku"])
            holder = state.stock_holder(rec) if rec else None
            if holder is None:
                return JSONResponse({"error": "no stock-managed product with that sku"}, status_code=404)
            state.change_stock(holder, int(data["quantity"]) - int(holder.get("stock_quantity") or 0))
            return JSONResponse({"sku": data["sku"], "stock_quantity": holder["stock_quantity"]})

    @router.get("/_sim/now")
    async def sim_now() -> dict[str, Any]:
        return {"now": datetime.now(UTC).isoformat(), "sim_now": state.now().isoformat()}

    return router
