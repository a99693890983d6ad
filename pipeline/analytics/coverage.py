"""Coverage: how much of each window a camera was delivering frames, and windows it missed.

A figure that is missing because the camera was down must not read as zero people.
Every metrics row carries ``coverage``: the fraction of its window's media time that lies
between two consecutive frames no more than ``coverage_max_gap_s`` apart (a live camera
that stalled for 30 s leaves those 30 s uncovered). A window in which the camera
delivered no frame at all is still written, as rows with ``frames = 0``,
``coverage = 0`` and every figure null, so a chart shows a gap, not a dip to zero. A
frame reports those of the gap before it; while a live camera is down no frame comes, so
:meth:`Coverage.idle` reports them as its media time would have passed (each once).

Example:
    >>> from pipeline.analytics.config import AnalyticsConfig
    >>> from pipeline.analytics.windows import WindowSet
    >>> ws = WindowSet("c1", AnalyticsConfig(window_s=10.0, window_grace_s=0.0), 640, 480)
    >>> cov = Coverage(10.0, max_gap_s=1.0, max_empty_windows=100)
    >>> for t in (0.0, 0.5, 1.0):
    ...     _ = ws.current(t)
    ...     cov.frame(t, ws)
    []
    []
    []
    >>> next(iter(ws)).covered_s
    1.0
    >>> _ = ws.current(35.0)
    >>> cov.frame(35.0, ws)     # windows 1 and 2 (10-30 s) saw no frame
    [1, 2]
"""

from __future__ import annotations

import logging
import math

from pipeline.analytics.events import ClosedWindow, WindowMetrics
from pipeline.analytics.windows import WindowSet

logger = logging.getLogger(__name__)


class Coverage:
    """Credits each window with the media time its frames cover; finds skipped windows.

    Args:
        window_s: window length (media s).
        max_gap_s: frames further apart than this leave the time between them uncovered.
        max_empty_windows: most frameless windows reported for one gap (the newest);
            bounds the rows a very long outage writes.
    """

    def __init__(self, window_s: float, max_gap_s: float, max_empty_windows: int) -> None:
        self.window_s = float(window_s)
        self.max_gap_s = float(max_gap_s)
        self.max_empty_windows = int(max_empty_windows)
        self._last = math.nan
        self._empty_through = -(2**62)  # empty windows up to this index are reported
        self._empty_in_gap = 0  # empty windows reported since the last frame

    def frame(self, pts_s: float, windows: WindowSet) -> list[int]:
        """Notes a frame (after its window is open).

        Returns:
            Indices of the windows wholly inside the gap before this frame (none when the
            gap is short), oldest first; they saw no frame and are not open.
        """
        prev, self._last = self._last, pts_s
        if not math.isfinite(prev) or pts_s <= prev:
            return []
        if pts_s - prev <= self.max_gap_s:
            for acc in windows:
                overlap = min(acc.end_s, pts_s) - max(acc.start_s, prev)
                if overlap > 0:
                    acc.covered_s += overlap
            return []
        last = math.floor(pts_s / self.window_s) - 1
        skipped = self._empty(prev, last, windows)
        self._empty_in_gap = 0
        return skipped

    def idle(self, pts_s: float, windows: WindowSet) -> list[int]:
        """No frame came until ``pts_s`` (a live camera that is down): returns the windows
        since the last frame that end at or before ``pts_s - grace`` and were not reported
        yet (a frame that comes later does not report them again)."""
        if not math.isfinite(self._last):
            return []
        last = math.floor((pts_s - windows.grace_s) / self.window_s) - 1
        return self._empty(self._last, last, windows)

    def _empty(self, prev: float, last: int, windows: WindowSet) -> list[int]:
        """Indices of the frameless windows after the one of ``prev`` up to ``last`` not yet
        reported, at most ``max_empty_windows`` a gap (the newest, or the first ones
        while the camera is still down)."""
        first = max(math.floor(prev / self.window_s) + 1, self._empty_through + 1)
        room = self.max_empty_windows - self._empty_in_gap
        if room <= 0:  # this gap wrote its share (warned then)
            self._empty_through = max(self._empty_through, last)
            return []
        if last - first + 1 > room:
            logger.warning("camera gap from %.0f s: writing only %d of %d more empty windows",
                           prev, max(room, 0), last - first + 1)
            first = last - room + 1
        opened = {acc.index for acc in windows}
        out = [i for i in range(first, last + 1) if i not in opened]
        self._empty_through = max(self._empty_through, last)
        self._empty_in_gap += len(out)
        return out


def empty_window(windows: WindowSet, index: int, start_at: float | None) -> ClosedWindow:
    """A window that saw no frame: one row per zone and line (and class) with ``frames = 0``,
    ``coverage = 0`` and every figure null (not zero)."""
    start, end = index * windows.window_s, (index + 1) * windows.window_s
    base = dict(camera_id=windows.camera_id, window_start_s=start, window_end_s=end,
                window_start_at=start_at, complete=True, frames=0, late_events=0,
                suppressed=False, coverage=0.0)
    rows = [WindowMetrics(**base, element_kind="zone", element_id=z.id, class_name=c,
                          is_queue=z.queue)
            for z, c in zip(windows.zones, windows.zone_classes, strict=True)]
    rows += [WindowMetrics(**base, element_kind="line", element_id=ln.id, class_name=c,
                           is_queue=False)
             for ln, c in zip(windows.lines, windows.line_classes, strict=True)]
    return ClosedWindow(windows.camera_id, start, end, start_at, True, tuple(rows), None)
