"""The HTTP API: a FastAPI app on the Serve ingress, in front of the Detector deployment.

Routes:
    POST   /v1/detect          JPEG or PNG (raw body or multipart field ``image``) -> detections
    GET    /healthz            ready, model, provider (never an error's text)
    GET    /v1/models          bundled models and the one loaded
    GET    /v1/detector/stats  the detector's counters
    GET    /docs, /openapi.json  OpenAPI docs (Swagger UI, its files from this server)

The runtime API of a running pipeline (``panoray run``; 503 when none runs, as under
``panoray serve``):
    GET    /v1/cameras         every camera: health, counters, restarts, node, config
    GET    /v1/cameras/{id}    one camera
    POST   /v1/cameras         add a camera (JSON, the schema of the config's cameras)  [token]
    DELETE /v1/cameras/{id}    remove a camera                                          [token]
    PUT    /v1/cameras/{id}/geometry  replace its zones and lines while it runs
                               (:mod:`pipeline.app.geometry_api`)                       [token]
    GET    /v1/live            current occupancy and counts per camera, zone and line
    GET    /v1/alerts          open alerts, recent alert events, group sums, alert sinks

The live dashboard (plain HTML, CSS and JavaScript from :mod:`pipeline.dashboard`):
    GET    /                   the dashboard page: a tile per camera, polled live
    GET    /inference          a page that sends an image to /v1/detect and draws the boxes
    GET    /static/{name}      the pages' scripts and style sheet
                               (these three answer HEAD too: GET's headers, no body)
    GET    /v1/dashboard       in one call: every camera's view, live analytics, still ETag
    GET    /v1/cameras/{id}/still    the camera's latest still, people blurred (JPEG, ETag;
                               404 until it has one)
    GET    /v1/cameras/{id}/heatmap  its open window's heatmap over that still (PNG, ETag)
    GET    /v1/history         closed windows' metrics per camera, last hour (?camera_id=)

Endpoints marked [token] change state: when ``http.token`` (or ``token_env``) is set they
need ``Authorization: Bearer <token>`` (401 otherwise), and without a token they are only
open on a loopback address. With ``http.protect_reads`` every GET but ``/healthz`` and the
dashboard's static files (pages, scripts: no data) needs it too. On a loopback address a
request must name this machine in its Host header (:func:`~pipeline.app.access.
host_header_refusal`). Every body is refused as soon as it passes its limit. Camera URLs
are redacted in every response.

Images are decoded and resized here; only the model-sized image (by default its tiles, as
a camera's frames: ``?tiling=off`` for the whole image once) goes to the detector, where it
is batched with camera frames.
"""

# No `from __future__ import annotations` here: FastAPI on Serve must resolve annotations.

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import ray
from fastapi import FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from ray import serve
from ray.serve.handle import DeploymentHandle

from actors.controller_actor import CONTROLLER_NAME
from models.preprocess import InputSpec, prepare_frame
from models.registry import BUNDLED
from models.requests import DetectRequest
from models.tiling import (
    AUTO,
    TileRect,
    TilingConfig,
    auto_tiling,
    detect_tiles,
    plan_tiles,
    prepare_tiles,
)
from pipeline.app.geometry_api import router as geometry_router
from pipeline.app.api_errors import install_error_handlers
from pipeline.app.responses import (dashboard_file, error_response, image_response,
                                     swagger_ui_file)
from pipeline.app.access import CHANGE, READ, check_api_source, host_header_refusal
from pipeline.app.uploads import decode_image, read_body, read_model, read_multipart_file
from pipeline.errors import (
    InputError,
    PanorayError,
    PipelineUnavailableError,
    error_message,
)
from pipeline.ingest.config import CameraConfig
from pipeline.http_config import HttpConfig
from pipeline.types import DetectedFrame, FrameMeta

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


app = FastAPI(
    title="panoray",
    description="Anonymous flow metrics from cameras. Inference endpoint and runtime API.",
    version="0.1.0",
    docs_url=None, redoc_url=None, openapi_url=None,  # served below, behind READ
)
app.include_router(geometry_router)


@app.middleware("http")
async def _check_host(request: Request, call_next: Callable[[Request], Any]) -> Any:
    """Refuses (421) a request whose Host header does not name this server, on loopback."""
    http = getattr(request.app.state, "http", None)
    why = host_header_refusal(http, request.headers.get("host")) if http else None
    if why is not None:
        return error_response(421, why)
    return await call_next(request)


install_error_handlers(app, CONTROLLER_TIMEOUT_S)


@serve.deployment(name="HttpApi", num_replicas=1, ray_actor_options={"num_cpus": 0.1})
@serve.ingress(app)
class HttpApi:
    """Serve ingress for the HTTP API.

    Args:
        detector: handle to the Detector deployment.
        http: the HTTP config, its token resolved (``with_resolved_token``).
        namespace: Ray namespace in which to find the pipeline controller.
    """

    def __init__(
        self, detector: DeploymentHandle, http: HttpConfig, namespace: str = "panoray"
    ) -> None:
        self._detector = detector
        self._http = http
        app.state.http = http  # what the access dependencies check against
        app.state.ask = self._ask  # the controller call of routes mounted from other modules
        self._info: dict[str, Any] | None = None
        self._labels: dict[int, str] = {}
        self._namespace = namespace
        self._controller: Any = None
        self._decoding = asyncio.Semaphore(http.max_concurrent_decodes)
        if http.token is None and not http.loopback:
            log.warning("runtime API: adding and removing cameras is disabled: %s is not a "
                        "loopback address and no token is configured", http.host)

    async def _ask(self, call: Callable[[Any], Any]) -> Any:
        """``call(controller)`` on the pipeline controller (found by name, lazily; looked up
        again when the pipeline it knew is gone), awaited for at most
        :data:`CONTROLLER_TIMEOUT_S`.

        Raises:
            PipelineUnavailableError: no pipeline runs, or it stopped during the call.
        """
        for attempt in range(2):
            if self._controller is None:
                try:
                    self._controller = await asyncio.to_thread(
                        ray.get_actor, CONTROLLER_NAME, namespace=self._namespace)
                except ValueError:
                    raise PipelineUnavailableError(
                        f"no pipeline is running (no actor {CONTROLLER_NAME!r} in Ray namespace "
                        f"{self._namespace!r}); the runtime API needs `panoray run`"
                    ) from None
            try:
                return await asyncio.wait_for(call(self._controller), CONTROLLER_TIMEOUT_S)
            except ray.exceptions.RayActorError:
                self._controller = None  # that run ended; a new one may have started
                if attempt:
                    raise PipelineUnavailableError(
                        "the pipeline stopped during the call") from None
        raise AssertionError("unreachable")

    async def _model_info(self) -> dict[str, Any]:
        """The detector's info, with its labels loaded first: a caller that sees the info
        set (a concurrent request, or the next one after /healthz's timeout cancelled this
        call between the two answers) never reads the labels still empty."""
        if self._info is None:
            info, labels = await asyncio.gather(self._detector.info.remote(),
                                                self._detector.labels.remote())
            self._labels = labels
            self._info = info
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
        tiling: Annotated[Literal["auto", "off"], Query(
            description="auto: detected as a camera's frames are by default (the longer side "
            "in two halves plus the whole image, merged); off: the whole image once")] = "auto",
    ) -> Any:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in RAW_IMAGE_TYPES + (MULTIPART,):
            return error_response(
                415, f"unsupported content type {content_type or '(none)'!r}; send "
                "image/jpeg, image/png, application/octet-stream, or multipart/form-data "
                "with a field named 'image'",
            )
        if content_type == MULTIPART:
            data = await read_multipart_file(request, "image", self._http.max_body_bytes)
        else:
            data = await read_body(request, self._http.max_body_bytes)
        info = await self._model_info()
        async with self._decoding:  # bounds the full-size images held at once
            images, tiles, meta = await asyncio.to_thread(
                self._prepare, data, InputSpec(**info["input"]), tiling == AUTO)
        wanted = tuple(c.strip() for c in classes.split(",") if c.strip()) if classes else None

        def infer_many(frames: list[Any], metas: list[FrameMeta]) -> Any:
            return self._detector.detect_many.remote(
                [DetectRequest(f, m, threshold, wanted)
                 for f, m in zip(frames, metas, strict=True)])

        if tiles is None:
            call = self._detector.detect.remote(DetectRequest(images[0], meta, threshold, wanted))
        else:
            rects, grid = tiles
            call = detect_tiles(infer_many, images, rects, meta, grid)
        try:
            result: DetectedFrame = await asyncio.wait_for(call, self._http.request_timeout_s)
        except TimeoutError:
            return error_response(504, "detector did not answer within "
                                  f"{self._http.request_timeout_s} s")
        except InputError:
            raise  # this image's fault: 400
        except PanorayError as exc:
            log.warning("detect failed: %s", message := error_message(exc))
            return error_response(503, message)
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

    def _prepare(self, data: bytes, spec: InputSpec, tiled: bool
                 ) -> tuple[list[Any], tuple[list[TileRect], TilingConfig] | None, FrameMeta]:
        """The image decoded and resized to the model's input: whole (None), or as the
        tiles a camera's frame of its size is cut into (with their places and tiling)."""
        rgb = decode_image(data, self._http.max_image_side)
        height, width = rgb.shape[:2]
        meta = FrameMeta(HTTP_CAMERA_ID, 0, 0.0, time.time(), width, height)
        tiling = auto_tiling(width, height) if tiled else None
        if tiling is None:
            return [prepare_frame(rgb, spec, color="RGB")[0]], None, meta
        rects = plan_tiles(width, height, tiling)
        return prepare_tiles(rgb, spec, rects, color="RGB"), (rects, tiling), meta

    @app.get("/healthz", response_model=Health, responses={503: {}})
    async def healthz(self) -> Any:
        try:
            info = await asyncio.wait_for(self._model_info(), timeout=5.0)
        except (TimeoutError, Exception) as exc:  # noqa: BLE001 - any failure means not ready
            log.warning("healthz: detector not ready: %s", type(exc).__name__)
            return JSONResponse(status_code=503, content={"ready": False,
                                                          "error": "the detector is not ready"})
        return Health(ready=True, model=info["model"], provider=info["provider"])

    @app.get("/v1/models", dependencies=READ, responses={401: {}})
    async def models(self) -> dict[str, Any]:
        info = await self._model_info()
        return {
            "loaded": info,
            "bundled": [
                {"name": m.name, "family": m.family, "description": m.description}
                for m in BUNDLED.values()
            ],
        }

    @app.get("/openapi.json", dependencies=READ, include_in_schema=False)
    async def openapi(self) -> Any:
        return app.openapi()

    @app.get("/docs", dependencies=READ, include_in_schema=False)
    async def docs(self, request: Request) -> Any:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title="panoray API",
            swagger_js_url=f"{root}/docs/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/favicon.png")

    @app.api_route("/docs/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def docs_file(self, name: str) -> Any:
        return swagger_ui_file(name)  # no data in them: served without the token

    @app.get("/v1/detector/stats", dependencies=READ, responses={401: {}})
    async def detector_stats(self) -> dict[str, Any]:
        """Counters of the detector replica that answers (batches, mean batch size, ...)."""
        return await self._detector.stats.remote()

    # -- runtime API -------------------------------------------------------------------
    @app.get("/v1/cameras", dependencies=READ, responses={401: {}, 503: {}},
             summary="Every camera of the running pipeline: health, counters, restarts")
    async def list_cameras(self) -> Any:
        cameras, alerts = await asyncio.gather(self._ask(lambda c: c.cameras.remote()),
                                               self._ask(lambda c: c.alerts.remote()))
        body: dict[str, Any] = {"cameras": cameras}
        if alerts is not None:  # every alert sink's delivered, failed, pending, dropped
            body["alert_sinks"] = alerts["sinks"]
        return body

    @app.get("/v1/cameras/{camera_id}", dependencies=READ, responses={401: {}, 404: {}, 503: {}},
             summary="One camera: state, reason, counters, restarts, node, config")
    async def get_camera(self, camera_id: str) -> Any:
        return await self._ask(lambda c: c.camera.remote(camera_id))

    @app.post("/v1/cameras", status_code=201, dependencies=CHANGE,
              responses={400: {}, 401: {}, 403: {}, 409: {}, 413: {}, 415: {}, 503: {}},
              summary="Add a camera (the schema of the config's cameras); needs the token")
    async def add_camera(self, request: Request) -> Any:
        camera = await read_model(request, CameraConfig, CAMERA_BODY_LIMIT, "camera",
                                  "one camera as in the config's cameras list")
        if isinstance(camera, Response):
            return camera
        camera = await asyncio.to_thread(  # it may resolve the camera's host name
            check_api_source, camera, self._http.media_roots, self._http.allowed_hosts)
        view = await self._ask(lambda c: c.add_camera.remote(camera))
        return JSONResponse(status_code=201, content=view)

    @app.delete("/v1/cameras/{camera_id}", dependencies=CHANGE,
                responses={401: {}, 403: {}, 404: {}, 503: {}},
                summary="Remove a camera (its open windows are written); needs the token")
    async def remove_camera(self, camera_id: str) -> Any:
        return await self._ask(lambda c: c.remove_camera.remote(camera_id))

    @app.get("/v1/alerts", dependencies=READ, responses={401: {}, 404: {}, 503: {}},
             summary="Open alerts, recent alert events, zone group sums, alert sinks")
    async def alerts(self) -> Any:
        view = await self._ask(lambda c: c.alerts.remote())
        if view is None:
            return error_response(
                404, "no alert rules are configured (the site config's `alerts:`)",
            )
        return view

    @app.get("/v1/live", dependencies=READ, responses={401: {}, 503: {}},
             summary="Current occupancy and counts per camera, zone and line")
    async def live(self) -> Any:
        return await self._ask(lambda c: c.live.remote())

    # -- dashboard ---------------------------------------------------------------------
    # HEAD as GET without the body (the server drops it): curl -I, uptime monitors
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def dashboard_page(self) -> Any:
        return dashboard_file("index.html")

    @app.api_route("/inference", methods=["GET", "HEAD"], include_in_schema=False)
    async def inference_page(self) -> Any:
        return dashboard_file("inference.html")

    @app.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def static_file(self, name: str) -> Any:
        return dashboard_file(name)

    @app.get("/v1/dashboard", dependencies=READ, responses={401: {}, 503: {}},
             summary="The dashboard's poll: cameras, live analytics, still ETags, auth needs")
    async def dashboard(self) -> Any:
        state = await self._ask(lambda c: c.dashboard.remote())
        token = self._http.token is not None
        state["auth"] = {"token_configured": token, "protect_reads": self._http.protect_reads,
                         "changes_allowed": token or self._http.loopback}
        return state

    @app.get("/v1/cameras/{camera_id}/still", dependencies=READ,
             responses={304: {}, 401: {}, 404: {}, 503: {}}, response_class=Response,
             summary="The camera's latest still, people blurred (JPEG)")
    async def camera_still(self, camera_id: str, request: Request) -> Any:
        image = await self._ask(lambda c: c.still.remote(
            camera_id, request.headers.get("if-none-match")))
        return image_response(image, camera_id, "has no still yet (one comes every "
                              "stills.interval_s of media time once it streams; none "
                              "when stills.interval_s is null)")

    @app.get("/v1/cameras/{camera_id}/heatmap", dependencies=READ,
             responses={304: {}, 401: {}, 404: {}, 503: {}}, response_class=Response,
             summary="The camera's open window's heatmap over its blurred still (PNG)")
    async def camera_heatmap(self, camera_id: str, request: Request) -> Any:
        image = await self._ask(lambda c: c.heatmap.remote(
            camera_id, request.headers.get("if-none-match")))
        return image_response(image, camera_id, "has no heatmap: heatmaps are off or no frame has "
                      "reached its analytics yet")

    @app.get("/v1/history", dependencies=READ, responses={401: {}, 404: {}, 503: {}},
             summary="Closed windows' metrics per camera over the last hour")
    async def history(
        self, camera_id: Annotated[str | None, Query(description="only this camera")] = None,
    ) -> Any:
        return await self._ask(lambda c: c.history.remote(camera_id))
