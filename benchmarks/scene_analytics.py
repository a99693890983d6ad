"""Counting geometry and analytics of tracked frames, shared by the accuracy benchmarks.

- :func:`place_scene`: places a :class:`~benchmarks.scenes.Scene` (one line people cross
  head-on, one line they walk along, one zone) by a fixed rule from the labelled people's
  motion (for sequences without hand-placed scenes); ``benchmarks.scenes.analytics_config``
  turns it into panoray's :class:`AnalyticsConfig`, with the noise guards a site would set,
  or (``truth=True``) with them off for the ground truth.
- :func:`run_analytics`: line crossings by direction, zone visits, mean dwell and mean
  occupancy of a tracker's frames through :class:`CameraAnalytics`.
- :func:`truth_frames`: labelled tracks as tracked frames (the ruler).

Ground truth goes through the same analytics with the guards (``min_side_s``,
``exit_grace_s``) off: labelled boxes do not jitter or break, and the guards must not move
the ruler. What a crossing and a visit *are* (hysteresis, ``min_visit_s``) is the same for
both. Visits still open when a sequence ends are closed at their last frame inside, for
ground truth and trackers alike.

Example:
    >>> rel_error(12, 10), count_error(2, 1)
    (0.2, 0.1)
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.evaluation import MotSequence
from benchmarks.scenes import Scene
from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.types import FrameMeta, TrackedFrame, Tracks

PERSON = 1  # class id of "person" in the bundled model's label map


# Placement rule (place_scene): percentiles of the labelled feet positions, along (p) and
# across (q) the main walking direction.
HEAD_ON_ACROSS = (0.05, 0.95)
"""The head-on line crosses the walkway at the median position along the walking
direction, from this low to this high percentile of positions across it."""
ALONG_SPAN = (0.10, 0.90)
"""The walk-along line lies at the median position across the walking direction (where
feet are most often), from this low to this high percentile along it."""
ZONE_ALONG = (0.30, 0.70)
ZONE_ACROSS = (0.15, 0.85)
"""The zone: a rectangle, aligned with the walking direction, between these percentiles
along and across it."""
MOTION_SPAN_S = 1.0
"""Walking directions are measured over this much media time of each person."""


def place_scene(truth: MotSequence, times_s: npt.NDArray[np.float64], width: int,
                height: int) -> Scene:
    """One head-on line, one walk-along line and one zone, placed by a fixed rule.

    The main walking direction is the principal axis of the labelled people's
    displacements over :data:`MOTION_SPAN_S` (each a unit vector, weighted by its
    length; direction signs do not matter). The lines and the zone are then placed at
    percentiles of the feet positions (bottom centres) along and across it (see the
    constants above), as ``benchmarks/accuracy.py``'s hand-placed TUD scenes are. The
    result depends only on the ground truth: the same input gives the same scene.

    Args:
        truth: labelled boxes, frames 1..n.
        times_s: (n,) media time of each frame.
        width: frame width, pixels.
        height: frame height, pixels.
    """
    b = truth.boxes_xyxy()
    feet = np.stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3]], axis=1)
    t = times_s[truth.frames - 1]
    order = np.lexsort((t, truth.ids))
    ids, t, feet = truth.ids[order], t[order], feet[order]
    tensor = np.zeros((2, 2))
    for pid in np.unique(ids):
        rows = np.flatnonzero(ids == pid)
        later = np.searchsorted(t[rows], t[rows] + MOTION_SPAN_S - 1e-6)
        ok = later < len(rows)
        d = feet[rows[later[ok]]] - feet[rows[ok]]
        length = np.linalg.norm(d, axis=1)
        moving = length > 0
        u = d[moving] / length[moving, None]
        tensor += (u * length[moving, None]).T @ u
    if not tensor.any():
        tensor = np.eye(2)[::-1] * [1.0, 2.0]  # nobody moves: take the horizontal axis
    eigvals, eigvecs = np.linalg.eigh(tensor)
    along = eigvecs[:, int(np.argmax(eigvals))]
    if along[0] < 0 or (along[0] == 0 and along[1] < 0):
        along = -along
    across = np.array([-along[1], along[0]])
    p, q = feet @ along, feet @ across

    def point(pv: float, qv: float) -> tuple[float, float]:
        xy = pv * along + qv * across
        return (round(float(np.clip(xy[0] / width, 0.0, 1.0)), 4),
                round(float(np.clip(xy[1] / height, 0.0, 1.0)), 4))

    pq = {k: float(np.quantile(p, k)) for k in (*ALONG_SPAN, *ZONE_ALONG, 0.5)}
    qq = {k: float(np.quantile(q, k)) for k in (*HEAD_ON_ACROSS, *ZONE_ACROSS, 0.5)}
    head_on = (*point(pq[0.5], qq[HEAD_ON_ACROSS[0]]), *point(pq[0.5], qq[HEAD_ON_ACROSS[1]]))
    walk = (*point(pq[ALONG_SPAN[0]], qq[0.5]), *point(pq[ALONG_SPAN[1]], qq[0.5]))
    (p0, p1), (q0, q1) = (pq[z] for z in ZONE_ALONG), (qq[z] for z in ZONE_ACROSS)
    zone = (point(p0, q0), point(p1, q0), point(p1, q1), point(p0, q1))
    return Scene(head_on=head_on, along=walk, zone=zone)


def truth_frames(truth: MotSequence, times_s: npt.NDArray[np.float64]) -> list[TrackedFrame]:
    """The labelled tracks as tracked frames (every row, conf 0 included)."""
    boxes = truth.boxes_xyxy().astype(np.float32)
    out = []
    for f in range(1, truth.num_frames + 1):
        rows = truth.frame_rows(f)
        n = rows.stop - rows.start
        meta = FrameMeta("truth", f - 1, float(times_s[f - 1]), 0.0, 0, 0)
        out.append(TrackedFrame(meta, Tracks(boxes[rows], np.ones(n, np.float32),
                                             np.full(n, PERSON, np.int16), truth.ids[rows])))
    return out


def run_analytics(frames: Sequence[TrackedFrame], config: AnalyticsConfig, width: int,
                  height: int, fps: float,
                  analytics: Callable[..., CameraAnalytics] = CameraAnalytics
                  ) -> dict[str, Any]:
    """Line counts by direction, and zone visits, mean dwell and mean occupancy
    (``analytics``: a CameraAnalytics subclass that records what it does)."""
    cam = analytics("bench", config, width, height)
    events = []
    seen: set[int] = set()
    last = FrameMeta("bench", -1, -1.0 / fps, 0.0, width, height)
    for f in frames:
        events += cam.update(f)
        seen.update(f.tracks.track_ids.tolist())
        last = f.meta
    # The sequence ends: close every visit still open, at its last frame inside.
    end = FrameMeta(last.camera_id, last.frame_index + 1, last.pts_s + 1.0 / fps, 0.0,
                    width, height)
    events += cam.update(TrackedFrame(end, Tracks.empty(), np.array(sorted(seen), np.int64)))
    if config.continuity.max_gap_s > 0:  # removed tracks wait that long for a successor
        end = FrameMeta(end.camera_id, end.frame_index + 1,
                        end.pts_s + config.continuity.max_gap_s + 1.0 / fps, 0.0, width, height)
        events += cam.update(TrackedFrame(end, Tracks.empty()))
    windows = [w for cw in cam.close() for w in cw.metrics]
    out: dict[str, Any] = {}
    for line in config.lines:
        out[line.id] = {
            d: sum(1 for e in events if e.kind == "line_cross" and e.element_id == line.id
                   and e.direction == d)
            for d in (line.left_to_right, line.right_to_left)
        }
    for zone in config.zones:
        dwell = [e.dwell_s for e in events if e.kind == "zone_exit" and e.element_id == zone.id]
        occ = [w.occupancy_mean for w in windows
               if w.element_id == zone.id and w.occupancy_mean is not None]
        out[zone.id] = {
            "visits": sum(1 for e in events if e.kind == "zone_enter" and e.element_id == zone.id),
            "mean_dwell_s": round(float(np.mean(dwell)), 3) if dwell else 0.0,
            "mean_occupancy": round(float(occ[0]), 3) if occ else 0.0,
        }
    return out


LINE_COUNT_FLOOR = 10
"""Line counts are scored against at least this many true crossings
(:func:`count_error`): with 1-3 true crossings in a direction, one crossing more or less
is a 33-100 % relative error that no counter can avoid (a person walking along the line,
one break of a track), so the goal reads it as a share of this many."""


def count_error(value: float, truth: float, floor: float = LINE_COUNT_FLOOR) -> float:
    """|value - truth| / max(truth, floor): relative error for counts of at least
    ``floor``, absolute error in units of ``floor`` below (1 crossing off is 0.1).

    Example:
        >>> count_error(2, 1), count_error(18, 20)
        (0.1, 0.1)
    """
    return abs(value - truth) / max(abs(truth), floor)


def rel_error(value: float, truth: float) -> float:
    """|value - truth| / truth; when truth is 0, the absolute value (0 only if exact)."""
    if truth == 0:
        return float(abs(value))
    return abs(value - truth) / abs(truth)
