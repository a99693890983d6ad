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
    >>> ends = TrackEnds(ContinuityConfig(max_gap_s=2.0), capacity=4, width=640, height=480)
    >>> ends.observe(np.array([0]), np.array([[80.0, 120.0, 120.0, 200.0]]))
    >>> last_seen = np.array([1.0, np.nan, np.nan, np.nan])
    >>> pred, succ = ends.link(np.array([1]), np.array([True]),
    ...                        np.array([[100.0, 120.0, 140.0, 200.0]]), last_seen, pts_s=2.0)
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


def anchors(boxes: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Returns the anchors (bottom centres) x, y and the heights of (n, 4) float64 xyxy
    pixel boxes, (n,) float64 pixels each."""
    return (boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3], boxes[:, 3] - boxes[:, 1]


class TrackEnds:
    """Last sightings of every track slot, and which new track continues which.

    Args:
        config: the camera's continuity settings.
        capacity: initial number of track slots (grows with :meth:`grow`).
        max_gap_s: overrides ``config.max_gap_s`` (the camera caps it).
        width, height: the frame's size, pixels (for ``frame_edge``).

    Attributes:
        box: (capacity, 4) float64 last xyxy box of each slot's track, pixels (anchors,
            heights and whether it was at the frame's border are derived when needed).
        retired: (capacity,) bool, the tracker removed the slot's track and its state is
            kept only so that a new track may continue it.
        retired_at: (capacity,) float64 media time the tracker removed it (NaN: not).
        linked: (capacity,) bool, a later track continues it already.
    """

    def __init__(self, config: ContinuityConfig, capacity: int,
                 max_gap_s: float | None = None, width: int = 0, height: int = 0) -> None:
        self.max_gap_s = config.max_gap_s if max_gap_s is None else max_gap_s
        self.enabled = self.max_gap_s > 0
        self.max_distance = config.max_distance
        self.speed = config.speed
        self.zone_edge = config.zone_edge
        self.frame_edge = config.frame_edge
        self.width, self.height = width, height
        self.box = np.full((capacity, 4), np.nan)
        self.retired = np.zeros(capacity, np.bool_)
        self.retired_at = np.full(capacity, np.nan)
        self.linked = np.zeros(capacity, np.bool_)

    def grow(self, capacity: int) -> None:
        """Extends the slot arrays to ``capacity`` rows (new rows hold nothing)."""
        extra = capacity - len(self.box)
        if extra <= 0:
            return
        self.box = np.concatenate([self.box, np.full((extra, 4), np.nan)])
        no = np.zeros(extra, np.bool_)
        self.retired = np.concatenate([self.retired, no])
        self.retired_at = np.concatenate([self.retired_at, np.full(extra, np.nan)])
        self.linked = np.concatenate([self.linked, no])

    def at_frame_border(self, boxes: FloatArray) -> npt.NDArray[np.bool_]:
        """(n,) bool: which (n, 4) xyxy pixel boxes come within ``frame_edge`` box heights
        of the frame's border."""
        m = self.frame_edge * (boxes[:, 3] - boxes[:, 1])
        return ((boxes[:, 0] <= m) | (boxes[:, 1] <= m) | (boxes[:, 2] >= self.width - m)
                | (boxes[:, 3] >= self.height - m))

    def observe(self, slots: IntArray, boxes: FloatArray) -> None:
        """Notes the (n, 4) float64 xyxy pixel boxes of the tracks seen in a frame."""
        self.box[slots] = boxes
        self.linked[slots] = False

    def last_anchors(self, slots: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Returns :func:`anchors` of the last boxes of ``slots``."""
        return anchors(self.box[slots])

    def release(self, slots: IntArray) -> None:
        """Forgets ``slots`` (their state is dropped)."""
        self.box[slots] = np.nan
        self.retired[slots] = False
        self.retired_at[slots] = np.nan
        self.linked[slots] = False

    def retire(self, slots: IntArray, pts_s: float) -> None:
        """The tracker removed the tracks of ``slots`` at media time ``pts_s``: their state
        is kept only so that a new track may continue them."""
        self.retired[slots] = True
        self.retired_at[slots] = pts_s

    def watched_until(self, slots: IntArray, pts_s: float) -> FloatArray:
        """(k,) float64: until when (media s) each of ``slots`` may have been in view unseen
        at media time ``pts_s``: then, or when the tracker removed its track (the person
        was gone by then)."""
        at = self.retired_at[slots]
        return np.where(np.isnan(at), pts_s, np.minimum(at, pts_s))

    def done(self, last_seen: FloatArray, pts_s: float) -> npt.NDArray[np.bool_]:
        """(capacity,) bool: retired slots that a later track continues already, or whose
        track was last seen more than ``max_gap_s`` ago (their state may go)."""
        old = (pts_s - last_seen) > self.max_gap_s + GAP_TOLERANCE_S
        return self.retired & (self.linked | old)

    def link(self, slots: IntArray, new: npt.NDArray[np.bool_], boxes: FloatArray,
             last_seen: FloatArray, pts_s: float) -> tuple[IntArray, IntArray]:
        """Pairs each new track with the lost track it continues, if any.

        Args:
            slots: (n,) int64 slots of the tracks seen in this frame.
            new: (n,) bool, this is the track's first frame.
            boxes: (n, 4) float64 xyxy boxes, pixels.
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
        cand[slots] = False
        c = np.flatnonzero(cand)
        c = c[~self.at_frame_border(self.box[c])]
        m = np.flatnonzero(new)
        m = m[~self.at_frame_border(boxes[m])]
        if not len(c) or not len(m):
            return none, none
        x, y, h = anchors(boxes[m])
        cx, cy, ch = self.last_anchors(c)
        dist = np.hypot(x[:, None] - cx, y[:, None] - cy)
        body = 0.5 * (h[:, None] + ch)
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
