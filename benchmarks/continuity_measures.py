"""How often tracks break, read from the tracks alone: no labels needed.

A person who walks through a still camera's view should be one track from where they enter
to where they leave. Where a track ends inside the frame, away from its edges, and a new
track starts close by within a few seconds, the tracker most likely lost the person and
found them again under a new id (a *probable break*). Counting those needs no ground
truth, so it can be read on any footage: a site's own recording, or the demo clip.

- :func:`track_spans`: each track's first and last box, and how many boxes it has.
- :func:`probable_breaks`: interior ends matched one to one with interior starts that
  follow within ``rejoin_s`` seconds and ``rejoin_heights`` box heights (nearest first).
- :func:`continuity`: the counts, and breaks per tracked minute (the breaks over the
  time that tracks were shown, summed over tracks): a tracker that shows nobody where
  detection is hard has fewer breaks, but also fewer tracked minutes.

What it cannot see: a swap (two tracks exchange people without ending), and a person who
leaves and comes back at the same place within ``REJOIN_S`` (counted as a break). It
assumes a still camera, where people come and go at the frame's edges. On simulated
detections of labelled sequences (``benchmarks/continuity.py`` checks it), trackers ranked
by breaks per tracked minute rank as by HOTA with a Spearman correlation of about 0.5, and
on still cameras the two agree on whether panoray beats its best peer in 4 of 5 cases:
read it as a direction, not a score.

Example:
    >>> box = lambda x: np.array([[x, 100, x + 40, 200]], np.float32)
    >>> frames = [Tracks(box(300 + k), np.ones(1, np.float32), np.ones(1, np.int16),
    ...                  np.array([1 if k < 20 else 2])) for k in range(40)]
    >>> c = continuity(frames, np.arange(40) / 10.0, 640, 480)
    >>> c["tracks"], c["probable_breaks"], c["breaks_per_tracked_min"]
    (2, 1, 15.0)
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "continuity.py")

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.types import Tracks

EDGE_MARGIN = 0.03
"""A box within this fraction of the frame's width (height) of a side touches the edge:
a track ending or starting there may be a person leaving or entering, not a break."""
SETTLE_S = 1.0
"""Tracks that start within this long of the footage's start, or end within this long of
its end, are not counted as starts or ends (seconds)."""
REJOIN_S = 3.0
"""A start at most this long after an interior end can continue it (seconds)."""
REJOIN_HEIGHTS = 1.0
"""... and its bottom centre at most this many of the ended box's heights away."""


@dataclass
class Span:
    """One track as :func:`probable_breaks` sees it.

    Attributes:
        first: index of its first frame.
        first_box: (4,) xyxy pixels there.
        first_anchor: (2,) its bottom centre, pixels.
        last: index of its last frame.
        last_box: (4,) xyxy pixels there.
        last_anchor: (2,) its bottom centre, pixels.
        boxes: how many frames show it.
    """

    first: int
    first_box: npt.NDArray[np.float32]
    first_anchor: npt.NDArray[np.float32]
    last: int
    last_box: npt.NDArray[np.float32]
    last_anchor: npt.NDArray[np.float32]
    boxes: int


def track_spans(frames: Sequence[Tracks]) -> dict[int, Span]:
    """Each track id's span over ``frames`` (one :class:`Tracks` per frame, in order)."""
    spans: dict[int, Span] = {}
    for k, tracks in enumerate(frames):
        for box, anchor, tid in zip(tracks.boxes, tracks.anchors(), tracks.track_ids.tolist()):
            span = spans.get(tid)
            if span is None:
                spans[tid] = Span(k, box, anchor, k, box, anchor, 1)
            else:
                span.last, span.last_box, span.last_anchor = k, box, anchor
                span.boxes += 1
    return spans


def _inside(box: npt.NDArray[np.float32], width: int, height: int) -> bool:
    mx, my = EDGE_MARGIN * width, EDGE_MARGIN * height
    return bool(box[0] > mx and box[1] > my and box[2] < width - mx and box[3] < height - my)


def probable_breaks(spans: dict[int, Span], times_s: npt.NDArray[np.float64], width: int,
                    height: int) -> tuple[int, int]:
    """``(interior ends, probable breaks)``: tracks that end inside the frame (not within
    :data:`SETTLE_S` of the end), and how many of them a later track starting inside the
    frame continues (:data:`REJOIN_S`, :data:`REJOIN_HEIGHTS`), matched one to one, the
    nearest pairs first. ``times_s``: (n,) media time of each frame, seconds."""
    t0, t1 = float(times_s[0]), float(times_s[-1])
    ends = [s for s in spans.values()
            if times_s[s.last] < t1 - SETTLE_S and _inside(s.last_box, width, height)]
    starts = [s for s in spans.values()
              if times_s[s.first] > t0 + SETTLE_S and _inside(s.first_box, width, height)]
    pairs = []
    for i, end in enumerate(ends):
        reach = REJOIN_HEIGHTS * max(float(end.last_box[3] - end.last_box[1]), 1.0)
        for j, start in enumerate(starts):
            gap = times_s[start.first] - times_s[end.last]
            if 0.0 < gap <= REJOIN_S:
                dist = float(np.linalg.norm(start.first_anchor - end.last_anchor))
                if dist <= reach:
                    pairs.append((dist, i, j))
    used_ends, used_starts = set(), set()
    for _, i, j in sorted(pairs):
        if i not in used_ends and j not in used_starts:
            used_ends.add(i)
            used_starts.add(j)
    return len(ends), len(used_ends)


def continuity(frames: Sequence[Tracks], times_s: npt.NDArray[np.float64], width: int,
               height: int) -> dict[str, Any]:
    """Label-free continuity figures of one tracker's output.

    Args:
        frames: the tracks of each frame, in order.
        times_s: (n,) media time of each frame, seconds, increasing.
        width, height: frame size, pixels.

    Returns:
        ``tracks`` (distinct ids), ``median_track_s`` (first to last box), ``tracked_min``
        (boxes shown x frame interval, minutes), ``interior_ends``, ``probable_breaks``,
        ``breaks_per_tracked_min`` and ``tracked_s_per_break`` (its inverse, seconds).
    """
    times = np.asarray(times_s, np.float64)
    spans = track_spans(frames)
    interval = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    tracked_min = sum(s.boxes for s in spans.values()) * interval / 60.0
    ends, breaks = probable_breaks(spans, times, width, height) if len(times) else (0, 0)
    lengths = [times[s.last] - times[s.first] for s in spans.values()]
    rate = breaks / tracked_min if tracked_min > 0 else 0.0
    return {
        "tracks": len(spans),
        "median_track_s": round(float(np.median(lengths)), 2) if lengths else 0.0,
        "tracked_min": round(tracked_min, 2),
        "interior_ends": ends,
        "probable_breaks": breaks,
        "breaks_per_tracked_min": round(rate, 2),
        "tracked_s_per_break": round(60.0 / rate, 1) if rate > 0 else None,
    }
