"""Responses of the HTTP API that are not JSON models: errors, the dashboard's files, and
stills or heatmaps with their ETags, and the files of the API docs."""

# No `from __future__ import annotations`: kept like http_api.py, which FastAPI reads.

import importlib.resources
from typing import Any

from fastapi.responses import JSONResponse, Response

from pipeline.dashboard import STATIC_DIR, STATIC_FILES
from pipeline.dashboard.stills import EncodedImage


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message}, headers=headers)


PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
"""Headers of the dashboard's files: only this origin's scripts, no framing, no referrer."""
IMAGE_CACHE_CONTROL = "private, no-cache"
"""Stills and heatmaps: a browser may keep them but must revalidate (ETag) before reuse."""


def _listed_file(folder: Any, types: dict[str, str], name: str, what: str,
                 headers: dict[str, str]) -> Response:
    """File ``name`` of ``folder`` if ``types`` lists it (with its content type), else a
    404 naming ``what``: only listed names are ever read."""
    content_type = types.get(name)
    if content_type is None:
        return error_response(404, f"no {what} file {name!r}")
    return Response((folder / name).read_bytes(), media_type=content_type, headers=headers)


def dashboard_file(name: str) -> Response:
    """One of the dashboard's files (:data:`pipeline.dashboard.STATIC_FILES`), else 404."""
    return _listed_file(STATIC_DIR, STATIC_FILES, name, "dashboard", PAGE_HEADERS)


SWAGGER_UI_FILES = {"swagger-ui-bundle.js": "text/javascript",
                    "swagger-ui.css": "text/css", "favicon.png": "image/png"}
"""The Swagger UI files /docs loads (shipped in the fastapi-offline package), by name."""


def swagger_ui_file(name: str) -> Response:
    """One of :data:`SWAGGER_UI_FILES`, else 404: /docs works without internet."""
    return _listed_file(importlib.resources.files("fastapi_offline") / "static",
                        SWAGGER_UI_FILES, name, "docs",
                        {"Cache-Control": "public, max-age=86400",
                         "X-Content-Type-Options": "nosniff"})


def image_response(image: EncodedImage | None, camera_id: str, missing: str) -> Response:
    """A still or heatmap as a response: 404 saying ``missing`` when there is none, 304
    when the client has it (its ETag), else the bytes; ``X-Panoray-Blurred`` says whether
    people in it are blurred."""
    if image is None:
        return error_response(404, f"camera {camera_id!r} {missing}")
    headers = {"ETag": image.etag, "Cache-Control": IMAGE_CACHE_CONTROL,
               "X-Panoray-Blurred": "true" if image.blurred else "false",
               "X-Content-Type-Options": "nosniff"}
    if image.data is None:
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type=image.content_type, headers=headers)
