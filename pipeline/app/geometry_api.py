"""The geometry route of the runtime API: a camera's zones and lines edited while it runs.

    PUT /v1/cameras/{id}/geometry   {"zones": [...], "lines": [...], "version": 3}   [token]

The body holds the camera's whole new set of zones and lines, in the site YAML's schema
(:class:`~pipeline.control.geometry.GeometryEdit`); ``version``, optional, is the
``geometry_version`` the edit was made from (409 when the camera has moved on). The
camera keeps streaming: its aggregator swaps the geometry at the camera's next window
boundary, and every event and metrics row carries the version it was counted with. The
answer is the camera's view (as ``GET /v1/cameras/{id}``) with its new
``geometry_version``. Errors: 400 names what is wrong (the key path and the reason),
401/403 as for every change, 404 for an unknown camera, 413 past the body limit, 415 for
a body that is not JSON.

The route is mounted on the HTTP API's app (:mod:`pipeline.app.http_api`), whose
deployment puts its controller call on ``app.state.ask``.
"""

# No `from __future__ import annotations` here: FastAPI on Serve must resolve annotations.

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pipeline.app.access import CHANGE
from pipeline.app.responses import error_response
from pipeline.app.uploads import read_model
from pipeline.control.geometry import GeometryEdit
from pipeline.errors import GeometryConflictError, error_message

GEOMETRY_BODY_LIMIT = 256 * 1024
"""Largest accepted geometry body (bytes): 256 zones of 64 points fit."""

router = APIRouter()


@router.put("/v1/cameras/{camera_id}/geometry", dependencies=CHANGE,
            responses={400: {}, 401: {}, 403: {}, 404: {}, 409: {}, 413: {}, 415: {}, 503: {}},
            summary="Replace a camera's zones and lines while it runs; needs the token")
async def put_geometry(camera_id: str, request: Request) -> Any:
    edit = await read_model(request, GeometryEdit, GEOMETRY_BODY_LIMIT,
                            f"geometry of camera {camera_id!r}",
                            '{"zones": [...], "lines": [...]} as in the config\'s cameras')
    if isinstance(edit, Response):
        return edit
    try:
        return await request.app.state.ask(lambda c: c.set_geometry.remote(camera_id, edit))
    except GeometryConflictError as exc:
        return error_response(409, error_message(exc))
