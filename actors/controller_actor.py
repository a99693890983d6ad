"""The pipeline controller: a named Ray actor that owns one run.

    PipelineRunner (driver) ──start / status / shutdown──▶ PipelineController
    HttpApi (Serve ingress) ──cameras / add / remove / reads──▶  │ ("panoray-controller")
                                                                 ▼
               ActorGraph (actors/graph.py)  ·  Supervisor (actors/supervisor.py)
               · views (pipeline/control/views.py)

Moving the graph out of the driver lets the HTTP API change it at run time (it finds the
controller by name in the run's namespace) while the driver only starts, watches and
stops it. The controller holds no logic of its own: the graph creates, places, adds and
removes actors; the supervisor reads cameras and re-creates dead ones; the views shape
every read. Cameras are added and removed one at a time under the graph's lock; the
others never wait for it, and reads never take it.

Example:
    >>> ctl = PipelineController.options(name=CONTROLLER_NAME, namespace="panoray").remote(
    ...     site_config, detector_handle)                                 # doctest: +SKIP
    >>> ray.get(ctl.start.remote())                                          # doctest: +SKIP
    3
    >>> ray.get(ctl.add_camera.remote(
    ...     CameraConfig(id="door", url="rtsp://cam/live")))              # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import ray
from pydantic import ValidationError
from ray.exceptions import RayActorError

from actors.batch import OfflineBatch, all_fit, charge, free_per_node, live_nodes, summary_of
from actors.calls import CALL_TIMEOUT_S, awaitable, call
from actors.graph import ActorGraph
from actors.supervisor import Supervisor
from pipeline.config import validation_message
from pipeline.control.geometry import GeometryEdit, apply_geometry_edit
from pipeline.control.records import CameraRecord
from pipeline.control.views import (
    CameraRow,
    camera_view,
    history_view,
    json_safe,
    live_view,
    export_failures,
    run_summary,
    starting_view,
    status_rows,
)
from pipeline.dashboard.history import HISTORY_HORIZON_S
from pipeline.dashboard.stills import EncodedImage
from pipeline.errors import (
    CameraExistsError,
    ConfigError,
    GeometryConflictError,
    PanorayError,
    PipelineUnavailableError,
    UnknownCameraError,
)
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import CameraStats
from pipeline.site_config import SiteConfig
from pipeline.sinks.resume import ResumePlan

log = logging.getLogger(__name__)

CONTROLLER_NAME = "panoray-controller"
"""Ray actor name of the running pipeline's controller, in the run's namespace."""
CONTROLLER_NUM_CPUS = 0.1
"""Logical CPUs reserved by the controller: it mostly waits on other actors."""
CAMERA_START_CONCURRENCY = 4
"""Cameras of the config started at once: faster than one by one, and each camera's
``ray.camera_start_timeout_s`` still covers little more than its own start. With
``ray.camera_placement: spread`` on a cluster of several nodes they start one by one, so
that each placement sees the cameras already placed (:func:`actors.batch.live_nodes`)."""


@ray.remote(num_cpus=CONTROLLER_NUM_CPUS, max_restarts=0)
class PipelineController:
    """Owns the camera, tracker and aggregator actors of one run (arguments: those of
    :class:`~actors.graph.ActorGraph`)."""

    def __init__(
        self, config: SiteConfig, detector: Any, offline: bool = False,
        export_dir: str | None = None, run_id: str | None = None,
        alert_env: dict[str, str] | None = None, resume: ResumePlan | None = None,
    ) -> None:
        logging.basicConfig(level=logging.INFO)
        self._graph = ActorGraph(config, detector, offline, export_dir, run_id, alert_env,
                                 resume)
        self._supervisor = Supervisor(self._graph)
        self._starting: asyncio.Task[int] | None = None
        self._batch: OfflineBatch | None = None  # offline cameras that do not all fit

    # -- start and changes -------------------------------------------------------------
    async def start(self) -> int:
        """Starts the aggregators, trackers and the config's cameras; returns how many
        cameras run.

        Raises:
            PanorayError: a camera or the detector did not start (the message says which).
        """
        self._starting = asyncio.current_task()
        try:
            return await self._start()
        finally:
            self._starting = None

    async def _start(self) -> int:
        graph, cfg = self._graph, self._graph.config
        await graph.start_hosts()
        cameras = list(cfg.cameras)
        if graph.resume is not None:  # cameras whose windows the dead run wrote are done
            cameras = [c for c in cameras if c.id not in graph.resume.done]
            await self._drop_unknown_restored({c.id for c in cameras})
        offline = [c for c in cameras if graph.is_offline(c)]
        await asyncio.gather(*(t.cameras.remote() for t in graph.trackers))  # placed
        free = free_per_node()
        charge(free, [c for c in cameras if not graph.is_offline(c)])
        if offline and not all_fit([dict(n) for n in free], offline,
                                   cfg.ray.max_concurrent_offline):
            # More files than fit: they run as a batch, a few at a time (actors/batch.py).
            self._batch = OfflineBatch(graph, offline, free)
            cameras = [c for c in cameras if not graph.is_offline(c)]
            log.info("offline batch: %d cameras, started as slots free up", len(offline))
        wanted = sum(c.placement.num_cpus for c in cameras)
        free_cpu = ray.available_resources().get("CPU", 0.0)
        if wanted > free_cpu:
            log.warning(
                "the cameras ask for %.2f logical CPUs and %.2f are free now: the cameras "
                "that do not fit wait up to ray.camera_start_timeout_s for the cluster to "
                "grow; lower cameras[].placement.num_cpus (a camera actor mostly waits) or add "
                "nodes",
                wanted, free_cpu)
        # Reserved under the lock, placed outside it (up to ray.camera_start_timeout_s
        # each), listed under it as each one runs: reads, adds and removes answer
        # meanwhile. A few cameras start at a time; spread placement over several nodes
        # sees only actors already placed, so those start one by one.
        spread = cfg.ray.camera_placement == "spread" and live_nodes() > 1
        gate = asyncio.Semaphore(1 if spread else CAMERA_START_CONCURRENCY)
        records: list[CameraRecord] = []
        async with graph.lock:
            for cam in cameras:  # hosts chosen in config order
                records.append(graph.new_record(cam, "config", records))
                graph.starting[cam.id] = records[-1]

        async def launch(record: CameraRecord) -> None:
            try:
                async with gate:
                    await graph.launch(record)
            finally:
                async with graph.lock:
                    graph.starting.pop(record.camera.id, None)
                    if record.camera.id in graph.actors:  # running: listed
                        graph.records[record.camera.id] = record

        outcomes = await asyncio.gather(*(launch(r) for r in records), return_exceptions=True)
        async with graph.lock:  # config cameras listed in config order, API ones after
            rank = {r.camera.id: i for i, r in enumerate(records)}
            listed = sorted(graph.records.items(), key=lambda kv: rank.get(kv[0], len(rank)))
            graph.records.clear()
            graph.records.update(listed)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise failed[0]
        if self._batch is not None:
            self._batch.start()
        self._supervisor.start()
        log.info("pipeline started: %d cameras, run %s, output in %s", len(graph.records),
                 graph.run_id, cfg.output_dir)
        return len(graph.records)

    async def _drop_unknown_restored(self, configured: set[str]) -> None:
        """Removes from their aggregators the restored cameras of a resumed run that are
        not configured (added through the API): their windows are written."""
        graph = self._graph
        for cid, index in sorted(graph.resuming.items()):
            if cid not in configured:
                await graph.aggregators[index].remove_camera.remote(cid)
                del graph.resuming[cid]
                log.warning("camera %s was added through the API: not resumed (its windows "
                            "are written); add it again", cid)

    async def add_camera(self, camera: CameraConfig, added_by: str = "api") -> dict[str, Any]:
        """Adds and starts a camera without disturbing the others.

        Args:
            camera: the camera (validated; an API caller's source already checked).
            added_by: ``api`` or ``config``, shown in its view.

        Returns:
            The camera's view (as :meth:`camera`).

        Raises:
            ConfigError: the camera's zones and lines do not fit the analytics settings,
                or it asks for a placement resource no node has.
            CameraExistsError: the id is taken.
            PipelineUnavailableError: the pipeline is starting (its configured cameras
                are being placed: one added now could take the room one of them waits
                for) or shutting down, an actor it needed died meanwhile, or no node had
                room for it within ``ray.camera_start_timeout_s``.
        """
        graph = self._graph
        try:
            graph.config.analytics_for(camera)
        except ValidationError as exc:
            raise ConfigError(validation_message(exc), f"cameras[{camera.id}]") from None
        _check_resources(camera)
        async with graph.lock:  # held to reserve the id, never across placement
            self._check_open("no camera can be added")
            if self._starting is not None:
                raise PipelineUnavailableError(
                    "the pipeline is starting: its configured cameras are being placed; "
                    "add cameras once it runs (try again in a few seconds)")
            if camera.id in graph.records or camera.id in graph.starting:
                raise CameraExistsError(camera.id)
            record = graph.new_record(camera, added_by, tuple(graph.starting.values()))
            graph.starting[camera.id] = record
        try:
            await graph.launch(record)
        except RayActorError:  # a host died: the supervisor re-creates it at its next check
            raise PipelineUnavailableError(
                f"camera {camera.id!r} was not added: an actor of the run died while it was "
                "placed (a tracker or aggregator is re-created within "
                "ray.camera_check_interval_s); try again in a few seconds") from None
        except PanorayError as exc:  # no room for it within ray.camera_start_timeout_s
            raise PipelineUnavailableError(f"camera {camera.id!r} was not added: {exc}") from None
        finally:
            graph.starting.pop(camera.id, None)
        async with graph.lock:
            if graph.closing:  # shut down while it was being placed
                await graph.remove(record)
                raise PipelineUnavailableError("the pipeline is shutting down")
            graph.records[camera.id] = record
            graph.removed.pop(camera.id, None)
        log.info("camera %s added (%s) on node %s", camera.id, camera.redacted_url,
                 record.node_id)
        return await self.camera(camera.id)

    async def remove_camera(self, camera_id: str) -> dict[str, Any]:
        """Stops a camera (its in-flight frames finish, its open analytics windows are
        written) and forgets it; the others are not disturbed. Returns its final view.

        Raises:
            UnknownCameraError: no such camera.
            PipelineUnavailableError: the pipeline is shutting down.
        """
        graph = self._graph
        async with graph.lock:
            self._check_open("no camera can be removed")
            record = self._record(camera_id)
            final = await graph.remove(record)
        log.info("camera %s removed", camera_id)
        return {**camera_view(record, final), "removed": True}

    async def set_geometry(self, camera_id: str, edit: GeometryEdit) -> dict[str, Any]:
        """Replaces a camera's zones and lines without restarting it: its aggregator
        swaps them at the camera's next window boundary (see
        :mod:`pipeline.analytics.geometry_edit`). Returns the camera's view, its new
        ``geometry_version`` included.

        Raises:
            UnknownCameraError: no such camera.
            GeometryConflictError: ``edit.version`` is given and is not the camera's.
            ConfigError: the geometry does not fit the site (zone groups, entrance lines
                and alert rules naming the camera's zones and lines, zone timings) or the
                camera's frame (pixel coordinates outside it).
            PipelineUnavailableError: the pipeline is shutting down.
        """
        graph = self._graph
        async with graph.lock:
            self._check_open("no geometry can be changed")
            record = self._record(camera_id)
            if edit.version is not None and edit.version != record.geometry_version:
                raise GeometryConflictError(camera_id, edit.version, record.geometry_version)
            site, camera, analytics = apply_geometry_edit(graph.config, record.camera, edit)
            version = record.geometry_version + 1
            await call(record.aggregator.set_geometry.remote(camera_id, analytics, version))
            graph.config, record.camera, record.geometry_version = site, camera, version
        log.info("camera %s: geometry version %d (%d zones, %d lines) from its next window",
                 camera_id, version, len(camera.zones), len(camera.lines))
        return await self.camera(camera_id)

    async def shutdown(self) -> dict[str, Any]:
        """Stops cleanly: in-flight frames finish, trackers confirm every frame, every
        sink is flushed, then every actor is killed. Returns the run summary."""
        graph = self._graph
        graph.closing = True
        if self._starting is not None:  # stopped during start-up: cameras being placed
            self._starting.cancel()
        await self._supervisor.stop()
        if self._batch is not None:
            await self._batch.stop()
        async with graph.lock:
            final, snapshots, flushed = await graph.shutdown(
                graph.config.run.shutdown_timeout_s, self._supervisor.hosts.check)
        summary = run_summary(final, snapshots, export_failures(flushed))
        summary.update(summary_of(self._batch, summary["cameras"]))
        summary["hosts_restarted"] = dict(self._supervisor.hosts.replaced)
        return summary

    # -- reads -------------------------------------------------------------------------
    async def cameras(self) -> list[dict[str, Any]]:
        """Every camera's view, in the order they were added."""
        stats = await self.camera_stats()
        return [camera_view(self._graph.records[cid], s) for cid, s in stats.items()]

    async def camera(self, camera_id: str) -> dict[str, Any]:
        """One camera's health, counters (summed over its actor's restarts), restarts,
        node and config, credentials redacted.

        Raises:
            UnknownCameraError: no such camera.
        """
        record = self._record(camera_id)
        stats = await self._supervisor.poll([camera_id])
        if camera_id not in stats:
            raise UnknownCameraError(camera_id, self._graph.records)
        return camera_view(record, stats[camera_id])

    async def camera_stats(self) -> dict[str, CameraStats]:
        """Every camera's stats (counters summed over its actor's restarts)."""
        return await self._supervisor.poll(list(self._graph.records))

    async def alerts(self) -> dict[str, Any] | None:
        """Open alerts, recent alert events, zone group sums and every alert sink's
        delivered, failed, pending and dropped counters; None without alert rules."""
        return await self._graph.alerts_view()

    async def live(self) -> dict[str, Any]:
        """Current occupancy and counts per camera, zone and line (JSON-ready)."""
        stats = await self.camera_stats()
        return live_view({cid: s.state for cid, s in stats.items()},
                         await self._graph.snapshots())

    async def batch_done(self) -> bool:
        """True when no offline batch runs, or its every file has been removed; a file
        whose actor has ended is still the batch's until its output is written."""
        return self._batch is None or self._batch.done

    async def status(self) -> list[CameraRow]:
        """One row per camera for the live status table."""
        graph = self._graph
        stats = await self.camera_stats()
        records = {cid: graph.records[cid] for cid in stats}
        rows = status_rows(records, stats, await graph.snapshots())
        health = await asyncio.gather(*(asyncio.wait_for(awaitable(a.sink_health.remote()),
                                                         CALL_TIMEOUT_S)
                                        for a in graph.aggregators), return_exceptions=True)
        paused = {a: h["reason"] for a, h in zip(graph.aggregators, health, strict=True)
                  if isinstance(h, dict) and h["paused"]}
        for row in rows:
            why = paused.get(records[row.camera_id].aggregator)
            if why:
                row.reason = f"{row.reason}; output paused ({why})".lstrip("; ")
        return rows if self._batch is None else self._batch.rows(rows)

    # -- dashboard reads (each camera's from the aggregator hosting it) ------------------
    async def still(self, camera_id: str, if_none_match: str | None = None) -> EncodedImage | None:
        """A camera's latest still, people blurred, as JPEG (no data when
        ``if_none_match`` names its ETag); None before its first still.

        Raises:
            UnknownCameraError: no such camera.
        """
        aggregator = self._record(camera_id).aggregator
        return await call(aggregator.still_image.remote(camera_id, if_none_match))

    async def heatmap(self, camera_id: str, if_none_match: str | None = None
                      ) -> EncodedImage | None:
        """The heatmap of a camera's open window so far as PNG over its blurred still;
        None when it has heatmaps off or no frame has reached its analytics yet.

        Raises:
            UnknownCameraError: no such camera.
        """
        aggregator = self._record(camera_id).aggregator
        return await call(aggregator.heatmap_image.remote(camera_id, if_none_match))

    async def history(self, camera_id: str | None = None) -> dict[str, Any]:
        """Closed windows' metrics of the last hour (the aggregators' ``history_s``) per
        camera, as published (suppressed rows nulled), JSON-ready (see
        :func:`pipeline.control.views.history_view`); one camera's when given.

        Raises:
            UnknownCameraError: ``camera_id`` names no camera.
        """
        graph = self._graph
        hosts = [self._record(camera_id).aggregator] if camera_id else graph.aggregators
        if not hosts:  # not started yet
            return history_view({}, HISTORY_HORIZON_S)
        horizon, *parts = await asyncio.wait_for(asyncio.gather(
            hosts[0].history_s.remote(), *(a.history.remote(camera_id) for a in hosts)),
            CALL_TIMEOUT_S)
        merged = {cid: ws for part in parts for cid, ws in part.items() if cid in graph.records}
        return json_safe(history_view(merged, horizon))

    async def dashboard(self) -> dict[str, Any]:
        """Everything the dashboard's poll shows, in one call: every camera's view
        (state, fps, counters, config with zones and lines; credentials redacted), its
        live analytics and its still's ETag and size; ``starting``: the cameras being
        placed (start-up, an add), not listed yet."""
        graph = self._graph
        starting = [starting_view(r) for cid, r in graph.starting.items()
                    if cid not in graph.records]  # read with the stats' list: no await between
        stats = await self.camera_stats()
        snapshots, *infos = await asyncio.wait_for(asyncio.gather(
            graph.snapshots(), *(a.still_infos.remote() for a in graph.aggregators)),
            CALL_TIMEOUT_S)
        live = live_view({cid: s.state for cid, s in stats.items()}, snapshots)
        alerts = await graph.alerts_view()
        return {
            "site": None if alerts is None else {  # zone groups, people inside, open alerts
                k: alerts[k] for k in ("groups", "site_occupancy", "open") if k in alerts},
            "cameras": [camera_view(graph.records[cid], s) for cid, s in stats.items()],
            "starting": starting,
            "live": live["cameras"],
            "events_total": live["events_total"],
            "windows_total": live["windows_total"],
            "stills": {cid: info for part in infos for cid, info in part.items()
                       if cid in graph.records},
        }

    def _check_open(self, what: str) -> None:
        if self._graph.closing:
            raise PipelineUnavailableError(f"the pipeline is shutting down; {what}")

    def _record(self, camera_id: str) -> CameraRecord:
        record = self._graph.records.get(camera_id)
        if record is None:
            raise UnknownCameraError(camera_id, self._graph.records)
        return record


def _check_resources(cam: CameraConfig) -> None:
    """Refuses a camera that asks for a placement resource no node of the cluster has."""
    if not cam.placement.resources:
        return
    total = ray.cluster_resources()
    missing = sorted(name for name in cam.placement.resources if name not in total)
    if missing:
        raise ConfigError(
            f"no node of the cluster has the resource(s) {missing}; nodes offer "
            f"{sorted(k for k in total if not k.startswith('node:'))}",
            f"cameras[{cam.id}].resources",
        )
