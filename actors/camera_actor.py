"""The camera as a Ray actor: a thin shell around :class:`pipeline.ingest.camera.CameraIngest`.

One ``CameraActor`` per camera. It is an async actor: decoding runs in its own thread, so
``health()``, ``stats()`` and ``poll_results()`` answer while frames flow. It takes a
fraction of a CPU (``placement.num_cpus``) so many cameras share a machine. In an offline
batch, an actor whose file has ended takes the next file's camera (``reload``) instead
of a new process starting for it.

Results go, in frame order and several at a time, to the camera's tracker actor
(``tracker.update.remote([DetectedFrame, ...])``) and to a bounded buffer drained with
``poll_results()``; its private stills go to its aggregator actor
(``aggregator.set_still.remote(camera_id, still, blurred)``).

Example:
    >>> cam = start_camera(CameraConfig(id="door", url="rtsp://cam/live"),
    ...                    detector=handle, tracker=tracker)            # doctest: +SKIP
    >>> ray.get(cam.start.remote())                                     # doctest: +SKIP
    >>> ray.get(cam.health.remote()).state                              # doctest: +SKIP
    'streaming'
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import ray
from ray.util import metrics

from actors.downstream import Downstream
from actors.replicas import ReplicaCaller
from models.batcher import ContinuousBatcher
from models.preprocess import InputSpec
from models.requests import DetectRequest
from pipeline.errors import PanorayError
from pipeline.ingest.camera import CameraIngest
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import COUNTERS, CameraHealth, CameraState, CameraStats
from pipeline.types import DetectedFrame, FrameMeta

log = logging.getLogger(__name__)

# Counters exported as panoray_camera_frames_total{outcome=...}.
FRAME_OUTCOMES = {
    "frames_decoded": "decoded", "frames_skipped": "skipped", "frames_dropped": "dropped",
    "frames_sent": "sent", "frames_held": "held", "frames_delivered": "delivered",
    "frames_failed": "failed", "results_evicted": "evicted",
}
# Concurrent actor calls: the run loop plus health/stats/poll callers.
MAX_CONCURRENCY = 32
DETECTOR_INFO_TIMEOUT_S = 60.0
MAX_GROUP_FRAMES = 32
"""Most frames (or tiles) one grouped detector request carries."""


class CameraMetrics:
    """The camera's counters and gauges as Ray metrics, tagged by camera id (never URL)."""

    def __init__(self, camera_id: str) -> None:
        self.frames = metrics.Counter(
            "panoray_camera_frames_total",
            "Frames per outcome: decoded, skipped (target_fps), dropped (overload), sent, "
            "held (skip_static), delivered, failed, evicted.", tag_keys=("camera_id", "outcome"),
        )
        self.reconnects = metrics.Counter(
            "panoray_camera_reconnects_total", "Attempts to reopen a source after a fault.",
            tag_keys=("camera_id",),
        )
        self.forward_errors = metrics.Counter(
            "panoray_camera_forward_errors_total", "Failed calls to the downstream actor.",
            tag_keys=("camera_id",),
        )
        self.fps = metrics.Gauge(
            "panoray_camera_fps", "Frames decoded per second.", tag_keys=("camera_id",)
        )
        self.in_flight = metrics.Gauge(
            "panoray_camera_in_flight", "Frames at the detector or being forwarded.",
            tag_keys=("camera_id",),
        )
        self.pending = metrics.Gauge(
            "panoray_camera_pending", "Decoded frames waiting for an in-flight slot.",
            tag_keys=("camera_id",),
        )
        self.latency = metrics.Gauge(
            "panoray_camera_latency_ms", "Moving average of decode-to-delivery time (ms).",
            tag_keys=("camera_id",),
        )
        self.state = metrics.Gauge(
            "panoray_camera_state", "1 for the camera's current state, 0 for the others.",
            tag_keys=("camera_id", "state"),
        )
        self.rename(camera_id)

    def rename(self, camera_id: str) -> None:
        """Tags what follows with ``camera_id`` (an actor taking the next camera of a
        batch); counters start again from that camera's zero."""
        for m in (self.frames, self.reconnects, self.forward_errors, self.fps,
                  self.in_flight, self.pending, self.latency, self.state):
            m.set_default_tags({"camera_id": camera_id})
        self._last = dict.fromkeys(COUNTERS, 0)

    def export(self, stats: CameraStats) -> None:
        """Adds the counters' increase since the last export; sets the gauges."""
        for name, outcome in FRAME_OUTCOMES.items():
            self._inc(self.frames, stats, name, {"outcome": outcome})
        self._inc(self.reconnects, stats, "reconnects")
        self._inc(self.forward_errors, stats, "forward_errors")
        self.fps.set(stats.fps)
        self.in_flight.set(stats.in_flight)
        self.pending.set(stats.pending)
        self.latency.set(stats.latency_ms)
        for state in CameraState:
            self.state.set(1.0 if state.value == stats.state else 0.0, {"state": state.value})

    def _inc(self, metric: metrics.Counter, stats: CameraStats, name: str,
             tags: dict[str, str] | None = None) -> None:
        value = getattr(stats, name)
        delta = value - self._last[name]
        if delta > 0:
            metric.inc(delta, tags)
        self._last[name] = value


@ray.remote(max_concurrency=MAX_CONCURRENCY)
class CameraActor:
    """One camera: decode, pace, resize, infer with bounded concurrency, deliver in order.

    Args:
        config: the camera.
        detector: the Detector deployment: a ``ReplicaCaller``, or its DeploymentHandle
            (then called on its replicas directly), or None to deliver frame metadata
            only (measuring ingest alone).
        tracker: the tracker actor that receives the results, or None.
        aggregator: the aggregator actor that receives the camera's private stills, or
            None for no stills.
        blur_people: make stills private before they leave; False only when the operator
            turned it off (``privacy.blur_people``).
        input_spec: the model input to resize to when there is no detector; None: no
            resizing. With a detector, its declared input is used.
    """

    def __init__(
        self,
        config: CameraConfig,
        detector: Any = None,
        tracker: Any = None,
        aggregator: Any = None,
        input_spec: InputSpec | None = None,
        blur_people: bool = True,
    ) -> None:
        logging.basicConfig(level=logging.INFO)
        _quiet_opencv()
        if detector is not None and not isinstance(detector, ReplicaCaller):
            detector = ReplicaCaller(detector)
        self._detector: ReplicaCaller | None = detector
        self._blur_people = blur_people
        self._metrics = CameraMetrics(config.id)
        self._exporter: asyncio.Task[None] | None = None
        self._setup(config, tracker, aggregator, input_spec)

    def _setup(self, config: CameraConfig, tracker: Any, aggregator: Any,
               spec: InputSpec | None) -> None:
        """Everything that belongs to one camera: its ingest loop, deliveries, groups."""
        self._config = config
        detector = self._detector
        self._downstream = Downstream(tracker, aggregator)
        deliver = still_sink = None
        if tracker is not None:
            deliver = self._downstream.deliver
        if aggregator is not None:
            downstream, blur = self._downstream, self._blur_people

            async def still_sink(meta: FrameMeta, still: Any) -> None:
                await downstream.send_still(meta.camera_id, still, blur)

        self._ingest = CameraIngest(
            config, spec=spec, infer=self._detect if detector else None,
            deliver=deliver, still_sink=still_sink, blur_people=self._blur_people,
            infer_many=self._detect_tiles if detector else None,
        )
        group = config.inference.group_requests
        if group is None:
            group = config.mode == "offline"
        # Frames waiting while groups are at the detector leave together as the next group
        # (at most max_groups_in_flight groups out at once).
        self._grouper: ContinuousBatcher[DetectRequest, Any] | None = (
            ContinuousBatcher(self._detect_group, max_batch_size=MAX_GROUP_FRAMES,
                              batch_wait_timeout_s=0.0,
                              max_concurrent_batches=config.inference.max_groups_in_flight)
            if detector is not None and group else None)
        self._task: asyncio.Task[CameraStats] | None = None

    async def reload(self, config: CameraConfig, tracker: Any, aggregator: Any) -> None:
        """Takes another camera (the next file of an offline batch) once this one's run
        loop has ended, as a new actor would, but without a new process (whose start
        costs a second or more of CPU): nothing of the previous camera carries over but
        the input spec (the detector's) and the timing of the detector's replicas. Call
        :meth:`start` next.

        Raises:
            PanorayError: this camera's run loop has not ended.
        """
        if self._task is None or not self._task.done():
            raise PanorayError(f"camera {self._config.id!r} is still running; it cannot "
                               f"take camera {config.id!r}")
        if self._grouper is not None:
            self._grouper.close()
        self._metrics.rename(config.id)
        self._setup(config, tracker, aggregator, self._ingest.spec)

    async def _detect(self, frame: Any, meta: FrameMeta) -> DetectedFrame:
        request = DetectRequest(frame=frame, meta=meta)
        if self._grouper is not None:
            return await self._grouper.submit(request)
        return await self._detector.call("detect", request)

    async def _detect_tiles(self, frames: list[Any], metas: list[FrameMeta]) -> Sequence[Any]:
        """A tiled frame's tiles: one detector call (or their places in the next group)."""
        requests = [DetectRequest(frame=f, meta=m) for f, m in zip(frames, metas, strict=True)]
        if self._grouper is not None:
            return await asyncio.gather(*(self._grouper.submit(r) for r in requests))
        return await self._detect_group(requests)  # a tile's error in its place

    async def _detect_group(self, requests: list[DetectRequest]) -> list[Any]:
        return await self._detector.call("detect_many", requests, weight=len(requests))

    async def start(self, resume_after: int | None = None) -> CameraHealth:
        """Starts the run loop in the background (no-op while running); returns health.
        ``resume_after``: the camera's previous actor died having delivered its source's
        frames up to this index, and this one continues after it
        (:meth:`CameraIngest.continue_after`).

        Raises:
            PanorayError: the detector did not report its input spec in time.
        """
        if self._task is not None and not self._task.done():
            return self._ingest.stats().health()
        if self._detector is not None and self._ingest.spec is None:
            try:
                info = await asyncio.wait_for(
                    self._detector.call("info"), DETECTOR_INFO_TIMEOUT_S
                )
            except Exception as exc:  # noqa: BLE001 - reported with context
                raise PanorayError(
                    f"camera {self._config.id!r}: the detector did not report its input "
                    f"spec: {type(exc).__name__}: {exc}"
                ) from None
            self._ingest.spec = InputSpec(**info["input"])
        if resume_after is not None:
            self._ingest.continue_after(resume_after)
        self._task = asyncio.create_task(self._run())
        if self._exporter is None:
            self._exporter = asyncio.create_task(self._export_loop())
        await asyncio.sleep(0)  # let the run loop enter `connecting`
        return self._ingest.stats().health()

    async def _run(self) -> CameraStats:
        try:
            return await self._ingest.run()
        except Exception:  # noqa: BLE001 - a bug in the loop must not kill the actor
            log.exception("camera %s: run loop crashed", self._config.id)
            return self._ingest.stats()
        finally:
            self._metrics.export(self._ingest.stats())

    async def _export_loop(self) -> None:
        while True:
            try:
                self._metrics.export(self._ingest.stats())
            except Exception:  # noqa: BLE001 - metrics must never stop the camera
                log.exception("camera %s: exporting metrics failed", self._config.id)
            await asyncio.sleep(self._config.health.metrics_interval_s)

    async def stop(self, timeout_s: float | None = None) -> CameraStats:
        """Stops decoding, finishes the frames already decoded, and returns final stats.

        Args:
            timeout_s: longest wait for in-flight frames (default ``stop_timeout_s``);
                after it the run loop is cancelled.
        """
        self._ingest.request_stop()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(
                    asyncio.shield(self._task), timeout_s or self._config.inference.stop_timeout_s
                )
            except TimeoutError:
                log.warning("camera %s: stop timed out; cancelling", self._config.id)
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._exporter is not None:  # the run loop's end exported the last figures
            self._exporter.cancel()  # (killed pending, it logged "Task was destroyed")
            await asyncio.gather(self._exporter, return_exceptions=True)
            self._exporter = None  # a next start (the batch's next file) makes another
        return self._ingest.stats()

    async def wait(self, timeout_s: float) -> CameraStats:
        """Waits until the run loop ends (file ended, failed, stopped) or ``timeout_s``."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=timeout_s)
        return self._ingest.stats()

    async def health(self) -> CameraHealth:
        """State, reason, last error, reconnects and fps."""
        return self._ingest.stats().health()

    async def stats(self) -> CameraStats:
        """Health plus every counter, rate and queue depth."""
        return self._ingest.stats()

    async def set_downstream(self, tracker: Any = None, aggregator: Any = None) -> None:
        """Re-attaches the camera to a re-created tracker and/or aggregator actor (None
        keeps the current one); deliveries waiting for it go on."""
        self._downstream.replace(tracker, aggregator)

    async def poll_results(self, max_n: int = 64) -> list[DetectedFrame]:
        """Removes and returns up to ``max_n`` buffered results, in frame order."""
        return self._ingest.poll_results(max_n)


def start_camera(
    config: CameraConfig,
    detector: Any = None,
    tracker: Any = None,
    aggregator: Any = None,
    input_spec: InputSpec | None = None,
    name: str | None = None,
    blur_people: bool = True,
    spread: bool = False,
) -> ray.actor.ActorHandle:
    """Creates a CameraActor with the camera's placement (not started yet).

    Args:
        config: the camera.
        detector: Detector DeploymentHandle, or None for metadata only.
        tracker: tracker actor receiving the results, or None.
        aggregator: aggregator actor receiving the private stills, or None.
        input_spec: resize target without a detector (see :class:`CameraActor`).
        name: optional Ray actor name (for example ``camera-<id>``).
        blur_people: see :class:`CameraActor`.
        spread: spread camera actors over the nodes that can host them (Ray's SPREAD).
    """
    placement = config.placement
    options: dict[str, Any] = {"num_cpus": placement.num_cpus, "max_concurrency": MAX_CONCURRENCY}
    if name:
        options["name"] = name
    if placement.resources:
        options["resources"] = dict(placement.resources)
    if spread:
        options["scheduling_strategy"] = "SPREAD"
    return CameraActor.options(**options).remote(  # type: ignore[attr-defined]
        config, detector, tracker, aggregator, input_spec, blur_people
    )


def _quiet_opencv() -> None:
    """Keeps OpenCV's own warnings (noise such as backend probing) out of the actor log."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # older OpenCV builds without cv2.utils.logging
        cv2.setLogLevel(2)
