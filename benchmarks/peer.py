"""The peer pipeline of the accuracy benchmark: Roboflow ``trackers``' ByteTrack on the same
detections, and supervision's ``LineZone`` counting its tracks.

Example:
    >>> tracked, raw = track_peer(detections, fps=25.0)               # doctest: +SKIP
    >>> sv_line_counts(raw, analytics_config, 640, 480)                # doctest: +SKIP
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "accuracy.py")

import math
from typing import Any

import numpy as np

from benchmarks.contenders import from_sv, to_sv
from pipeline.analytics.config import AnalyticsConfig
from pipeline.types import Detections, FrameMeta, TrackedFrame


def bench_meta(i: int, fps: float) -> FrameMeta:
    """Frame ``i`` (0-based) at ``fps``; only its media time matters to the analytics."""
    return FrameMeta("bench", i, i / fps, 0.0, 0, 0)


def track_peer(frames: list[Detections], fps: float) -> tuple[list[TrackedFrame], list[Any]]:
    """Roboflow trackers' ByteTrack on the same detections; also its raw sv output."""
    from trackers import ByteTrackTracker

    tracker = ByteTrackTracker(frame_rate=fps)
    out, raw = [], []
    for i, dets in enumerate(frames):
        res = tracker.update(to_sv(dets), timestamp=i / fps)
        raw.append(res)
        out.append(TrackedFrame(bench_meta(i, fps), from_sv(res)))
    return out, raw


def sv_line_counts(raw: list[Any], config: AnalyticsConfig, width: int, height: int) -> dict:
    """supervision.LineZone counts of the peer's tracks, mapped to our direction names."""
    import supervision as sv

    out = {}
    for line in config.lines:
        a = sv.Point(line.start[0] * width, line.start[1] * height)
        b = sv.Point(line.end[0] * width, line.end[1] * height)
        zone = sv.LineZone(start=a, end=b, triggering_anchors=(sv.Position.BOTTOM_CENTER,))
        for res in raw:
            if len(res):
                zone.trigger(res)
        in_is_left_to_right = _sv_in_means_left_to_right(line, width, height)
        lr, rl = (zone.in_count, zone.out_count) if in_is_left_to_right else (
            zone.out_count, zone.in_count)
        out[line.id] = {line.left_to_right: lr, line.right_to_left: rl}
    return out


def _sv_in_means_left_to_right(line: Any, width: int, height: int) -> bool:
    """Walks one synthetic person across the line's middle from our left to our right
    side and reports whether supervision counts it as ``in``."""
    import supervision as sv

    ax, ay = line.start[0] * width, line.start[1] * height
    bx, by = line.end[0] * width, line.end[1] * height
    mx, my = (ax + bx) / 2, (ay + by) / 2
    length = math.hypot(bx - ax, by - ay)
    # Right-hand side (image coordinates, y down) of a -> b is (-ey, ex).
    nx, ny = -(by - ay) / length, (bx - ax) / length
    zone = sv.LineZone(start=sv.Point(ax, ay), end=sv.Point(bx, by),
                       triggering_anchors=(sv.Position.BOTTOM_CENTER,))
    for s in np.linspace(-20, 20, 9):
        x, y = mx + s * nx, my + s * ny
        zone.trigger(sv.Detections(xyxy=np.array([[x - 5, y - 20, x + 5, y]], np.float32),
                                   tracker_id=np.array([1]), class_id=np.array([0])))
    return zone.in_count == 1
