"""Line crossings with hysteresis and a finite-segment test, vectorised over tracks and lines.

Per (track slot, line) the state is:

- ``ref_d``, ``ref_t``: signed distance and along-segment position of the last anchor
  that was strictly off the line (``ref_d == 0``: none yet);
- ``seg_ok``: whether the anchor's most recent change of side crossed the line within
  the finite segment (the crossing point, interpolated on the path between the last
  off-line anchor and the new one, has ``0 <= t <= 1``);
- ``side``: the last *confirmed* side, -1 (left), +1 (right) or 0 (none yet): a side is
  confirmed when the anchor is at least the hysteresis distance from the line, on every
  update for at least ``min_side_s`` of media time;
- ``cand``, ``cand_since``: the side the anchor has been beyond the hysteresis distance on
  in every update since media time ``cand_since`` (0: in the band around the line).

A crossing is counted when a track is confirmed on the side opposite its previous
confirmed side and its latest change of side went through the segment, except the first
change of side of a track that continues a lost one (:meth:`LineCrossings.pass_on`) in
the direction the lost track last crossed (``inherited``): a person whose track broke just
after crossing, and whose new track starts back on the first side, counts once. So jitter on the
line counts nothing, each real crossing counts once however many frames it takes (or
none: a jump over the line between two frames counts, as the path is interpolated), a
path that passes beside an end of the segment changes the confirmed side without
counting, and with ``min_side_s`` a box that jumps across the line for a frame or two (a
detection that merged two people, a wrong association) counts nothing.

Example:
    >>> import numpy as np
    >>> from pipeline.analytics.config import LineConfig
    >>> from pipeline.analytics.geometry import SegmentSet
    >>> line = LineConfig(id="a", start=(0, 10), end=(100, 10), units="pixel",
    ...                   hysteresis_px=2.0, hysteresis_box_fraction=0.0)
    >>> lc = LineCrossings(SegmentSet.from_segments([[0, 10, 100, 10]]), [line])
    >>> h = np.array([50.0])
    >>> [lc.update(np.array([0]), np.array([50.0]), np.array([y]), h).line.tolist()
    ...  for y in (0.0, 9.0, 11.0, 9.5, 20.0)]
    [[], [], [], [], [0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from pipeline.analytics.config import LineConfig
from pipeline.analytics.geometry import SegmentSet

SEGMENT_T_TOLERANCE = 1e-9
"""Slack on the segment's ends, in units of its length, against rounding of t."""

SIDE_TIME_TOLERANCE_S = 1e-6
"""Slack on ``min_side_s`` (seconds), so that exactly the minimum counts despite rounding."""


@dataclass(frozen=True)
class Crossings:
    """Crossings counted in one update.

    Attributes:
        slot: (c,) int64 slots that crossed.
        line: (c,) int64 line indices.
        to_right: (c,) bool, True for left-to-right crossings.
    """

    slot: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    line: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    to_right: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, np.bool_))

    def __len__(self) -> int:
        return len(self.slot)


NO_CROSSINGS = Crossings()


class LineCrossings:
    """Crossing state of every (track slot, line) pair.

    Args:
        segments: the camera's lines in pixels.
        lines: their configs, same order: per line the hysteresis (``hysteresis_px``,
            and ``hysteresis_box_fraction`` of the box height; the larger applies per
            track) and ``min_side_s``, how long the anchor must stay past it before that
            side is confirmed.
        capacity: initial number of track slots.
    """

    def __init__(
        self, segments: SegmentSet, lines: Sequence[LineConfig], capacity: int = 64
    ) -> None:
        self.segments = segments
        self.h_px = np.array([ln.hysteresis_px for ln in lines], np.float64)
        self.h_frac = np.array([ln.hysteresis_box_fraction for ln in lines], np.float64)
        self._uses_frac = bool((self.h_frac > 0).any())
        self._off_if_past = bool((self.h_px > 0).all())  # past the hysteresis: off the line
        n = len(segments)
        min_side = np.array([ln.min_side_s for ln in lines], np.float64).reshape(n)
        self.min_side = min_side - SIDE_TIME_TOLERANCE_S
        self._uses_time = bool((self.min_side > 0).any())
        self.ref_d = np.zeros((capacity, n))
        self.ref_t = np.zeros((capacity, n))
        self.seg_ok = np.zeros((capacity, n), np.bool_)
        self.side = np.zeros((capacity, n), np.int8)
        self.cand = np.zeros((capacity, n), np.int8)
        self.cand_since = np.zeros((capacity, n))
        self.last_dir = np.zeros((capacity, n), np.int8)
        self.inherited = np.zeros((capacity, n), np.int8)

    @property
    def num_lines(self) -> int:
        return len(self.segments)

    def grow(self, capacity: int) -> None:
        """Extends the slot arrays to ``capacity`` rows (new rows hold no state)."""
        extra = capacity - self.ref_d.shape[0]
        if extra <= 0:
            return
        n = self.num_lines
        self.ref_d = np.concatenate([self.ref_d, np.zeros((extra, n))])
        self.ref_t = np.concatenate([self.ref_t, np.zeros((extra, n))])
        self.seg_ok = np.concatenate([self.seg_ok, np.zeros((extra, n), np.bool_)])
        self.side = np.concatenate([self.side, np.zeros((extra, n), np.int8)])
        self.cand = np.concatenate([self.cand, np.zeros((extra, n), np.int8)])
        self.cand_since = np.concatenate([self.cand_since, np.zeros((extra, n))])
        self.last_dir = np.concatenate([self.last_dir, np.zeros((extra, n), np.int8)])
        self.inherited = np.concatenate([self.inherited, np.zeros((extra, n), np.int8)])

    def reset_slots(self, slots: npt.NDArray[np.int64]) -> None:
        """Forgets the state of ``slots`` (their tracks were dropped)."""
        self.ref_d[slots] = 0.0
        self.ref_t[slots] = 0.0
        self.seg_ok[slots] = False
        self.side[slots] = 0
        self.cand[slots] = 0
        self.cand_since[slots] = 0.0
        self.last_dir[slots] = 0
        self.inherited[slots] = 0

    def hand_over(self, pred: npt.NDArray[np.int64], succ: npt.NDArray[np.int64]) -> None:
        """Passes the state of lost tracks on to the new tracks that continue them (before
        the new tracks' first :meth:`update`), so that a crossing counts once however
        the track broke near the line; the lost tracks start afresh if seen again."""
        for a in (self.ref_d, self.ref_t, self.seg_ok, self.side, self.cand, self.cand_since,
                  self.last_dir, self.inherited):
            a[succ] = a[pred]
        self.reset_slots(pred)

    def pass_on(self, pred: npt.NDArray[np.int64], succ: npt.NDArray[np.int64]) -> None:
        """Passes on only the direction of each lost track's last crossing per line to the
        new track that continues it: the new track's first change of side in that
        direction is not counted again (its side starts afresh)."""
        self.inherited[succ] = self.last_dir[pred]

    def update(
        self,
        slots: npt.NDArray[np.int64],
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        box_h: npt.NDArray[np.float64],
        pts_s: float = 0.0,
    ) -> Crossings:
        """Advances the tracks seen in a frame and returns the crossings they completed.

        Args:
            slots: (n,) int64 distinct slots of the tracks seen in this frame.
            x: (n,) float64 anchor x, pixels.
            y: (n,) float64 anchor y, pixels.
            box_h: (n,) float64 box heights, pixels (for the relative hysteresis).
            pts_s: the frame's media time, seconds (for ``min_side_s``).
        """
        if self.num_lines == 0 or not len(slots):
            return NO_CROSSINGS
        d, t = self.segments.measure(x, y)
        rd = self.ref_d[slots]
        rt = self.ref_t[slots]
        ok = self.seg_ok[slots]
        flipped = (d * rd) < 0
        if flipped.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                tc = rt + (t - rt) * (rd / (rd - d))
            within = (tc >= -SEGMENT_T_TOLERANCE) & (tc <= 1.0 + SEGMENT_T_TOLERANCE)
            ok = np.where(flipped, within, ok)
            self.seg_ok[slots] = ok
        off = d != 0.0
        if off.all():
            self.ref_d[slots] = d
            self.ref_t[slots] = t
        else:
            self.ref_d[slots] = np.where(off, d, rd)
            self.ref_t[slots] = np.where(off, t, rt)
        h = np.maximum(self.h_px, box_h[:, None] * self.h_frac) if self._uses_frac else self.h_px
        sign = np.sign(d).astype(np.int8)
        confirmed = np.abs(d) >= h
        if not self._off_if_past:
            confirmed &= off
        if self._uses_time:
            cand = self.cand[slots]
            since = np.where(confirmed & (sign != cand), pts_s, self.cand_since[slots])
            self.cand[slots] = np.where(confirmed, sign, 0)
            self.cand_since[slots] = since
            confirmed &= (pts_s - since) >= self.min_side
        side = self.side[slots]
        changed = confirmed & ((sign + side) == 0)  # confirmed: sign is +-1; side -sign
        counted = changed & ok
        self.side[slots] = np.where(confirmed, sign, side)
        if changed.any():
            inherited = self.inherited[slots]
            self.last_dir[slots] = np.where(counted, sign, self.last_dir[slots])
            counted &= sign != inherited
            self.inherited[slots] = np.where(changed, 0, inherited)
        if not counted.any():
            return NO_CROSSINGS
        r, c = np.nonzero(counted)
        return Crossings(
            slot=slots[r].astype(np.int64), line=c.astype(np.int64), to_right=sign[r, c] > 0
        )

