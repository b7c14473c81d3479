"""POS simulator routes for ``/v2/invoices`` (rules in :mod:`.pos_orders`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators import pos_orders
from storeflow_simulators.pos_api import call, read_body, write_once
from storeflow_simulators.pos_state import PosState


def invoices_router(state: PosState) -> APIRouter:
    """Create, search, list, retrieve and publish invoices."""
    router = APIRouter()

    @router.post("/v2/invoices")
    async def create_invoice(request: Request) -> JSONResponse:
        return await write_once(state, request, "invoices-create", pos_orders.create_invoice, required=False)

    @router.post("/v2/invoices/search")
    async def search_invoices(request: Request) -> JSONResponse:
        return await call(pos_orders.search_invoices, state, await read_body(request))

    @router.get("/v2/invoices")
    async def list_invoices(request: Request) -> JSONResponse:
        q = request.query_params
        limit = q.get("limit")
        return await call(pos_orders.list_invoices, state, q.get("location_id"), q.get("cursor"),
                          int(limit) if limit and limit.lstrip("-").isdigit() else None)

    @router.get("/v2/invoices/{invoice_id}")
    async def get_invoice(invoice_id: str) -> JSONResponse:
        return await call(pos_orders.get_invoice, state, invoice_id)

    @router.post("/v2/invoices/{invoice_id}/publish")
    async def publish_invoice(invoice_id: str, request: Request) -> JSONResponse:
        return await write_once(state, request, f"invoices-publish-{invoice_id}", pos_orders.publish_invoice,
                                invoice_id, required=False)

    return router
