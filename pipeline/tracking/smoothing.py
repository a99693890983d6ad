"""Offline track smoothing: join broken tracks and fill their gaps, before analytics. No Ray.

A tracker that has to answer on every frame gives up on a person hidden for longer than
its ``lost_buffer_s`` or whose predicted box no longer overlaps where they reappear; the
person comes back under a new id. Counting lines then miss the crossing (the old track
stopped before the line, the new one starts after it) and zones count two short visits
instead of one long one. With a few seconds of lookahead, which offline processing can
afford, :class:`Smoother` repairs this:

- **Stitching**: when a track ends (the tracker removed it) and a new track of the same
  class starts within ``max_gap_s`` after its last box (``still_max_gap_s`` while the
  tracker judges the camera still: there people come back where they were hidden),
  where the ended track's motion puts it and where the new track's first motion, run
  backwards, comes from (both within ``max_jump`` + ``jump_per_s`` x gap, in box
  heights), with a similar box height, the new track takes the old id
  (:mod:`pipeline.tracking.stitching`): the cheapest candidate by motion miss and size
  change, if it costs at most ``max_join_cost`` and no other candidate comes within
  ``join_margin`` of it (in a crowd, a guess breaks two ids). Never joined: a track
  that ended at the frame border (the person left), a new track that starts at the
  border (someone came in), a new track whose first box duplicates another track's box,
  and a new track shorter than ``min_successor_s`` (fragments are more often false than
  the lost person).
- **Short tracks**: a track that ended (removed by the tracker, continued by no later
  track) having lasted less than ``min_track_s`` (``still_min_track_s`` while the
  camera is still) is left out: such tracks are more often false or doubled detections
  than people, and each would count as one more person. Judged when its first frame is
  released, when the lookahead already shows every track that could continue it; a
  track that began within that length of the stream's start is kept (it may have begun
  before).
- **Births**: the tracker confirms a track only on its ``min_hits``-th box, so the box
  that started it left the tracker without an id; :meth:`Smoother.backfill` puts it back
  in its held frame under the track's id (``backfill_births``).
- **Interpolation**: the frames of a bridged gap (between two boxes of one track, or
  between a track and its stitched successor) get linearly interpolated boxes, so zone
  occupancy and dwell do not drop while the person is hidden.
- **Box smoothing**: each released box takes its anchor (bottom centre, the point lines
  and zones use) from the mean of its track's anchors within ``box_smoothing_s`` either
  side, and its width and height from the means within the longer ``size_smoothing_s``
  (``still_size_smoothing_s``, longer still, while the camera is still; centred windows,
  shrunk symmetrically near the track's ends). This takes out the detector's
  frame-to-frame jitter: of the anchor over a short window, so that turns stay sharp,
  and of the size, which changes slowly, over a longer one.

Frames are held for ``lookahead_s`` of media time and released in order, each as a
:class:`~pipeline.types.TrackedFrame`. Ids in the output are the tracker's ids (a stitched
track keeps the older one), so they stay unique and are never reused; ``removed_ids`` are
rewritten accordingly (an id is reported removed only when the joined track ends).

State is bounded: the held frames (at most ``lookahead_s`` of media time and
``max_held_frames``), the smoothed boxes released within the last size or anchor window
(the longer), and per track a few boxes of its first and last ``velocity_window_s``; a
track's state is dropped once the tracker has removed it and its last frame
is released, or (for trackers that report no removals) once it has not been seen for
``lookahead_s`` plus the longest gap.

Example:
    >>> gf = Smoother(SmoothingConfig(lookahead_s=1.0, max_gap_s=1.0))
    >>> box = lambda x: Tracks(np.array([[x, 0, x + 10, 30]], np.float32),
    ...                        np.ones(1, np.float32), np.zeros(1, np.int16), np.array([1]))
    >>> out = []
    >>> for k, tracks in enumerate([box(0), Tracks.empty(), box(4)] + [Tracks.empty()] * 30):
    ...     meta = FrameMeta("cam", k, k * 0.1, 0.0, 640, 480)
    ...     out += gf.push(TrackedFrame(meta, tracks))
    >>> out[1].tracks.boxes.tolist()   # frame 1 had no box: interpolated
    [[2.0, 0.0, 12.0, 30.0]]
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pipeline.boxes import iou_matrix
from pipeline.errors import InputError
from pipeline.tracking.config import SmoothingConfig
from pipeline.tracking.tracker import Births
from pipeline.tracking.still_camera import in_force
from pipeline.tracking.stitching import Tracklet, choose_successor
from pipeline.types import FrameMeta, TrackedFrame, Tracks

log = logging.getLogger(__name__)

TIME_TOLERANCE_S = 1e-6
"""Slack when comparing media times (seconds), against rounding of ``frame / fps``."""


@dataclass(frozen=True)
class SmootherStats:
    """Counters of one smoother.

    Attributes:
        frames_in: frames pushed.
        frames_out: frames released.
        held: frames held now.
        stitched: tracks joined to an earlier track.
        interpolated_boxes: boxes inserted into gaps.
        forced_releases: frames released early because ``max_held_frames`` were held.
        live_tracks: tracks with state held now.
    """

    frames_in: int
    frames_out: int
    held: int
    stitched: int
    interpolated_boxes: int
    forced_releases: int
    live_tracks: int


@dataclass
class _Held:
    """A frame waiting for release; its rows may still be relabelled or added to."""

    meta: FrameMeta
    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    classes: npt.NDArray[np.int16]
    ids: npt.NDArray[np.int64]
    removed: set[int]

    cached: tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]] | None = None

    def columns(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """(n,) media time of each row, and whether the row is its id's first in the frame
        (a stitch can relabel one id onto another's); kept until the rows change."""
        if self.cached is None:
            first = np.ones(len(self.ids), np.bool_)
            if len(np.unique(self.ids)) < len(self.ids):
                first[:] = False
                first[np.unique(self.ids, return_index=True)[1]] = True
            self.cached = (np.full(len(self.ids), self.meta.pts_s), first)
        return self.cached

    def add_row(self, box: npt.NDArray[np.float32], score: float, cls: int, tid: int) -> None:
        self.cached = None
        self.boxes = np.concatenate([self.boxes, box[None].astype(np.float32)])
        self.scores = np.append(self.scores, np.float32(score))
        self.classes = np.append(self.classes, np.int16(cls))
        self.ids = np.append(self.ids, np.int64(tid))


@dataclass(frozen=True)
class _HeldTable:
    """Every row of some frames in one set of arrays, oldest frame first: media times
    (m,), ids (m,), boxes (m, 4), and whether the row is its id's first in its frame."""

    times: npt.NDArray[np.float64]
    ids: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float32]
    first: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, held: Sequence[_Held]) -> _HeldTable:
        if not held:
            return cls(np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 4), np.float32),
                       np.zeros(0, np.bool_))
        parts = [f.columns() for f in held]
        return cls(np.concatenate([p[0] for p in parts]), np.concatenate([f.ids for f in held]),
                   np.concatenate([f.boxes for f in held]),
                   np.concatenate([p[1] for p in parts]))


@dataclass
class _Track:
    """What the smoother knows about one output id."""

    cls: int
    first_pts: float
    first_box: npt.NDArray[np.float32]
    first_score: float
    last_pts: float
    last_box: npt.NDArray[np.float32]
    last_score: float
    recent: deque[tuple[float, float, float]] = field(default_factory=deque)  # pts, cx, cy
    start: list[tuple[float, float, float]] = field(default_factory=list)  # first window
    removed: bool = False
    born_at_edge: bool = False
    born_on_other: bool = False  # first box duplicated another track's box
    kept: bool = False  # lasted min_track_s: its boxes are released from now on

    def observe(self, pts: float, box: npt.NDArray[np.float32], score: float,
                window_s: float) -> None:
        self.last_pts, self.last_box, self.last_score = pts, box, score
        centre = (pts, 0.5 * float(box[0] + box[2]), 0.5 * float(box[1] + box[3]))
        self.recent.append(centre)
        while len(self.recent) > 2 and pts - self.recent[1][0] >= window_s:
            self.recent.popleft()
        if pts - self.first_pts <= window_s + TIME_TOLERANCE_S:
            self.start.append(centre)

    def velocity(self) -> tuple[float, float] | None:
        """Centre velocity (pixels per second) over the last window; None if unknown."""
        return _velocity(self.recent)

    def start_velocity(self) -> tuple[float, float] | None:
        """Centre velocity (pixels per second) over the first window; None if unknown."""
        return _velocity(self.start)


def _velocity(points: Sequence[tuple[float, float, float]]) -> tuple[float, float] | None:
    """Displacement per second between the first and last (pts, x, y) of ``points``."""
    if len(points) < 2:
        return None
    t0, x0, y0 = points[0]
    t1, x1, y1 = points[-1]
    dt = t1 - t0
    if dt <= TIME_TOLERANCE_S:
        return None
    return (x1 - x0) / dt, (y1 - y0) / dt


def _end_of(track: _Track) -> Tracklet:
    return Tracklet(track.cls, track.last_pts, track.last_box, track.velocity(),
                    track.first_pts)


def _start_of(track: _Track) -> Tracklet:
    return Tracklet(track.cls, track.first_pts, track.first_box, track.start_velocity(),
                    track.last_pts)


class Smoother:
    """Joins broken tracks and interpolates their gaps with a fixed media-time lookahead.

    One instance per camera. Feed it every frame of the camera in order, right after the
    tracker; hand what :meth:`push` returns to the analytics; call :meth:`flush` when the
    camera's stream ends.

    Args:
        config: lookahead, gap and motion thresholds; the documented defaults if omitted.

    Example:
        >>> gf = Smoother()
        >>> gf.push(TrackedFrame(FrameMeta("cam", 0, 0.0, 0.0, 640, 480), Tracks.empty()))
        []
        >>> [f.meta.frame_index for f in gf.flush()]
        [0]
    """

    def __init__(self, config: SmoothingConfig | None = None) -> None:
        self.config = config if config is not None else SmoothingConfig()
        self.camera_still = False  # set by the lane from its tracker's judgement
        self._held: deque[_Held] = deque()
        # The smoothed rows of the frames released within the widest smoothing window.
        self._past: deque[_Held] = deque()
        self._tracks: dict[int, _Track] = {}
        self._out_of: dict[int, int] = {}  # tracker id -> output id
        self._released_pts = -math.inf
        self._first_pts = math.nan  # the stream's first frame
        self._last_pts = -math.inf
        self._last_index: int | None = None
        self._frames_in = 0
        self._frames_out = 0
        self._stitched = 0
        self._interpolated = 0
        self._forced = 0

    # ------------------------------------------------------------------ public API

    def push(self, tracked: TrackedFrame) -> list[TrackedFrame]:
        """Takes one frame from the tracker; returns the frames now due, oldest first.

        Args:
            tracked: the tracker's output for the frame: ``meta.pts_s`` is its media time
                (seconds), ``tracks`` its boxes (n, 4) float32 xyxy pixels,
                ``removed_ids`` the (k,) int64 ids the tracker removed in this update.

        Returns:
            The frames whose media time is at least ``lookahead_s`` before this one's
            (or forced out by ``max_held_frames``), with stitched ids, interpolated and
            smoothed boxes and rewritten ``removed_ids``, in frame order.

        Raises:
            InputError: ``tracks`` is not a Tracks, media time went backwards, or the
                frame index did not increase.
        """
        meta, tracks, removed_ids = tracked.meta, tracked.tracks, tracked.removed_ids
        if not isinstance(tracks, Tracks):
            raise InputError(
                f"tracks must be a pipeline.types.Tracks, got {type(tracks).__name__}", "tracks"
            )
        pts = float(meta.pts_s)
        if not math.isfinite(pts) or pts < self._last_pts - TIME_TOLERANCE_S:
            raise InputError(
                f"camera {meta.camera_id!r}: pts_s must be finite and must not go backwards, "
                f"got {meta.pts_s} after {self._last_pts}",
                "pts_s",
            )
        if self._last_index is not None and meta.frame_index <= self._last_index:
            raise InputError(
                f"camera {meta.camera_id!r}: frame_index {meta.frame_index} is not after "
                f"the previous frame {self._last_index}",
                "frame_index",
            )
        if math.isnan(self._first_pts):
            self._first_pts = pts
        self._last_pts, self._last_index = max(pts, self._last_pts), meta.frame_index
        self._frames_in += 1
        cfg = self.config

        raw_ids = tracks.track_ids
        ids = np.array([self._out_of.setdefault(int(t), int(t)) for t in raw_ids.tolist()],
                       np.int64)
        frame = _Held(meta, np.array(tracks.boxes), np.array(tracks.scores),
                      np.array(tracks.class_ids), ids, set())
        overlap = None
        for row, tid in enumerate(ids.tolist()):
            box = frame.boxes[row]
            score = float(frame.scores[row])
            track = self._tracks.get(tid)
            if track is None:
                if overlap is None:
                    overlap = iou_matrix(frame.boxes, frame.boxes)
                    np.fill_diagonal(overlap, 0.0)
                self._tracks[tid] = track = _Track(int(frame.classes[row]), pts, box, score,
                                                   pts, box, score)
                track.born_at_edge = self._at_edge(box, meta)
                track.born_on_other = bool(overlap[row].max(initial=0.0) >= cfg.duplicate_iou)
            elif cfg.interpolate:
                self._fill(tid, track, box, score, pts)
            track.observe(pts, box, score, cfg.velocity_window_s)
        for raw in removed_ids.tolist():
            out = self._out_of.pop(int(raw), int(raw))
            frame.removed.add(out)
            track = self._tracks.get(out)
            if track is not None:
                track.removed = True
                if track.last_pts <= self._released_pts + TIME_TOLERANCE_S:
                    del self._tracks[out]  # its last frame is gone: nothing left to join
        self._held.append(frame)
        return self._release(pts - cfg.lookahead_s)

    def backfill(self, births: Births) -> None:
        """Puts the first boxes of newly confirmed tracks (seen while tentative, so in no
        earlier output) back into their held frames, before the frame that confirmed
        them is pushed; a box whose frame is already released is dropped."""
        cfg = self.config
        if not cfg.backfill_births:
            return
        for k, raw in enumerate(births.ids.tolist()):
            if raw in self._out_of or raw in self._tracks:
                continue
            pts = float(births.pts_s[k])
            frame = next((f for f in reversed(self._held)
                          if abs(f.meta.pts_s - pts) <= TIME_TOLERANCE_S), None)
            if frame is None:
                continue
            box = births.boxes[k].astype(np.float32)
            score, cls = float(births.scores[k]), int(births.class_ids[k])
            overlap = iou_matrix(box[None], frame.boxes)
            frame.add_row(box, score, cls, raw)
            self._out_of[raw] = raw
            track = self._tracks[raw] = _Track(cls, pts, box, score, pts, box, score)
            track.born_at_edge = self._at_edge(box, frame.meta)
            track.born_on_other = bool(overlap.max(initial=0.0) >= cfg.duplicate_iou)
            track.observe(pts, box, score, cfg.velocity_window_s)

    def flush(self) -> list[TrackedFrame]:
        """Releases every held frame (end of the stream); tracks are kept for later pushes."""
        return self._release(math.inf)

    def stats(self) -> SmootherStats:
        """A snapshot of this smoother's counters."""
        return SmootherStats(
            frames_in=self._frames_in,
            frames_out=self._frames_out,
            held=len(self._held),
            stitched=self._stitched,
            interpolated_boxes=self._interpolated,
            forced_releases=self._forced,
            live_tracks=len(self._tracks),
        )

    @property
    def max_gap_s(self) -> float:
        """The longest gap joined and interpolated now (media seconds): ``still_max_gap_s``
        while :attr:`camera_still`, if longer, else ``max_gap_s``."""
        return in_force(self.config.max_gap_s, self.config.still_gap_s, self.camera_still)

    @property
    def min_track_s(self) -> float:
        """The shortest ended track kept now (media seconds): ``still_min_track_s`` while
        :attr:`camera_still`, if longer, else ``min_track_s``; at most ``lookahead_s``."""
        cfg = self.config
        return min(in_force(cfg.min_track_s, cfg.still_min_track_s, self.camera_still),
                   cfg.lookahead_s)

    @property
    def size_window_s(self) -> float:
        """The size-smoothing window now (media seconds either side): the still one while
        :attr:`camera_still`, if longer, else the moving one (at most ``lookahead_s``)."""
        cfg = self.config
        return in_force(cfg.size_window_s, cfg.still_size_window_s, self.camera_still)

    # ------------------------------------------------------------------ internals

    def _fill(self, tid: int, track: _Track, box: npt.NDArray[np.float32], score: float,
              pts: float) -> None:
        """Interpolates ``tid`` over the held frames between its last box and ``box``."""
        if not self._held or track.last_pts >= self._held[-1].meta.pts_s - TIME_TOLERANCE_S:
            return  # seen in the previous frame: no gap
        if pts - track.last_pts > self.max_gap_s + TIME_TOLERANCE_S:
            return
        if self._released_pts > track.last_pts + TIME_TOLERANCE_S:
            return  # part of the gap is already released: leave it whole rather than half
        self._interpolate(tid, track.cls, track.last_pts, track.last_box, pts, box,
                          min(track.last_score, score))

    def _interpolate(self, tid: int, cls: int, t0: float, box0: npt.NDArray[np.float32],
                     t1: float, box1: npt.NDArray[np.float32], score: float) -> None:
        span = t1 - t0
        if span <= TIME_TOLERANCE_S:
            return
        for frame in self._held:
            t = frame.meta.pts_s
            if t0 + TIME_TOLERANCE_S < t < t1 - TIME_TOLERANCE_S and tid not in frame.ids:
                a = (t - t0) / span
                frame.add_row((1.0 - a) * box0 + a * box1, score, cls, tid)
                self._interpolated += 1

    def _at_edge(self, box: npt.NDArray[np.float32], meta: FrameMeta) -> bool:
        """True when ``box`` is within edge_margin of the frame's border."""
        mx = self.config.edge_margin * meta.width
        my = self.config.edge_margin * meta.height
        return bool(box[0] <= mx or box[1] <= my or box[2] >= meta.width - mx
                    or box[3] >= meta.height - my)

    def _release(self, due_pts: float) -> list[TrackedFrame]:
        out = []
        while self._held and (
            self._held[0].meta.pts_s <= due_pts + TIME_TOLERANCE_S
            or len(self._held) > self.config.max_held_frames
        ):
            if self._held[0].meta.pts_s > due_pts + TIME_TOLERANCE_S:
                self._forced += 1
            frame = self._held.popleft()
            self._released_pts = frame.meta.pts_s
            ended = []
            for tid in frame.ids.tolist():
                track = self._tracks.get(tid)
                if track is None or track.last_pts > frame.meta.pts_s + TIME_TOLERANCE_S:
                    continue  # seen again later
                if track.removed:
                    if (self._at_edge(track.last_box, frame.meta)
                            or not self._stitch(tid, track)):
                        ended.append(tid)
            keep = self._long_enough(frame)
            boxes = self._smoothed(frame)
            tracks = Tracks(boxes, frame.scores, frame.classes, frame.ids)
            for tid in ended:
                del self._tracks[tid]
            self._forget_idle(frame.meta.pts_s)
            out.append(TrackedFrame(
                frame.meta,
                tracks if keep.all() else tracks.filter(keep),
                np.array(sorted(frame.removed), np.int64),
            ))
            self._frames_out += 1
        return out

    def _long_enough(self, frame: _Held) -> npt.NDArray[np.bool_]:
        """(n,) whether each row of ``frame`` (about to be released) is released: its
        track has lasted the ``min_track_s`` in force (``still_min_track_s`` while the
        camera is still), or has not ended yet (it may still last). A short track that
        has ended is first offered a successor (:meth:`_stitch`), now rather than when
        its last frame is released: the lookahead already shows every later track that
        could continue it, and joined, it may be long enough."""
        shortest = self.min_track_s - TIME_TOLERANCE_S
        keep = np.ones(len(frame.ids), np.bool_)
        if shortest <= 0.0:
            return keep
        for row, tid in enumerate(frame.ids.tolist()):
            track = self._tracks.get(tid)
            if track is None or track.kept:
                continue
            if track.first_pts - self._first_pts < shortest:
                track.kept = True  # began with the stream: it may have begun before
                continue
            if (track.removed and track.last_pts - track.first_pts < shortest
                    and not self._at_edge(track.last_box, frame.meta)):
                self._stitch(tid, track)
            if track.last_pts - track.first_pts >= shortest:
                track.kept = True
            elif track.removed:
                keep[row] = False
        return keep

    def _forget_idle(self, released_pts: float) -> None:
        """Safety net for trackers that never report removals: forgets tracks unseen for
        longer than lookahead_s + the longest gap (still or not) before the last released
        frame."""
        longest = max(self.config.max_gap_s, self.config.still_gap_s or 0.0)
        horizon = released_pts - self.config.lookahead_s - longest
        idle = [tid for tid, t in self._tracks.items() if t.last_pts < horizon]
        if idle:
            gone = set(idle)
            for tid in idle:
                del self._tracks[tid]
            for raw in [r for r, out in self._out_of.items() if out in gone]:
                del self._out_of[raw]

    def _smoothed(self, frame: _Held) -> npt.NDArray[np.float32]:
        """The frame's boxes, smoothed over their tracks' boxes either side (released ones
        from the track's past, later ones from held frames): the anchor (bottom centre)
        averaged within box_smoothing_s, width and height within size_smoothing_s.
        Records the frame's smoothed rows among the released ones.

        Each window is centred: near a track's first or last box it shrinks to the time
        available on the shorter side (at the ends themselves, the box as detected), so
        a moving person's box is not pulled towards where they are going at the start of
        a track, nor towards where they were at its end. All rows at once: one table of
        (row, media time, box) over the window, grouped sums (no loop over boxes).
        """
        w = self.config.anchor_window_s
        ws = self.size_window_s
        widest = max(w, ws)
        n = len(frame.ids)
        if not n or widest <= 0:
            return frame.boxes
        t = frame.meta.pts_s
        ids = frame.ids.tolist()
        first_row: dict[int, int] = {}
        for row, tid in enumerate(ids):
            first_row.setdefault(tid, row)
        smooth = np.array([first_row[tid] == row and tid in self._tracks
                           for row, tid in enumerate(ids)], np.bool_)
        times, rows, boxes = [np.full(n, t)], [np.arange(n)], [frame.boxes]
        past = self._past
        while past and past[0].meta.pts_s < t - widest - TIME_TOLERANCE_S:
            past.popleft()
        latest = t + widest + TIME_TOLERANCE_S
        later = itertools.takewhile(lambda f: f.meta.pts_s <= latest, self._held)
        tab = _HeldTable.of([*past, *later])
        if len(tab.ids):
            order = np.argsort(frame.ids, kind="stable")  # first row of an id first
            sorted_ids = frame.ids[order]
            pos = np.minimum(np.searchsorted(sorted_ids, tab.ids), n - 1)
            keep = (sorted_ids[pos] == tab.ids) & tab.first
            row = order[pos[keep]]
            use = smooth[row]
            times.append(tab.times[keep][use])
            rows.append(row[use])
            boxes.append(tab.boxes[keep][use])
        t_all, r_all = np.concatenate(times), np.concatenate(rows)
        b_all = np.concatenate(boxes).astype(np.float64)
        out = self._window_means(t_all, r_all, b_all, t, n, w, ws)
        out[~smooth] = frame.boxes[~smooth]
        if smooth.any():
            past.append(_Held(frame.meta, frame.boxes[smooth], frame.scores[smooth],
                              frame.classes[smooth], frame.ids[smooth], set()))
        return out

    @staticmethod
    def _window_means(times: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
                      boxes: npt.NDArray[np.float64], t: float, n: int, anchor_s: float,
                      size_s: float) -> npt.NDArray[np.float32]:
        """Per row of the frame at ``t``: bottom centre averaged over the row's entries
        within ``anchor_s`` of ``t``, width and height within ``size_s``, each window
        shrunk to the time the row's shorter side has.

        Args:
            times: (m,) media seconds of the entries (each row's own box at ``t``
                included).
            rows: (m,) the row each entry belongs to, 0..n-1.
            boxes: (m, 4) xyxy pixels.
        """
        tmin = np.full(n, t)
        tmax = np.full(n, t)
        np.minimum.at(tmin, rows, times)
        np.maximum.at(tmax, rows, times)
        reach = np.minimum(t - tmin, tmax - t)
        dt = np.abs(times - t)
        means = []
        for win in (anchor_s, size_s):
            inside = dt <= np.minimum(win, reach)[rows] + TIME_TOLERANCE_S
            r, b = rows[inside], boxes[inside]
            count = np.bincount(r, minlength=n)
            # Means of the edges give the means of centre, bottom, width and height alike.
            means.append(np.stack([np.bincount(r, b[:, c], n) for c in range(4)], axis=1)
                         / count[:, None])
        (x0, _, x1, bottom), (s0, s1, s2, s3) = means[0].T, means[1].T
        cx, half_w, height = (x0 + x1) / 2, (s2 - s0) / 2, s3 - s1
        return np.stack([cx - half_w, bottom - height, cx + half_w, bottom],
                        axis=1).astype(np.float32)

    def _can_succeed(self, cand: _Track) -> bool:
        """Whether ``cand`` may continue an ended track: its first frames are still held,
        it did not start at the border or on another track's box, and it lasts at least
        min_successor_s."""
        return (cand.first_pts > self._released_pts + TIME_TOLERANCE_S
                and not (cand.born_at_edge or cand.born_on_other)
                and cand.last_pts - cand.first_pts
                >= self.config.min_successor_s - TIME_TOLERANCE_S)

    def _stitch(self, tid: int, track: _Track) -> bool:
        """Joins the best successor to the ended track ``tid``; True if one was found
        (:func:`~pipeline.tracking.stitching.choose_successor`: motion both ways, size and
        timing; none when ambiguous)."""
        starts = {cid: _start_of(c) for cid, c in self._tracks.items()
                  if cid != tid and self._can_succeed(c)}
        cand_ids = list(starts)
        k = choose_successor(_end_of(track), [starts[c] for c in cand_ids], self.config,
                             self.max_gap_s)
        if k is None:
            return False
        best = cand_ids[k]
        succ = self._tracks.pop(best)
        if self.config.interpolate:
            self._interpolate(tid, track.cls, track.last_pts, track.last_box, succ.first_pts,
                              succ.first_box, min(track.last_score, succ.first_score))
        for frame in self._held:
            if len(frame.ids):
                frame.ids[frame.ids == best] = tid
                frame.cached = None
            frame.removed.discard(tid)
            if best in frame.removed:
                frame.removed.discard(best)
                frame.removed.add(tid)
        for raw, out in self._out_of.items():
            if out == best:
                self._out_of[raw] = tid
        gap = succ.first_pts - track.last_pts
        track.last_pts, track.last_box, track.last_score = (
            succ.last_pts, succ.last_box, succ.last_score)
        track.recent = succ.recent
        track.start = track.start or succ.start
        track.removed = succ.removed
        self._stitched += 1
        log.debug("stitched track %d onto %d after %.2f s", best, tid, gap)
        return True
