"""Live mode outputs a confirmed track the detector just missed at its predicted box, for
up to ``coast_output_s``; offline (smoother) and with the setting at 0 it does not."""

from __future__ import annotations

import numpy as np

from pipeline.tracking import CameraLane, SmoothingConfig, TrackerConfig
from pipeline.tracking.tracker import ByteTracker
from pipeline.types import Detections, FrameMeta

FPS = 10.0
EMPTY = Detections.empty()


def person(x: float, score: float = 0.9) -> Detections:
    """One person-sized box at x (pixels)."""
    return Detections(np.array([[x, 100, x + 40, 200]], np.float32),
                      np.array([score], np.float32), np.array([0], np.int16))


def meta(k: int) -> FrameMeta:
    return FrameMeta("cam", k, k / FPS, 1.8e9 + k / FPS, 640, 480)


def walk(lane: CameraLane, seen: range, frames: int) -> list:
    """A person walking right at 40 px/s (4 px a frame), detected in the frames ``seen``."""
    out = []
    for k in range(frames):
        out += lane.step(meta(k), person(100 + 4 * k, 0.8) if k in seen else EMPTY)
    return out + lane.flush()


def test_the_tracker_reports_missed_tracks_at_their_predicted_boxes():
    tracker = ByteTracker(TrackerConfig(min_hits=1, coast_output_s=0.3))
    for k in range(10):
        tracker.update(person(100 + 4 * k, 0.7), pts_s=k / FPS)
    assert len(tracker.coasting()) == 0  # matched in the last update: nothing coasts
    tracker.update(EMPTY, pts_s=1.0)
    coasting = tracker.coasting()
    assert coasting.track_ids.tolist() == [1]
    assert coasting.scores.tolist() == [np.float32(0.7)]  # the last detection's score
    # Predicted on along its motion: about 4 px on from the last box (136), not left there.
    assert 138.0 < float(coasting.boxes[0, 0]) < 142.0
    tracker.update(EMPTY, pts_s=1.2)
    assert len(tracker.coasting()) == 1  # 0.3 s unseen: still output
    tracker.update(EMPTY, pts_s=1.3)
    assert len(tracker.coasting()) == 0  # 0.4 s unseen: beyond coast_output_s


def test_tentative_tracks_are_never_output_while_they_coast():
    tracker = ByteTracker(TrackerConfig(min_hits=3, coast_output_s=0.3))
    tracker.update(person(100), pts_s=0.0)
    tracker.update(EMPTY, pts_s=0.1)
    assert len(tracker.coasting()) == 0


def test_live_mode_fills_a_short_miss_and_stops_after_coast_output_s():
    seen = range(0, 10)  # then missed for good
    frames = walk(CameraLane("cam", TrackerConfig(min_hits=1, coast_output_s=0.3)), seen, 16)
    ids = [f.tracks.track_ids.tolist() for f in frames]
    assert ids[9:14] == [[1], [1], [1], [1], []]
    off = walk(CameraLane("cam", TrackerConfig(min_hits=1, coast_output_s=0.0)), seen, 16)
    assert [f.tracks.track_ids.tolist() for f in off][9:11] == [[1], []]


def test_offline_the_smoother_gets_detected_boxes_only():
    # A person detected until frame 9 and never again: offline output ends with the last
    # detection (the smoother interpolates gaps between detections, never past them).
    lane = CameraLane("cam", TrackerConfig(min_hits=1, coast_output_s=0.3),
                      SmoothingConfig(lookahead_s=1.0, max_gap_s=1.0))
    frames = walk(lane, range(0, 10), 16)
    assert [len(f.tracks) for f in frames] == [1] * 10 + [0] * 6


def test_a_predicted_box_that_leaves_the_frame_is_not_output():
    # Walking right at 100 px/s, last seen with its right edge at the frame's (640 px).
    tracker = ByteTracker(TrackerConfig(min_hits=1, coast_output_s=0.5))
    for k in range(10):
        tracker.update(person(510 + 10 * k), pts_s=k / FPS)
    tracker.update(EMPTY, pts_s=1.0)
    assert len(tracker.coasting()) == 1  # no frame given: no check
    assert len(tracker.coasting(640, 480)) == 0  # predicted past the right edge
    assert len(tracker.coasting(1280, 480)) == 1


def test_a_static_frame_shows_coasting_tracks_only_while_they_coast():
    # Two people; the second is missed from frame 5 on, then nothing moves (static frames):
    # the missed one is shown at its prediction for coast_output_s, never after.
    lane = CameraLane("cam", TrackerConfig(min_hits=1, coast_output_s=0.3))
    two = lambda k: Detections.merge([person(100 + 4 * k), person(400 + 4 * k)])  # noqa: E731
    frames = []
    for k in range(5):
        frames += lane.step(meta(k), two(k))
    frames += lane.step(meta(5), person(120))
    for k in range(6, 30):
        frames += lane.step(meta(k), person(120), static=True)
    ids = [f.tracks.track_ids.tolist() for f in frames]
    assert ids[5:9] == [[1, 2], [1, 2], [1, 2], [1]]
    assert all(i == [1] for i in ids[9:])
