"""POS simulator routes for ``/v2/catalog`` (rules in :mod:`.pos_catalog`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from storeflow_simulators import pos_catalog
from storeflow_simulators.pos_api import call, read_body, write_once
from storeflow_simulators.pos_state import PosState


def catalog_router(state: PosState) -> APIRouter:
    """List, search, upsert (idempotent, one catalog write at a time), retrieve, delete and info."""
    router = APIRouter()

    @router.get("/v2/catalog/list")
    async def list_catalog(request: Request) -> JSONResponse:
        q = request.query_params
        return await call(pos_catalog.list_catalog, state, q.get("types"), q.get("cursor"))

    @router.post("/v2/catalog/search")
    async def search_catalog(request: Request) -> JSONResponse:
        return await call(pos_catalog.search_catalog, state, await read_body(request))

    @router.post("/v2/catalog/batch-upsert")
    async def batch_upsert(request: Request) -> JSONResponse:
        return await write_once(state, request, "catalog-upsert", pos_catalog.batch_upsert, catalog=True)

    @router.post("/v2/catalog/object")
    async def upsert_object(request: Request) -> JSONResponse:
        return await write_once(state, request, "catalog-object", pos_catalog.upsert_object, catalog=True)

    @router.post("/v2/catalog/batch-retrieve")
    async def batch_retrieve(request: Request) -> JSONResponse:
        return await call(pos_catalog.batch_retrieve, state, await read_body(request))

    @router.get("/v2/catalog/object/{object_id}")
    async def retrieve_object(object_id: str) -> JSONResponse:
        return await call(pos_catalog.retrieve_object, state, object_id)

    @router.post("/v2/catalog/batch-delete")
    async def batch_delete(request: Request) -> JSONResponse:
        return await call(pos_catalog.batch_delete, state, await read_body(request))

    @router.delete("/v2/catalog/object/{object_id}")
    async def delete_object(object_id: str) -> JSONResponse:
        return await call(pos_catalog.delete_object, state, object_id)

    @router.get("/v2/catalog/info")
    async def catalog_info() -> JSONResponse:
        return JSONResponse({"limits": {
            "batch_upsert_max_objects_per_batch": 1000, "batch_upsert_max_total_objects": 10000,
            "batch_retrieve_max_object_ids": 1000, "search_max_page_limit": 1000,
            "batch_delete_max_object_ids": 200,
        }})

    return router
