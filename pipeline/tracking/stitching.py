"""Which later tracklet continues an ended one: join costs and one global assignment. No Ray.

The offline :class:`~pipeline.tracking.smoothing.Smoother` joins a track the tracker gave up
on to a track that starts later, when the same person came back under a new id. Without
appearance (panoray does no re-identification) all it has is motion, size and timing:

- **Motion, both ways**: the ended track's velocity carries its last box to where the later
  track starts, and the later track's first velocity, run backwards, carries its first box
  to where the ended one stopped (someone walking the other way fails the second test).
  The larger of the two misses, in heights of the ended track's box, must stay within a
  tolerance that grows with the gap (``max_jump`` + ``jump_per_s`` x gap): people change
  speed and direction while hidden.
- **Size**: the two boxes' heights within ``max_size_ratio`` of each other.
- **Timing**: the later track starts after the ended one's last box, within ``max_gap_s``.

:func:`join_cost` scores one pair (0 is a perfect continuation, 1 is the edge of the
tolerance on motion plus the edge on size, inf is not allowed), and
:func:`choose_successor` takes the cheapest later track when it is cheap enough
(``max_join_cost``) and unambiguous: no other later track comes within ``join_margin``
of it (in a crowd several people fit where one came back, and a guess breaks two ids).

Measured on the identity benchmark (``benchmarks/identity.py``, eight long MOT15
sequences): these two tests raised the worst offline margin over the best peer by about
1.5 HOTA points at the same mean. Deciding the joins of all ended tracks together
(Hungarian) gained 0.1 point more and lost a right join on TUD-Campus (-2.3 HOTA), so
each ended track is decided on its own, as it leaves the lookahead.

Example:
    >>> cfg = SmoothingConfig()
    >>> end = Tracklet(0, 1.0, np.array([100, 100, 140, 200.0]), (50.0, 0.0), 0.0)
    >>> start = Tracklet(0, 1.5, np.array([125, 100, 165, 200.0]), (50.0, 0.0), 1.5)
    >>> round(join_cost(end, start, cfg), 3)
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.tracking.config import SmoothingConfig

TIME_TOLERANCE_S = 1e-6
"""Slack when comparing media times (seconds)."""

@dataclass(frozen=True)
class Tracklet:
    """One end of a tracklet, as joining sees it.

    Attributes:
        cls: class id.
        pts_s: media time of the box (the last one of an ended track, the first one of a
            later track), seconds.
        box: (4,) xyxy pixels of that box.
        velocity: centre velocity (pixels per second) over that end's window, or None.
        other_pts_s: media time of the tracklet's other end (first box of an ended track,
            last box of a later one).
    """

    cls: int
    pts_s: float
    box: npt.NDArray[np.floating]
    velocity: tuple[float, float] | None
    other_pts_s: float


def _centre(box: npt.NDArray[np.floating]) -> tuple[float, float]:
    return 0.5 * float(box[0] + box[2]), 0.5 * float(box[1] + box[3])


def _height(box: npt.NDArray[np.floating]) -> float:
    return max(float(box[3] - box[1]), 1.0)


def join_cost(end: Tracklet, start: Tracklet, config: SmoothingConfig,
              max_gap_s: float | None = None) -> float:
    """How well ``start`` (a later track's first box) continues ``end`` (an ended track's
    last box): motion miss over its tolerance plus height change over its tolerance, each
    in 0..1; ``inf`` when the pair is not allowed (class, timing, size or motion gate).
    ``max_gap_s`` (seconds) overrides ``config.max_gap_s`` (the smoother's gap in force)."""
    gap = start.pts_s - end.pts_s
    if start.cls != end.cls or gap <= TIME_TOLERANCE_S:
        return math.inf
    if gap > (config.max_gap_s if max_gap_s is None else max_gap_s) + TIME_TOLERANCE_S:
        return math.inf
    h = _height(end.box)
    size = abs(math.log(_height(start.box) / h)) / math.log(config.max_size_ratio)
    if size > 1.0 + 1e-9:
        return math.inf
    vx, vy = end.velocity or (0.0, 0.0)
    wx, wy = start.velocity or (vx, vy)
    cx, cy = _centre(end.box)
    qx, qy = _centre(start.box)
    ahead = math.hypot(qx - (cx + vx * gap), qy - (cy + vy * gap))
    back = math.hypot(cx - (qx - wx * gap), cy - (qy - wy * gap))
    allowed = (config.max_jump + config.jump_per_s * gap) * h
    motion = max(ahead, back) / max(allowed, 1e-9)
    if motion > 1.0 + 1e-9:
        return math.inf
    return motion + size


def choose_successor(end: Tracklet, starts: Sequence[Tracklet],
                     config: SmoothingConfig, max_gap_s: float | None = None) -> int | None:
    """Index of the start that continues ``end`` at least :func:`join_cost`, or None when
    no start is allowed, the least cost exceeds ``max_join_cost``, or the choice is
    ambiguous: another start comes within ``join_margin`` of the least cost."""
    if not starts:
        return None
    cost = np.array([join_cost(end, s, config, max_gap_s) for s in starts])
    best = int(np.argmin(cost))
    least = float(cost[best])
    if not math.isfinite(least) or least > config.max_join_cost + 1e-9:
        return None
    if config.join_margin > 0 and (np.delete(cost, best) < least + config.join_margin).any():
        return None
    return best
