"""The analytics of many cameras: the core of the aggregator actor. Analytics only.

An :class:`Aggregator` hosts one :class:`CameraAnalytics` per camera and routes each
:class:`~pipeline.types.TrackedFrame` to its camera by ``meta.camera_id``. A camera is
added with its config and started at its first frame, whose size resolves normalised
zones and lines. What comes out (events and closed windows) is returned to the caller,
which sends it on to sinks and the dashboard (``actors.aggregator_actor``).

Example:
    >>> import numpy as np
    >>> from pipeline.types import FrameMeta, TrackedFrame, Tracks
    >>> agg = Aggregator()
    >>> agg.add_camera("cam1", AnalyticsConfig(zones=[{"id": "all", "min_visit_s": 0,
    ...                 "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}]))
    >>> t = Tracks(np.array([[40, 40, 60, 60]], np.float32), np.ones(1, np.float32),
    ...            np.zeros(1, np.int16), np.array([1]))
    >>> out = agg.update([TrackedFrame(FrameMeta("cam1", 0, 0.0, 1.8e9, 100, 100), t)])
    >>> [e.kind for e in out.events], agg.snapshot().cameras[0].zones[0].occupancy
    (['zone_enter'], 1)
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import CameraSnapshot, ClosedWindow, Event, HeatmapGrid
from pipeline.analytics.geometry import resolve_camera_geometry
from pipeline.analytics.geometry_edit import PendingGeometry, stamp_events, stamp_windows
from pipeline.analytics.plugin_host import PluginHost, PluginTable, make_plugins
from pipeline.analytics.plugins import Deadline, PluginCamera
from pipeline.errors import ConfigError, InputError, PanorayError
from pipeline.types import TrackedFrame

MAX_ENDED_PLUGIN_ERRORS = 4096
"""Removed cameras whose stopped plugins the snapshot still reports (an offline batch's
ended files, for the run summary), newest kept."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregatorSnapshot:
    """Live state of every camera an aggregator hosts.

    Attributes:
        cameras: per camera whose analytics started (a frame arrived), by camera id.
        events_total: events emitted since start.
        windows_total: windows closed since start.
        errors: per camera whose analytics could not start, why (for example a zone's
            pixel coordinates outside its frames).
    """

    cameras: tuple[CameraSnapshot, ...]
    events_total: int
    windows_total: int
    errors: dict[str, str] = field(default_factory=dict)
    plugin_errors: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per camera, each analytics plugin that was stopped and why (removed cameras
    included, up to :data:`MAX_ENDED_PLUGIN_ERRORS`)."""
    output: dict[str, Any] = field(default_factory=dict)
    """Set on the last snapshot, at the close: the sinks' state then (``dropped_rows``,
    ``buffered_rows`` left unwritten, ``reason``; see ``Sinks.health``)."""


@dataclass
class AnalyticsOutput:
    """What a batch of frames produced.

    Attributes:
        events: the frames' events, in frame order.
        windows: the windows those frames closed.
        errors: one message per frame that failed (it did not stop the others).
    """

    events: list[Event] = field(default_factory=list)
    windows: list[ClosedWindow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Aggregator:
    """Hosts :class:`CameraAnalytics` for many cameras.

    Args:
        labels: the model's class names by class id, which zones and lines name in their
            ``classes``; None when every track is a person.
        clock: wall seconds (``time.perf_counter``), which holds analytics plugins to
            their ``max_busy_s``; None: not held.
        deadline: interrupts a plugin call past that budget
            (:data:`~pipeline.analytics.plugins.Deadline`); None: not interrupted.
    """

    def __init__(self, labels: Mapping[int, str] | None = None,
                 clock: Callable[[], float] | None = None,
                 deadline: Deadline | None = None) -> None:
        self.labels = None if labels is None else dict(labels)
        self.clock = clock
        self.deadline = deadline
        self._configs: dict[str, AnalyticsConfig] = {}
        self._cameras: dict[str, CameraAnalytics] = {}
        self._errors: dict[str, str] = {}
        self._versions: dict[str, int] = {}  # per edited camera, its geometry version
        self._pending: dict[str, PendingGeometry] = {}  # edits waiting for a window boundary
        self._plugins: dict[str, PluginHost] = {}
        self._plugin_tables: list[PluginTable] = []
        self._ended_plugin_errors: OrderedDict[str, dict[str, str]] = OrderedDict()
        self.events_total = 0
        self.windows_total = 0

    @property
    def camera_ids(self) -> tuple[str, ...]:
        """The cameras added, sorted."""
        return tuple(sorted(self._configs))

    def add_camera(self, camera_id: str, config: AnalyticsConfig,
                   geometry_version: int = 0) -> None:
        """Adds a camera; its analytics start with its first frame.

        ``geometry_version`` numbers its zones and lines (0 as configured; a camera added
        again after edits keeps counting from its edited version).

        Raises:
            ConfigError: the camera is already hosted, or ``config`` is not an
                AnalyticsConfig.
        """
        if camera_id in self._configs:
            raise ConfigError(f"camera {camera_id!r} is already added; remove it first")
        if not isinstance(config, AnalyticsConfig):
            raise ConfigError(f"camera {camera_id!r}: analytics config must be an "
                              f"AnalyticsConfig, got {type(config).__name__}")
        self._configs[camera_id] = config
        self._ended_plugin_errors.pop(camera_id, None)
        if geometry_version:
            self._versions[camera_id] = int(geometry_version)

    def set_geometry(self, camera_id: str, config: AnalyticsConfig, version: int) -> None:
        """Replaces a camera's zones and lines from its next window boundary on (see
        :mod:`pipeline.analytics.geometry_edit`); before its first frame, at once. A newer
        edit asked for before the boundary replaces a pending one.

        Args:
            camera_id: a hosted camera.
            config: its analytics with the new zones and lines; every other setting (the
                window length above all) as before.
            version: the geometry version it becomes, above the camera's current one.

        Raises:
            InputError: the camera is not hosted, or ``version`` is not above its current.
            ConfigError: the window settings differ, or pixel coordinates lie outside the
                camera's frames (known once it started).
        """
        self._check(camera_id)
        current = self._pending.get(camera_id)
        now = current.version if current else self._versions.get(camera_id, 0)
        if version <= now:
            raise InputError(f"camera {camera_id!r}: geometry version {version} is not newer "
                             f"than its version {now}", "version")
        old = self._configs[camera_id]
        if config.model_dump(exclude={"zones", "lines"}) != old.model_dump(
                exclude={"zones", "lines"}):
            raise ConfigError(f"camera {camera_id!r}: a geometry edit changes zones and lines "
                              "only, not the window or other analytics settings")
        cam = self._cameras.get(camera_id)
        if cam is None:  # not started: its first frame starts it with the new geometry
            self._configs[camera_id], self._versions[camera_id] = config, version
            self._errors.pop(camera_id, None)
            return
        resolve_camera_geometry(config, cam.width, cam.height, camera_id)  # fits the frame?
        self._pending[camera_id] = PendingGeometry(config, version, cam.snapshot().pts_s)

    def geometry_version(self, camera_id: str) -> int:
        """The version of the zones and lines a camera is counted with now."""
        return self._versions.get(camera_id, 0)

    def remove_camera(self, camera_id: str) -> list[ClosedWindow]:
        """Stops a camera: closes its open windows early and returns them."""
        self._check(camera_id)
        del self._configs[camera_id]
        self._errors.pop(camera_id, None)
        self._pending.pop(camera_id, None)
        version = self._versions.pop(camera_id, 0)
        cam = self._cameras.pop(camera_id, None)
        windows = stamp_windows(cam.close(), version) if cam is not None else []
        self._close_plugins(camera_id, windows)
        host = self._plugins.pop(camera_id, None)
        if host is not None and host.errors:  # for the run summary
            self._ended_plugin_errors[camera_id] = dict(host.errors)
            while len(self._ended_plugin_errors) > MAX_ENDED_PLUGIN_ERRORS:
                self._ended_plugin_errors.popitem(last=False)
        self.windows_total += len(windows)
        return windows

    def update(self, frames: Sequence[TrackedFrame]) -> AnalyticsOutput:
        """Feeds frames, each to its camera, in order; a frame that fails does not stop
        the others (its error is in the output)."""
        out = AnalyticsOutput()
        for frame in frames:
            try:
                cam = self._camera_for(frame)
                if cam is None:
                    continue
                frame = frame.at_size(cam.width, cam.height)  # its first frames' pixel grid
                cid = frame.meta.camera_id
                if self._pending and cid in self._pending:
                    cam = self._swap_due(cam, frame.meta.pts_s, out)
                version = self._versions.get(cid, 0)
                events = stamp_events(cam.update(frame), version)
                windows = stamp_windows(cam.pop_closed_windows(), version)
                host = self._plugins.get(cid)
                if host is not None:
                    self._plugin_tables += host.update(frame, events)
                    self._close_plugins(cid, windows)
                out.events += events
                out.windows += windows
            except PanorayError as exc:
                out.errors.append(str(exc))
        self.events_total += len(out.events)
        self.windows_total += len(out.windows)
        return out

    def idle(self, camera_id: str, wall_s: float, final: bool = False) -> list[ClosedWindow]:
        """A live camera delivered no frame up to wall time ``wall_s`` (it is down):
        returns the windows that closes (see :meth:`CameraAnalytics.idle`); none for a
        camera not hosted or without a frame yet."""
        cam = self._cameras.get(camera_id)
        if cam is None:
            return []
        cam.idle(wall_s, final)
        windows = stamp_windows(cam.pop_closed_windows(), self._versions.get(camera_id, 0))
        self._close_plugins(camera_id, windows)
        self.windows_total += len(windows)
        return windows

    def snapshot(self) -> AggregatorSnapshot:
        """The live state: occupancy now, counts so far, queue waits, open windows."""
        return AggregatorSnapshot(
            tuple(self._cameras[c].snapshot() for c in sorted(self._cameras)),
            self.events_total, self.windows_total, dict(self._errors),
            {**self._ended_plugin_errors,
             **{c: dict(h.errors) for c, h in self._plugins.items() if h.errors}})

    def camera_snapshot(self, camera_id: str, zones_only: bool = False
                        ) -> CameraSnapshot | None:
        """One camera's live state, or None when it is not hosted or not started
        (``zones_only``: see :meth:`CameraAnalytics.snapshot`)."""
        cam = self._cameras.get(camera_id)
        return None if cam is None else cam.snapshot(zones_only)

    def open_heatmap(self, camera_id: str) -> HeatmapGrid | None:
        """The heatmap of a camera's newest open window so far (see
        :meth:`CameraAnalytics.open_heatmap`); None when it is not hosted or not started."""
        cam = self._cameras.get(camera_id)
        return None if cam is None else cam.open_heatmap()

    def close(self) -> list[ClosedWindow]:
        """Closes every camera's windows early (clean shutdown) and returns them."""
        windows = []
        for cid in sorted(self._cameras):
            closed = stamp_windows(self._cameras[cid].close(), self._versions.get(cid, 0))
            self._close_plugins(cid, closed)
            windows += closed
        self._cameras.clear()
        self._configs.clear()
        self._pending.clear()
        self.windows_total += len(windows)
        return windows

    def _swap_due(self, cam: CameraAnalytics, pts_s: float, out: AnalyticsOutput
                  ) -> CameraAnalytics:
        """At the camera's first frame past the window open when its edit was asked for,
        closes its analytics (windows written incomplete) and starts new ones with the
        new geometry, which will count this frame; else returns ``cam`` unchanged."""
        cid = cam.camera_id
        pending = self._pending[cid]
        if not pending.due(pts_s):
            return cam
        del self._pending[cid]
        try:  # built before the old closes: a class the model lacks keeps the old geometry
            new = CameraAnalytics(cid, pending.config, cam.width, cam.height, self.labels)
        except ConfigError as exc:
            logger.error("camera %s: geometry version %d not applied: %s", cid,
                         pending.version, exc)
            return cam
        closed = stamp_windows(cam.close(), self._versions.get(cid, 0))
        self._close_plugins(cid, closed)
        out.windows += closed
        self._configs[cid], self._cameras[cid] = pending.config, new
        if cid in self._plugins:  # plugins see the new zones and lines from here on
            self._plugins[cid] = self._start_plugins(new, pending.config)
        self._versions[cid] = pending.version
        logger.info("camera %s: geometry version %d from media time %.3f s", cid,
                    pending.version, pts_s)
        return new

    def _start_plugins(self, cam: CameraAnalytics, cfg: AnalyticsConfig) -> PluginHost:
        camera = PluginCamera(cam.camera_id, cam.width, cam.height, cfg.window_s,
                              cam.geometry.zone_ids, cam.geometry.line_ids, cam.geometry)
        return PluginHost(camera, cfg.min_distinct_tracks, *make_plugins(cfg.plugins, camera),
                          configs=cfg.plugins, clock=self.clock, deadline=self.deadline)

    def pop_plugin_tables(self) -> list[PluginTable]:
        """Returns and forgets the plugins' tables since the last call (for the sinks)."""
        out, self._plugin_tables = self._plugin_tables, []
        return out

    def _close_plugins(self, camera_id: str, windows: list[ClosedWindow]) -> None:
        host = self._plugins.get(camera_id)
        if host is not None and windows:
            self._plugin_tables += host.close_windows(
                (w.start_s, w.end_s, w.start_at, w.complete) for w in windows)

    def _check(self, camera_id: str) -> None:
        if camera_id not in self._configs:
            raise InputError(
                f"camera {camera_id!r} is not added here; cameras: {sorted(self._configs)}",
                "camera_id",
            )

    def _camera_for(self, frame: TrackedFrame) -> CameraAnalytics | None:
        """The frame's camera, started with the frame's size at its first frame (later
        frames are scaled to it: a tracker lane keeps one grid per camera, but a lane
        started afresh, after its tracker died, starts from the size then); None when its
        analytics could not start (the error is kept for the snapshot)."""
        meta = frame.meta
        cam = self._cameras.get(meta.camera_id)
        if cam is None:
            self._check(meta.camera_id)
            if meta.camera_id in self._errors:
                return None
            try:
                cam = CameraAnalytics(meta.camera_id, self._configs[meta.camera_id],
                                      meta.width, meta.height, self.labels)
            except ConfigError as exc:
                self._errors[meta.camera_id] = str(exc)
                logger.error("camera %s: analytics not started: %s", meta.camera_id, exc)
                return None
            self._cameras[meta.camera_id] = cam
            cfg = self._configs[meta.camera_id]
            if cfg.plugins:
                self._plugins[meta.camera_id] = self._start_plugins(cam, cfg)
        return cam
