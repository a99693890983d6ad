"""A camera whose frame size changes mid-stream (a stream switched resolution, a folder
of mixed sizes) keeps one pixel grid in its tracking lane: the first frames'. No Ray.

Detections: TUD-Stadtmitte's ground truth as shipped in ``motmetrics``, perturbed.
"""

from __future__ import annotations

import numpy as np

from benchmarks.evaluation import read_mot
from benchmarks.perturb import perturb
from pipeline.tracking import CameraLane, SmoothingConfig, TrackerConfig
from pipeline.types import FrameMeta
from tests.unit.analytics_helpers import mot_dir

FPS = 25.0
W, H = 640, 480


def run(detections: list, size_from: int, factor: float) -> list:
    """The lane's output when frames from ``size_from`` on are ``factor`` times bigger
    (their boxes too)."""
    lane = CameraLane("cam", TrackerConfig(), SmoothingConfig())
    out = []
    for i, dets in enumerate(detections):
        k = factor if i >= size_from else 1.0
        meta = FrameMeta("cam", i, i / FPS, 1.8e9 + i / FPS, int(W * k), int(H * k))
        out += lane.step(meta, dets.scaled(k, k))
    return out + lane.flush()


def test_a_resolution_change_keeps_tracks_on_the_first_grid() -> None:
    detections = perturb(read_mot(mot_dir() / "TUD-Stadtmitte" / "gt.txt"), seed=5,
                         image_size=(W, H))
    same = run(detections, len(detections), 1.0)
    switched = run(detections, len(detections) // 2, 2.0)
    assert {(f.meta.width, f.meta.height) for f in switched} == {(W, H)}
    assert len(switched) == len(same) == len(detections)
    for a, b in zip(same, switched, strict=True):
        assert a.tracks.track_ids.tolist() == b.tracks.track_ids.tolist(), a.meta.frame_index
        np.testing.assert_allclose(a.tracks.boxes, b.tracks.boxes, atol=1e-3)
