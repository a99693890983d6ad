"""The still-camera judgement and the longer gaps it allows (pipeline.tracking.still_camera).

Synthetic scenes at 10 fps, 1280 x 720: three people walking across a still camera
(their heights do not change), and the same people seen from a camera moving forward
(everything grows 20 % a second about the image centre). In both one person is hidden
for a while; a still camera keeps them (the tracker coasts 2 s), a moving one does not.
"""

from __future__ import annotations

import numpy as np

from pipeline.tracking import ByteTracker, CameraLane, SmoothingConfig, TrackerConfig
from pipeline.tracking.still_camera import StillCameraJudge
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



# ---------------------------------------------------------------- divergence and confidence


def test_the_divergence_cue_tells_a_camera_moving_forward_when_growth_does_not():
    # People walking away from a camera that follows them: their heights hardly change,
    # but everyone drifts away from the point the camera heads for (slope 0.2/s).
    rng = np.random.default_rng(1)
    plain, cued = judge(), StillCameraJudge(3.0, 0.1, 2, 3, max_divergence=0.15)
    for k in range(30):
        x = rng.uniform(0.0, W, 5)
        vx = 0.2 * (x - W / 2) + rng.normal(0.0, 20.0, 5)
        rates = rng.normal(0.0, 0.03, 5)
        plain.observe(k / FPS, rates, x, vx)
        cued.observe(k / FPS, rates, x, vx)
    assert plain.still and not cued.still
    assert 0.15 < cued.divergence < 0.25


def test_the_divergence_cue_lets_walkers_on_a_still_camera_be():
    rng = np.random.default_rng(2)
    cued = StillCameraJudge(3.0, 0.1, 2, 3, max_divergence=0.15)
    for k in range(30):
        x = rng.uniform(0.0, W, 5)
        vx = rng.choice([-60.0, 60.0], 5) + rng.normal(0.0, 20.0, 5)  # both ways
        cued.observe(k / FPS, rng.normal(0.0, 0.03, 5), x, vx)
    assert cued.still and abs(cued.divergence) < 0.1


def test_confidence_needs_most_of_the_window_calm():
    j = StillCameraJudge(3.0, 0.1, 2, 3, confident_fraction=0.8)
    for k in range(30):  # 2 calm updates of 3: still, not confident
        j.observe(k / FPS, np.full(3, 0.0 if k % 3 else 0.3))
    assert j.still and not j.confident
    for k in range(30, 70):
        j.observe(k / FPS, np.zeros(3))
    assert j.still and j.confident
    j.reset()
    assert not j.still and not j.confident
    unset = StillCameraJudge(3.0, 0.1, 2, 3)
    for k in range(30):
        unset.observe(k / FPS, np.zeros(3))
    assert unset.still and not unset.confident


def test_the_tracker_reads_divergence_when_growth_is_blunted():
    loose = TrackerConfig(still_max_scale_rate=0.5)  # growth 0.2/s counts as calm
    _, still = run_tracker(0.2, (10.0, 10.0), loose)
    assert still[-1]
    _, still = run_tracker(0.2, (10.0, 10.0),
                           loose.model_copy(update={"still_max_divergence": 0.1}))
    assert not any(still)


def test_a_confident_still_camera_coasts_longest():
    hidden = (3.0, 5.5)  # 2.5 s: beyond still_lost_buffer_s (2 s)
    cfg = TrackerConfig(still_confident_fraction=0.8, still_confident_lost_buffer_s=3.0)
    out, _ = run_tracker(0.0, hidden, cfg)
    assert len(middle_ids(out)) == 1
    out, _ = run_tracker(0.0, hidden, TrackerConfig())
    assert len(middle_ids(out)) == 2
    # On a camera moving forward the judgement is never confident: the short buffer.
    tracker = ByteTracker(cfg)
    for meta, d in frames(0.2, (3.0, 6.0)):
        tracker.update(d, meta.pts_s)
        assert not tracker.camera_confident and tracker.lost_buffer_s == cfg.lost_buffer_s


def test_offline_the_smoothers_longer_gap_applies_only_while_confident():
    hidden = (3.0, 5.5)  # the tracker gives the person up after 2 s; the gap is 2.5 s
    smooth = SmoothingConfig(still_max_gap_s=3.0)
    confident = TrackerConfig(still_confident_fraction=0.8)
    assert lane_ids(hidden, confident, smooth) == 1
    assert lane_ids(hidden, TrackerConfig(), smooth) == 2  # never confident
    assert lane_ids(hidden, confident, SmoothingConfig()) == 2  # max_gap_s 1.5


def test_the_smoothers_still_gap_must_fit_the_lookahead():
    import pytest
    with pytest.raises(ValueError, match="still_max_gap_s"):
        SmoothingConfig(lookahead_s=3.0, still_max_gap_s=4.0)
    assert SmoothingConfig(still_max_gap_s=1.0).still_gap_s == 1.5  # never below max_gap_s


def test_growth_only_counts_people_shrinking_together_as_calm():
    plain, growth_only = judge(), StillCameraJudge(3.0, 0.1, 2, 3, growth_only=True)
    for k in range(30):  # everyone walks away from the camera
        plain.observe(k / FPS, np.full(3, -0.3))
        growth_only.observe(k / FPS, np.full(3, -0.3))
    assert growth_only.still and not plain.still
