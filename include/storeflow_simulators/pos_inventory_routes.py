"""POS simulator routes for ``/v2/inventory`` (rules in :mod:`.pos_inventory`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators import pos_inventory
from storeflow_simulators.pos_api import call, read_body, write_once
from storeflow_simulators.pos_state import PosState


def inventory_router(state: PosState) -> APIRouter:
    """Counts and changes (current and deprecated paths)."""
    router = APIRouter()

    @router.post("/v2/inventory/counts/batch-retrieve")
    @router.post("/v2/inventory/batch-retrieve-counts")
    async def retrieve_counts(request: Request) -> JSONResponse:
        return await call(pos_inventory.retrieve_counts, state, await read_body(request))

    @router.post("/v2/inventory/changes/batch-create")
    @router.post("/v2/inventory/batch-change")
    async def batch_change(request: Request) -> JSONResponse:
        return await write_once(state, request, "inventory-change", pos_inventory.batch_change)

    @router.post("/v2/inventory/changes/batch-retrieve")
    @router.post("/v2/inventory/batch-retrieve-changes")
    async def retrieve_changes(request: Request) -> JSONResponse:
        return await call(pos_inventory.retrieve_changes, state, await read_body(request))

    @router.get("/v2/inventory/{catalog_object_id}")
    async def variation_counts(catalog_object_id: str, request: Request) -> JSONResponse:
        return await call(pos_inventory.retrieve_variation_counts, state, catalog_object_id,
                          request.query_params.get("location_ids"))

    return router
