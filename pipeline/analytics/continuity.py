"""Which new track continues a recently lost one: position and time continuity only.

A tracker that loses a person (hidden behind others, missed by the detector for a few
frames) often starts a new track when they reappear. The analytics then see two tracks,
and without help a stay in a zone becomes two visits and a crossing near the line can be
lost or counted twice. :class:`TrackEnds` keeps, per track slot, where its track was last
seen, and at the first frame of every new track looks for a track that:

- was last seen at most ``max_gap_s`` ago and not since (still held by the tracker, or
  removed by it: a removed track's state is kept that long, see ``retired``);
- was last seen within ``max_distance + speed * gap`` body heights (mean box height of the
  two) of the new track's first anchor;
- was not at the frame's border when last seen (it left the view), nor is the new track
  now (it entered);
- has not been continued by another track already.

Each new track continues the nearest such track (relative to its allowed distance), one
to one. No appearance is read: a different person who appears where someone vanished a
moment before is joined too, which is why zones only continue visits that were left deep
inside (:meth:`~pipeline.analytics.geometry.PolygonSet.border_distance`) and the
gap is short.

Example:
    >>> import numpy as np
    >>> from pipeline.analytics.config import ContinuityConfig
    >>> ends = TrackEnds(ContinuityConfig(max_gap_s=2.0), capacity=4)
    >>> no = np.array([False])
    >>> ends.observe(np.array([0]), np.array([100.0]), np.array([200.0]), np.array([80.0]), no)
    >>> last_seen = np.array([1.0, np.nan, np.nan, np.nan])
    >>> pred, succ = ends.link(np.array([1]), np.array([True]), np.array([120.0]),
    ...                        np.array([200.0]), np.array([80.0]), no, last_seen, pts_s=2.0)
    >>> pred.tolist(), succ.tolist()
    ([0], [1])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipeline.analytics.config import ContinuityConfig

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

GAP_TOLERANCE_S = 1e-6
"""Slack on ``max_gap_s`` (seconds), so that a gap of exactly the maximum joins."""


class TrackEnds:
    """Last sightings of every track slot, and which new track continues which.

    Args:
        config: the camera's continuity settings.
        capacity: initial number of track slots (grows with :meth:`grow`).
        max_gap_s: overrides ``config.max_gap_s`` (the camera caps it).

    Attributes:
        x, y: (capacity,) float64 last anchor (bottom centre) of each slot's track, pixels.
        h: (capacity,) float64 last box height, pixels.
        at_border: (capacity,) bool, the box was at the frame's border when last seen.
        retired: (capacity,) bool, the tracker removed the slot's track and its state is
            kept only so that a new track may continue it.
        linked: (capacity,) bool, a later track continues it already.
    """

    def __init__(self, config: ContinuityConfig, capacity: int,
                 max_gap_s: float | None = None) -> None:
        self.max_gap_s = config.max_gap_s if max_gap_s is None else max_gap_s
        self.enabled = self.max_gap_s > 0
        self.max_distance = config.max_distance
        self.speed = config.speed
        self.zone_edge = config.zone_edge
        self.frame_edge = config.frame_edge
        self.x = np.full(capacity, np.nan)
        self.y = np.full(capacity, np.nan)
        self.h = np.full(capacity, np.nan)
        self.at_border = np.zeros(capacity, np.bool_)
        self.retired = np.zeros(capacity, np.bool_)
        self.linked = np.zeros(capacity, np.bool_)

    def grow(self, capacity: int) -> None:
        """Extends the slot arrays to ``capacity`` rows (new rows hold nothing)."""
        extra = capacity - len(self.x)
        if extra <= 0:
            return
        nan = np.full(extra, np.nan)
        self.x, self.y, self.h = (np.concatenate([a, nan]) for a in (self.x, self.y, self.h))
        no = np.zeros(extra, np.bool_)
        self.at_border = np.concatenate([self.at_border, no])
        self.retired = np.concatenate([self.retired, no])
        self.linked = np.concatenate([self.linked, no])

    def at_frame_border(self, boxes: FloatArray, width: int, height: int) -> npt.NDArray[np.bool_]:
        """(n,) bool: which (n, 4) xyxy pixel boxes come within ``frame_edge`` box heights
        of the border of a ``width`` x ``height`` frame."""
        m = self.frame_edge * (boxes[:, 3] - boxes[:, 1])
        return ((boxes[:, 0] <= m) | (boxes[:, 1] <= m) | (boxes[:, 2] >= width - m)
                | (boxes[:, 3] >= height - m))

    def observe(self, slots: IntArray, x: FloatArray, y: FloatArray, h: FloatArray,
                at_border: npt.NDArray[np.bool_]) -> None:
        """Notes the anchors, box heights (pixels) and whether the boxes are at the frame's
        border, of the tracks seen in a frame."""
        self.x[slots], self.y[slots], self.h[slots] = x, y, h
        self.at_border[slots] = at_border
        self.linked[slots] = False

    def release(self, slots: IntArray) -> None:
        """Forgets ``slots`` (their state is dropped)."""
        self.x[slots] = self.y[slots] = self.h[slots] = np.nan
        self.at_border[slots] = False
        self.retired[slots] = False
        self.linked[slots] = False

    def expired(self, last_seen: FloatArray, pts_s: float) -> IntArray:
        """Retired slots whose track was last seen more than ``max_gap_s`` ago."""
        old = self.retired & ((pts_s - last_seen) > self.max_gap_s + GAP_TOLERANCE_S)
        return np.flatnonzero(old)

    def link(self, slots: IntArray, new: npt.NDArray[np.bool_], x: FloatArray, y: FloatArray,
             h: FloatArray, at_border: npt.NDArray[np.bool_], last_seen: FloatArray,
             pts_s: float) -> tuple[IntArray, IntArray]:
        """Pairs each new track with the lost track it continues, if any.

        Args:
            slots: (n,) int64 slots of the tracks seen in this frame.
            new: (n,) bool, this is the track's first frame.
            x, y: (n,) float64 anchors, pixels.
            h: (n,) float64 box heights, pixels.
            at_border: (n,) bool, the box is at the frame's border.
            last_seen: (capacity,) float64 media time each slot's track was last seen
                before this frame (NaN: free slot).
            pts_s: this frame's media time, seconds.

        Returns:
            ``(pred, succ)``, (k,) int64 slots each: ``succ[i]`` continues ``pred[i]``.
            The predecessors are marked ``linked``.
        """
        none = np.zeros(0, np.int64)
        if not self.enabled or not new.any():
            return none, none
        age = pts_s - last_seen
        cand = (age > 0) & (age <= self.max_gap_s + GAP_TOLERANCE_S) & ~self.linked
        cand &= ~self.at_border
        cand[slots] = False
        c = np.flatnonzero(cand)
        m = np.flatnonzero(new & ~at_border)
        if not len(c) or not len(m):
            return none, none
        dist = np.hypot(x[m, None] - self.x[c], y[m, None] - self.y[c])
        body = 0.5 * (h[m, None] + self.h[c])
        reach = (self.max_distance + self.speed * age[c]) * body
        ratio = np.where(dist <= reach, dist / np.maximum(reach, 1e-9), np.inf)
        pred, succ = [], []
        while np.isfinite(ratio).any():
            i, j = np.unravel_index(int(np.argmin(ratio)), ratio.shape)
            pred.append(c[j])
            succ.append(slots[m[i]])
            ratio[i, :] = np.inf
            ratio[:, j] = np.inf
        p = np.array(pred, np.int64)
        self.linked[p] = True
        return p, np.array(succ, np.int64)
