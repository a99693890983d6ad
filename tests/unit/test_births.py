"""A track's first box, seen while it was tentative, comes back offline under its id."""

from __future__ import annotations

import numpy as np

from pipeline.tracking import CameraLane, SmoothingConfig, TrackerConfig
from pipeline.tracking.tracker import ByteTracker
from pipeline.types import Detections, FrameMeta

FPS = 10.0


def person(x: float) -> Detections:
    """One person-sized box at x (pixels), score 0.9."""
    return Detections(np.array([[x, 100, x + 40, 200]], np.float32),
                      np.array([0.9], np.float32), np.array([0], np.int16))


def meta(k: int) -> FrameMeta:
    return FrameMeta("cam", k, k / FPS, 1.8e9 + k / FPS, 640, 480)


def test_the_tracker_reports_the_first_box_of_a_track_it_confirms():
    tracker = ByteTracker(TrackerConfig(min_hits=2))
    tracker.update(person(100), pts_s=0.0)
    assert len(tracker.births) == 0  # tentative: no id yet
    out = tracker.update(person(104), pts_s=0.1)
    births = tracker.births
    assert births.ids.tolist() == out.track_ids.tolist() == [1]
    assert births.pts_s.tolist() == [0.0]
    assert births.boxes.tolist() == [[100, 100, 140, 200]]
    tracker.update(person(108), pts_s=0.2)
    assert len(tracker.births) == 0  # reported once, by the update that confirmed it


def test_a_track_confirmed_on_its_first_box_has_no_birth_to_report():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    tracker.update(person(100), pts_s=0.0)
    assert len(tracker.births) == 0


def run_lane(smoothing: SmoothingConfig | None, n: int = 20) -> list:
    lane = CameraLane("cam", TrackerConfig(min_hits=2), smoothing)
    out = []
    for k in range(n):
        out += lane.step(meta(k), person(100 + 4 * k))
    return out + lane.flush()


def test_offline_the_first_frame_gets_the_box_that_started_the_track():
    frames = run_lane(SmoothingConfig(lookahead_s=1.0, max_gap_s=1.0))
    assert [f.tracks.track_ids.tolist() for f in frames[:3]] == [[1], [1], [1]]
    # As detected (box smoothing shrinks to the box itself at a track's first box).
    assert frames[0].tracks.boxes.tolist() == [[100, 100, 140, 200]]
    assert sum(len(f.tracks) for f in frames) == 20


def test_live_and_with_backfill_off_the_first_frame_stays_empty():
    live = run_lane(None)
    off = run_lane(SmoothingConfig(lookahead_s=1.0, max_gap_s=1.0, backfill_births=False))
    for frames in (live, off):
        assert len(frames[0].tracks) == 0
        assert sum(len(f.tracks) for f in frames) == 19


def test_a_birth_whose_frame_was_already_released_is_dropped():
    # min_hits 3 at a lookahead shorter than the two frames it takes to confirm: the first
    # box's frame is gone when the track is confirmed, so nothing is added anywhere.
    lane = CameraLane("cam", TrackerConfig(min_hits=3),
                      SmoothingConfig(lookahead_s=0.1, max_gap_s=0.1, box_smoothing_s=0.0,
                                      size_smoothing_s=0.0))
    out = []
    for k in range(10):
        out += lane.step(meta(k), person(100 + 4 * k))
    out += lane.flush()
    assert [len(f.tracks) for f in out] == [0, 0] + [1] * 8
