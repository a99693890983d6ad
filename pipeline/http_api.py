"""The HTTP API: a FastAPI app on the Serve ingress, in front of the Detector deployment.

Routes:
    POST /v1/detect   JPEG or PNG (raw body or multipart field ``image``) -> detections
    GET  /healthz     ready, model, provider
    GET  /v1/models   bundled models and the one loaded
    GET  /docs        OpenAPI docs (FastAPI)

Images are decoded and resized here; only the model-sized frame goes to the detector,
where it is batched with camera frames.
"""



import asyncio
import logging
import time
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from ray import serve
from ray.serve.handle import DeploymentHandle

from models.deployment import DetectRequest, DetectResult
from models.preprocess import InputSpec, prepare_frame
from models.registry import BUNDLED
from pipeline.config import HttpConfig
from pipeline.errors import InputError, InputTooLargeError, PanorayError
from pipeline.images import decode_image
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


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


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

    def __init__(self, detector: DeploymentHandle, http: dict[str, Any]) -> None:
        self._detector = detector
        self._http = HttpConfig(**http)
        self._info: dict[str, Any] | None = None
        self._labels: dict[int, str] = {}

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

