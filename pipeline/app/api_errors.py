"""How the HTTP API answers an error: always ``{"error": "..."}`` with a status that says
whose fault it was (the request's: 4xx; a host restarting: 503 with ``Retry-After``; a
bug: 500 naming only the error's type). Camera URLs are redacted in every message."""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations.

import logging

import ray
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from pipeline.app.responses import error_response
from pipeline.errors import (
    CameraExistsError,
    ConfigError,
    InputError,
    InputTooLargeError,
    PanorayError,
    PipelineUnavailableError,
    UnknownCameraError,
    error_message,
)
from pipeline.redact import redact_text

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2
"""What a 503 for an actor being re-created tells a client to wait before retrying."""


def validation_text(exc: RequestValidationError) -> str:
    """``query parameter 'threshold': Input should be less than or equal to 1`` for each
    field FastAPI refused, joined by ``; ``."""
    parts = []
    for err in exc.errors():
        where, *path = [str(p) for p in err.get("loc", ())] or ["request"]
        name = ".".join(path) or where
        parts.append(f"{where} parameter {name!r}: {err.get('msg', 'invalid')}"
                     if where in ("query", "path", "header") else
                     f"{name}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def response_for(exc: Exception, timeout_s: float) -> JSONResponse:
    """The response to an error of a call to the controller or the detector (Ray raises a
    remote error as a subclass of the original type, so it maps by that type; the message
    is the original's: :func:`error_message`). ``timeout_s``: the wait that ran out, for
    a ``TimeoutError``."""
    message = error_message(exc)
    if isinstance(exc, InputTooLargeError):
        return error_response(413, message)
    if isinstance(exc, UnknownCameraError):
        return error_response(404, message)
    if isinstance(exc, CameraExistsError):
        return error_response(409, message)
    if isinstance(exc, (InputError, ConfigError)):
        return error_response(400, redact_text(message))
    if isinstance(exc, PipelineUnavailableError):
        return error_response(503, message)
    if isinstance(exc, ray.exceptions.RayActorError):  # a replica or actor died: Ray re-creates it
        log.warning("API call failed: an actor is unavailable (%s)", type(exc).__name__)
        return error_response(503, f"an actor behind this call is being re-created "
                              f"({type(exc).__name__}); retry shortly",
                              {"Retry-After": str(RETRY_AFTER_S)})
    if isinstance(exc, TimeoutError):
        return error_response(504, f"no answer within {timeout_s:.0f} s")
    if isinstance(exc, PanorayError):
        log.warning("API call failed: %s", redact_text(message))
        return error_response(500, redact_text(message))
    log.error("API call failed: %s", type(exc).__name__)
    return error_response(500, f"internal error: {type(exc).__name__}")


def install_error_handlers(app: FastAPI, timeout_s: float) -> None:
    """Makes every error of ``app`` answer ``{"error": ...}``: routing's (404, 405),
    FastAPI's refused parameters (400, not its own 422 ``detail`` list) and the calls'
    (:func:`response_for`)."""

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, validation_text(exc))

    async def call_error(request: Request, exc: Exception) -> JSONResponse:
        return response_for(exc, timeout_s)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    for kind in (PanorayError, TimeoutError, ray.exceptions.RayError):
        app.add_exception_handler(kind, call_error)
