"""POS simulator routes for ``/v2/customers`` (rules in :mod:`.pos_customers`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators import pos_customers
from storeflow_simulators.pos_api import call, read_body, write_once
from storeflow_simulators.pos_state import PosState


def customers_router(state: PosState) -> APIRouter:
    """List, search, create, retrieve, update and delete customers."""
    router = APIRouter()

    @router.get("/v2/customers")
    async def list_customers(request: Request) -> JSONResponse:
        return await call(pos_customers.list_customers, state, dict(request.query_params))

    @router.post("/v2/customers/search")
    async def search_customers(request: Request) -> JSONResponse:
        return await call(pos_customers.search_customers, state, await read_body(request))

    @router.post("/v2/customers")
    async def create_customer(request: Request) -> JSONResponse:
        return await write_once(state, request, "customers-create", pos_customers.create_customer, required=False,
                                max_len=45)

    @router.get("/v2/customers/{customer_id}")
    async def get_customer(customer_id: str) -> JSONResponse:
        return await call(pos_customers.get_customer, state, customer_id)

    @router.put("/v2/customers/{customer_id}")
    async def update_customer(customer_id: str, request: Request) -> JSONResponse:
        body = await read_body(request)
        return await call(pos_customers.update_customer, state, customer_id, body)

    @router.delete("/v2/customers/{customer_id}")
    async def delete_customer(customer_id: str) -> JSONResponse:
        return await call(pos_customers.delete_customer, state, customer_id)

    return router
