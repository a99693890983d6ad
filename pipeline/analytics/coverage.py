"""Coverage: how much of each window a camera was delivering frames, and windows it missed.

A figure that is missing because the camera was down must not read as zero people.
Every metrics row carries ``coverage``: the fraction of its window's media time that lies
between two consecutive frames no more than ``coverage_max_gap_s`` apart (a live camera
that stalled for 30 s leaves those 30 s uncovered). A window in which the camera
delivered no frame at all is still written, as rows with ``frames = 0``,
``coverage = 0`` and every figure null, so a chart shows a gap, not a dip to zero.

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
        first = math.floor(prev / self.window_s) + 1
        last = math.floor(pts_s / self.window_s) - 1
        if last - first + 1 > self.max_empty_windows:
            logger.warning("camera gap of %.0f s: writing only the last %d of %d empty windows",
                           pts_s - prev, self.max_empty_windows, last - first + 1)
            first = last - self.max_empty_windows + 1
        opened = {acc.index for acc in windows}
        return [i for i in range(first, last + 1) if i not in opened]


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
