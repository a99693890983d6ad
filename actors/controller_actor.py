"""The pipeline controller: a named Ray actor that owns one run's actor graph.

    PipelineRunner (driver) ──start / status / shutdown──▶ PipelineController
    HttpApi (Serve ingress) ──cameras / add / remove / live──▶   │ ("panoray-controller")
                                                                 ▼ owns
           camera actors ──frames──▶ Detector ──▶ tracker actors ──▶ aggregator actors

Moving the graph out of the driver lets the HTTP API change it at run time (it finds the
controller by name in the run's namespace) while the driver only starts, watches and
stops it. Cameras are added and removed one at a time under a lock; the others never wait
for it, and reads never take the lock.

Fault tolerance is controller-driven: camera actors have no Ray restarts
(``max_restarts=0``). Every ``ray.camera_check_interval_s`` the controller reads each
camera's stats; a camera whose actor died (its node was lost) while it was running is
re-created on a node that can host it, counted in ``restarts``, and its tracker splices the
new actor's frames onto the camera's timeline (``TrackerActor.resume_camera``), so frame
numbers, media time, analytics windows and heatmap names go on where they stopped and its
counters keep adding up. Ray's own restart (``max_restarts``) would re-run the actor's
constructor but not ``start()`` it, and nothing downstream would learn that the camera's
frame numbers and media time began again. The controller, trackers and aggregators are
placed on the driver's node (``ray.state_on_driver_node``), so a lost worker node takes no
analytics state or output file with it.

Example:
    >>> ctl = PipelineController.options(name=CONTROLLER_NAME, namespace="panoray").remote(
    ...     site_config, detector_handle, "/data/out")                    # doctest: +SKIP
    >>> ray.get(ctl.start.remote())                                          # doctest: +SKIP
    3
    >>> ray.get(ctl.add_camera.remote({"id": "door", "url": "rtsp://cam/live"}))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import ray
from pydantic import ValidationError
from ray.exceptions import ActorDiedError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.aggregator_actor import AggregatorActor
from actors.camera_actor import MAX_CONCURRENCY, CameraSource
from actors.tracker_actor import TrackerActor
from pipeline.analytics.aggregator import AggregatorSnapshot
from pipeline.control import (
    CameraExistsError,
    CameraRecord,
    CameraRow,
    PipelineClosedError,
    UnknownCameraError,
    camera_source_config,
    camera_view,
    check_api_source,
    json_safe,
    live_view,
    lost_stats,
    pick_tracker,
    run_summary,
    status_rows,
    validation_message,
)
from pipeline.dashboard.history import HISTORY_HORIZON_S
from pipeline.dashboard.images import EncodedImage
from pipeline.dashboard.views import history_view
from pipeline.errors import ConfigError, PanorayError
from pipeline.ingest.health import CameraStats
from pipeline.sinks.parquet import ParquetSinkConfig
from pipeline.site_config import SiteCamera, SiteConfig

log = logging.getLogger(__name__)

CONTROLLER_NUM_CPUS = 0.1
"""Logical CPUs reserved by the controller: it mostly waits on other actors."""
CALL_TIMEOUT_S = 60.0
"""Longest the controller waits for one call that changes the graph (stop a camera,
flush a tracker); starting a camera has its own ``ray.camera_start_timeout_s``."""
STATS_TIMEOUT_S = 10.0
"""Longest a camera may take to report its stats before it is shown as not answering."""
CAMERA_START_CONCURRENCY = 4
"""Cameras of the config started at once: faster than one by one, and each camera's
``ray.camera_start_timeout_s`` still covers little more than its own start. With
``ray.camera_placement: spread`` they start one by one, so that each placement sees the
cameras already placed."""
MAX_REMOVED_KEPT = 1024
"""Final stats of removed cameras kept for the run summary (the oldest are dropped)."""


@ray.remote(num_cpus=CONTROLLER_NUM_CPUS, max_restarts=0)
class PipelineController:
    """Owns the camera, tracker and aggregator actors of one run.

    Args:
        config: the validated site config.
        detector: DeploymentHandle of the Detector deployment.
        output_dir: absolute directory of the Parquet tables.
        offline: run every camera in offline mode.
        export_dir: absolute directory of the MOTChallenge track export, or None.
    """

    def __init__(
        self, config: SiteConfig, detector: Any, output_dir: str, offline: bool = False,
        export_dir: str | None = None,
    ) -> None:
        logging.basicConfig(level=logging.INFO)
        self._config = config
        self._detector = detector
        self._output_dir = output_dir
        self._offline = offline
        self._export_dir = export_dir
        self._records: dict[str, CameraRecord] = {}
        self._actors: dict[str, Any] = {}
        self._removed: OrderedDict[str, tuple[CameraRecord, CameraStats]] = OrderedDict()
        # Per removed camera id, where its track ids stopped, so that a camera added again
        # under that id never reuses an id in this run (one int per id ever removed).
        self._next_track_ids: dict[str, int] = {}
        self._trackers: list[Any] = []
        self._aggregators: list[Any] = []
        self._lock = asyncio.Lock()
        self._closing = False
        self._supervisor: asyncio.Task[None] | None = None
        self._node_id = ray.get_runtime_context().get_node_id()
        self._started_at = time.time()

    # -- start -------------------------------------------------------------------------
    async def start(self) -> int:
        """Starts the aggregators, trackers and the config's cameras; returns how many
        cameras run.

        Raises:
            PanorayError: a camera or the detector did not start (the message says which).
        """
        cfg = self._config
        sink = ParquetSinkConfig(
            root=pathlib.Path(self._output_dir),
            run_id=uuid.uuid4().hex,  # one per run: track ids restart in every run
            max_buffer_rows=cfg.sinks.max_buffer_rows,
            events_retention_days=cfg.sinks.events_retention_days,
            aggregates_retention_days=cfg.sinks.aggregates_retention_days,
        )
        placed = self._state_placement()
        self._aggregators = [AggregatorActor.options(**placed).remote(sink)
                             for _ in range(cfg.ray.aggregator_actors)]
        self._trackers = [
            TrackerActor.options(**placed).remote(
                downstream=self._aggregators[i % len(self._aggregators)],
                export_dir=self._export_dir)
            for i in range(cfg.ray.tracker_actors)
        ]
        await asyncio.gather(*(a.ready.remote() for a in self._aggregators))
        wanted = sum(camera_source_config(c, self._offline).num_cpus for c in cfg.cameras)
        free = ray.available_resources().get("CPU", 0.0)
        if wanted > free:
            log.warning(
                "the cameras ask for %.2f logical CPUs and %.2f are free now: the cameras "
                "that do not fit wait up to ray.camera_start_timeout_s for the cluster to "
                "grow; lower cameras[].num_cpus (a camera actor mostly waits) or add nodes",
                wanted, free)
        async with self._lock:
            # A few cameras start at a time, each listed as soon as it runs: a camera waits
            # for its actor's process, not for all the others.
            # Spread placement sees only actors already placed: those start one by one.
            spread = cfg.ray.camera_placement == "spread"
            gate = asyncio.Semaphore(1 if spread else CAMERA_START_CONCURRENCY)

            async def launch(record: CameraRecord) -> None:
                async with gate:
                    await self._launch(record)
                self._records[record.camera.id] = record

            outcomes = await asyncio.gather(
                *(launch(CameraRecord(cam, "config", i % len(self._trackers)))
                  for i, cam in enumerate(cfg.cameras)),
                return_exceptions=True)
            order = [c.id for c in cfg.cameras]  # listed in config order, not start order
            self._records = {cid: self._records[cid] for cid in order if cid in self._records}
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                raise failed[0]
        self._supervisor = asyncio.create_task(self._supervise())
        log.info("pipeline started: %d cameras, run %s, output in %s", len(self._records),
                 sink.run_id, self._output_dir)
        return len(self._records)

    def _state_placement(self) -> dict[str, Any]:
        if not self._config.ray.state_on_driver_node:
            return {}
        return {"scheduling_strategy": NodeAffinitySchedulingStrategy(self._node_id, soft=True)}

    async def _launch(self, record: CameraRecord, resume: bool = False) -> None:
        """Creates and starts the camera's actor; on a resume its tracker is told first."""
        cam = record.camera
        tracker = self._trackers[record.tracker]
        if resume:
            await tracker.resume_camera.remote(cam.id)
        else:
            source = camera_source_config(cam, self._offline)
            smoothing = self._config.smoothing if source.mode == "offline" else None
            await tracker.add_camera.remote(
                cam.id, (cam.tracker or self._config.tracker).model_dump(),
                self._config.analytics.for_camera(cam), smoothing,
                self._next_track_ids.get(cam.id, 1),
            )
        source = camera_source_config(cam, self._offline, self._config.privacy.blur_people)
        options: dict[str, Any] = {"num_cpus": source.num_cpus, "max_concurrency": MAX_CONCURRENCY}
        if cam.resources:
            options["resources"] = dict(cam.resources)
        if self._config.ray.camera_placement == "spread":
            options["scheduling_strategy"] = "SPREAD"
        actor = CameraSource.options(**options).remote(
            source, self._detector, tracker, "update", None, "set_still"
        )
        timeout = self._config.ray.camera_start_timeout_s
        try:
            await asyncio.wait_for(_awaitable(actor.start.remote()), timeout)
        except BaseException as exc:
            ray.kill(actor)
            if not resume:
                await _quietly(tracker.remove_camera.remote(cam.id))
            if isinstance(exc, TimeoutError):
                raise PanorayError(
                    f"camera {cam.id!r}: its actor did not start within {timeout:.0f} s "
                    f"(ray.camera_start_timeout_s; is there a node with {source.num_cpus} "
                    f"free CPU{' and ' + str(dict(cam.resources)) if cam.resources else ''}?)"
                ) from None
            raise
        self._actors[cam.id] = actor
        record.node_id = await asyncio.to_thread(_actor_node, actor)

    # -- runtime changes ---------------------------------------------------------------
    async def add_camera(self, camera: SiteCamera | Mapping[str, Any],
                         check_source: bool = True) -> dict[str, Any]:
        """Adds and starts a camera without disturbing the others.

        Args:
            camera: a SiteCamera or its fields (the schema of the config's cameras).
            check_source: refuse sources outside ``http.media_roots`` (API callers).

        Returns:
            The camera's view (as :meth:`camera`).

        Raises:
            ConfigError: invalid camera or analytics config, unknown placement resource.
            CameraExistsError: the id is taken.
            SourceNotAllowedError: the source may not be read by an API caller.
            PipelineClosedError: the pipeline is shutting down.
        """
        cam = camera if isinstance(camera, SiteCamera) else _parse_camera(camera)
        if check_source:
            cam = check_api_source(cam, self._config.http.media_roots)
        try:
            self._config.analytics.for_camera(cam)
        except ValidationError as exc:
            raise ConfigError(validation_message(exc), f"cameras[{cam.id}]") from None
        self._check_resources(cam)
        async with self._lock:
            if self._closing:
                raise PipelineClosedError("the pipeline is shutting down; no camera can be added")
            if cam.id in self._records:
                raise CameraExistsError(cam.id)
            record = CameraRecord(cam, "api" if check_source else "config",
                                  pick_tracker(self._records.values(), len(self._trackers)))
            await self._launch(record)
            self._records[cam.id] = record
            self._removed.pop(cam.id, None)
        log.info("camera %s added (%s) on node %s", cam.id, cam.redacted_url, record.node_id)
        return await self.camera(cam.id)

    def _check_resources(self, cam: SiteCamera) -> None:
        if not cam.resources:
            return
        total = ray.cluster_resources()
        missing = sorted(name for name in cam.resources if name not in total)
        if missing:
            raise ConfigError(
                f"no node of the cluster has the resource(s) {missing}; nodes offer "
                f"{sorted(k for k in total if not k.startswith('node:'))}",
                f"cameras[{cam.id}].resources",
            )

    async def remove_camera(self, camera_id: str) -> dict[str, Any]:
        """Stops a camera (its in-flight frames finish, its open analytics windows are
        written) and forgets it; the others are not disturbed. Returns its final view.

        Raises:
            UnknownCameraError: no such camera.
            PipelineClosedError: the pipeline is shutting down.
        """
        async with self._lock:
            if self._closing:
                raise PipelineClosedError("the pipeline is shutting down")
            record = self._records.get(camera_id)
            if record is None:
                raise UnknownCameraError(camera_id, self._records)
            actor = self._actors.pop(camera_id)
            try:
                final = record.total(await asyncio.wait_for(
                    _awaitable(actor.stop.remote()), CALL_TIMEOUT_S))
            except Exception as exc:  # noqa: BLE001 - a lost actor still gets removed
                final = lost_stats(record, f"camera actor lost: {type(exc).__name__}")
            tracker = self._trackers[record.tracker]
            self._next_track_ids[camera_id] = await asyncio.wait_for(
                _awaitable(tracker.next_track_id.remote(camera_id)), CALL_TIMEOUT_S)
            await asyncio.wait_for(
                _awaitable(tracker.remove_camera.remote(camera_id)), CALL_TIMEOUT_S)
            ray.kill(actor)
            del self._records[camera_id]
            self._removed[camera_id] = (record, final)
            while len(self._removed) > MAX_REMOVED_KEPT:
                self._removed.popitem(last=False)
        log.info("camera %s removed", camera_id)
        return {**camera_view(record, final), "removed": True}

    # -- reads -------------------------------------------------------------------------
    async def cameras(self) -> list[dict[str, Any]]:
        """Every camera's view, in the order they were added."""
        stats = await self._poll(list(self._records))
        return [camera_view(self._records[cid], s) for cid, s in stats.items()
                if cid in self._records]

    async def camera(self, camera_id: str) -> dict[str, Any]:
        """One camera's health, counters (summed over its actor's restarts), restarts,
        node and config, credentials redacted.

        Raises:
            UnknownCameraError: no such camera.
        """
        if camera_id not in self._records:
            raise UnknownCameraError(camera_id, self._records)
        stats = await self._poll([camera_id])
        if camera_id not in stats:
            raise UnknownCameraError(camera_id, self._records)
        return camera_view(self._records[camera_id], stats[camera_id])

    async def live(self) -> dict[str, Any]:
        """Current occupancy and counts per camera, zone and line (JSON-ready)."""
        stats = await self._poll(list(self._records))
        return live_view({cid: s.state for cid, s in stats.items()}, await self._snapshots())

    async def status(self) -> list[CameraRow]:
        """One row per camera for the live status table."""
        stats = await self._poll(list(self._records))
        records = {cid: self._records[cid] for cid in stats if cid in self._records}
        return status_rows(records, stats, await self._snapshots())

    async def camera_stats(self) -> dict[str, CameraStats]:
        """Every camera's stats (counters summed over its actor's restarts)."""
        return await self._poll(list(self._records))

    async def snapshots(self) -> list[AggregatorSnapshot]:
        """Live analytics of every aggregator."""
        return await self._snapshots()

    async def info(self) -> dict[str, Any]:
        """The run: cameras, restarts in total, node of the controller, start time."""
        return {"cameras": len(self._records), "removed": len(self._removed),
                "restarts": sum(r.restarts for r in self._records.values()),
                "node_id": self._node_id, "started_at": self._started_at,
                "closing": self._closing, "offline": self._offline}

    async def _snapshots(self) -> list[AggregatorSnapshot]:
        return list(await asyncio.wait_for(
            asyncio.gather(*(a.snapshot.remote() for a in self._aggregators)), CALL_TIMEOUT_S))

    async def _poll(self, camera_ids: list[str]) -> dict[str, CameraStats]:
        """Reads the cameras' stats; a camera whose actor is gone reports its last ones."""
        pairs = [(cid, self._actors.get(cid)) for cid in camera_ids]
        results = await asyncio.gather(
            *(asyncio.wait_for(_awaitable(a.stats.remote()), STATS_TIMEOUT_S)
              for _, a in pairs if a is not None),
            return_exceptions=True,
        )
        out: dict[str, CameraStats] = {}
        it = iter(results)
        for cid, actor in pairs:
            record = self._records.get(cid)
            if record is None:
                continue
            if actor is None:  # being re-created right now
                out[cid] = lost_stats(record, "camera actor is being re-created")
                continue
            res = next(it)
            if isinstance(res, CameraStats):
                if self._actors.get(cid) is actor:
                    record.last = record.total(res)
                out[cid] = record.total(res)
            elif isinstance(res, ActorDiedError):
                why = record.lost or "camera actor died (node lost?); re-creating it"
                out[cid] = lost_stats(record, why)
            else:
                out[cid] = lost_stats(record, f"camera actor not answering: {type(res).__name__}")
        return out

    # -- supervision -------------------------------------------------------------------
    async def _supervise(self) -> None:
        interval = self._config.ray.camera_check_interval_s
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                await self._check_cameras()
            except Exception:  # noqa: BLE001 - supervision must go on
                log.exception("checking the cameras failed")

    async def _check_cameras(self) -> None:
        pairs = list(self._actors.items())
        results = await asyncio.gather(
            *(asyncio.wait_for(_awaitable(a.stats.remote()), STATS_TIMEOUT_S) for _, a in pairs),
            return_exceptions=True,
        )
        for (cid, actor), res in zip(pairs, results, strict=True):
            record = self._records.get(cid)
            if record is None or self._actors.get(cid) is not actor:
                continue
            if isinstance(res, CameraStats):
                record.last = record.total(res)
            elif isinstance(res, ActorDiedError):
                await self._restart(cid, actor)

    async def _restart(self, camera_id: str, dead: Any) -> None:
        async with self._lock:
            record = self._records.get(camera_id)
            if self._closing or record is None or self._actors.get(camera_id) is not dead:
                return
            if record.lost:
                return
            if not record.needs_restart(self._config.ray.max_camera_restarts):
                record.lost = (f"camera actor died after {record.restarts} restart(s); "
                               "not re-created" if record.restarts else
                               "camera actor died after the camera had finished")
                log.error("camera %s: %s", camera_id, record.lost)
                return
            old_node = record.node_id
            record.carry_over()
            del self._actors[camera_id]
            try:
                await self._launch(record, resume=True)
            except Exception as exc:  # noqa: BLE001 - retried at the next check
                self._actors[camera_id] = dead
                log.error("camera %s: re-creating its actor failed (will retry): %s",
                          camera_id, exc)
                return
            record.restarts += 1
        log.warning("camera %s: its actor died (node %s); re-created on node %s "
                    "(restart %d)", camera_id, old_node, record.node_id, record.restarts)

    # -- stop --------------------------------------------------------------------------
    async def shutdown(self) -> dict[str, Any]:
        """Stops cleanly: in-flight frames finish, trackers confirm every frame, every
        sink is flushed, then every actor is killed. Returns the run summary."""
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        async with self._lock:
            ids = list(self._records)
            stops = await asyncio.gather(
                *(asyncio.wait_for(_awaitable(self._actors[cid].stop.remote()), CALL_TIMEOUT_S)
                  for cid in ids),
                return_exceptions=True,
            )
            final: dict[str, tuple[CameraRecord, CameraStats]] = {}
            for cid, res in zip(ids, stops, strict=True):
                record = self._records[cid]
                if isinstance(res, CameraStats):
                    final[cid] = (record, record.total(res))
                else:
                    log.error("camera %s did not stop cleanly: %s", cid, type(res).__name__)
                    final[cid] = (record, lost_stats(record, "did not stop cleanly"))
            tracker_stats = [await asyncio.wait_for(_awaitable(t.flush.remote()), CALL_TIMEOUT_S)
                             for t in self._trackers]
            snapshots = await self._snapshots()
            await asyncio.wait_for(
                asyncio.gather(*(a.close.remote() for a in self._aggregators)), CALL_TIMEOUT_S)
            for actor in [*self._actors.values(), *self._trackers, *self._aggregators]:
                ray.kill(actor)
            self._actors.clear()
        for cid, pair in self._removed.items():
            final.setdefault(cid, pair)
        return run_summary(final, tracker_stats, snapshots, self._output_dir)

    # -- dashboard (reads; routed to the aggregator hosting each camera) -----------------
    def _aggregator_of(self, camera_id: str) -> Any:
        """The aggregator actor hosting a camera: its tracker's downstream.

        Raises:
            UnknownCameraError: no such camera.
        """
        record = self._records.get(camera_id)
        if record is None:
            raise UnknownCameraError(camera_id, self._records)
        return self._aggregators[record.tracker % len(self._aggregators)]

    async def still(self, camera_id: str, if_none_match: str | None = None) -> EncodedImage | None:
        """A camera's latest still, people blurred, as JPEG (no data when
        ``if_none_match`` names its ETag); None before its first still.

        Raises:
            UnknownCameraError: no such camera.
        """
        ref = self._aggregator_of(camera_id).still_image.remote(camera_id, if_none_match)
        return await asyncio.wait_for(_awaitable(ref), CALL_TIMEOUT_S)

    async def heatmap(
        self, camera_id: str, if_none_match: str | None = None
    ) -> EncodedImage | None:
        """The heatmap of a camera's open window so far as PNG over its blurred still;
        None when it has heatmaps off or no frame has reached its analytics yet.

        Raises:
            UnknownCameraError: no such camera.
        """
        ref = self._aggregator_of(camera_id).heatmap_image.remote(camera_id, if_none_match)
        return await asyncio.wait_for(_awaitable(ref), CALL_TIMEOUT_S)

    async def history(self, camera_id: str | None = None) -> dict[str, Any]:
        """Closed windows' metrics of the last hour (the aggregators' ``history_s``) per
        camera, as published (suppressed rows nulled), JSON-ready (see
        :func:`pipeline.dashboard.views.history_view`); one camera's when given.

        Raises:
            UnknownCameraError: ``camera_id`` names no camera.
        """
        hosts = [self._aggregator_of(camera_id)] if camera_id else self._aggregators
        if not hosts:  # not started yet
            return history_view({}, HISTORY_HORIZON_S)
        horizon, *parts = await asyncio.wait_for(asyncio.gather(
            hosts[0].history_s.remote(), *(a.history.remote(camera_id) for a in hosts)),
            CALL_TIMEOUT_S)
        merged = {cid: ws for part in parts for cid, ws in part.items() if cid in self._records}
        return json_safe(history_view(merged, horizon))

    async def dashboard(self) -> dict[str, Any]:
        """Everything the dashboard's poll shows, in one call: every camera's view
        (state, fps, counters, config with zones and lines; credentials redacted), its
        live analytics and its still's ETag and size."""
        stats = await self._poll(list(self._records))
        snapshots, *infos = await asyncio.wait_for(asyncio.gather(
            self._snapshots(), *(a.still_infos.remote() for a in self._aggregators)),
            CALL_TIMEOUT_S)
        live = live_view({cid: s.state for cid, s in stats.items()}, snapshots)
        return {
            "cameras": [camera_view(self._records[cid], s) for cid, s in stats.items()
                        if cid in self._records],
            "live": live["cameras"],
            "events_total": live["events_total"],
            "windows_total": live["windows_total"],
            "stills": {cid: info for part in infos for cid, info in part.items()
                       if cid in self._records},
        }


def _awaitable(ref: ray.ObjectRef) -> asyncio.Future[Any]:
    """An ObjectRef as an asyncio future (``asyncio.wait_for`` needs one)."""
    return asyncio.wrap_future(ref.future())


async def _quietly(ref: ray.ObjectRef) -> None:
    try:
        await asyncio.wait_for(_awaitable(ref), CALL_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - best-effort cleanup
        log.debug("cleanup call failed: %s", type(exc).__name__)


def _parse_camera(data: Mapping[str, Any]) -> SiteCamera:
    try:
        return SiteCamera.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(validation_message(exc)) from None


def _actor_node(actor: Any) -> str | None:
    """The node an actor runs on, or None when Ray does not say (best effort)."""
    try:
        from ray._private.state import actors as actor_table

        info = actor_table(actor_id=actor._actor_id.hex())
        return (info.get("Address") or {}).get("NodeID") or None
    except Exception:  # noqa: BLE001 - informational only
        return None
