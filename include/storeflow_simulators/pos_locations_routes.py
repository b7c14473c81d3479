"""POS simulator routes for ``/v2/locations``."""

from __future__ import annotations

import copy

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from storeflow_simulators.pos_common import not_found
from storeflow_simulators.pos_state import PosState


def locations_router(state: PosState) -> APIRouter:
    """ListLocations and RetrieveLocation."""
    router = APIRouter()

    @router.get("/v2/locations")
    async def list_locations() -> JSONResponse:
        with state.lock:
            return JSONResponse({"locations": copy.deepcopy(state.locations)})

    @router.get("/v2/locations/{location_id}")
    async def get_location(location_id: str) -> JSONResponse:
        with state.lock:
            loc = next((x for x in state.locations if x["id"] == location_id), None)
        if loc is None:
            raise not_found("location", location_id)
        return JSONResponse({"location": copy.deepcopy(loc)})

    return router
