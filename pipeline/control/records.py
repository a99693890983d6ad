"""What the controller knows about each camera across the lives of its actor. No Ray.

A camera's actor may die (its node was lost) and be re-created; its counters go on
adding up (:meth:`CameraRecord.total`), and while it cannot be reached it reports its
last counters with why (:func:`lost_stats`). Cameras go to the least loaded tracker and
aggregator (:func:`least_loaded`).

Example:
    >>> rec = CameraRecord(CameraConfig(id="door", url="rtsp://cam/live"), "config")
    >>> rec.needs_restart(max_restarts=None)
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.analytics.events import CameraSnapshot
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import COUNTERS, CameraState, CameraStats


@dataclass
class CameraRecord:
    """What the controller knows about one camera across the lives of its actor.

    Attributes:
        camera: its config (a file URL resolved when it came through the API).
        added_by: ``config`` or ``api``.
        tracker: the tracker actor hosting it (a Ray actor handle).
        aggregator: the aggregator actor hosting its analytics (a Ray actor handle).
        restarts: times its actor died and was re-created.
        carried: counters of its earlier actors, added to the current actor's.
        last: the last stats read from it (with ``carried`` added), or None.
        node_id: the Ray node its actor runs on, when known.
        lost: why its actor is gone and not re-created (empty while it runs).
        geometry_version: its zones and lines: 0 as configured, +1 per edit through the API
            (``camera`` holds the current ones).
        analytics: its analytics' last live state, kept when it is removed (its aggregator
            then forgets it), for the run summary; None while it runs.
    """

    camera: CameraConfig
    added_by: str
    tracker: Any = None
    aggregator: Any = None
    restarts: int = 0
    carried: dict[str, int] = field(default_factory=dict)
    last: CameraStats | None = None
    node_id: str | None = None
    lost: str = ""
    geometry_version: int = 0
    analytics: CameraSnapshot | None = None

    @property
    def camera_id(self) -> str:
        return self.camera.id

    def total(self, stats: CameraStats) -> CameraStats:
        """``stats`` of the current actor plus the counters of the earlier ones."""
        if not self.carried:
            return stats
        return dataclasses.replace(
            stats, **{k: getattr(stats, k) + self.carried.get(k, 0) for k in COUNTERS}
        )

    def carry_over(self) -> None:
        """Keeps the last known counters before the actor is replaced (they are not lost
        with it; frames it had in flight are)."""
        if self.last is not None:
            self.carried = {k: getattr(self.last, k) for k in COUNTERS}

    def needs_restart(self, max_restarts: int | None) -> bool:
        """True when its actor died while the camera was running and restarts are left."""
        if self.last is not None and CameraState(self.last.state).terminal:
            return False
        return max_restarts is None or self.restarts < max_restarts


def lost_stats(record: CameraRecord, reason: str) -> CameraStats:
    """Stats of a camera whose actor cannot be reached: its last counters, state
    ``reconnecting`` while a restart is due, else ``failed``."""
    base = record.last
    state = CameraState.FAILED.value if record.lost else CameraState.RECONNECTING.value
    if base is None:
        counters = {"reconnects": 0, **record.carried}
        return CameraStats(camera_id=record.camera_id, url=record.camera.redacted_url,
                           kind="unknown", state=state, reason=reason, state_since=0.0,
                           last_error="", last_error_at=0.0, fps=0.0, **counters)
    if CameraState(base.state).terminal:
        return base
    return dataclasses.replace(base, state=state, reason=reason, fps=0.0,
                               delivered_fps=0.0, in_flight=0, pending=0)


def down_by_aggregator(records: Iterable[CameraRecord]) -> dict[Any, list[str]]:
    """The live cameras last read reconnecting (a stream outage), by their aggregator:
    the windows of their outage are written while it lasts (``AggregatorActor.idle``)."""
    down: dict[Any, list[str]] = {}
    for rec in records:
        if (rec.last is not None and rec.last.state == CameraState.RECONNECTING
                and rec.camera.mode == "live"):
            down.setdefault(rec.aggregator, []).append(rec.camera_id)
    return down


def least_loaded(records: Iterable[CameraRecord], hosts: Sequence[Any], role: str) -> Any:
    """The host (tracker or aggregator actor, by ``role``) of ``hosts`` with the fewest
    cameras of ``records``; the first on ties."""
    load = [0] * len(hosts)
    for rec in records:
        for i, host in enumerate(hosts):
            if getattr(rec, role) is host:
                load[i] += 1
    return hosts[min(range(len(hosts)), key=lambda i: (load[i], i))]
