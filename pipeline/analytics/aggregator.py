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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import CameraSnapshot, ClosedWindow, Event, HeatmapGrid
from pipeline.errors import ConfigError, InputError, PanorayError
from pipeline.types import TrackedFrame

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
    """

    def __init__(self, labels: Mapping[int, str] | None = None) -> None:
        self.labels = None if labels is None else dict(labels)
        self._configs: dict[str, AnalyticsConfig] = {}
        self._cameras: dict[str, CameraAnalytics] = {}
        self._errors: dict[str, str] = {}
        self.events_total = 0
        self.windows_total = 0

    @property
    def camera_ids(self) -> tuple[str, ...]:
        """The cameras added, sorted."""
        return tuple(sorted(self._configs))

    def add_camera(self, camera_id: str, config: AnalyticsConfig) -> None:
        """Adds a camera; its analytics start with its first frame.

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

    def remove_camera(self, camera_id: str) -> list[ClosedWindow]:
        """Stops a camera: closes its open windows early and returns them."""
        self._check(camera_id)
        del self._configs[camera_id]
        self._errors.pop(camera_id, None)
        cam = self._cameras.pop(camera_id, None)
        windows = cam.close() if cam is not None else []
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
                out.events += cam.update(frame)
                out.windows += cam.pop_closed_windows()
            except PanorayError as exc:
                out.errors.append(str(exc))
        self.events_total += len(out.events)
        self.windows_total += len(out.windows)
        return out

    def snapshot(self) -> AggregatorSnapshot:
        """The live state: occupancy now, counts so far, queue waits, open windows."""
        return AggregatorSnapshot(
            tuple(self._cameras[c].snapshot() for c in sorted(self._cameras)),
            self.events_total, self.windows_total, dict(self._errors))

    def camera_snapshot(self, camera_id: str) -> CameraSnapshot | None:
        """One camera's live state, or None when it is not hosted or not started."""
        cam = self._cameras.get(camera_id)
        return None if cam is None else cam.snapshot()

    def open_heatmap(self, camera_id: str) -> HeatmapGrid | None:
        """The heatmap of a camera's newest open window so far (see
        :meth:`CameraAnalytics.open_heatmap`); None when it is not hosted or not started."""
        cam = self._cameras.get(camera_id)
        return None if cam is None else cam.open_heatmap()

    def close(self) -> list[ClosedWindow]:
        """Closes every camera's windows early (clean shutdown) and returns them."""
        windows = [w for cid in sorted(self._cameras) for w in self._cameras[cid].close()]
        self._cameras.clear()
        self._configs.clear()
        self.windows_total += len(windows)
        return windows

    def _check(self, camera_id: str) -> None:
        if camera_id not in self._configs:
            raise InputError(
                f"camera {camera_id!r} is not added here; cameras: {sorted(self._configs)}",
                "camera_id",
            )

    def _camera_for(self, frame: TrackedFrame) -> CameraAnalytics | None:
        """The frame's camera, started with the frame's size at its first frame; None
        when its analytics could not start (the error is kept for the snapshot)."""
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
        elif meta.width != cam.width or meta.height != cam.height:
            raise InputError(
                f"camera {meta.camera_id!r}: frame size changed from {cam.width}x{cam.height} "
                f"to {meta.width}x{meta.height}; remove the camera and add it again",
                "meta.width",
            )
        return cam
