"""Builds and runs the actor graph of a deployment.

    camera actors ──frames──▶ Detector (Serve, batched) ──▶ tracker actors ──▶ aggregator
    (one per camera)                                        (cameras spread)    actors ──▶ Parquet

Each camera actor awaits its tracker call before forwarding the next frame, and each
tracker bounds its unconfirmed aggregator calls, so in offline mode backpressure reaches
the decoder and nothing is dropped. Shutdown is ordered so that nothing is lost: cameras
finish their in-flight frames, trackers confirm every forwarded frame and write the track
export, aggregators close their windows and flush their sinks.
"""

from __future__ import annotations

import logging
import pathlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import ray

from actors.aggregator_actor import AggregatorActor
from actors.camera_actor import start_camera
from actors.tracker_actor import TrackerActor
from pipeline.analytics.aggregator import AggregatorSnapshot
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import CameraState, CameraStats
from pipeline.serving import init_ray, start_serving
from pipeline.site_config import SiteCamera, SiteConfig
from pipeline.sinks.parquet import ParquetSinkConfig

log = logging.getLogger(__name__)

SITE_ONLY_FIELDS = {"zones", "lines", "tracker", "still_interval_s"}
ACTOR_CALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RunOptions:
    """Command-line overrides of a run.

    Attributes:
        output_dir: overrides ``sinks.output_dir``.
        offline: process every camera in offline mode (no drops, as fast as possible).
        export_tracks: directory for per-camera MOTChallenge track files, or None.
        address: Ray cluster address, overriding ``ray.address``.
        duration_s: overrides ``run.duration_s``.
    """

    output_dir: pathlib.Path | None = None
    offline: bool = False
    export_tracks: pathlib.Path | None = None
    address: str | None = None
    duration_s: float | None = None


@dataclass
class CameraRow:
    """One camera's line of the live status table."""

    camera_id: str
    state: str
    reason: str
    fps: float
    decoded: int
    delivered: int
    dropped: int
    failed: int
    reconnects: int
    occupancy: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)


def camera_source_config(camera: SiteCamera, offline: bool) -> CameraConfig:
    """The ingest part of a site camera, with the run's mode applied."""
    data = camera.model_dump(exclude=SITE_ONLY_FIELDS)
    if offline:
        data["mode"] = "offline"
    return CameraConfig.model_validate(data)


class PipelineRunner:
    """Starts, watches and stops one deployment on Ray.

    Args:
        config: the validated site config.
        options: command-line overrides.
        detector: a DeploymentHandle of an already running Detector to use instead of
            deploying one (several runs in one Ray session, as in tests).
    """

    def __init__(
        self, config: SiteConfig, options: RunOptions | None = None, detector: Any = None
    ) -> None:
        self.config = config
        self.options = options or RunOptions()
        self.output_dir = pathlib.Path(self.options.output_dir or config.sinks.output_dir)
        self.cameras: dict[str, Any] = {}
        self.trackers: list[Any] = []
        self.aggregators: list[Any] = []
        self._camera_tracker: dict[str, Any] = {}
        self.started_at = 0.0
        self.detector: Any = detector

    # -- start -------------------------------------------------------------------------
    def start(self) -> None:
        """Joins or starts Ray, deploys the detector and starts every actor."""
        cfg = self.config
        init_ray(self.options.address or cfg.ray.address, namespace=cfg.ray.namespace)
        if self.detector is None:
            self.detector = start_serving(cfg.model, cfg.serving, cfg.http, access_logs=False)
        sink = ParquetSinkConfig(
            root=self.output_dir.resolve(),
            max_buffer_rows=cfg.sinks.max_buffer_rows,
            events_retention_days=cfg.sinks.events_retention_days,
            aggregates_retention_days=cfg.sinks.aggregates_retention_days,
        )
        self.aggregators = [AggregatorActor.remote(sink) for _ in range(cfg.ray.aggregator_actors)]
        export = str(self.options.export_tracks.resolve()) if self.options.export_tracks else None
        self.trackers = [
            TrackerActor.remote(downstream=self.aggregators[i % len(self.aggregators)],
                                export_dir=export)
            for i in range(cfg.ray.tracker_actors)
        ]
        for i, cam in enumerate(cfg.cameras):
            self._add(cam, self.trackers[i % len(self.trackers)])
        self.started_at = time.monotonic()
        log.info("pipeline started: %d cameras, output in %s", len(self.cameras), self.output_dir)

    def _add(self, cam: SiteCamera, tracker: Any) -> None:
        ray.get(tracker.add_camera.remote(
            cam.id, self.config.tracker_for(cam.id).model_dump(), self.config.analytics_for(cam.id)
        ), timeout=ACTOR_CALL_TIMEOUT_S)
        actor = start_camera(
            camera_source_config(cam, self.options.offline), detector=self.detector,
            downstream=tracker, downstream_method="update",
        )
        ray.get(actor.start.remote(), timeout=ACTOR_CALL_TIMEOUT_S)
        self.cameras[cam.id] = actor
        self._camera_tracker[cam.id] = tracker

    # -- watch -------------------------------------------------------------------------
    def camera_stats(self) -> dict[str, CameraStats]:
        """Every camera's counters (a camera whose actor died reports ``failed``)."""
        refs = {cid: a.stats.remote() for cid, a in self.cameras.items()}
        out = {}
        for cid, ref in refs.items():
            try:
                out[cid] = ray.get(ref, timeout=ACTOR_CALL_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001 - a lost actor is a state, not a crash
                out[cid] = CameraStats(cid, "", "unknown", CameraState.FAILED.value,
                                       f"camera actor lost: {type(exc).__name__}", time.time(),
                                       "", 0.0, 0, 0.0)
        return out

    def snapshots(self) -> list[AggregatorSnapshot]:
        """Live analytics of every aggregator."""
        return ray.get([a.snapshot.remote() for a in self.aggregators],
                       timeout=ACTOR_CALL_TIMEOUT_S)

    def status(self) -> list[CameraRow]:
        """One row per camera for the live table."""
        stats = self.camera_stats()
        live = {c.camera_id: c for snap in self.snapshots() for c in snap.cameras}
        rows = []
        for cid, s in stats.items():
            row = CameraRow(cid, s.state, s.reason or s.last_error, s.fps, s.frames_decoded,
                            s.frames_delivered, s.frames_dropped, s.frames_failed, s.reconnects)
            snap = live.get(cid)
            if snap is not None:
                row.occupancy = {z.zone_id: z.occupancy for z in snap.zones}
                row.counts = {ln.line_id: {ln.lr_direction: ln.lr_count,
                                           ln.rl_direction: ln.rl_count} for ln in snap.lines}
                row.queues = {z.zone_id: {"length": z.queue.length, "est_wait_s": z.queue.est_wait_s,
                                          "method": z.queue.method}
                              for z in snap.zones if z.queue is not None}
            rows.append(row)
        return rows

    def finished(self, rows: list[CameraRow]) -> bool:
        """True when every camera is in a terminal state (files ended, sources failed)."""
        return all(CameraState(r.state).terminal for r in rows)

    def wait(self, stop: threading.Event, on_status: Any = None) -> str:
        """Runs until the sources end, the duration passes or ``stop`` is set.

        Args:
            stop: set from a signal handler to stop the run.
            on_status: called with the status rows at every refresh.

        Returns:
            ``ended``, ``duration`` or ``stopped``: why the run ended.
        """
        duration = self.options.duration_s or self.config.run.duration_s
        interval = self.config.run.status_interval_s
        while True:
            rows = self.status()
            if on_status is not None:
                on_status(rows)
            if stop.is_set():
                return "stopped"
            if self.finished(rows):
                return "ended"
            if duration is not None and time.monotonic() - self.started_at >= duration:
                return "duration"
            stop.wait(interval)

    # -- stop --------------------------------------------------------------------------
    def shutdown(self) -> dict[str, Any]:
        """Stops cleanly: in-flight frames finish, every sink is flushed. Returns a summary."""
        stop_refs = [a.stop.remote() for a in self.cameras.values()]
        final: dict[str, CameraStats] = {}
        for cid, ref in zip(self.cameras, stop_refs):
            try:
                final[cid] = ray.get(ref, timeout=ACTOR_CALL_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001
                log.error("camera %s did not stop cleanly: %s", cid, type(exc).__name__)
        tracker_stats = [ray.get(t.flush.remote(), timeout=ACTOR_CALL_TIMEOUT_S)
                         for t in self.trackers]
        snapshots = self.snapshots()
        ray.get([a.close.remote() for a in self.aggregators], timeout=ACTOR_CALL_TIMEOUT_S)
        for actor in [*self.cameras.values(), *self.trackers, *self.aggregators]:
            ray.kill(actor)
        return self._summary(final, tracker_stats, snapshots)

    def _summary(
        self, final: dict[str, CameraStats], trackers: list[dict[str, Any]],
        snapshots: list[AggregatorSnapshot],
    ) -> dict[str, Any]:
        live = {c.camera_id: c for snap in snapshots for c in snap.cameras}
        analytics_errors = {k: v for t in trackers for k, v in t["analytics_errors"].items()}
        cameras = {}
        for cid, s in final.items():
            snap = live.get(cid)
            cameras[cid] = {
                "state": s.state, "reason": s.reason, "frames_decoded": s.frames_decoded,
                "frames_delivered": s.frames_delivered, "frames_dropped": s.frames_dropped,
                "frames_failed": s.frames_failed, "reconnects": s.reconnects,
                "analytics_error": analytics_errors.get(cid),
                "visits": {z.zone_id: z.visits_total for z in snap.zones} if snap else {},
                "crossings": {ln.line_id: {ln.lr_direction: ln.lr_count,
                                           ln.rl_direction: ln.rl_count}
                              for ln in snap.lines} if snap else {},
            }
        return {
            "cameras": cameras,
            "events_total": sum(s.events_total for s in snapshots),
            "windows_total": sum(s.windows_total for s in snapshots),
            "output_dir": str(self.output_dir),
            "wall_s": round(time.monotonic() - self.started_at, 2),
        }
