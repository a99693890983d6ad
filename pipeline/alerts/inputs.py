"""What the rule engine is fed: per-camera observations, group sums and camera states.

Each camera's analytics produce, per frame, the occupancy of every zone, the live wait
estimate of every queue zone and the frame's line crossings
(:class:`pipeline.analytics.camera.CameraAnalytics`: ``update()`` returns the events,
``snapshot()`` the live state). :func:`observation_from_analytics` turns those into one
:class:`CameraObservation`, dropping track ids on the way. Zone groups are summed across
cameras by the caller and fed as :class:`GroupObservation`; camera states come from the
camera's health as :class:`CameraStatus`.

Example:
    >>> obs = CameraObservation("c1", pts_s=12.0, at=1_800_000_012.0,
    ...                         zone_occupancy={"lobby": 3},
    ...                         crossings=(LineCrossing("door", "in", 11.96),))
    >>> obs.zone_occupancy["lobby"], obs.crossings[0].direction
    (3, 'in')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pipeline.analytics.classes import DEFAULT_CLASS
from pipeline.analytics.events import CameraSnapshot, Event
from pipeline.errors import InputError


@dataclass(frozen=True, slots=True)
class LineCrossing:
    """One crossing of a line, without who crossed.

    Attributes:
        line_id: the line.
        direction: the line's direction name (e.g. ``in``).
        pts_s: media time of the crossing (s); not after the observation carrying it.
        class_name: the object class that crossed.
    """

    line_id: str
    direction: str
    pts_s: float
    class_name: str = DEFAULT_CLASS


@dataclass(frozen=True, slots=True)
class CameraObservation:
    """One camera's figures at one frame (or one sample of frames).

    Occupancy and queue waits are samples at ``pts_s``: a rule's ``for_s`` is measured
    between samples, so feeding every frame is exact and feeding every n-th frame adds up
    to one sample interval of latency. Crossings are events: every crossing since the
    previous observation must be in exactly one observation.

    Attributes:
        camera_id: the camera.
        pts_s: media time of the frame (s); must not decrease between a camera's
            observations.
        at: the frame's wall time (``captured_at``, s since the epoch); schedules and the
            alert's ``at`` use it.
        zone_occupancy: zone id -> tracks in a counted visit now (every zone), summed
            over the classes the zone counts.
        queue_wait_s: queue zone id -> estimated wait now (s), None without an estimate
            (the zone's only class; see class_queue_wait_s).
        crossings: crossings since the previous observation, in media-time order.
        class_occupancy: zone id -> class -> its occupancy now; rules about classes read
            this where the zone is in it, else ``zone_occupancy``.
        class_queue_wait_s: queue zone id -> class -> its estimated wait now (s) or None.
        live: the camera's whole snapshot (zones and lines), for sinks that publish live
            counts (MQTT); None where no sink does.
    """

    camera_id: str
    pts_s: float
    at: float
    zone_occupancy: Mapping[str, int] = field(default_factory=dict)
    queue_wait_s: Mapping[str, float | None] = field(default_factory=dict)
    crossings: tuple[LineCrossing, ...] = ()
    class_occupancy: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    class_queue_wait_s: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)
    live: CameraSnapshot | None = None


@dataclass(frozen=True, slots=True)
class GroupObservation:
    """The summed occupancy of a zone group (zones on several cameras) at one time.

    The caller sums the latest occupancy of each member zone; where cameras overlap the
    sum is an upper bound. ``pts_s`` is the group's own clock (e.g. the media time of the
    newest member sample) and must not decrease between a group's observations.

    Attributes:
        group: the group's name.
        occupancy: the sum (people).
        pts_s: media time of the sample (s).
        at: wall time of the sample (s since the epoch).
    """

    group: str
    occupancy: int
    pts_s: float
    at: float


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A camera's state (a :class:`pipeline.ingest.health.CameraState` value) from time ``at``.

    Attributes:
        camera_id: the camera.
        state: ``idle``, ``connecting``, ``streaming``, ``reconnecting``, ``ended``,
            ``failed`` or ``stopped``.
        at: wall time the camera entered the state (s since the epoch).
        seen_at: wall time the state was read (the camera is known to be in it until
            then); None: now.
    """

    camera_id: str
    state: str
    at: float
    seen_at: float | None = None


class CameraSampler:
    """Builds a camera's observations every ``interval_s`` of media time instead of every frame.

    ``CameraAnalytics.snapshot()`` costs more than checking 20 rules, so an aggregator may
    sample: feed every frame's events to :meth:`add`, and when it returns True take a
    snapshot and call :meth:`observation`. Crossings of the frames in between are kept
    (none is lost); occupancy and waits are read at the samples, so a rule's ``for_s`` is
    met up to ``interval_s`` later than with every frame.

    Args:
        interval_s: media seconds between samples (0: every frame).

    Example:
        >>> s, due = CameraSampler(interval_s=0.2), []
        >>> for i in range(5):
        ...     t = i / 10
        ...     due.append(s.add([], t))
        ...     if due[-1]:
        ...         obs = s.observation(CameraSnapshot("c1", t, 0, (), (), (), 0), at=1e9 + t)
        >>> due
        [True, False, True, False, True]
    """

    def __init__(self, interval_s: float) -> None:
        if not interval_s >= 0:
            raise InputError(f"interval_s must be >= 0, got {interval_s}", "interval_s")
        self.interval_s = float(interval_s)
        self._last = -math.inf
        self._events: list[Event] = []

    def add(self, events: Sequence[Event], pts_s: float) -> bool:
        """Keeps a frame's line crossings; True when a sample is due at this frame."""
        self._events.extend(e for e in events if e.kind == "line_cross")
        return pts_s - self._last >= self.interval_s - 1e-9

    def pending(self, pts_s: float) -> bool:
        """True when crossings are kept or frames up to ``pts_s`` came since the last sample."""
        return bool(self._events) or pts_s > self._last

    def observation(self, snapshot: CameraSnapshot, at: float,
                    live: bool = False) -> CameraObservation:
        """The observation at ``snapshot``'s frame, with the crossings kept since the last
        (and, with ``live``, the snapshot itself: :attr:`CameraObservation.live`)."""
        obs = observation_from_analytics(snapshot, self._events, at)
        if live:
            obs = replace(obs, live=snapshot)
        self._events = []
        self._last = snapshot.pts_s
        return obs


def observation_from_analytics(
    snapshot: CameraSnapshot, events: Sequence[Event], at: float
) -> CameraObservation:
    """Builds a camera's observation from its analytics after a frame.

    Args:
        snapshot: ``CameraAnalytics.snapshot()`` after the frame(s).
        events: the events ``CameraAnalytics.update()`` returned since the previous
            observation; only line crossings are kept, without their track ids.
        at: the wall time of the snapshot's frame (its ``captured_at``).

    Raises:
        InputError: the snapshot has seen no frame yet (its pts_s is NaN).
    """
    if not math.isfinite(snapshot.pts_s):
        raise InputError(
            f"camera {snapshot.camera_id!r}: the analytics have seen no frame yet", "pts_s"
        )
    return CameraObservation(
        camera_id=snapshot.camera_id,
        pts_s=snapshot.pts_s,
        at=at,
        zone_occupancy={z.zone_id: z.occupancy for z in snapshot.zones},
        queue_wait_s={z.zone_id: z.queue.est_wait_s for z in snapshot.zones if z.queue},
        crossings=tuple(
            LineCrossing(e.element_id, e.direction or "", e.pts_s, e.class_name)
            for e in events
            if e.kind == "line_cross"
        ),
        class_occupancy={z.zone_id: {c.class_name or "": c.occupancy for c in z.by_class}
                         for z in snapshot.zones if z.by_class},
        class_queue_wait_s={z.zone_id: {c.class_name or "": c.queue.est_wait_s
                                        for c in z.by_class if c.queue}
                            for z in snapshot.zones if any(c.queue for c in z.by_class)},
    )
