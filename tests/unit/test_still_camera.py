"""The still-camera judgement and the longer gaps it allows (pipeline.tracking.still_camera).

Synthetic scenes at 10 fps, 1280 x 720: three people walking across a still camera
(their heights do not change), and the same people seen from a camera moving forward
(everything grows 20 % a second about the image centre). In both one person is hidden
for a while; a still camera keeps them (the tracker coasts 2 s), a moving one does not.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracking import ByteTracker, CameraLane, SmoothingConfig, TrackerConfig
from pipeline.tracking.still_camera import StillCameraJudge, in_force
from pipeline.types import Detections, FrameMeta

FPS = 10.0
W, H = 1280, 720


def judge() -> StillCameraJudge:
    c = TrackerConfig()
    return StillCameraJudge(c.still_window_s, c.still_max_scale_rate, c.still_min_tracks,
                            c.still_min_samples)


def scene(t: float, growth: float) -> np.ndarray:
    """(3, 4) xyxy boxes of three walkers at media time ``t``; ``growth``: the camera's
    forward motion as the rate (1/s) at which the whole image grows about its centre."""
    x0 = np.array([100.0, 500.0, 900.0]) + 40.0 * t  # 0.4 body heights per second
    y0 = np.array([300.0, 320.0, 280.0])
    boxes = np.column_stack([x0, y0, x0 + 40.0, y0 + 100.0])
    scale = np.exp(growth * t)
    centre = np.array([W / 2, H / 2, W / 2, H / 2])
    return centre + scale * (boxes - centre)


def dets(boxes: np.ndarray) -> Detections:
    n = len(boxes)
    return Detections(boxes.astype(np.float32), np.full(n, 0.9, np.float32),
                      np.zeros(n, np.int16))


def frames(growth: float, hidden: tuple[float, float], seconds: float = 7.0):
    """(meta, detections) per frame; the middle walker is missed while ``hidden``."""
    for k in range(int(seconds * FPS)):
        t = k / FPS
        boxes = scene(t, growth)
        if hidden[0] <= t < hidden[1]:
            boxes = boxes[[0, 2]]
        yield FrameMeta("cam", k, t, 0.0, W, H), dets(boxes)


def middle_ids(tracks_per_frame) -> set[int]:
    """Ids given to the middle walker: in frames showing all three, the one between the
    other two."""
    out = set()
    for tracks in tracks_per_frame:
        if len(tracks) == 3:
            cx = tracks.boxes[:, 0] + tracks.boxes[:, 2]
            out.add(int(tracks.track_ids[np.argsort(cx)[1]]))
    return out


def test_the_judge_says_still_when_people_grow_and_shrink_apart():
    j = judge()
    rng = np.random.default_rng(0)
    for k in range(30):
        j.observe(k / FPS, rng.normal(0.0, 0.1, 4))  # each its own way, no shared part
    assert j.still


def test_the_judge_says_moving_when_people_grow_together():
    j = judge()
    rng = np.random.default_rng(0)
    for k in range(30):
        j.observe(k / FPS, 0.2 + rng.normal(0.0, 0.05, 4))  # a camera walking forward
    assert not j.still


def test_too_few_tracks_say_nothing_and_old_updates_are_forgotten():
    j = judge()
    for k in range(30):
        j.observe(k / FPS, np.array([0.0]))  # one track: below min_tracks
    assert not j.still
    for k in range(30, 60):
        j.observe(k / FPS, np.zeros(3))
    assert j.still
    for k in range(60, 100):  # the camera starts moving: judged so within the window
        j.observe(k / FPS, np.full(3, 0.3))
    assert not j.still
    assert len(j._times) <= 3.0 * FPS + 1  # noqa: SLF001 - bounded by the window


def run_tracker(growth: float, hidden: tuple[float, float], config: TrackerConfig):
    tracker = ByteTracker(config)
    out, still = [], []
    for meta, d in frames(growth, hidden):
        out.append(tracker.update(d, meta.pts_s))
        still.append(tracker.camera_still)
    return out, still


def test_a_still_camera_coasts_a_hidden_person_for_longer():
    hidden = (3.0, 4.5)  # 1.5 s: beyond lost_buffer_s (1 s), within still_lost_buffer_s
    out, still = run_tracker(0.0, hidden, TrackerConfig())
    assert still[-1] and np.mean(still) > 0.5
    assert len(middle_ids(out)) == 1
    plain, _ = run_tracker(0.0, hidden, TrackerConfig(still_lost_buffer_s=None))
    assert len(middle_ids(plain)) == 2  # the same scene with 1 s everywhere


def test_a_camera_moving_forward_keeps_the_short_lost_buffer():
    tracker = ByteTracker(TrackerConfig())
    removed_at = None
    for meta, d in frames(0.2, (3.0, 6.0)):
        tracker.update(d, meta.pts_s)
        assert not tracker.camera_still
        if len(tracker.removed_ids) and removed_at is None:
            removed_at = meta.pts_s
    assert removed_at is not None and removed_at <= 3.0 + 1.0 + 1.5 / FPS


def lane_ids(hidden: tuple[float, float], tracker: TrackerConfig,
             smoothing: SmoothingConfig) -> int:
    lane = CameraLane("cam", tracker, smoothing)
    out = []
    for meta, d in frames(0.0, hidden):
        out += [f.tracks for f in lane.step(meta, d)]
    out += [f.tracks for f in lane.flush()]
    return len(middle_ids(out))


def test_offline_the_default_lane_keeps_a_person_hidden_for_1_8_s_on_a_still_camera():
    hidden = (3.0, 4.8)
    assert lane_ids(hidden, TrackerConfig(), SmoothingConfig()) == 1
    assert lane_ids(hidden, TrackerConfig(still_lost_buffer_s=None), SmoothingConfig()) == 2


def test_offline_the_smoother_joins_a_1_2_s_gap_only_on_a_still_camera():
    # The tracker gives up after 0.7 s (its still-camera coasting off); the smoother,
    # told by the lane that the camera is still, joins the two tracks over 1.2 s.
    hidden, coast = (3.0, 4.2), TrackerConfig(still_lost_buffer_s=None)
    assert lane_ids(hidden, coast, SmoothingConfig()) == 1
    assert lane_ids(hidden, coast, SmoothingConfig(still_max_gap_s=None)) == 2


def coasting_for_s(growth: float) -> float:
    """Media seconds the middle walker, missed from 3 s on, is output at its predicted box
    after its last detection (2.9 s)."""
    tracker = ByteTracker(TrackerConfig(coast_output_s=0.2, still_coast_output_s=0.5))
    last_shown = 2.9
    for meta, d in frames(growth, (3.0, 7.0)):
        tracker.update(d, meta.pts_s)
        if meta.pts_s >= 3.0 and len(tracker.coasting(W, H)):
            last_shown = meta.pts_s
    return round(last_shown - 2.9, 3)


def test_live_output_coasts_longer_on_a_still_camera():
    assert coasting_for_s(0.0) == 0.5
    assert coasting_for_s(0.2) == 0.2


@pytest.mark.parametrize(("still_value", "still", "value"),
                         [(2.0, True, 2.0), (2.0, False, 0.7), (0.5, True, 0.7),
                          (None, True, 0.7)])
def test_a_still_setting_applies_only_while_still_and_only_if_longer(still_value, still,
                                                                    value):
    assert in_force(0.7, still_value, still) == value
