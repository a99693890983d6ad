"""All analytics of one camera: zones, lines, queues, heatmaps and windows.

:class:`CameraAnalytics` is the plain core an aggregator actor hosts one of per camera.
It is driven by the tracker's output, one :class:`~pipeline.types.TrackedFrame` at a
time, and by media time only:

    events = cam.update(frame)
    windows = cam.pop_closed_windows()

Each zone and line counts the object classes in its ``classes`` (default ``person``),
each separately: its state, rows, events and live counts have one *column* per class
(:mod:`pipeline.analytics.classes`).

Per-track state lives in numpy arrays indexed by a *slot*; a track gets a slot on its
first frame and gives it back when the tracker removes it or, as a safety net, after
``track_idle_timeout_s`` of media time unseen. Everything per frame is vectorised over the
frame's tracks and the camera's zones and lines.

Example:
    >>> import numpy as np
    >>> from pipeline.types import FrameMeta, TrackedFrame, Tracks
    >>> cfg = AnalyticsConfig(lines=[{"id": "door", "start": [0.5, 0], "end": [0.5, 1]}],
    ...                       min_distinct_tracks=1)
    >>> cam = CameraAnalytics("cam1", cfg, width=100, height=100)
    >>> def frame(k, x):
    ...     return TrackedFrame(FrameMeta("cam1", k, k / 25, 1.8e9 + k / 25, 100, 100),
    ...                         Tracks(np.array([[x - 5, 40, x + 5, 60]], np.float32),
    ...                                np.ones(1, np.float32), np.zeros(1, np.int16), [7]))
    >>> [e.direction for k, x in enumerate([20, 40, 60, 80]) for e in cam.update(frame(k, x))]
    ['out']
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from pipeline.analytics.borders import BorderDwell
from pipeline.analytics.classes import ClassColumns
from pipeline.analytics.coverage import Coverage, empty_window
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.continuity import TrackEnds, anchors
from pipeline.analytics.events import (CameraSnapshot, ClosedWindow, Event, EventKind,
                                      HeatmapGrid, LineSnapshot, ZoneSnapshot)
from pipeline.analytics.frame_checks import checked_pts, finite_tracks
from pipeline.analytics.geometry import resolve_camera_geometry
from pipeline.analytics.lines import Crossings, LineCrossings
from pipeline.analytics.queues import QueueRates
from pipeline.analytics.slots import INITIAL_SLOTS, TrackSlots
from pipeline.analytics.windows import WindowSet
from pipeline.analytics.zones import DeepOf, EndedVisits, ZoneChanges, ZoneVisits
from pipeline.errors import InputError
from pipeline.types import TrackedFrame

logger = logging.getLogger(__name__)

_KIND_RANK = {"zone_enter": 0, "zone_exit": 1, "line_cross": 2}


class CameraAnalytics:
    """Zones, lines, queues, heatmaps and windows of one camera.

    Args:
        camera_id: the camera's id (stamped on every output).
        config: the camera's analytics config.
        width, height: frame size in pixels; normalised geometry is resolved against it.
        labels: the model's class names by class id; None when every track is a person
            (a person-only model whose labels were not given).

    Raises:
        ConfigError: a pixel coordinate lies outside the frame, or a zone or line names a
            class the model does not have.
    """

    def __init__(self, camera_id: str, config: AnalyticsConfig, width: int, height: int,
                 labels: Mapping[int, str] | None = None) -> None:
        self.camera_id = camera_id
        self.config = config
        self.width, self.height = int(width), int(height)
        self.geometry = resolve_camera_geometry(config, self.width, self.height, camera_id)
        self.zone_columns = ClassColumns.build(
            [z.classes for z in config.zones], labels,
            [f"camera {camera_id!r}: zone {z.id!r}" for z in config.zones])
        self.line_columns = ClassColumns.build(
            [ln.classes for ln in config.lines], labels,
            [f"camera {camera_id!r}: line {ln.id!r}" for ln in config.lines])
        self.reset()

    def reset(self) -> None:
        """Drops all state (tracks, visits, open windows, totals) without output."""
        cfg = self.config
        zc, lc = self.zone_columns, self.line_columns
        zones = [cfg.zones[e] for e in zc.element]  # per (zone, class) column
        self._slots = TrackSlots(INITIAL_SLOTS)
        gap = min(cfg.continuity.max_gap_s, cfg.window_grace_s, cfg.track_idle_timeout_s)
        self._ends = TrackEnds(cfg.continuity, INITIAL_SLOTS, gap, self.width, self.height)
        grace = np.array([z.exit_grace_s for z in zones], np.float64)
        self._border = BorderDwell.for_zones(zones, self.geometry.polygons, zc)
        self._zones = ZoneVisits(
            np.array([z.min_visit_s for z in zones], np.float64), grace, INITIAL_SLOTS,
            np.maximum(grace, gap) if self._ends.enabled else None,
            self._to_border if self._border.enabled else None)
        self._first_pts = math.inf
        self._lines = LineCrossings(self.geometry.segments, cfg.lines, INITIAL_SLOTS)
        self._queues: dict[int, QueueRates] = {
            i: QueueRates(z.queue_lookback_s) for i, z in enumerate(zones) if z.queue
        }
        self._windows = WindowSet(self.camera_id, cfg, self.width, self.height, zc, lc)
        self._coverage = Coverage(cfg.window_s, cfg.coverage_max_gap_s, cfg.max_empty_windows)
        self._dir_names = [(ln.left_to_right, ln.right_to_left) for ln in cfg.lines]
        self._zone_ids = self.geometry.zone_ids
        self._line_ids = self.geometry.line_ids
        self._zone_name = [self._zone_ids[e] for e in zc.element]  # per column
        self._zone_class = zc.names
        self._visits_total = np.zeros(len(zc), np.int64)
        self._exits_total = np.zeros(len(zc), np.int64)
        self._line_totals = np.zeros((len(lc), 2), np.int64)
        self._pending: list[ClosedWindow] = []
        self._last_pts = -math.inf
        self._offset: float | None = None
        self._closed = False
        self.invalid_boxes_total = 0
        self.joined_tracks_total = 0

    # ------------------------------------------------------------------ updates

    def update(self, frame: TrackedFrame) -> list[Event]:
        """Processes one frame's tracks and returns the events it completed.

        Args:
            frame: the tracker's output for the frame: ``tracks`` with boxes (n, 4) float32
                xyxy pixels of a ``width`` x ``height`` frame and ids unique within the
                frame; ``meta.pts_s`` its media time in seconds, which must not decrease
                between calls; ``removed_ids`` the ids the tracker removed with it, whose
                state is dropped and whose open visits end (stamped with their last frame
                inside); ``meta.captured_at`` its wall time, used only to stamp outputs
                (never read from a clock here).

        Returns:
            Events ordered by (pts_s, zone/line order, kind, track_id). Windows closed by
            this frame are collected for :meth:`pop_closed_windows`.

        Raises:
            InputError: media time went backwards or is not finite, track ids repeat within
                the frame, or the analytics were closed.
        """
        if self._closed:
            raise InputError(f"camera {self.camera_id!r}: analytics are closed", "camera_id")
        tracks, removed_ids = frame.tracks, frame.removed_ids
        pts = checked_pts(self.camera_id, frame.meta.pts_s, self._last_pts)
        self._last_pts, self._first_pts = pts, min(self._first_pts, pts)
        self._offset = float(frame.meta.captured_at) - pts
        boxes, ids, classes, dropped = finite_tracks(
            self.camera_id, pts, tracks.boxes, tracks.track_ids, tracks.class_ids)
        self.invalid_boxes_total += dropped
        id_list = ids.tolist()
        slots = self._slots.lookup(id_list)
        if self._slots.capacity > self._zones.start.shape[0]:
            self._zones.grow(self._slots.capacity)
            self._lines.grow(self._slots.capacity)
            self._ends.grow(self._slots.capacity)
        b = boxes.astype(np.float64)
        x, y, h = anchors(b)
        zoned = self._zones.num_zones > 0
        inside = self.geometry.polygons.contains(x, y) if zoned else None

        new = np.isnan(self._slots.last_seen[slots]) if self._slots.added else None
        if self._ends.enabled and new is not None:  # new tracks: do they continue lost ones?
            self._continue_lost(slots, new, b, inside, classes, pts)
        crossings = self._lines.update(slots, x, y, h, pts)
        crossings = self.line_columns.split_crossings(crossings, slots, classes)
        if zoned:
            # one column per (zone, class): inside and of that class
            changes = self._zones.update(slots, self.zone_columns.columns_of(inside, classes),
                                         pts, self._deep_of(), x, y, new)
        else:
            changes = None
        self._slots.last_seen[slots] = pts
        if self._ends.enabled or self._border.enabled:
            self._ends.observe(slots, b)

        ended: list[tuple[ZoneChanges, npt.NDArray[np.int64]]] = []
        if len(removed_ids):
            gone = self._slots.find(removed_ids)
            if len(gone) and self._ends.enabled:
                keep = gone[~self._ends.linked[gone]]
                if len(keep):
                    ended.append(self._retire(keep))
                gone = gone[self._ends.linked[gone]]
            if len(gone):
                ended.append(self._drop(gone))
        idle = self._slots.last_seen < pts - self.config.track_idle_timeout_s
        if self._ends.enabled and self._ends.retired.any():
            idle |= self._ends.done(self._slots.last_seen, pts)
        if idle.any():
            gone = np.flatnonzero(idle)
            logger.debug("camera %r: dropping %d idle or ended track(s)", self.camera_id,
                         len(gone))
            ended.append(self._drop(gone))

        acc, opened = self._windows.current(pts)
        if opened:
            for z in range(self._zones.num_zones):
                acc.zone_tracks[z].update(
                    self._slots.track_id[self._zones.counted_slots(z)].tolist()
                )
        acc.observe_frame(pts, self._zones.occupancy(), x, y, ids)
        skipped = self._coverage.frame(pts, self._windows)
        for q in self._queues.values():
            q.observe(pts)

        # Slots dropped above are already freed: name this frame's events from the id table
        # as it was before the first drop.
        slot_ids = ended[0][1] if ended else self._slots.track_id
        events: list[Event] = []
        if len(crossings):
            self._route_crossings(crossings, slot_ids, pts, events)
        if changes:
            self._route_zone_changes(changes, slot_ids, events)
        for ch, ids_before in ended:
            self._route_zone_changes(ch, ids_before, events)
        if len(events) > 1:
            order = {zid: i for i, zid in enumerate(self._zone_ids + self._line_ids)}
            events.sort(
                key=lambda e: (e.pts_s, order[e.element_id], _KIND_RANK[e.kind], e.track_id)
            )

        self._close_due(pts, skipped)
        return events

    def _close_due(self, pts: float, skipped: list[int]) -> None:
        """Closes the windows media time ``pts`` has passed, and writes ``skipped`` (windows
        without any frame) as such, not as zeros."""
        for done in self._windows.pop_due(pts):
            self._pending.append(self._windows.finish(done, self._wall(done.start_s), True))
        if skipped:
            self._pending += [empty_window(self._windows, i, self._wall(i * self._windows.window_s))
                              for i in skipped]
            self._pending.sort(key=lambda w: w.start_s)

    def _continue_lost(
        self, slots: npt.NDArray[np.int64], new: npt.NDArray[np.bool_],
        boxes: npt.NDArray[np.float64], inside: npt.NDArray[np.bool_] | None,
        classes: npt.NDArray[np.int16], pts: float,
    ) -> None:
        """Lets the new tracks of this frame continue the lost tracks they follow on:
        their line sides, and the visits left deep inside a zone they start in."""
        pred, succ = self._ends.link(slots, new, boxes, self._slots.last_seen, pts)
        if not len(pred):
            return
        self.joined_tracks_total += len(pred)
        if self.config.continuity.lines:
            self._lines.hand_over(pred, succ)
        else:
            self._lines.pass_on(pred, succ)
        if inside is not None:
            row = {s: i for i, s in enumerate(slots.tolist())}
            rows = [row[s] for s in succ.tolist()]
            self._zones.hand_over(pred, succ,
                                  self.zone_columns.columns_of(inside[rows], classes[rows]),
                                  self._deep_of())

    def _deep_of(self) -> DeepOf | None:
        """How visits learn which tracks were deep inside (None with joining off)."""
        return self._deep_at_last_sighting if self._ends.enabled else None

    def _deep_at_last_sighting(self, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """(k, C) bool: whether the last anchor of each of ``slots`` was at least
        ``continuity.zone_edge`` box heights from each zone column's border (measured only
        for the tracks whose visits may end or go on, not every frame)."""
        x, y, h = self._ends.last_anchors(slots)
        deep = self.geometry.polygons.border_distance(x, y) >= self._ends.zone_edge * h[:, None]
        return deep if self.zone_columns.identity else deep[:, self.zone_columns.element]

    def _to_border(self, v: EndedVisits) -> npt.NDArray[np.float64]:
        """Dwell the ending visits ``v`` add for their unseen ends (:mod:`borders`)."""
        return self._border(v, *self._ends.last_anchors(v.slot), self._slots.last_seen[v.slot],
                            self._first_pts, self._ends.watched_until(v.slot, self._last_pts))

    def _retire(self, slots: npt.NDArray[np.int64]) -> tuple[ZoneChanges, npt.NDArray[np.int64]]:
        """The tracker removed the tracks of ``slots``: ends their visits except those left
        deep inside, and keeps the slots for ``continuity.max_gap_s`` so that a new track
        may continue them (then they are dropped)."""
        changes = self._zones.end_slots(slots, keep_deep=True, deep_of=self._deep_of())
        self._slots.retire(slots)
        self._ends.retire(slots, self._last_pts)
        return changes, self._slots.track_id.copy()

    def _drop(self, slots: npt.NDArray[np.int64]) -> tuple[ZoneChanges, npt.NDArray[np.int64]]:
        """Ends the visits of ``slots`` and frees them.

        Returns:
            The ended visits, and a copy of the slot-to-track-id table taken before the
            slots were freed (to stamp the exits).
        """
        changes = self._zones.end_slots(slots)
        slot_ids = self._slots.track_id.copy()
        self._lines.reset_slots(slots)
        self._ends.release(slots)
        self._slots.release(slots)
        return changes, slot_ids

    # ------------------------------------------------------------------ routing

    def _wall(self, pts_s: float) -> float | None:
        return None if self._offset is None else pts_s + self._offset

    def _event(
        self, kind: EventKind, element_id: str, class_name: str, track_id: int, pts_s: float,
        direction: str | None = None, dwell_s: float | None = None,
        tracklets: int | None = None,
    ) -> Event:
        return Event(self.camera_id, kind, element_id, direction, track_id, pts_s,
                     self._wall(pts_s), dwell_s, tracklets=tracklets, class_name=class_name)

    def _route_crossings(
        self, c: Crossings, slot_ids: npt.NDArray[np.int64], pts: float, events: list[Event]
    ) -> None:
        tids = slot_ids[c.slot].tolist()
        lc = self.line_columns
        for tid, line, to_right in zip(tids, c.line.tolist(), c.to_right.tolist(), strict=True):
            element = int(lc.element[line])
            col = 0 if to_right else 1
            self._line_totals[line, col] += 1
            acc, late = self._windows.for_event(pts)
            acc.line_counts[line, col] += 1
            acc.line_tracks[line].add(tid)
            if late:
                acc.line_late[line] += 1
            direction = self._dir_names[element][col]
            events.append(self._event("line_cross", self._line_ids[element], lc.names[line],
                                      tid, pts, direction))

    def _route_zone_changes(
        self, ch: ZoneChanges, slot_ids: npt.NDArray[np.int64], events: list[Event]
    ) -> None:
        windows = self._windows
        for slot, z, t, joined in zip(
            ch.enter_slot.tolist(), ch.enter_zone.tolist(), ch.enter_pts.tolist(),
            ch.enter_tracklets.tolist(), strict=True,
        ):
            tid = int(slot_ids[slot])
            self._visits_total[z] += 1
            acc, late = windows.for_event(t)
            acc.visits[z] += 1
            if late:
                acc.zone_late[z] += 1
            for open_acc in windows:  # the visit now counts in occupancy of these windows
                if open_acc.end_s > t:
                    open_acc.zone_tracks[z].add(tid)
            acc.zone_tracks[z].add(tid)
            if z in self._queues:
                self._queues[z].arrival(t)
            events.append(self._event("zone_enter", self._zone_name[z], self._zone_class[z],
                                      tid, t, tracklets=joined))
        for slot, z, t, dwell, joined in zip(
            ch.exit_slot.tolist(),
            ch.exit_zone.tolist(),
            ch.exit_pts.tolist(),
            ch.exit_dwell.tolist(),
            ch.exit_tracklets.tolist(),
            strict=True,
        ):
            tid = int(slot_ids[slot])
            self._exits_total[z] += 1
            acc, late = windows.for_event(t)
            acc.exits[z] += 1
            acc.dwells[z].append(dwell)
            acc.tracklets[z] += joined
            acc.zone_tracks[z].add(tid)
            if late:
                acc.zone_late[z] += 1
            if z in self._queues:
                self._queues[z].departure(t)
            events.append(self._event("zone_exit", self._zone_name[z], self._zone_class[z],
                                      tid, t, dwell_s=dwell, tracklets=joined))

    def idle(self, wall_s: float, final: bool = False) -> None:
        """No frame came by wall time ``wall_s`` (a live camera that is down; the caller's
        clock): windows close as if its media time went on, less a window grace for frames
        in flight (``final``: none can come), the outage's empty; older frames are refused."""
        grace = self.config.window_grace_s
        pts = -math.inf if self._offset is None else wall_s - self._offset - grace * (not final)
        if not self._closed and pts > self._last_pts:
            self._last_pts, due = pts, pts + grace * final
            self._close_due(due, self._coverage.idle(due, self._windows))

    # ------------------------------------------------------------------ outputs

    def pop_closed_windows(self) -> list[ClosedWindow]:
        """Returns and forgets the windows closed since the last call, oldest first."""
        out, self._pending = self._pending, []
        return out

    def close(self) -> list[ClosedWindow]:
        """Closes every open window early (``complete=False``) and returns all pending
        windows. Open visits are not ended: their exit is unknown. Further updates raise."""
        if not self._closed:
            for acc in self._windows.pop_all():
                self._pending.append(self._windows.finish(acc, self._wall(acc.start_s), False))
            self._closed = True
        return self.pop_closed_windows()

    def snapshot(self, zones_only: bool = False) -> CameraSnapshot:
        """The live state: occupancy, totals, queue waits, open windows (or zones alone)."""
        occ = self._zones.occupancy()
        now = self._last_pts if math.isfinite(self._last_pts) else math.nan
        zc, lc = self.zone_columns, self.line_columns
        per_zone = []
        for z in range(len(zc)):
            q = self._queues.get(z)
            status = None
            if q is not None and math.isfinite(now):
                status = q.status(now, int(occ[z]), self._zones.oldest_counted_start(z))
            per_zone.append(ZoneSnapshot(
                self._zone_name[z], int(occ[z]), int(self._visits_total[z]),
                int(self._exits_total[z]), status, class_name=zc.names[z]))
        zones = [ZoneSnapshot.total(zid, tuple(per_zone[c] for c in zc.of_element(e)))
                 for e, zid in enumerate(self._zone_ids)]
        lines = () if zones_only else tuple(LineSnapshot.total(tuple(
            LineSnapshot(lid, lr, int(self._line_totals[c, 0]), rl, int(self._line_totals[c, 1]),
                         class_name=lc.names[c]) for c in lc.of_element(e)))
            for e, (lid, (lr, rl)) in enumerate(zip(self._line_ids, self._dir_names, strict=True)))
        return CameraSnapshot(
            camera_id=self.camera_id, pts_s=now, active_tracks=len(self._slots),
            zones=tuple(zones), lines=lines,
            open_windows=() if zones_only else self._windows.spans(),
            late_events_total=self._windows.late_events_total)

    # ------------------------------------------------------------ dashboard (live heatmap)

    def open_heatmap(self) -> HeatmapGrid | None:
        """The heatmap of the newest open window so far (the live dashboard's view).

        The minimum-count rule applies as to closed windows: cells visited by 1..k-1
        distinct tracks are zeroed.

        Returns:
            The grid ((rows, columns) int64 counts over a ``width`` x ``height`` frame), or
            None when heatmaps are off or no window is open (no frame yet).
        """
        newest = max(self._windows, key=lambda acc: acc.index, default=None)
        if newest is None:
            return None
        return newest.heatmap_grid(self.camera_id, self._windows.k, self._wall(newest.start_s))
