"""A ByteTrack-class multi-object tracker for one camera, driven by media time. No Ray.

Each :meth:`ByteTracker.update` takes one frame's :class:`~pipeline.types.Detections` and
its presentation time ``pts_s`` and returns :class:`~pipeline.types.Tracks`:

1. Boxes that are NaN/inf or have no area are rejected (counted), scores below
   ``low_score`` are ignored.
2. Confirmed tracks unseen for more than ``lost_buffer_s`` media seconds are deleted; their
   ids are in :attr:`ByteTracker.removed_ids` until the next update.
3. Every track's Kalman state is predicted by the elapsed media time, so dropped frames
   are just a longer step. The noise of the box centre's velocity rises while the
   tracked people's centres land further from their predictions than the filter expects
   (a camera that turns or swings; ``velocity_adapt_nis``,
   :mod:`pipeline.tracking.motion_noise`) and falls back when they fit again.
4. Association, each stage a Hungarian assignment on IoU (ByteTrack), optionally
   restricted to equal class ids, and never between a track and a box whose height
   differs from the track's by more than ``max_height_ratio`` (another person, or two
   merged into one box): high-score detections to confirmed tracks (tracked or
   coasting), where a detection is contested also weighing whether it lies ahead of or
   behind each track along its motion (momentum, ``direction_weight``, after OC-SORT);
   low-score detections to the still unmatched confirmed tracks seen
   recently (``low_score_max_gap_s``); the remaining detections (any score) to
   tentative tracks; then (OC-SORT's observation-centric recovery, ``recovery_iou``)
   high-score detections still unmatched to coasting confirmed tracks by the IoU of
   their last *observed* box.
5. Matched tracks are corrected; a track matched after coasting is replayed from its
   last observation along a straight virtual path to the new box (OC-SORT's
   observation-centric re-update, ``reupdate``); tentative tracks that missed are
   dropped; tentative
   tracks with ``min_hits`` matches are confirmed and get the next id of this tracker
   (1, 2, ...; never reused), and their first boxes, output without an id while they
   were tentative, are in :attr:`ByteTracker.births` (the offline smoother puts them
   back); unmatched detections scoring ``new_track_score`` or more start tentative tracks.

Output rows are the *detections* matched to confirmed tracks (boxes as detected, not
smoothed), in input order, with their track ids and their track's class: a track keeps
the class of its first detection for its whole life, so analytics can count it per class.
:meth:`ByteTracker.coasting` gives the confirmed tracks missed by the last update (for up
to ``coast_output_s``, ``still_coast_output_s`` on a still camera) at their predicted
boxes; live mode outputs them too (:class:`~pipeline.tracking.lane.CameraLane`).

Per-track state lives in a few parallel arrays (structure of arrays), so prediction,
IoU and correction are vectorised over tracks and deleting tracks frees their memory:
the state is bounded by the live tracks (at most ``max_tracks``), nothing accumulates.

Momentum: on the TUD videos it raises HOTA by 3 to 4 points (full-frame detections with
added jitter, mean of 8 seeds; see ``benchmarks/tracking.py``); on synthetic crossings
with occlusion it cuts id changes from 18 to 6 in 60 runs (see
``tests/unit/test_tracker_continuity.py``). Its weight is 0.35, not the 0.7 it was tuned
to on TUD: at 0.7 direction outweighed large IoU differences and traded ids on the long
sequences of ``benchmarks/identity.py`` (README, "Identity over long sequences").

Continuity: the size gate removes the wrong matches that most hurt counting (a track
jumping onto a merged or neighbouring box for a frame); re-update and recovery cost
little and matter when tracks coast for long, but on the TUD benchmarks (25 fps, 1 s
lost buffer) they change almost nothing: the media-time filter's velocity uncertainty
grows while coasting, so one correction already moves the velocity most of the way.
Gaps longer than the lost buffer, and the new ids the tracker gives people who come
back, are repaired offline by :class:`pipeline.tracking.smoothing.Smoother`.

Example:
    >>> tracker = ByteTracker(TrackerConfig(min_hits=1))
    >>> dets = Detections(np.array([[10, 10, 50, 110]], np.float32),
    ...                   np.array([0.9], np.float32), np.array([0], np.int16))
    >>> tracker.update(dets, pts_s=0.0).track_ids.tolist()
    [1]
    >>> tracker.update(dets, pts_s=0.04).track_ids.tolist()
    [1]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.boxes import iou_matrix
from pipeline.errors import InputError
from pipeline.tracking.association import SimilarityFn, assign, direction_agreement
from pipeline.tracking.config import TrackerConfig
from pipeline.tracking.kalman import BoxKalman, boxes_xyxy
from pipeline.tracking.motion_noise import VelocityNoiseAdapter
from pipeline.tracking.still_camera import StillCameraJudge, in_force
from pipeline.types import Detections, Tracks

log = logging.getLogger(__name__)

TIME_TOLERANCE_S = 1e-6
"""Slack when comparing media times (seconds): pts built as ``frame / fps`` carry float
rounding, and a gap of exactly ``lost_buffer_s`` must not depend on it."""

_NO_IDS = np.zeros(0, np.int64)
_NO_IDS.flags.writeable = False


@dataclass(frozen=True)
class Births:
    """The boxes that started tracks confirmed later, one row per track.

    Attributes:
        ids: (k,) int64 the tracks' ids.
        pts_s: (k,) float64 media time of each first box, seconds.
        boxes: (k, 4) float32 xyxy pixels, as detected.
        scores: (k,) float32 their detection scores.
        class_ids: (k,) int16 the tracks' classes.
    """

    ids: npt.NDArray[np.int64]
    pts_s: npt.NDArray[np.float64]
    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int16]

    def __len__(self) -> int:
        return len(self.ids)


_NO_BIRTHS = Births(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 4), np.float32),
                    np.zeros(0, np.float32), np.zeros(0, np.int16))


@dataclass(frozen=True)
class TrackerStats:
    """Counters of one tracker since it was created (``reset`` keeps them).

    Attributes:
        updates: frames processed.
        detections: detections received.
        rejected: detections rejected as NaN/inf or with zero or negative area.
        low_score: detections ignored because they scored below ``low_score``.
        tracks_confirmed: tracks confirmed, i.e. ids issued.
        tracks_removed: confirmed tracks deleted (expired or reset).
        births_refused: new tracks not started because ``max_tracks`` were live.
        live_tracks: tracks held now, tentative and confirmed.
        live_confirmed: confirmed tracks held now (tracked or coasting).
        last_pts_s: media time of the latest update, None before the first.
    """

    updates: int
    detections: int
    rejected: int
    low_score: int
    tracks_confirmed: int
    tracks_removed: int
    births_refused: int
    live_tracks: int
    live_confirmed: int
    last_pts_s: float | None


class ByteTracker:
    """Tracks the detections of one camera over media time (ByteTrack-class, no Ray).

    Args:
        config: thresholds and motion noise; the documented defaults when omitted.
        first_id: the first track id to hand out (>= 1): a camera removed and added again
            in the same run continues its ids, so they are never reused within a run.

    Example:
        >>> tracker = ByteTracker()
        >>> tracks = tracker.update(Detections.empty(), pts_s=0.0)
        >>> len(tracks), tracker.removed_ids.tolist()
        (0, [])
    """

    def __init__(self, config: TrackerConfig | None = None, first_id: int = 1) -> None:
        if first_id < 1:
            raise ValueError(f"first_id must be at least 1, got {first_id}")
        self.config = config if config is not None else TrackerConfig()
        c = self.config
        self._kf = BoxKalman(
            c.measurement_std, c.position_noise, c.velocity_noise, c.initial_velocity_std
        )
        self._first_id = first_id
        self._next_id = first_id
        self._skipped = 0  # ids skipped by reset
        self._updates = 0
        self._detections = 0
        self._rejected = 0
        self._low_score = 0
        self._removed_total = 0
        self._births_refused = 0
        self._removed_ids: npt.NDArray[np.int64] = _NO_IDS
        self._still = StillCameraJudge(c.still_window_s, c.still_max_scale_rate,
                                       c.still_min_tracks, c.still_min_samples)
        self._noise = None if c.velocity_adapt_nis is None else VelocityNoiseAdapter(
            c.velocity_adapt_nis, c.velocity_adapt_s, c.velocity_max_gain)
        self._clear_tracks()

    def _clear_tracks(self) -> None:
        self._pos = np.zeros((0, 4), np.float64)  # cx, cy, w, h pixels
        self._vel = np.zeros((0, 4), np.float64)  # pixels per second
        self._cov = np.zeros((0, 3, 4), np.float64)  # see kalman.BoxKalman
        self._ids = np.zeros(0, np.int64)  # 0 while tentative
        self._hits = np.zeros(0, np.int64)
        self._class = np.zeros(0, np.int16)
        self._last_seen_s = np.zeros(0, np.float64)
        self._born_s = np.zeros(0, np.float64)
        self._born_box = np.zeros((0, 4), np.float32)  # the box that started the track
        self._born_score = np.zeros(0, np.float32)
        self._obs_score = np.zeros(0, np.float32)  # score of the last matched detection
        # Observation-centric state: the last matched box (xyxy pixels) and the filter
        # state right after it, to replay a coasting track's gap when it is matched again.
        self._obs = np.zeros((0, 4), np.float64)
        self._obs_pos = np.zeros((0, 4), np.float64)
        self._obs_vel = np.zeros((0, 4), np.float64)
        self._obs_cov = np.zeros((0, 3, 4), np.float64)
        self._last_pts_s: float | None = None
        self._last_dt = 0.0
        self._births = _NO_BIRTHS

    # ------------------------------------------------------------------ public API

    @property
    def removed_ids(self) -> npt.NDArray[np.int64]:
        """(k,) int64 ids of the confirmed tracks deleted by the last update or reset.

        Downstream analytics evict their per-track state for these ids.
        """
        return self._removed_ids

    @property
    def births(self) -> Births:
        """The first boxes of the tracks confirmed by the last update, seen while they
        were tentative (before they had an id, so not in any output); empty for tracks
        confirmed on their first box. The offline smoother puts them back in their frames."""
        return self._births

    @property
    def live_ids(self) -> npt.NDArray[np.int64]:
        """(k,) int64 ids of the confirmed tracks held now (tracked or coasting)."""
        ids = self._ids[self._ids > 0]
        ids.flags.writeable = False
        return ids

    def coasting(self, width: float | None = None, height: float | None = None) -> Tracks:
        """The confirmed tracks the last update did not match but that were matched at
        most :attr:`coast_output_s` media seconds before it, at their predicted boxes.

        Live mode outputs them beside the detected tracks, so that a short miss neither
        drops a person from the output nor breaks their track there. Given the frame's
        size, a predicted box not wholly inside the frame is left out: its person has
        probably walked out (or the camera turned away), and a box there would be a false
        one.

        Args:
            width: frame width in pixels, or None for no frame check.
            height: frame height in pixels, or None.

        Returns:
            Their predicted boxes at the last update's time ((k, 4) float32 xyxy pixels),
            the scores of their last matched detections, their classes and ids, by id;
            empty when the coasting output in force is 0 or before the first update.
        """
        limit = min(self.coast_output_s, self.lost_buffer_s)
        if self._last_pts_s is None or limit <= 0.0 or not len(self._ids):
            return Tracks.empty()
        unseen = self._last_pts_s - self._last_seen_s
        rows = np.flatnonzero((self._ids > 0) & (unseen > TIME_TOLERANCE_S)
                              & (unseen <= limit + TIME_TOLERANCE_S))
        if not len(rows):
            return Tracks.empty()
        boxes = boxes_xyxy(self._pos[rows])
        if width is not None and height is not None:
            inside = ((boxes[:, 0] >= 0.0) & (boxes[:, 1] >= 0.0)
                      & (boxes[:, 2] <= width) & (boxes[:, 3] <= height))
            rows, boxes = rows[inside], boxes[inside]
        order = np.argsort(self._ids[rows], kind="stable")
        rows = rows[order]
        return Tracks(boxes[order].astype(np.float32), self._obs_score[rows],
                      self._class[rows], self._ids[rows])

    def stats(self) -> TrackerStats:
        """Returns a snapshot of this tracker's counters."""
        return TrackerStats(
            updates=self._updates,
            detections=self._detections,
            rejected=self._rejected,
            low_score=self._low_score,
            tracks_confirmed=self._next_id - self._first_id - self._skipped,
            tracks_removed=self._removed_total,
            births_refused=self._births_refused,
            live_tracks=len(self._ids),
            live_confirmed=int(np.count_nonzero(self._ids)),
            last_pts_s=self._last_pts_s,
        )

    @property
    def next_id(self) -> int:
        """The id the next confirmed track will get."""
        return self._next_id

    def reset(self, skip_ids: int = 0) -> None:
        """Drops every track and the clock (for example after a seek or a new stream).

        The id counter is kept, so ids stay unique for the whole run; the dropped
        confirmed ids are reported in :attr:`removed_ids`. ``skip_ids``: ids to skip as
        well (a tracker restored from a saved state skips those another one may have
        given since; not counted as confirmed tracks).
        """
        if skip_ids < 0:
            raise ValueError(f"skip_ids must be >= 0, got {skip_ids}")
        self._next_id += skip_ids
        self._skipped += skip_ids
        dropped = self._ids[self._ids > 0]
        self._set_removed(dropped)
        self._clear_tracks()
        self._still.reset()
        if self._noise is not None:
            self._noise.reset()
            self._kf.velocity_gain[:2] = self._noise.gain

    @property
    def camera_still(self) -> bool:
        """Whether the camera is judged still (:mod:`pipeline.tracking.still_camera`);
        ``still_lost_buffer_s`` applies while it is."""
        return self._still.still

    @property
    def centre_velocity_gain(self) -> npt.NDArray[np.float64]:
        """(2,) float64 the multipliers of the cx and cy velocity noise variance in force
        (:mod:`pipeline.tracking.motion_noise`; ones when ``velocity_adapt_nis`` is None)."""
        return self._kf.velocity_gain[:2].copy()

    @property
    def lost_buffer_s(self) -> float:
        """The lost buffer in force: ``still_lost_buffer_s`` while the camera is judged
        still, else ``lost_buffer_s`` (media seconds)."""
        return in_force(self.config.lost_buffer_s, self.config.still_lost_buffer_s,
                        self._still.still)

    @property
    def coast_output_s(self) -> float:
        """The coasting output in force: ``still_coast_output_s`` while the camera is
        judged still, if longer, else ``coast_output_s`` (media seconds)."""
        return in_force(self.config.coast_output_s, self.config.still_coast_output_s,
                        self._still.still)

    def hold(self, pts_s: float) -> None:
        """Advances to media time ``pts_s`` over a frame the detector did not see because
        nothing moved since the last update (motion-gated inference).

        The tracks matched by the last update are held: they stay where they are (their
        filter state is untouched), count as seen now and do not age. Tracks that were
        already coasting keep coasting (predicted, and deleted after ``lost_buffer_s``,
        as without the hold). Tentative tracks stay tentative. :attr:`removed_ids` holds
        the ids this deleted.

        Raises:
            InputError: ``pts_s`` is not finite or is earlier than the previous update's.
        """
        last = self._last_pts_s
        dt = self._advance_clock(pts_s)
        if last is None or not len(self._ids):
            self._set_removed(_NO_IDS)
            return
        seen = self._last_seen_s >= last - TIME_TOLERANCE_S
        self._last_seen_s[seen] = self._last_pts_s
        coasting = np.flatnonzero(~seen)
        if len(coasting) and dt > 0:
            self._pos[coasting], self._cov[coasting] = self._kf.predict(
                self._pos[coasting], self._vel[coasting], self._cov[coasting], dt)
        self._expire(float(pts_s))

    def update(self, detections: Detections, pts_s: float) -> Tracks:
        """Advances the tracks to media time ``pts_s`` with one frame's detections.

        Args:
            detections: the frame's detections, boxes (n, 4) float32 xyxy in pixels.
            pts_s: the frame's media time in seconds; never less than the previous one.

        Returns:
            The detections matched to confirmed tracks (boxes as detected), in input
            order, with their int64 track ids.

        Raises:
            InputError: ``detections`` is not a Detections, or ``pts_s`` is not finite or
                is earlier than the previous update's.
        """
        if not isinstance(detections, Detections):
            raise InputError(
                f"detections must be a pipeline.types.Detections, got "
                f"{type(detections).__name__}",
                "detections",
            )
        dt = self._advance_clock(pts_s)
        cfg = self.config
        self._updates += 1
        dets = self._accept(detections)
        self._expire(pts_s)

        self._pos, self._cov = self._kf.predict(self._pos, self._vel, self._cov, dt)
        n_tracks, n_dets = len(self._ids), len(dets)
        det_boxes = dets.boxes
        scores = dets.scores
        track_of_det = np.full(n_dets, -1, np.intp)
        if n_tracks and n_dets:
            det_h = np.maximum(det_boxes[:, 3] - det_boxes[:, 1], 1.0)
            iou = iou_matrix(boxes_xyxy(self._pos), det_boxes)
            if cfg.class_aware:
                iou[self._class[:, None] != dets.class_ids[None, :]] = 0.0
            if cfg.max_height_ratio is not None:
                # A box of a very different height is another object (or two merged).
                ratio = np.abs(np.log(det_h[None, :] / np.maximum(self._pos[:, 3:4], 1.0)))
                iou[ratio > math.log(cfg.max_height_ratio)] = 0.0
            high = scores >= cfg.high_score
            confirmed = self._ids > 0
            # Stage 1: high-score detections to every confirmed track, tracked or lost.
            # Contested pairs also weigh direction of motion (OC-SORT's momentum).
            momentum = None
            if cfg.direction_weight > 0.0:
                def momentum(sub: npt.NDArray[np.float64], rows: npt.NDArray[np.intp],
                             cols: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
                    return sub + self._momentum(rows, det_boxes[cols], scores[cols])
            self._match(iou, np.flatnonzero(confirmed), np.flatnonzero(high),
                        cfg.match_iou, track_of_det, momentum)
            # Stage 2: low-score detections to confirmed tracks seen recently.
            free = np.ones(n_tracks, np.bool_)
            free[track_of_det[track_of_det >= 0]] = False
            max_gap = cfg.low_score_max_gap_s + dt + TIME_TOLERANCE_S
            recent = (pts_s - self._last_seen_s) <= max_gap
            self._match(iou, np.flatnonzero(confirmed & recent & free),
                        np.flatnonzero(~high), cfg.low_match_iou, track_of_det)
            # Stage 3: remaining detections, any score, to tentative tracks: a low-score
            # box where a high-score one was just seen confirms the object (often it is
            # being occluded), while tracks still only start from high-score boxes.
            self._match(iou, np.flatnonzero(~confirmed),
                        np.flatnonzero(track_of_det < 0),
                        cfg.tentative_match_iou, track_of_det)
            # Stage 4 (OC-SORT's observation-centric recovery): high-score detections
            # still unmatched to confirmed tracks still unmatched, by the IoU of the
            # track's last *observed* box, for when coasting carried the prediction away.
            if cfg.recovery_iou < 1.0:
                free = np.ones(n_tracks, np.bool_)
                free[track_of_det[track_of_det >= 0]] = False
                coasting = self._last_seen_s < pts_s - dt - TIME_TOLERANCE_S
                rows = np.flatnonzero(confirmed & free & coasting)
                cols = np.flatnonzero(high & (track_of_det < 0))
                if len(rows) and len(cols):
                    obs_iou = iou_matrix(self._obs[rows], det_boxes[cols])
                    if cfg.class_aware:
                        obs_iou[self._class[rows][:, None] != dets.class_ids[cols][None, :]] = 0
                    if cfg.max_height_ratio is not None:
                        obs_h = np.maximum(self._obs[rows, 3] - self._obs[rows, 1], 1.0)
                        ratio = np.abs(np.log(det_h[cols][None, :] / obs_h[:, None]))
                        obs_iou[ratio > math.log(cfg.max_height_ratio)] = 0.0
                    full = np.zeros((n_tracks, n_dets))
                    full[np.ix_(rows, cols)] = obs_iou
                    self._match(full, rows, cols, cfg.recovery_iou, track_of_det)

        det_of_track = np.full(n_tracks, -1, np.intp)
        matched_dets = np.flatnonzero(track_of_det >= 0)
        matched_rows = track_of_det[matched_dets]
        det_of_track[matched_rows] = matched_dets
        if len(matched_rows):
            coasted = (self._last_seen_s[matched_rows] < pts_s - dt - TIME_TOLERANCE_S) & (
                self._ids[matched_rows] > 0)
            plain = ~coasted if cfg.reupdate else np.ones(len(matched_rows), np.bool_)
            rows, boxes = matched_rows[plain], det_boxes[matched_dets[plain]]
            if self._noise is None:
                self._pos[rows], self._vel[rows], self._cov[rows] = self._kf.update(
                    self._pos[rows], self._vel[rows], self._cov[rows], boxes)
            else:
                self._pos[rows], self._vel[rows], self._cov[rows], nis = (
                    self._kf.update_measured(self._pos[rows], self._vel[rows],
                                             self._cov[rows], boxes))
                self._observe_motion(rows, nis, pts_s, dt)
            if cfg.reupdate and coasted.any():
                self._reupdate(matched_rows[coasted], det_boxes[matched_dets[coasted]], pts_s)
            self._hits[matched_rows] += 1
            self._last_seen_s[matched_rows] = pts_s
            self._obs[matched_rows] = det_boxes[matched_dets]
            self._obs_score[matched_rows] = scores[matched_dets]
            self._obs_pos[matched_rows] = self._pos[matched_rows]
            self._obs_vel[matched_rows] = self._vel[matched_rows]
            self._obs_cov[matched_rows] = self._cov[matched_rows]

        # A tentative track that missed this update is dropped (ByteTrack's rule).
        keep = (det_of_track >= 0) | (self._ids > 0)
        if not keep.all():
            self._compress(keep)
            det_of_track = det_of_track[keep]

        births = np.flatnonzero((track_of_det < 0) & (scores >= cfg.new_track_score))
        if len(births):
            births = self._limit_births(births, scores)
            det_of_track = np.concatenate([det_of_track, births])
            self._add_tracks(dets.filter(births), pts_s)

        newly = (self._ids == 0) & (self._hits >= cfg.min_hits)
        self._births = _NO_BIRTHS
        if newly.any():
            count = int(np.count_nonzero(newly))
            self._ids[newly] = np.arange(self._next_id, self._next_id + count)
            self._next_id += count
            early = newly & (self._born_s < pts_s - TIME_TOLERANCE_S)
            if early.any():
                self._births = Births(self._ids[early], self._born_s[early],
                                      self._born_box[early], self._born_score[early],
                                      self._class[early])

        out_rows = np.flatnonzero((det_of_track >= 0) & (self._ids > 0))
        # The camera's judgement (for this tracker's lost buffer),
        # from the growth rates of the confirmed tracks seen now and old enough.
        seen = out_rows[self._born_s[out_rows]
                        <= pts_s - cfg.still_min_track_age_s + TIME_TOLERANCE_S]
        self._still.observe(pts_s, self._vel[seen, 3] / self._pos[seen, 3])
        if not len(out_rows):
            return Tracks.empty()
        out_dets = det_of_track[out_rows]
        order = np.argsort(out_dets, kind="stable")
        out, rows = dets.filter(out_dets[order]), out_rows[order]
        # A track never switches class: it keeps its first detection's (with class_aware,
        # the default, it is only ever matched to detections of that class anyway).
        return Tracks(out.boxes, out.scores, self._class[rows], self._ids[rows])

    # ------------------------------------------------------------------ steps

    def _advance_clock(self, pts_s: float) -> float:
        """Validates ``pts_s`` and returns the media seconds since the last update."""
        try:
            pts = float(pts_s)
        except (TypeError, ValueError):
            raise InputError(
                f"pts_s must be a number of media seconds, got {type(pts_s).__name__}", "pts_s"
            ) from None
        if not math.isfinite(pts):
            raise InputError(f"pts_s must be finite, got {pts_s}", "pts_s")
        last = self._last_pts_s
        if last is not None and pts < last - TIME_TOLERANCE_S:
            raise InputError(
                f"pts_s went backwards: {pts} s after {last} s; updates must come in "
                "media-time order (call reset() after a seek or a stream restart)",
                "pts_s",
            )
        self._last_pts_s = pts if last is None else max(pts, last)
        dt = 0.0 if last is None else max(0.0, pts - last)
        if dt > TIME_TOLERANCE_S:
            self._last_dt = dt
        return dt

    def _accept(self, detections: Detections) -> Detections:
        """Drops detections with invalid boxes (counted) or a score below low_score."""
        n = len(detections)
        self._detections += n
        if n == 0:
            return detections
        valid = detections.valid_mask()
        bad = n - int(np.count_nonzero(valid))
        if bad:
            self._rejected += bad
            log.debug("rejected %d of %d detections: non-finite or empty boxes", bad, n)
        with np.errstate(invalid="ignore"):
            keep = valid & (detections.scores >= self.config.low_score)
        self._low_score += int(np.count_nonzero(valid)) - int(np.count_nonzero(keep))
        return detections if keep.all() else detections.filter(keep)

    def _expire(self, pts_s: float) -> None:
        """Deletes confirmed tracks unseen for more than lost_buffer_s."""
        if not len(self._ids):
            self._set_removed(_NO_IDS)
            return
        gap = pts_s - self._last_seen_s
        expired = gap > self.lost_buffer_s + TIME_TOLERANCE_S
        if not expired.any():
            self._set_removed(_NO_IDS)
            return
        self._set_removed(self._ids[expired & (self._ids > 0)])
        self._compress(~expired)

    def _set_removed(self, ids: npt.NDArray[np.int64]) -> None:
        if len(ids):
            ids = np.array(ids, np.int64)
            ids.flags.writeable = False
        else:
            ids = _NO_IDS
        self._removed_ids = ids
        self._removed_total += len(ids)

    @staticmethod
    def _match(
        iou: npt.NDArray[np.float64],
        rows: npt.NDArray[np.intp],
        cols: npt.NDArray[np.intp],
        min_iou: float,
        track_of_det: npt.NDArray[np.intp],
        adjust: SimilarityFn | None = None,
    ) -> None:
        """Assigns tracks ``rows`` to detections ``cols``; writes matches to track_of_det.

        ``adjust``, if given, re-scores contested pairs; it is called with track rows and
        detection columns of the whole arrays (not of the sub-problem).
        """
        if not len(rows) or not len(cols):
            return
        sub_adjust = None
        if adjust is not None:
            def sub_adjust(sub: npt.NDArray[np.float64], r: npt.NDArray[np.intp],
                           c: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
                return adjust(sub, rows[r], cols[c])
        r, c = assign(iou[rows][:, cols], min_iou, sub_adjust)
        track_of_det[cols[c]] = rows[r]

    def _momentum(self, rows: npt.NDArray[np.intp], boxes: npt.NDArray[np.float32],
                  scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Momentum term of tracks ``rows`` and detections ``boxes`` ((c, 4) xyxy pixels,
        scores (c,)): ``direction_weight`` x :func:`direction_agreement` x score, (r, c)."""
        cfg = self.config
        agree = direction_agreement(self._pos[rows], self._vel[rows], boxes,
                                    cfg.direction_window_s, cfg.direction_min_speed)
        return cfg.direction_weight * agree * scores[None, :]

    def _observe_motion(self, rows: npt.NDArray[np.intp], nis: npt.NDArray[np.float64],
                        pts_s: float, dt: float) -> None:
        """Feeds the velocity-noise adapter the centres' normalised innovations ``nis``
        ((k, 4), from the correction of tracks ``rows``) of the confirmed tracks matched in
        the previous update too, and sets the filter's centre gain from it."""
        assert self._noise is not None
        steady = (self._ids[rows] > 0) & (self._last_seen_s[rows]
                                          >= pts_s - dt - TIME_TOLERANCE_S)
        self._kf.velocity_gain[:2] = self._noise.observe(nis[steady, :2], dt)

    def _limit_births(
        self, births: npt.NDArray[np.intp], scores: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.intp]:
        """Keeps the best-scoring births that fit under max_tracks; counts the rest."""
        room = self.config.max_tracks - len(self._ids)
        if len(births) <= room:
            return births
        refused = len(births) - max(room, 0)
        if self._births_refused == 0:
            log.warning(
                "tracker holds %d tracks (max_tracks=%d); refusing %d new tracks (further "
                "refusals are only counted in stats)",
                len(self._ids), self.config.max_tracks, refused,
            )
        self._births_refused += refused
        if room <= 0:
            return births[:0]
        best = np.argsort(-scores[births], kind="stable")[:room]
        return np.sort(births[best])

    def _add_tracks(self, dets: Detections, pts_s: float) -> None:
        pos, vel, cov = self._kf.initiate(dets.boxes)
        n = len(dets)
        self._pos = np.concatenate([self._pos, pos])
        self._vel = np.concatenate([self._vel, vel])
        self._cov = np.concatenate([self._cov, cov])
        self._ids = np.concatenate([self._ids, np.zeros(n, np.int64)])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int64)])
        self._class = np.concatenate([self._class, dets.class_ids])
        self._last_seen_s = np.concatenate([self._last_seen_s, np.full(n, pts_s)])
        self._born_s = np.concatenate([self._born_s, np.full(n, pts_s)])
        self._born_box = np.concatenate([self._born_box, dets.boxes.astype(np.float32)])
        self._born_score = np.concatenate([self._born_score, dets.scores.astype(np.float32)])
        self._obs_score = np.concatenate([self._obs_score, dets.scores.astype(np.float32)])
        self._obs = np.concatenate([self._obs, dets.boxes.astype(np.float64)])
        self._obs_pos = np.concatenate([self._obs_pos, pos])
        self._obs_vel = np.concatenate([self._obs_vel, vel])
        self._obs_cov = np.concatenate([self._obs_cov, cov])

    def _reupdate(self, rows: npt.NDArray[np.intp], boxes: npt.NDArray[np.float32],
                  pts_s: float) -> None:
        """OC-SORT's observation-centric re-update for tracks matched after coasting.

        Instead of one correction after a long blind prediction, the filter is rewound to
        its state at the track's last observation and replayed over the gap with virtual
        observations on the straight line from that box to the new one, one per frame
        interval (the latest one seen), so the velocity reflects the real displacement.
        """
        step = self._last_dt if self._last_dt > TIME_TOLERANCE_S else 0.04
        cap = self.config.reupdate_max_steps
        for row, box in zip(rows.tolist(), boxes):
            gap = float(pts_s - self._last_seen_s[row])
            n = int(min(max(round(gap / step), 1), cap))
            pos, vel = self._obs_pos[row : row + 1], self._obs_vel[row : row + 1]
            cov = self._obs_cov[row : row + 1]
            start = self._obs[row]
            for k in range(1, n + 1):
                pos, cov = self._kf.predict(pos, vel, cov, gap / n)
                virtual = start + (box.astype(np.float64) - start) * (k / n)
                pos, vel, cov = self._kf.update(pos, vel, cov, virtual[None])
            self._pos[row], self._vel[row], self._cov[row] = pos[0], vel[0], cov[0]

    def _compress(self, keep: npt.NDArray[np.bool_]) -> None:
        """Keeps only the tracks selected by ``keep`` in every per-track array."""
        self._pos = self._pos[keep]
        self._vel = self._vel[keep]
        self._cov = self._cov[keep]
        self._ids = self._ids[keep]
        self._hits = self._hits[keep]
        self._class = self._class[keep]
        self._last_seen_s = self._last_seen_s[keep]
        self._born_s = self._born_s[keep]
        self._born_box = self._born_box[keep]
        self._born_score = self._born_score[keep]
        self._obs_score = self._obs_score[keep]
        self._obs = self._obs[keep]
        self._obs_pos = self._obs_pos[keep]
        self._obs_vel = self._obs_vel[keep]
        self._obs_cov = self._obs_cov[keep]
