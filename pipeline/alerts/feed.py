"""The aggregator's side of alerting: sampled observations of the cameras it hosts.

An aggregator runs its cameras' analytics; rules are checked elsewhere, once per run
(:mod:`pipeline.alerts.runtime`), because zone groups and ``camera_offline`` rules span
cameras that different aggregators host. :class:`AlertFeed` turns each batch of frames
into the few :class:`~pipeline.alerts.inputs.CameraObservation` s the rules need: one per
camera every ``sample_interval_s`` of media time (a snapshot of the analytics costs more
than checking 20 rules, so it is not taken every frame), with every line crossing in
between kept.

Example:
    >>> feed = AlertFeed(0.5, cameras={"c1"})
    >>> feed.add_camera("c1")
    >>> from pipeline.analytics.events import CameraSnapshot
    >>> snap = lambda cid, zones_only: CameraSnapshot(cid, 0.0, 0, (), (), (), 0)
    >>> from pipeline.types import FrameMeta, TrackedFrame, Tracks
    >>> frame = TrackedFrame(FrameMeta("c1", 0, 0.0, 1.8e9, 10, 10), Tracks.empty())
    >>> [o.camera_id for o in feed.collect([frame], [], snap)]
    ['c1']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Iterable, Sequence

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.inputs import CameraObservation, CameraSampler
from pipeline.alerts.sink_config import MqttSinkConfig
from pipeline.analytics.events import CameraSnapshot, Event
from pipeline.analytics.groups import ZoneGroupConfig
from pipeline.alerts.site_occupancy import SiteOccupancyConfig
from pipeline.types import TrackedFrame

logger = logging.getLogger(__name__)


def observed_cameras(config: AlertsConfig, groups: Iterable[ZoneGroupConfig],
                     occupancy: SiteOccupancyConfig | None = None) -> frozenset[str]:
    """Cameras whose figures the run's alerts actor reads: named by a rule, in a zone
    group, or with an entrance line of the site occupancy."""
    named = {r.camera_id for r in config.rules if getattr(r, "camera_id", None)}
    for g in groups:
        named.update(ref.camera_id for ref in g.zones)
    if occupancy is not None:
        named.update(ln.camera_id for ln in occupancy.lines)
    return frozenset(named)


def publishes_live_counts(config: AlertsConfig) -> bool:
    """True when a sink of ``config`` publishes live counts (an MQTT sink with
    ``live_counts``): then every camera is sampled, with its whole snapshot."""
    return any(isinstance(s, MqttSinkConfig) and s.live_counts for s in config.sinks)


class AlertFeed:
    """Samples the observations of the cameras some rule reads.

    Args:
        interval_s: media seconds between a camera's samples (0: every batch).
        cameras: the cameras to observe (see :func:`observed_cameras`).
        live_counts: sample every camera, and carry each sample's whole snapshot to the
            sinks that publish live counts (see :func:`publishes_live_counts`); without
            it a sample reads the zones alone, all the rules need.
    """

    def __init__(self, interval_s: float, cameras: frozenset[str] | set[str],
                 live_counts: bool = False) -> None:
        self.interval_s = float(interval_s)
        self._wanted = frozenset(cameras)
        self.live_counts = bool(live_counts)
        self._samplers: dict[str, CameraSampler] = {}
        self._last_at: dict[str, float] = {}  # per sampled camera, wall time of its last frame

    def add_camera(self, camera_id: str) -> None:
        """Starts sampling a hosted camera (ignored when no rule reads it and no sink
        publishes live counts)."""
        if self.live_counts or camera_id in self._wanted:
            self._samplers[camera_id] = CameraSampler(self.interval_s)

    def remove_camera(self, camera_id: str) -> None:
        """Stops sampling a camera."""
        self._samplers.pop(camera_id, None)
        self._last_at.pop(camera_id, None)

    def collect(
        self,
        frames: Sequence[TrackedFrame],
        events: Sequence[Event],
        snapshot: Callable[..., CameraSnapshot | None],
    ) -> list[CameraObservation]:
        """The observations due after a batch of frames (already fed to the analytics).

        Args:
            frames: the batch, in order.
            events: the events the batch produced.
            snapshot: ``(camera id, zones_only=...)`` -> its analytics' live state (None when
                not started): ``Aggregator.camera_snapshot``.

        Returns:
            At most one observation per camera of the batch, at its last frame.
        """
        if not self._samplers:
            return []
        last: dict[str, TrackedFrame] = {}
        for f in frames:
            if f.meta.camera_id in self._samplers:
                last[f.meta.camera_id] = f
        if not last:
            return []
        by_camera: dict[str, list[Event]] = {cid: [] for cid in last}
        for e in events:
            if e.kind == "line_cross" and e.camera_id in by_camera:
                by_camera[e.camera_id].append(e)
        out: list[CameraObservation] = []
        for cid, frame in last.items():
            self._last_at[cid] = frame.meta.captured_at
            sampler = self._samplers[cid]
            if not sampler.add(by_camera[cid], frame.meta.pts_s):
                continue
            snap = snapshot(cid, zones_only=not self.live_counts)
            if snap is None or not math.isfinite(snap.pts_s):
                continue
            out.append(sampler.observation(snap, frame.meta.captured_at, self.live_counts))
        return out

    def final(self, snapshot: Callable[..., CameraSnapshot | None],
              cameras: Collection[str] | None = None) -> list[CameraObservation]:
        """The last observation of every camera (of ``cameras``, default all) with frames
        since its last sample (taken at shutdown or when the camera is removed, before its
        analytics close): the crossings kept since then and the state at its last frame,
        which no later sample would deliver."""
        out: list[CameraObservation] = []
        for cid, sampler in self._samplers.items():
            if cameras is not None and cid not in cameras:
                continue
            snap = snapshot(cid, zones_only=not self.live_counts)
            if (cid not in self._last_at or snap is None or not math.isfinite(snap.pts_s)
                    or not sampler.pending(snap.pts_s)):
                continue
            out.append(sampler.observation(snap, self._last_at[cid], self.live_counts))
        return out
