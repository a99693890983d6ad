"""Holding tracks over frames the detector skipped (motion-gated inference). No Ray."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.tracking import ByteTracker, CameraLane, SmoothingConfig, TrackerConfig
from pipeline.types import Detections, FrameMeta

FPS = 25.0


def dets(*boxes) -> Detections:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(b, np.full(len(b), 0.9, np.float32), np.zeros(len(b), np.int16))


def person(x: float) -> list[float]:
    return [x, 100.0, x + 40.0, 200.0]


def walk(tracker: ByteTracker, frames: int, x0: float = 100.0, step: float = 4.0) -> float:
    """Updates ``frames`` frames of one person walking right; returns the last pts."""
    for k in range(frames):
        ids = tracker.update(dets(person(x0 + step * k)), k / FPS).track_ids
    assert ids.tolist() == [1]
    return (frames - 1) / FPS


def test_a_held_track_outlives_the_lost_buffer_and_keeps_its_id():
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=1.0))
    last = walk(tracker, 10)
    for k in range(1, 250):  # 10 s of static frames
        tracker.hold(last + k / FPS)
        assert len(tracker.removed_ids) == 0
    assert tracker.live_ids.tolist() == [1]
    # The person is where they stopped: the next detection continues the same track.
    assert tracker.update(dets(person(136.0)), last + 250 / FPS).track_ids.tolist() == [1]


def test_without_hold_the_same_gap_ends_the_track():
    """Guards the test above: empty updates over the same 10 s delete the track."""
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=1.0))
    last = walk(tracker, 10)
    removed = []
    for k in range(1, 250):
        tracker.update(Detections.empty(), last + k / FPS)
        removed += tracker.removed_ids.tolist()
    assert removed == [1] and tracker.live_ids.tolist() == []


def test_a_track_already_coasting_expires_on_time_during_a_hold():
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=1.0))
    last = walk(tracker, 10)
    tracker.update(Detections.empty(), last + 1 / FPS)  # the person left: it coasts
    removed_at = None
    for k in range(2, 60):
        tracker.hold(last + k / FPS)
        if len(tracker.removed_ids):
            removed_at = k
            break
    assert removed_at == 26  # first frame more than lost_buffer_s after its last sighting


def test_hold_leaves_the_motion_model_alone():
    """A walking person briefly held continues at their pace: the predicted box one frame
    after the hold is where they walk next, not slowed down by fake zero-motion boxes."""
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=1.0))
    last = walk(tracker, 20, step=4.0)
    pos, vel = tracker._pos.copy(), tracker._vel.copy()
    for k in range(1, 5):
        tracker.hold(last + k / FPS)
    np.testing.assert_array_equal(tracker._pos, pos)
    np.testing.assert_array_equal(tracker._vel, vel)


def test_hold_refuses_time_going_backwards():
    tracker = ByteTracker()
    tracker.update(dets(person(0)), 1.0)
    with pytest.raises(InputError, match="pts_s went backwards"):
        tracker.hold(0.5)


@pytest.mark.parametrize("smoothing", [None, SmoothingConfig()])
def test_the_lane_shows_the_held_tracks_on_static_frames_as_media_time_advances(smoothing):
    lane = CameraLane("door", TrackerConfig(lost_buffer_s=1.0), smoothing)
    out = []
    for k in range(10):
        out += lane.step(FrameMeta("door", k, k / FPS, 0.0, 640, 480), dets(person(100 + 4 * k)))
    for k in range(10, 110):  # 4 s static: the camera holds frame 9's detections
        out += lane.step(FrameMeta("door", k, k / FPS, 0.0, 640, 480),
                         dets(person(136)), static=True)
    out += lane.flush()
    assert lane.stats()["updates"] == 10  # static frames never reach the tracker's update
    assert [f.meta.frame_index for f in out] == list(range(110))
    held = out[10:]
    assert all(f.tracks.track_ids.tolist() == [1] for f in held)
    assert all(len(f.removed_ids) == 0 for f in out)
    if smoothing is None:  # the smoother may refine boxes; held raw boxes stay put
        assert all(np.array_equal(f.tracks.boxes, out[9].tracks.boxes) for f in held)
    np.testing.assert_allclose([f.meta.pts_s for f in held], np.arange(10, 110) / FPS)
