"""The HTTP API: a FastAPI app on the Serve ingress, in front of the Detector deployment.

Routes:
    POST   /v1/detect          JPEG or PNG (raw body or multipart field ``image``) -> detections
    GET    /healthz            ready, model, provider
    GET    /v1/models          bundled models and the one loaded
    GET    /docs               OpenAPI docs (FastAPI)

The runtime API of a running pipeline (``panoray run``; 503 when none runs, as under
``panoray serve``):
    GET    /v1/cameras         every camera: health, counters, restarts, node, config
    GET    /v1/cameras/{id}    one camera
    POST   /v1/cameras         add a camera (JSON, the schema of the config's cameras)  [token]
    DELETE /v1/cameras/{id}    remove a camera                                          [token]
    GET    /v1/live            current occupancy and counts per camera, zone and line

The live dashboard (plain HTML, CSS and JavaScript from :mod:`pipeline.dashboard`):
    GET    /                   the dashboard page: a tile per camera, polled live
    GET    /inference          a page that sends an image to /v1/detect and draws the boxes
    GET    /static/{name}      the pages' scripts and style sheet
    GET    /v1/dashboard       in one call: every camera's view, live analytics, still ETag
    GET    /v1/cameras/{id}/still    the camera's latest still, people blurred (JPEG, ETag;
                               404 until it has one)
    GET    /v1/cameras/{id}/heatmap  its open window's heatmap over that still (PNG, ETag)
    GET    /v1/history         closed windows' metrics per camera, last hour (?camera_id=)

Endpoints marked [token] change state: when ``http.token`` (or ``token_env``) is set they
need ``Authorization: Bearer <token>`` (401 otherwise), and without a token they are only
open on a loopback address. Camera URLs are redacted in every response.

Images are decoded and resized here; only the model-sized frame goes to the detector,
where it is batched with camera frames.
"""

# No `from __future__ import annotations` here: FastAPI on Serve must resolve annotations.

import asyncio
import hmac
import json
import logging
import time
from typing import Annotated, Any

import ray
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle

from models.requests import DetectRequest, DetectResult
from models.preprocess import InputSpec, prepare_frame
from models.registry import BUNDLED
from pipeline.config import HttpConfig
from pipeline.control import (
    CONTROLLER_NAME,
    CameraExistsError,
    PipelineClosedError,
    UnknownCameraError,
    validation_message,
)
from pipeline.dashboard import STATIC_DIR, STATIC_FILES
from pipeline.dashboard.images import EncodedImage
from pipeline.errors import ConfigError, InputError, InputTooLargeError, PanorayError
from pipeline.images import decode_image
from pipeline.ingest.redact import redact_text
from pipeline.site_config import SiteCamera
from pipeline.types import FrameMeta

log = logging.getLogger(__name__)

RAW_IMAGE_TYPES = ("image/jpeg", "image/png", "application/octet-stream")
MULTIPART = "multipart/form-data"
HTTP_CAMERA_ID = "http"


class DetectionOut(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in the image's pixels")
    score: float
    class_id: int
    label: str


class DetectResponse(BaseModel):
    detections: list[DetectionOut]
    model: str
    provider: str
    inference_ms: float = Field(description="model run time of the batch holding this image")
    width: int
    height: int


class Health(BaseModel):
    ready: bool
    model: str
    provider: str


CAMERA_BODY_LIMIT = 256 * 1024
"""Largest accepted camera body (bytes): a camera with hundreds of zones fits."""
CONTROLLER_TIMEOUT_S = 300.0
"""Longest a runtime API call waits for the controller (adding a camera waits until its
actor is placed and started, up to ``ray.camera_start_timeout_s``)."""
AUTH_REALM = 'Bearer realm="panoray"'


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
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


def _static(name: str) -> Response:
    """One of the dashboard's files (:data:`pipeline.dashboard.STATIC_FILES`), else 404."""
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        return _error(404, f"no dashboard file {name!r}")
    return Response((STATIC_DIR / name).read_bytes(), media_type=content_type,
                    headers=PAGE_HEADERS)


def _image(image: EncodedImage) -> Response:
    """A still or heatmap as a response: 304 when the client has it (its ETag), else the
    bytes; ``X-Panoray-Blurred`` says whether people in it are blurred."""
    headers = {"ETag": image.etag, "Cache-Control": IMAGE_CACHE_CONTROL,
               "X-Panoray-Blurred": "true" if image.blurred else "false",
               "X-Content-Type-Options": "nosniff"}
    if image.data is None:
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type=image.content_type, headers=headers)


class NoPipelineError(PanorayError):
    """No pipeline controller runs in the API's namespace."""


BEARER_MISSING = "this endpoint needs the API token: send 'Authorization: Bearer <token>'"
BEARER_INVALID = "the bearer token is not valid"


def check_bearer(header: str | None, token: bytes) -> str | None:
    """Checks an ``Authorization`` header against the token in constant time.

    Returns:
        None when it carries the token, else :data:`BEARER_MISSING` or
        :data:`BEARER_INVALID` (the 401 response's message).
    """
    scheme, _, value = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return BEARER_MISSING
    if not hmac.compare_digest(value.strip().encode(), token):
        return BEARER_INVALID
    return None


def authorize(
    http: HttpConfig, header: str | None, changes_state: bool
) -> tuple[int, str, dict[str, str]] | None:
    """Whether a runtime API call may go on.

    Args:
        http: the API's config, its token resolved (``with_resolved_token``).
        header: the request's ``Authorization`` header, if any.
        changes_state: the endpoint adds or removes cameras.

    Returns:
        None to go on, else (status, message, headers) of the refusal: 401 with a
        ``WWW-Authenticate: Bearer`` challenge for a missing or wrong token, 403 for a
        state change on a non-loopback address without a configured token.
    """
    if not changes_state and not http.protect_reads:
        return None
    if http.token is None:
        if changes_state and not http.loopback:
            return (403, "changing the pipeline is disabled: the API listens on a non-loopback "
                    "address and no token is configured (http.token_env)", {})
        return None
    why = check_bearer(header, http.token.get_secret_value().encode())
    if why is None:
        return None
    challenge = AUTH_REALM if why == BEARER_MISSING else f'{AUTH_REALM}, error="invalid_token"'
    return 401, why, {"WWW-Authenticate": challenge}


def _controller_error(exc: BaseException) -> JSONResponse:
    """Maps a controller error to a response (Ray wraps it; its ``cause`` is the original)."""
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, UnknownCameraError):
        return _error(404, str(cause))
    if isinstance(cause, CameraExistsError):
        return _error(409, str(cause))
    if isinstance(cause, (InputError, ConfigError)):
        return _error(400, redact_text(str(cause)))
    if isinstance(cause, (PipelineClosedError, NoPipelineError)):
        return _error(503, str(cause))
    if isinstance(cause, TimeoutError):
        return _error(504, "the pipeline controller did not answer within "
                      f"{CONTROLLER_TIMEOUT_S:.0f} s")
    if isinstance(cause, PanorayError):
        log.warning("runtime API call failed: %s", redact_text(str(cause)))
        return _error(500, redact_text(str(cause)))
    log.error("runtime API call failed: %s", type(cause).__name__)
    return _error(500, f"internal error: {type(cause).__name__}")


app = FastAPI(
    title="panoray",
    description="Anonymous flow metrics from cameras. Inference endpoint and runtime API.",
    version="0.1.0",
)


def _check_declared_length(request: Request, limit: int) -> None:
    """Refuses (InputTooLargeError) a body whose declared length is over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise InputTooLargeError(
            f"request body is {declared} bytes; the limit is {limit} bytes",
            int(declared), limit, "body",
        )


async def _read_body(request: Request, limit: int) -> bytes:
    """Reads the body, refusing it (InputTooLargeError) as soon as it passes ``limit``."""
    _check_declared_length(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputTooLargeError(
                f"request body exceeds the limit of {limit} bytes", size, limit, "body"
            )
        chunks.append(chunk)
    return b"".join(chunks)


@serve.deployment(name="HttpApi", num_replicas=1, ray_actor_options={"num_cpus": 0.1})
@serve.ingress(app)
class HttpApi:
    """Serve ingress for the HTTP API.

    Args:
        detector: handle to the Detector deployment.
        http: HttpConfig as a dict (limits and timeouts).
    """

    def __init__(
        self, detector: DeploymentHandle, http: dict[str, Any], namespace: str = "panoray"
    ) -> None:
        self._detector = detector
        self._http = HttpConfig(**http)
        self._info: dict[str, Any] | None = None
        self._labels: dict[int, str] = {}
        self._namespace = namespace
        self._controller: Any = None
        if self._http.token is None and not self._http.loopback:
            log.warning("runtime API: adding and removing cameras is disabled: %s is not a "
                        "loopback address and no token is configured", self._http.host)

    # -- runtime API plumbing ----------------------------------------------------------
    def _authorize(self, request: Request, changes_state: bool) -> JSONResponse | None:
        """None when the caller may go on, else the refusal (401 or 403)."""
        refusal = authorize(self._http, request.headers.get("authorization"), changes_state)
        return None if refusal is None else _error(*refusal)

    async def _call(self, method: str, *args: Any) -> Any:
        """Calls the pipeline controller (found by name, lazily; looked up again when the
        pipeline it knew is gone)."""
        for attempt in range(2):
            if self._controller is None:
                try:
                    self._controller = await asyncio.to_thread(
                        ray.get_actor, CONTROLLER_NAME, namespace=self._namespace)
                except ValueError:
                    raise NoPipelineError(
                        f"no pipeline is running (no actor {CONTROLLER_NAME!r} in Ray namespace "
                        f"{self._namespace!r}); the runtime API needs `panoray run`"
                    ) from None
            try:
                return await asyncio.wait_for(
                    getattr(self._controller, method).remote(*args), CONTROLLER_TIMEOUT_S)
            except ray.exceptions.RayActorError:
                self._controller = None  # that run ended; a new one may have started
                if attempt:
                    raise NoPipelineError("the pipeline stopped during the call") from None
        raise AssertionError("unreachable")

    async def _model_info(self) -> dict[str, Any]:
        if self._info is None:
            self._info = await self._detector.info.remote()
            self._labels = await self._detector.labels.remote()
        return self._info

    @app.post(
        "/v1/detect",
        response_model=DetectResponse,
        responses={400: {}, 413: {}, 415: {}, 503: {}, 504: {}},
        summary="Detect people (or the configured classes) in one JPEG or PNG image",
    )
    async def detect(
        self,
        request: Request,
        threshold: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
        classes: Annotated[str | None, Query(description="comma-separated labels")] = None,
    ) -> Any:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in RAW_IMAGE_TYPES + (MULTIPART,):
            return _error(
                415, f"unsupported content type {content_type or '(none)'!r}; send "
                "image/jpeg, image/png, application/octet-stream, or multipart/form-data "
                "with a field named 'image'",
            )
        try:
            if content_type == MULTIPART:
                data = await self._multipart_image(request)
            else:
                data = await _read_body(request, self._http.max_body_bytes)
            info = await self._model_info()
            spec = InputSpec(**info["input"])
            frame, meta = await asyncio.to_thread(self._prepare, data, spec)
            wanted = tuple(c.strip() for c in classes.split(",") if c.strip()) if classes else None
            result: DetectResult = await asyncio.wait_for(
                self._detector.detect.remote(DetectRequest(frame, meta, threshold, wanted)),
                timeout=self._http.request_timeout_s,
            )
        except InputTooLargeError as exc:
            return _error(413, str(exc))
        except InputError as exc:
            return _error(400, str(exc))
        except TimeoutError:
            return _error(504, f"detector did not answer within {self._http.request_timeout_s} s")
        except PanorayError as exc:
            log.warning("detect failed: %s", exc)
            return _error(503, str(exc))
        d = result.detections
        return DetectResponse(
            detections=[
                DetectionOut(box=[round(float(v), 2) for v in box], score=round(float(s), 4),
                             class_id=int(c), label=self._labels.get(int(c), str(int(c))))
                for box, s, c in zip(d.boxes, d.scores, d.class_ids)
            ],
            model=info["model"],
            provider=info["provider"],
            inference_ms=round(result.inference_ms, 3),
            width=meta.width,
            height=meta.height,
        )

    async def _multipart_image(self, request: Request) -> bytes:
        _check_declared_length(request, self._http.max_body_bytes)
        form = await request.form(max_files=1, max_fields=16)
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise InputError("multipart body has no file field named 'image'", "image")
        data = await upload.read()
        if len(data) > self._http.max_body_bytes:
            raise InputTooLargeError(
                f"image is {len(data)} bytes; the limit is {self._http.max_body_bytes} bytes",
                len(data), self._http.max_body_bytes, "image",
            )
        return data

    def _prepare(self, data: bytes, spec: InputSpec) -> tuple[Any, FrameMeta]:
        rgb = decode_image(data, self._http.max_image_side)
        frame, tf = prepare_frame(rgb, spec, color="RGB")
        meta = FrameMeta(HTTP_CAMERA_ID, 0, 0.0, time.time(), tf.width, tf.height)
        return frame, meta

    @app.get("/healthz", response_model=Health, responses={503: {}})
    async def healthz(self) -> Any:
        try:
            info = await asyncio.wait_for(self._model_info(), timeout=5.0)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse(status_code=503, content={"ready": False, "error": str(exc)})
        return Health(ready=True, model=info["model"], provider=info["provider"])

    @app.get("/v1/models")
    async def models(self) -> dict[str, Any]:
        info = await self._model_info()
        return {
            "loaded": info,
            "bundled": [
                {"name": m.name, "family": m.family, "description": m.description}
                for m in BUNDLED.values()
            ],
        }

    @app.get("/v1/detector/stats")
    async def detector_stats(self) -> dict[str, Any]:
        """Counters of the detector replica that answers (batches, mean batch size, ...)."""
        return await self._detector.stats.remote()

    # -- runtime API -------------------------------------------------------------------
    @app.get("/v1/cameras", responses={401: {}, 503: {}},
             summary="Every camera of the running pipeline: health, counters, restarts")
    async def list_cameras(self, request: Request) -> Any:
        if (refused := self._authorize(request, changes_state=False)) is not None:
            return refused
        try:
            return {"cameras": await self._call("cameras")}
        except Exception as exc:  # noqa: BLE001 - mapped to a status code
            return _controller_error(exc)

    @app.get("/v1/cameras/{camera_id}", responses={401: {}, 404: {}, 503: {}},
             summary="One camera: state, reason, counters, restarts, node, config")
    async def get_camera(self, camera_id: str, request: Request) -> Any:
        if (refused := self._authorize(request, changes_state=False)) is not None:
            return refused
        try:
            return await self._call("camera", camera_id)
        except Exception as exc:  # noqa: BLE001
            return _controller_error(exc)

    @app.post("/v1/cameras", status_code=201,
              responses={400: {}, 401: {}, 403: {}, 409: {}, 413: {}, 415: {}, 503: {}},
              summary="Add a camera (the schema of the config's cameras); needs the token")
    async def add_camera(self, request: Request) -> Any:
        if (refused := self._authorize(request, changes_state=True)) is not None:
            return refused
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, f"send the camera as application/json, not "
                          f"{content_type or '(no content type)'!r}")
        try:
            body = await _read_body(request, CAMERA_BODY_LIMIT)
        except InputTooLargeError as exc:
            return _error(413, str(exc))
        try:
            data = json.loads(body)
        except ValueError as exc:
            return _error(400, f"the body is not valid JSON: {exc.__class__.__name__} at "
                          f"position {getattr(exc, 'pos', '?')}")
        if not isinstance(data, dict):
            return _error(400, "the body must be a JSON object: one camera as in the config's "
                          "cameras list")
        try:
            camera = SiteCamera.model_validate(data)
        except ValidationError as exc:
            return _error(400, f"invalid camera: {validation_message(exc)}")
        try:
            view = await self._call("add_camera", camera)
        except Exception as exc:  # noqa: BLE001
            return _controller_error(exc)
        return JSONResponse(status_code=201, content=view)

    @app.delete("/v1/cameras/{camera_id}", responses={401: {}, 403: {}, 404: {}, 503: {}},
                summary="Remove a camera (its open windows are written); needs the token")
    async def remove_camera(self, camera_id: str, request: Request) -> Any:
        if (refused := self._authorize(request, changes_state=True)) is not None:
            return refused
        try:
            return await self._call("remove_camera", camera_id)
        except Exception as exc:  # noqa: BLE001
            return _controller_error(exc)

    @app.get("/v1/live", responses={401: {}, 503: {}},
             summary="Current occupancy and counts per camera, zone and line")
    async def live(self, request: Request) -> Any:
        if (refused := self._authorize(request, changes_state=False)) is not None:
            return refused
        try:
            return await self._call("live")
        except Exception as exc:  # noqa: BLE001
            return _controller_error(exc)

    # -- dashboard ---------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def dashboard_page(self) -> Any:
        return _static("index.html")

    @app.get("/inference", include_in_schema=False)
    async def inference_page(self) -> Any:
        return _static("inference.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static_file(self, name: str) -> Any:
        return _static(name)

    @app.get("/v1/dashboard", responses={401: {}, 503: {}},
             summary="The dashboard's poll: cameras, live analytics, still ETags, auth needs")
    async def dashboard(self, request: Request) -> Any:
        if (refused := self._authorize(request, changes_state=False)) is not None:
            return refused
        try:
            state = await self._call("dashboard")
        except Exception as exc:  # noqa: BLE001
            return _controller_error(exc)
        token = self._http.token is not None
        state["auth"] = {"token_configured": token, "protect_reads": self._http.protect_reads,
                         "changes_allowed": token or self._http.loopback}
        return state

    @app.get("/v1/cameras/{camera_id}/still", responses={304: {}, 401: {}, 404: {}, 503: {}},
             response_class=Response, summary="The camera's latest still, people blurred (JPEG)")
    async def camera_still(self, camera_id: str, request: Request) -> Any:
        return await self._image_route("still", camera_id, request,
                                       "has no still yet (one comes every still_interval_s "
                                       "of media time once it streams)")

    @app.get("/v1/cameras/{camera_id}/heatmap", responses={304: {}, 401: {}, 404: {}, 503: {}},
             response_class=Response,
             summary="The camera's open window's heatmap over its blurred still (PNG)")
    async def camera_heatmap(self, camera_id: str, request: Request) -> Any:
        return await self._image_route("heatmap", camera_id, request,
                                       "has no heatmap: heatmaps are off or no frame has "
                                       "reached its analytics yet")

    async def _image_route(self, method: str, camera_id: str, request: Request,
                           missing: str) -> Any:
        """A camera's still or heatmap from the controller's ``method``, as a response
        (304 with the client's ETag, 404 saying ``missing`` when there is none yet)."""
        if (refused := self._authorize(request, changes_state=False)) is not None:
            return refused
        try:
            image = await self._call(method, camera_id, request.headers.get("if-none-match"))
        except Exception as exc:  # noqa: BLE001
            return _controller_error(exc)
        if image is None:
            return _error(404, f"camera {camera_id!r} {missing}")
        return _image(image)

    @app.get("/v1/history", responses={401: {}, 404: {}, 503: {}},
             summary="Closed windows' metrics per camera over the last hour")
    async def history(
        self,
        request: Request,
        camera_id: Annotated[str | None, Query(description="only this camera")] = None,
    ) -> Any:
        if (refused := self._authorize(request, changes_state=False)) is not None:
            return refused
        try:
            return await self._call("history", camera_id)
        except Exception as exc:  # noqa: BLE001
            return _controller_error(exc)
