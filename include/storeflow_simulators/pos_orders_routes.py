"""POS simulator routes for ``/v2/orders`` and ``/v2/payments`` (rules in :mod:`.pos_orders`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators import pos_orders
from storeflow_simulators.pos_api import call, read_body, write_once
from storeflow_simulators.pos_state import PosState


def orders_router(state: PosState) -> APIRouter:
    """Orders (create, search, batch-retrieve, retrieve, update) and payments that pay them."""
    router = APIRouter()

    @router.post("/v2/orders")
    async def create_order(request: Request) -> JSONResponse:
        return await write_once(state, request, "orders-create", pos_orders.create_order, required=False, max_len=192)

    @router.post("/v2/orders/search")
    async def search_orders(request: Request) -> JSONResponse:
        return await call(pos_orders.search_orders, state, await read_body(request))

    @router.post("/v2/orders/batch-retrieve")
    async def batch_retrieve_orders(request: Request) -> JSONResponse:
        return await call(pos_orders.batch_retrieve_orders, state, await read_body(request))

    @router.get("/v2/orders/{order_id}")
    async def get_order(order_id: str) -> JSONResponse:
        return await call(pos_orders.get_order, state, order_id)

    @router.put("/v2/orders/{order_id}")
    async def update_order(order_id: str, request: Request) -> JSONResponse:
        return await write_once(state, request, f"orders-update-{order_id}", pos_orders.update_order, order_id,
                                required=False, max_len=192)

    @router.post("/v2/payments")
    async def create_payment(request: Request) -> JSONResponse:
        return await write_once(state, request, "payments-create", pos_orders.create_payment)

    @router.get("/v2/payments/{payment_id}")
    async def get_payment(payment_id: str) -> JSONResponse:
        return await call(pos_orders.get_payment, state, payment_id)

    return router
