"""Zones and lines replaced while a camera runs: the swap at the next window boundary.

An edit (``PUT /v1/cameras/{id}/geometry``) must not restart the camera's decode or
tracking, and a window must be counted with one geometry only. So the new geometry waits
as a :class:`PendingGeometry` until the camera's first frame in a later window than the
one open when it was asked for; at that frame the aggregator closes the camera's
analytics (their open windows are written ``complete = False``: events known only after
the boundary, such as exits within ``exit_grace_s``, are lost with them) and starts new
ones with the new geometry, which count that frame and every later one. No frame is
skipped: the frame at the boundary is the new analytics' first.

Every event and window row carries the ``geometry_version`` it was counted with: 0 as
configured, one more per edit.

Example:
    >>> from pipeline.analytics.config import AnalyticsConfig
    >>> p = PendingGeometry(AnalyticsConfig(window_s=60.0), version=1, asked_at_pts_s=59.0)
    >>> p.due(59.9), p.due(60.0)
    (False, True)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import ClosedWindow, Event


@dataclass(frozen=True)
class PendingGeometry:
    """A camera's new analytics config, waiting for the next window boundary.

    Attributes:
        config: the camera's analytics with the new zones and lines (same window length).
        version: the geometry version it becomes (the camera's current one plus 1).
        asked_at_pts_s: media time (s) of the camera's last frame when it was asked for
            (NaN: no frame yet; then it applies at once).
    """

    config: AnalyticsConfig
    version: int
    asked_at_pts_s: float

    def due(self, pts_s: float) -> bool:
        """True when a frame at ``pts_s`` (media s) lies in a later window than the one
        open when the edit was asked for."""
        if not math.isfinite(self.asked_at_pts_s):
            return True
        window_s = self.config.window_s
        return math.floor(pts_s / window_s) > math.floor(self.asked_at_pts_s / window_s)


def stamp_events(events: list[Event], version: int) -> list[Event]:
    """``events`` stamped with ``version`` (the same list when it is 0)."""
    if not version:
        return events
    return [dataclasses.replace(e, geometry_version=version) for e in events]


def stamp_windows(windows: list[ClosedWindow], version: int) -> list[ClosedWindow]:
    """``windows`` with every metrics row stamped with ``version`` (as is when 0)."""
    if not version:
        return windows
    return [dataclasses.replace(w, metrics=tuple(
        dataclasses.replace(r, geometry_version=version) for r in w.metrics)) for w in windows]
