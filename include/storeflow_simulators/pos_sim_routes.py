"""Test-only admin routes of the POS simulator under ``/_sim/`` (no auth; listed in :mod:`.pos`)."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators import pos_catalog, pos_customers, pos_inventory, pos_orders
from storeflow_simulators.pos_api import call, read_body
from storeflow_simulators.pos_common import bad_request, fmt_ts, not_found, parse_ts_field
from storeflow_simulators.pos_state import PosConfig, PosState


def _variation_from(state: PosState, body: dict[str, Any]) -> str:
    var_id = body.get("variation_id") or pos_catalog.sim_find_variation(state, str(body.get("sku", "")))
    if not var_id:
        raise not_found("item variation", str(body.get("sku") or body.get("variation_id")))
    return var_id



def sim_router(state: PosState) -> APIRouter:
    """State, export, inventory, config, clock, price, sales, stock, delete, preferences, invoice payment."""
    router = APIRouter()

    @router.get("/_sim/state")
    async def sim_state() -> JSONResponse:
        return JSONResponse(state.summary())

    @router.get("/_sim/export")
    async def sim_export() -> JSONResponse:
        return JSONResponse(state.to_json())

    @router.get("/_sim/inventory")
    async def sim_inventory() -> JSONResponse:
        with state.lock:
            return JSONResponse({"counts": [dict(c) for c in state.counts.values()]})

    @router.get("/_sim/config")
    async def get_config() -> JSONResponse:
        return JSONResponse(asdict(state.config))

    @router.put("/_sim/config")
    async def put_config(request: Request) -> JSONResponse:
        body = await read_body(request)
        names = {f.name for f in fields(PosConfig)}
        unknown = set(body) - names
        if unknown:
            raise bad_request("INVALID_VALUE", f"Unknown config keys {sorted(unknown)}.")
        for key, value in body.items():
            setattr(state.config, key, value)
        return JSONResponse(asdict(state.config))

    @router.post("/_sim/clock")
    async def sim_clock(request: Request) -> JSONResponse:
        body = await read_body(request)
        with state.lock:
            if body.get("freeze") is True:
                at: datetime | None = parse_ts_field(body["at"], "at") if body.get("at") else None
                state.clock.freeze(at)
            elif body.get("freeze") is False:
                state.clock.unfreeze()
            if body.get("advance_seconds"):
                state.clock.advance(float(body["advance_seconds"]))
            return JSONResponse({"now": fmt_ts(state.now(), 6), "frozen": state.clock.frozen_at is not None})

    @router.post("/_sim/price")
    async def sim_price(request: Request) -> JSONResponse:
        body = await read_body(request)
        with state.lock:
            var_id = _variation_from(state, body)
            return JSONResponse({"object": pos_catalog.sim_set_price(state, var_id, int(body["amount"]))})

    @router.post("/_sim/sales")
    async def sim_sale(request: Request) -> JSONResponse:
        body = await read_body(request)
        return await call(pos_orders.sim_record_sale, state, body)

    @router.post("/_sim/stock")
    async def sim_stock(request: Request) -> JSONResponse:
        body = await read_body(request)
        with state.lock:
            var_id = _variation_from(state, body)
            loc = body.get("location_id") or state.locations[0]["id"]
            return JSONResponse(pos_inventory.sim_set_stock(state, var_id, loc, str(body["quantity"]),
                                                            body.get("reference_id")))

    @router.post("/_sim/delete")
    async def sim_delete(request: Request) -> JSONResponse:
        body = await read_body(request)
        with state.lock:
            object_id = body.get("object_id")
            if not object_id:
                var_id = _variation_from(state, body)
                object_id = state.catalog[var_id]["item_variation_data"]["item_id"]
            return JSONResponse(pos_catalog.sim_delete(state, object_id))

    @router.post("/_sim/customers/{customer_id}/preferences")
    async def sim_preferences(customer_id: str, request: Request) -> JSONResponse:
        body = await read_body(request)
        return JSONResponse({"customer": pos_customers.sim_set_preferences(state, customer_id, body)})

    @router.post("/_sim/invoices/{invoice_id}/pay")
    async def sim_pay(invoice_id: str) -> JSONResponse:
        return JSONResponse({"invoice": pos_orders.sim_pay_invoice(state, invoice_id)})

    return router
