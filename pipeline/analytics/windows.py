"""Tumbling windows in media time and their metrics.

Window ``i`` covers media time ``[i * window_s, (i + 1) * window_s)``. A window opens with
the first frame inside it and closes once a frame's media time reaches its end plus the
grace period, so events stamped inside it but known only later (a zone enter is known
``min_visit_s`` after its first frame, an exit ``exit_grace_s`` after its last) still land
in it. An event stamped in a window that has already closed is counted in the oldest open
window and tallied in that window's ``late_events``.

What lands where:

- a line crossing, in the window of the frame that confirmed it;
- a visit (``visits``), in the window of its first frame inside; its exit and dwell
  (``exits``, dwell percentiles), in the window of its last frame inside;
- occupancy and heatmap samples, in the window of their frame (occupancy statistics
  are over the window's frames).

A window that saw no frame (a stalled camera) is written with ``frames = 0``,
``coverage = 0`` and null figures (:mod:`pipeline.analytics.coverage`). For the minimum-count
rule, a zone row covers the tracks counted in the zone at any frame of the window or
whose visit started or ended in it; a line row, the tracks that crossed it.

Example:
    >>> ws = WindowSet("cam1", AnalyticsConfig(window_s=10.0, window_grace_s=2.0), 640, 480)
    >>> acc, created = ws.current(3.0)
    >>> created, acc.start_s, acc.end_s, [w.start_s for w in ws.pop_due(11.9)]
    (True, 0.0, 10.0, [])
    >>> [w.start_s for w in ws.pop_due(12.0)]
    [0.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from pipeline.analytics.classes import DEFAULT_CLASS, ClassColumns
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import ClosedWindow, HeatmapGrid, WindowMetrics
from pipeline.analytics.heatmap import HeatmapAccumulator, grid_rows
from pipeline.analytics.queues import littles_law_wait


class WindowAccumulator:
    """Running aggregates of one camera over one window.

    Args:
        index: the window's index (its start is ``index * window_s``).
        window_s: window length, media seconds.
        num_zones, num_lines: the camera's zone and line columns (one per element and
            class, :mod:`pipeline.analytics.classes`).
        heatmap: the window's empty heatmap, or None for no heatmap.
    """

    def __init__(
        self,
        index: int,
        window_s: float,
        num_zones: int,
        num_lines: int,
        heatmap: HeatmapAccumulator | None,
    ) -> None:
        self.index = index
        self.start_s = index * window_s
        self.end_s = (index + 1) * window_s
        self.frames = 0
        self.covered_s = 0.0  # media time between close enough frames (see .coverage)
        self.first_pts = math.nan
        self.last_pts = math.nan
        self.occ_sum = np.zeros(num_zones, np.float64)
        self.occ_max = np.zeros(num_zones, np.int64)
        self.visits = np.zeros(num_zones, np.int64)
        self.exits = np.zeros(num_zones, np.int64)
        self.dwells: list[list[float]] = [[] for _ in range(num_zones)]
        self.tracklets = np.zeros(num_zones, np.int64)
        self.zone_tracks: list[set[int]] = [set() for _ in range(num_zones)]
        self.zone_late = np.zeros(num_zones, np.int64)
        self.line_counts = np.zeros((num_lines, 2), np.int64)  # [:, 0] left-to-right
        self.line_tracks: list[set[int]] = [set() for _ in range(num_lines)]
        self.line_late = np.zeros(num_lines, np.int64)
        self.heatmap = heatmap

    def observe_frame(
        self,
        pts_s: float,
        occupancy: npt.NDArray[np.int64],
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        track_ids: npt.NDArray[np.int64],
    ) -> None:
        """Adds one frame: (Z,) occupancy and (n,) anchors of its tracks (pixels)."""
        if self.frames == 0:
            self.first_pts = pts_s
        self.frames += 1
        self.last_pts = pts_s
        if len(occupancy):
            self.occ_sum += occupancy
            np.maximum(self.occ_max, occupancy, out=self.occ_max)
        if self.heatmap is not None:
            self.heatmap.add(x, y, track_ids)

    def heatmap_grid(self, camera_id: str, k: int, start_at: float | None) -> HeatmapGrid | None:
        """The window's heatmap so far, minimum-count rule (``k``) applied; None when off.

        Args:
            camera_id: stamped on the grid.
            k: minimum distinct tracks for a cell to be published.
            start_at: wall time of the window start (s since the epoch), or None.
        """
        if self.heatmap is None:
            return None
        counts, hidden_cells = self.heatmap.result(k)
        return HeatmapGrid(
            camera_id=camera_id,
            window_start_s=self.start_s,
            window_end_s=self.end_s,
            window_start_at=start_at,
            counts=counts,
            suppressed_cells=hidden_cells,
            width=self.heatmap.width,
            height=self.heatmap.height,
        )


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p50, p90 = np.percentile(np.asarray(values, np.float64), [50.0, 90.0])
    return float(p50), float(p90)


class WindowSet:
    """The open windows of one camera, routing samples and events to them.

    At most ``ceil(grace_s / window_s) + 1`` windows are open at once.

    Args:
        camera_id: the camera's id.
        config: the camera's analytics config: window length and grace period (media
            seconds), zones and lines, minimum count k, heatmap grid.
        width, height: the camera's frame size in pixels, which heatmaps cover.
        zone_columns, line_columns: the (element, class) columns rows are written for;
            None: one ``person`` column per element.

    Attributes:
        zones, lines: the config of each column's zone or line.
        zone_classes, line_classes: each column's class name.
    """

    def __init__(self, camera_id: str, config: AnalyticsConfig, width: int, height: int,
                 zone_columns: ClassColumns | None = None,
                 line_columns: ClassColumns | None = None) -> None:
        self.camera_id = camera_id
        self.window_s = float(config.window_s)
        self.grace_s = float(config.window_grace_s)
        self.zones = tuple(config.zones[e] for e in zone_columns.element) if zone_columns \
            else config.zones
        self.zone_classes = zone_columns.names if zone_columns \
            else (DEFAULT_CLASS,) * len(config.zones)
        self.lines = tuple(config.lines[e] for e in line_columns.element) if line_columns \
            else config.lines
        self.line_classes = line_columns.names if line_columns \
            else (DEFAULT_CLASS,) * len(config.lines)
        self.k = int(config.min_distinct_tracks)
        self.heatmap = config.heatmap
        self.width, self.height = width, height
        self._open: dict[int, WindowAccumulator] = {}
        self._closed_below = -(2**62)  # windows with a smaller index have closed
        self._current: WindowAccumulator | None = None
        self.late_events_total = 0

    def index_of(self, pts_s: float) -> int:
        """Returns the index of the window holding media time ``pts_s``."""
        return math.floor(pts_s / self.window_s)

    def __iter__(self) -> Iterator[WindowAccumulator]:
        return iter(self._open.values())

    def _window(self, idx: int) -> tuple[WindowAccumulator, bool]:
        """Returns open window ``idx``, opening it if needed, and whether it was just opened."""
        acc = self._open.get(idx)
        if acc is not None:
            return acc, False
        heat = None
        if self.heatmap.enabled:
            cols = self.heatmap.columns
            rows = grid_rows(cols, self.width, self.height)
            heat = HeatmapAccumulator(rows, cols, self.width, self.height)
        acc = WindowAccumulator(idx, self.window_s, len(self.zones), len(self.lines), heat)
        self._open[idx] = acc
        self._open = dict(sorted(self._open.items()))
        return acc, True

    def current(self, pts_s: float) -> tuple[WindowAccumulator, bool]:
        """Returns the window of a frame at ``pts_s`` and whether it was just opened."""
        idx = self.index_of(pts_s)
        cur = self._current
        if cur is not None and cur.index == idx:
            return cur, False
        self._current, created = self._window(idx)
        return self._current, created

    def for_event(self, pts_s: float) -> tuple[WindowAccumulator, bool]:
        """Returns the window an event stamped ``pts_s`` is counted in, and whether it is late.

        Raises:
            LookupError: no window is open (no frame has been seen).
        """
        idx = self.index_of(pts_s)
        if idx in self._open:
            return self._open[idx], False
        if not self._open:
            raise LookupError("no open window; observe a frame first")
        if idx >= self._closed_below:
            # Stamped in a window that saw no frame: open it so the event is not lost.
            return self._window(idx)[0], False
        self.late_events_total += 1
        return next(iter(self._open.values())), True

    def pop_due(self, pts_s: float) -> list[WindowAccumulator]:
        """Removes and returns the windows whose end plus grace is at or before ``pts_s``."""
        due = [a for a in self._open.values() if a.end_s + self.grace_s <= pts_s]
        for a in due:
            del self._open[a.index]
            self._closed_below = max(self._closed_below, a.index + 1)
            if a is self._current:
                self._current = None
        return due

    def pop_all(self) -> list[WindowAccumulator]:
        """Removes and returns every open window, oldest first."""
        out = list(self._open.values())
        if out:
            self._closed_below = max(self._closed_below, out[-1].index + 1)
        self._open.clear()
        self._current = None
        return out

    def spans(self) -> tuple[tuple[float, float], ...]:
        """Returns (start_s, end_s) of the open windows, oldest first."""
        return tuple((a.start_s, a.end_s) for a in self._open.values())

    def finish(
        self, acc: WindowAccumulator, start_at: float | None, complete: bool
    ) -> ClosedWindow:
        """Turns a closed window's aggregates into rows, applying the minimum-count rule."""
        base = dict(
            camera_id=self.camera_id,
            window_start_s=acc.start_s,
            window_end_s=acc.end_s,
            window_start_at=start_at,
            complete=complete,
            frames=acc.frames,
            coverage=min(1.0, acc.covered_s / self.window_s),
        )
        span = acc.last_pts - acc.first_pts if acc.frames else 0.0

        def row(kind: str, element_id: str, class_name: str, is_queue: bool, late: int,
                tracks: set[int], **metrics: object) -> WindowMetrics:
            """One column's row; only its keys when it covers 1..k-1 distinct tracks."""
            hidden = 0 < len(tracks) < self.k
            return WindowMetrics(
                **base, element_kind=kind, element_id=element_id, class_name=class_name,
                is_queue=is_queue, late_events=int(late), suppressed=hidden,
                **({} if hidden else dict(distinct_tracks=len(tracks), **metrics)),
            )

        rows: list[WindowMetrics] = []
        for z, zone in enumerate(self.zones):
            # a window without frames has no occupancy figure (it is not zero)
            occ_mean = float(acc.occ_sum[z] / acc.frames) if acc.frames else None
            occ_max = int(acc.occ_max[z]) if acc.frames else None
            exits = int(acc.exits[z])
            p50, p90 = _percentiles(acc.dwells[z])
            queue: dict[str, object] = {}
            if zone.queue:
                wait = littles_law_wait(occ_mean, exits, span)
                queue = dict(
                    queue_length_mean=occ_mean,
                    queue_length_max=occ_max,
                    wait_count=exits,
                    wait_p50_s=p50,
                    wait_p90_s=p90,
                    est_wait_s=wait,
                    est_wait_method="littles_law" if wait is not None else "none",
                )
            rows.append(row(
                "zone", zone.id, self.zone_classes[z], zone.queue, acc.zone_late[z],
                acc.zone_tracks[z],
                occupancy_mean=occ_mean, occupancy_max=occ_max, visits=int(acc.visits[z]),
                exits=exits, tracklets=int(acc.tracklets[z]), dwell_p50_s=p50,
                dwell_p90_s=p90, **queue,
            ))
        for i, line in enumerate(self.lines):
            rows.append(row(
                "line", line.id, self.line_classes[i], False, acc.line_late[i],
                acc.line_tracks[i],
                lr_direction=line.left_to_right, lr_count=int(acc.line_counts[i, 0]),
                rl_direction=line.right_to_left, rl_count=int(acc.line_counts[i, 1]),
            ))
        return ClosedWindow(
            camera_id=self.camera_id,
            start_s=acc.start_s,
            end_s=acc.end_s,
            start_at=start_at,
            complete=complete,
            metrics=tuple(rows),
            heatmap=acc.heatmap_grid(self.camera_id, self.k, start_at),
        )
