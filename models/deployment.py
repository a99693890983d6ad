"""The detector as a Ray Serve deployment, batching frames from every caller together.

Callers (camera actors, the HTTP endpoint, benchmarks) send one :class:`DetectRequest` per
frame through a DeploymentHandle::

    result = await handle.detect.remote(DetectRequest(frame, meta))   # models.requests

A :class:`~models.batcher.ContinuousBatcher` groups requests from all callers into one ONNX
Runtime call, forming each batch when the previous one has finished (Serve's
``@serve.batch`` forms batches while one still runs, so under load they stay at one or two
frames; see models/batcher.py). Each item is
checked on its own: a malformed frame fails only its own request, with an
:class:`~pipeline.errors.InputError`, never the rest of the batch. Such a refusal is the
caller's fault, not the replica's: it is logged as one WARNING line (Serve's own log of a
failed request is an ERROR with the traceback), and counted once per image.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray import serve
from ray.util import metrics

from models.batcher import ContinuousBatcher
from models.config import ModelConfig, ServingConfig
from models.detector import OnnxDetector
from models.requests import DetectRequest
from models.stats_board import DetectorStats, StatsBoard, merge_replicas
from pipeline.errors import InputError, PanorayError, error_message
from pipeline.types import DetectedFrame, FrameMeta

log = logging.getLogger(__name__)


_BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128]
_MS_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]
SERVE_LOGGER = "ray.serve"
"""The logger that a Serve replica writes ``Request failed.`` to, at ERROR with the
traceback, for every exception a deployment's method raises."""
MAX_LOGGED_REFUSAL = 300
"""Longest refusal message logged (characters)."""


class RefusalAsWarning(logging.Filter):
    """Turns a log record of an :class:`InputError` (Serve's ``Request failed.``, at
    ERROR with the traceback) into one WARNING line naming what was wrong: a caller's
    malformed frame or settings is not a fault of this replica."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, InputError):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "request refused (%s): %s"
            record.args = (exc.field or "request",
                           " ".join(error_message(exc).split())[:MAX_LOGGED_REFUSAL])
            record.exc_info = record.exc_text = record.stack_info = None
        return True


def rejected_images(requests: Sequence[Any], results: Sequence[Any]) -> int:
    """How many images ``requests`` stand for among those refused (an InputError in
    ``results``, in the same order): an image's tiles, whose FrameMeta differ only in
    width and height, count once; any other request on its own."""
    images: set[Hashable] = set()
    for index, (request, result) in enumerate(zip(requests, results)):
        if isinstance(result, InputError):
            images.add(_image_of(request, index))
    return len(images)


def _image_of(request: Any, index: int) -> Hashable:
    """The camera, frame and times of a request's image (shared by its tiles), or
    ``index`` for a request without a FrameMeta (or with unhashable fields)."""
    meta = getattr(request, "meta", None)
    if not isinstance(request, DetectRequest) or not isinstance(meta, FrameMeta):
        return index
    key = (meta.camera_id, meta.frame_index, meta.pts_s, meta.captured_at)
    try:
        hash(key)
    except TypeError:
        return index
    return key


@serve.deployment(name="Detector")
class Detector:
    """Serve deployment wrapping :class:`OnnxDetector` with cross-caller batching.

    Args:
        model: the model and its post-processing.
        serving: replicas and batching; its batch settings apply to this replica.
    """

    def __init__(self, model: ModelConfig, serving: ServingConfig) -> None:
        logging.basicConfig(level=logging.INFO)
        serve_log = logging.getLogger(SERVE_LOGGER)
        if not any(isinstance(f, RefusalAsWarning) for f in serve_log.filters):
            serve_log.addFilter(RefusalAsWarning())
        self._serving = serving
        self._core = OnnxDetector(model)  # warms up before serving
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnxruntime")
        self._stats = DetectorStats()
        try:
            context = serve.get_replica_context()
            self._replica_id = context.replica_id.unique_id
            # One board per deployment of an app (models/stats_board.py).
            self._board_name: str | None = (
                f"panoray-stats:{context.app_name}:{context.deployment}")
        except Exception:  # noqa: BLE001 - outside Serve (direct construction in tools)
            self._replica_id = "local"
            self._board_name = None
        self._board: Any = None
        self._publisher: asyncio.Task[None] | None = None
        self._batch_size = serving.batch_size(on_gpu=self._core.provider != "cpu")
        self._batcher: ContinuousBatcher[tuple[DetectRequest, float], DetectedFrame] = (
            ContinuousBatcher(self._run_batch, self._batch_size,
                              self._serving.batch_wait_timeout_s))
        tags = {"model": self._core.source.name, "provider": self._core.provider}
        keys = tuple(tags)
        self._m_batch = metrics.Histogram(
            "panoray_detector_batch_size", "Frames per model run.", _BATCH_BUCKETS, keys)
        self._m_infer = metrics.Histogram(
            "panoray_detector_inference_ms", "Model run time per batch (ms).", _MS_BUCKETS, keys)
        self._m_queue = metrics.Histogram(
            "panoray_detector_queue_ms", "Wait before a frame's batch runs (ms).", _MS_BUCKETS,
            keys)
        self._m_errors = metrics.Counter(
            "panoray_detector_rejected_total", "Requests rejected as malformed.", keys)
        for m in (self._m_batch, self._m_infer, self._m_queue, self._m_errors):
            m.set_default_tags(tags)

    async def detect(self, request: DetectRequest) -> DetectedFrame:
        """Detects objects in one preprocessed frame, batched with other callers' frames.

        Raises:
            InputError: this request's frame, threshold or classes are malformed.
        """
        try:
            return await self._batcher.submit((request, time.perf_counter()))
        except InputError:
            self._count_rejected(1)
            raise

    async def detect_many(
        self, requests: list[DetectRequest]
    ) -> list[DetectedFrame | PanorayError]:
        """Several frames in one call (a camera's waiting frames or a frame's tiles).

        One Ray call instead of one per frame; each frame joins the model batches like a
        :meth:`detect` call. Errors come back per frame, in place of its result; the
        refused tiles of one image count as one error (:func:`rejected_images`).

        Raises:
            InputError: ``requests`` is not a list.
        """
        if not isinstance(requests, list):
            raise InputError(f"expected a list of DetectRequest, got {type(requests).__name__}",
                             "requests")
        now = time.perf_counter()
        results = await asyncio.gather(
            *(self._batcher.submit((r, now)) for r in requests), return_exceptions=True)
        self._count_rejected(rejected_images(requests, results))
        return [r if isinstance(r, (DetectedFrame, PanorayError)) else InputError(
            f"{type(r).__name__}: {r}", "request") for r in results]

    async def _run_batch(
        self, items: list[tuple[DetectRequest, float]]
    ) -> list[DetectedFrame | Exception]:
        started = time.perf_counter()
        results: list[DetectedFrame | Exception | None] = [None] * len(items)
        good: list[int] = []
        params = []
        for i, (req, _) in enumerate(items):
            try:
                if not isinstance(req, DetectRequest):
                    raise InputError(
                        f"expected a DetectRequest, got {type(req).__name__}", "request"
                    )
                self._core.check_frame(req.frame)
                params.append(self._core.params(req.threshold, req.classes))
                good.append(i)
            except PanorayError as exc:
                results[i] = exc
        inference_s = 0.0
        if good:
            frames = [items[i][0].frame for i in good]
            sizes = [(items[i][0].meta.width, items[i][0].meta.height) for i in good]
            loop = asyncio.get_running_loop()
            t0 = time.perf_counter()
            try:
                dets = await loop.run_in_executor(
                    self._pool, self._core.detect, frames, sizes, params
                )
            except PanorayError as exc:
                dets = [exc] * len(good)
            inference_s = time.perf_counter() - t0
            for i, d in zip(good, dets):
                req, arrived = items[i]
                results[i] = d if isinstance(d, Exception) else DetectedFrame(
                    req.meta, d, 1000 * inference_s, 1000 * (started - arrived), len(good)
                )
        queue_s = sum(started - arrived for _, arrived in items)
        self._stats.record_batch(len(items), len(good), queue_s, inference_s)
        self._start_publishing()
        if good:
            self._m_batch.observe(len(good))
            self._m_infer.observe(1000 * inference_s)
        for _, arrived in items:
            self._m_queue.observe(1000 * (started - arrived))
        return results  # type: ignore[return-value]

    def _count_rejected(self, images: int) -> None:
        """Counts ``images`` requests refused as malformed (stats and metric)."""
        if images:
            self._stats.record_rejected(images)
            self._m_errors.inc(images)

    def info(self) -> dict[str, Any]:
        """Model, family, provider and input spec of this replica."""
        return self._core.info()

    def labels(self) -> dict[int, str]:
        """Class id to label of the loaded model."""
        return dict(self._core.labels)

    async def stats(self) -> dict[str, Any]:
        """Counters summed over the deployment's replicas (:func:`merge_replicas`: the
        others' as last posted, at most ``stats_interval_s`` old), per replica under
        ``replicas``; the id of the replica that answers under ``replica``, and what runs
        there (threads, provider, model, batch settings)."""
        self._start_publishing()
        board: dict[str, Any] = {}
        if self._board_name is not None:
            try:
                board = await self._board_handle().collect.remote()
            except Exception as exc:  # noqa: BLE001 - its owner replica went; made anew
                log.info("detector stats board unavailable (%s); this replica's only", exc)
                self._board = None
        return {**merge_replicas(self._replica_id, self._stats.raw(), board),
                "replica": self._replica_id,
                "threads": self._core.config.intra_op_threads or "all",
                "provider": self._core.provider,
                "model": self._core.source.name,
                "max_batch_size": self._batch_size,
                "batch_wait_timeout_s": self._serving.batch_wait_timeout_s}

    def _board_handle(self) -> Any:
        if self._board is None:
            self._board = StatsBoard.options(  # type: ignore[attr-defined]
                name=self._board_name, get_if_exists=True
            ).remote(self._serving.stats_forget_after_s)
        return self._board

    def _start_publishing(self) -> None:
        """Starts posting this replica's counters to the board (once; on the loop)."""
        if self._board_name is None or (self._publisher and not self._publisher.done()):
            return
        self._publisher = asyncio.get_running_loop().create_task(self._publish())

    async def _publish(self) -> None:
        """Posts the counters every ``stats_interval_s``, also when nothing changed (the
        board forgets replicas it has not heard from)."""
        while True:
            try:
                await self._board_handle().post.remote(self._replica_id, self._stats.raw())
            except Exception as exc:  # noqa: BLE001 - never fatal: stats only
                log.info("detector stats board unavailable (%s); making it anew", exc)
                self._board = None
            await asyncio.sleep(self._serving.stats_interval_s)

    def check_health(self) -> None:
        """Serve's health probe: fails if the inference thread pool has shut down."""
        if self._pool._shutdown:  # noqa: SLF001 - no public accessor
            raise RuntimeError("inference pool is shut down")


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _on_gpu(serving: ServingConfig, gpus_in_cluster: float) -> bool:
    """Whether replicas run on GPUs: the cluster has some now, or the config asks for them
    (an autoscaling cluster may add its GPU workers only once replicas ask)."""
    return gpus_in_cluster > 0 or (serving.num_gpus or 0.0) > 0


def replica_count(serving: ServingConfig, gpus_in_cluster: float = 0.0,
                  cores: int | None = None) -> int:
    """The fixed replica count ``serving.replicas`` stands for (``auto`` resolved).

    ``auto``: 1 with GPUs (in the cluster, or asked for by ``serving.num_gpus``); otherwise
    one replica per CPU core (``cores``, default :func:`cpu_cores`), at most
    ``serving.auto_max_replicas``.
    """
    if serving.replicas != "auto":
        return serving.replicas
    if _on_gpu(serving, gpus_in_cluster):
        return 1
    return max(1, min(serving.auto_max_replicas, cores if cores is not None else cpu_cores()))


def replica_model(model: ModelConfig, serving: ServingConfig,
                  gpus_in_cluster: float = 0.0, cores: int | None = None) -> ModelConfig:
    """The model config each replica runs: ``intra_op_threads`` 0 (automatic) becomes 1
    when several CPU replicas share the cores.

    One single-threaded ONNX Runtime session does about 30 % more work per core than one
    spread over the cores (on 2 cores, SSDLite at batch 8: 56 images/s on one thread,
    82 on two), and replicas that each keep to one core leave the others to the decoders
    instead of stalling at every parallel section when a decoder takes a core.
    """
    several = serving.autoscaling or replica_count(serving, gpus_in_cluster, cores) > 1
    if model.intra_op_threads == 0 and not _on_gpu(serving, gpus_in_cluster) and several:
        return model.model_copy(update={"intra_op_threads": 1})
    return model


def detector_options(serving: ServingConfig, gpus_in_cluster: float = 0.0,
                     cores: int | None = None) -> dict[str, Any]:
    """Ray Serve deployment options for the detector from a ServingConfig.

    Args:
        serving: the serving section of the config.
        gpus_in_cluster: GPUs the cluster reports; used when ``serving.num_gpus`` is None
            and for ``replicas: auto``.
        cores: CPU cores for ``replicas: auto`` (default: this process's, :func:`cpu_cores`).
    """
    num_gpus = serving.num_gpus
    if num_gpus is None:
        num_gpus = 0.5 if gpus_in_cluster > 0 else 0.0
    count = replica_count(serving, gpus_in_cluster, cores)
    num_cpus = serving.num_cpus
    if serving.replicas == "auto" and not serving.autoscaling:
        num_cpus /= count  # auto replicas together reserve what one replica would
    options: dict[str, Any] = {
        "max_ongoing_requests": serving.max_ongoing_requests,
        "ray_actor_options": {"num_cpus": num_cpus, "num_gpus": num_gpus},
    }
    if serving.autoscaling:
        options["autoscaling_config"] = {
            "min_replicas": serving.min_replicas,
            "max_replicas": serving.max_replicas,
            "target_ongoing_requests": serving.target_ongoing_requests,
        }
    else:
        options["num_replicas"] = count
    return options
