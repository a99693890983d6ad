"""The ByteTrack-class tracker core, its Kalman filter, assignment and multi-camera host.

No Ray. Scenarios are synthetic (exact expectations) plus a regression on real ground
truth: TUD-Campus and TUD-Stadtmitte as shipped in the ``motmetrics`` package, perturbed
with :func:`benchmarks.perturb.perturb`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks.evaluation import evaluate, read_mot
from benchmarks.perturb import perturb, track_frames
from pipeline.boxes import iou_matrix
from pipeline.errors import ConfigError, InputError
from pipeline.tracking import ByteTracker, CameraLane, SmoothingConfig, TrackerConfig
from pipeline.tracking.association import assign
from pipeline.tracking.kalman import BoxKalman, boxes_xyxy, xyxy_to_cxcywh
from pipeline.types import Detections, FrameMeta, Tracks

FPS = 25.0


def dets(boxes, scores=None, classes=None) -> Detections:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    n = len(boxes)
    scores = np.full(n, 0.9, np.float32) if scores is None else np.asarray(scores, np.float32)
    classes = np.zeros(n, np.int16) if classes is None else np.asarray(classes, np.int16)
    return Detections(boxes, scores, classes)


def person(x: float, y: float = 100.0, w: float = 40.0, h: float = 100.0) -> list[float]:
    return [x, y, x + w, y + h]


def ids_of(tracks: Tracks) -> list[int]:
    return tracks.track_ids.tolist()


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"low_score": 0.6, "high_score": 0.5}, "low_score (0.6) must not exceed high_score"),
        ({"new_track_score": 0.4}, "new_track_score (0.4) must be at least high_score (0.5)"),
        ({"min_hits": 0}, "greater than or equal to 1"),
        ({"lost_buffer_s": -1.0}, "greater than or equal to 0"),
        ({"match_iou": 0.0}, "greater than 0"),
        ({"lost_buffer_frames": 30}, "Extra inputs are not permitted"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrackerConfig(**kwargs)


def test_config_fields_are_documented():
    for name, field in TrackerConfig.model_fields.items():
        assert field.description and len(field.description) > 20, name


# ----------------------------------------------------------------------------- basics


def test_empty_frames_give_empty_tracks():
    tracker = ByteTracker()
    for k in range(5):
        out = tracker.update(Detections.empty(), k / FPS)
        assert isinstance(out, Tracks) and len(out) == 0
        assert out.track_ids.dtype == np.int64
    stats = tracker.stats()
    assert (stats.updates, stats.live_tracks, stats.tracks_confirmed) == (5, 0, 0)


def test_one_object_keeps_id_1_and_outputs_detected_boxes():
    tracker = ByteTracker()
    outputs = []
    for k in range(30):
        box = person(10 + 4 * k + (k % 3))  # walking right, a little detector jitter
        out = tracker.update(dets([box]), k / FPS)
        outputs.append(out)
        if k >= 1:  # confirmed on its second hit (min_hits=2)
            assert ids_of(out) == [1]
            np.testing.assert_array_equal(out.boxes[0], np.float32(box))  # not smoothed
    assert len(outputs[0]) == 0
    assert tracker.stats().tracks_confirmed == 1


def test_min_hits_1_confirms_on_first_detection():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    assert ids_of(tracker.update(dets([person(0)]), 0.0)) == [1]


def test_ids_are_per_instance_and_never_reused():
    a, b = ByteTracker(TrackerConfig(min_hits=1)), ByteTracker(TrackerConfig(min_hits=1))
    assert ids_of(a.update(dets([person(0), person(300)]), 0.0)) == [1, 2]
    assert ids_of(b.update(dets([person(0)]), 0.0)) == [1]  # no shared counter
    # Both of a's objects leave for longer than the lost buffer; new ones get new ids.
    a.update(Detections.empty(), 0.5)
    a.update(Detections.empty(), 2.0)
    assert sorted(a.removed_ids.tolist()) == [1, 2]
    assert ids_of(a.update(dets([person(0)]), 2.04)) == [3]


def test_output_rows_follow_input_order():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    tracker.update(dets([person(0), person(200), person(400)]), 0.0)
    out = tracker.update(dets([person(401), person(1), person(201)]), 0.04)
    assert ids_of(out) == [3, 1, 2]
    assert out.boxes[:, 0].tolist() == [401, 1, 201]


def test_rejects_non_detections_input():
    with pytest.raises(InputError, match="detections must be a pipeline.types.Detections, "
                                         "got ndarray"):
        ByteTracker().update(np.zeros((1, 4)), 0.0)


# ----------------------------------------------------------------------------- media time


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (1.0, 0.5, r"pts_s went backwards: 0.5 s after 1.0 s; updates must come in "
                   r"media-time order \(call reset\(\) after a seek"),
        (0.0, float("nan"), "pts_s must be finite, got nan"),
        (0.0, float("inf"), "pts_s must be finite, got inf"),
        (0.0, "soon", "pts_s must be a number of media seconds, got str"),
    ],
)
def test_bad_media_time_raises(first, second, message):
    tracker = ByteTracker()
    tracker.update(dets([person(0)]), first)
    with pytest.raises(InputError, match=message) as err:
        tracker.update(dets([person(0)]), second)
    assert err.value.field == "pts_s"
    assert tracker.stats().last_pts_s == first  # state untouched by the bad call


def test_repeated_timestamp_is_accepted():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    tracker.update(dets([person(0)]), 1.0)
    assert ids_of(tracker.update(dets([person(0)]), 1.0)) == [1]


def test_dropped_frames_keep_ids_because_prediction_uses_elapsed_time():
    # 15 px per frame, boxes 40 px wide: after 4 skipped frames the person is 1.5 box
    # widths away from the last detection (IoU 0), but where the motion model predicts.
    tracker = ByteTracker()
    speed = 15.0
    for k in range(10):
        tracker.update(dets([person(speed * k)]), k / FPS)
    for k in range(10, 60, 5):  # only every 5th frame arrives from now on
        out = tracker.update(dets([person(speed * k)]), k / FPS)
        assert ids_of(out) == [1], f"frame {k}"
    last, prev = person(speed * 55), person(speed * 50)
    assert iou_matrix(np.array([last]), np.array([prev]))[0, 0] == 0.0


# ----------------------------------------------------------------------------- lost buffer


@pytest.mark.parametrize("frames_in_gap", [True, False], ids=["empty-frames", "no-frames"])
@pytest.mark.parametrize(
    ("gap_s", "same_id"),
    [(0.4, True), (0.96, True), (1.0, True), (1.2, False), (5.0, False)],
)
def test_lost_buffer_in_media_seconds(gap_s, same_id, frames_in_gap):
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=1.0))
    for k in range(10):  # standing still, last seen at frame 9
        tracker.update(dets([person(100)]), k / FPS)
    last_seen = 9 / FPS
    back = 9 + round(gap_s * FPS)
    removed = []
    if frames_in_gap:
        for k in range(10, back):
            tracker.update(Detections.empty(), k / FPS)
            removed += tracker.removed_ids.tolist()
    out = tracker.update(dets([person(100)]), back / FPS)
    removed += tracker.removed_ids.tolist()
    assert math.isclose(back / FPS - last_seen, gap_s, abs_tol=1e-9)
    if same_id:
        assert tracker.update(dets([person(100)]), (back + 1) / FPS).track_ids.tolist() == [1]
        assert removed == []
    else:
        assert len(out) == 0  # a new, tentative track
        assert ids_of(tracker.update(dets([person(100)]), (back + 1) / FPS)) == [2]
        assert removed == [1]


def test_state_stays_bounded_as_people_come_and_go():
    tracker = ByteTracker(TrackerConfig(lost_buffer_s=0.5, still_lost_buffer_s=None))
    removed = most_live = 0
    for k in range(2000):  # 80 s: person i enters at frame 10 i and walks for 2 s
        boxes = [person(4.0 * (k - 10 * i), y=120.0 * (i % 4))
                 for i in range(max(0, k // 10 - 4), k // 10 + 1)]
        tracker.update(dets(boxes), k / FPS)
        removed += len(tracker.removed_ids)
        most_live = max(most_live, tracker.stats().live_tracks)
    stats = tracker.stats()
    assert stats.tracks_confirmed == 200
    assert most_live <= 7  # 5 visible + at most 2 coasting through their 0.5 s buffer
    assert stats.tracks_removed == removed == stats.tracks_confirmed - stats.live_confirmed


def test_reset_drops_tracks_keeps_counting_ids():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    tracker.update(dets([person(0), person(200)]), 10.0)
    tracker.reset()
    assert sorted(tracker.removed_ids.tolist()) == [1, 2]
    assert tracker.stats().live_tracks == 0
    # The clock is reset too: an earlier time is fine now; ids continue.
    assert ids_of(tracker.update(dets([person(0)]), 0.0)) == [3]


def test_max_tracks_refuses_births_and_counts_them():
    tracker = ByteTracker(TrackerConfig(max_tracks=3, min_hits=1))
    out = tracker.update(dets([person(100 * i) for i in range(5)],
                              scores=[0.6, 0.9, 0.7, 0.95, 0.8]), 0.0)
    assert out.scores.tolist() == pytest.approx([0.9, 0.95, 0.8])  # the best three
    assert tracker.stats().births_refused == 2
    assert tracker.stats().live_tracks == 3


# ----------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "bad",
    [
        [np.nan, 100, 40, 200],
        [0, 100, np.inf, 200],
        [10, 100, 10, 200],  # zero width
        [0, 200, 40, 100],  # negative height
    ],
    ids=["nan", "inf", "zero-width", "negative-height"],
)
def test_invalid_boxes_are_rejected_and_counted(bad):
    tracker = ByteTracker()
    for k in range(5):
        out = tracker.update(dets([bad, person(300)]), k / FPS)
    assert ids_of(out) == [1]
    np.testing.assert_array_equal(out.boxes[0], np.float32(person(300)))
    assert tracker.stats().rejected == 5


def test_nan_score_is_rejected():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    out = tracker.update(dets([person(0), person(300)], scores=[np.nan, 0.9]), 0.0)
    assert out.boxes[:, 0].tolist() == [300]
    assert tracker.stats().rejected == 1


# ----------------------------------------------------------------------------- association


def test_low_score_detections_keep_a_track_but_do_not_start_one():
    tracker = ByteTracker()
    for k in range(3):
        tracker.update(dets([person(4 * k)], scores=[0.9]), k / FPS)
    for k in range(3, 20):  # becoming occluded: the detector is unsure
        out = tracker.update(dets([person(4 * k)], scores=[0.2]), k / FPS)
        assert ids_of(out) == [1]
    fresh = ByteTracker()
    for k in range(10):
        assert len(fresh.update(dets([person(0)], scores=[0.3]), k / FPS)) == 0
    assert fresh.stats().live_tracks == 0


def test_class_aware_matching():
    tracker = ByteTracker(TrackerConfig(min_hits=1))
    tracker.update(dets([person(0)], classes=[0]), 0.0)
    out = tracker.update(dets([person(0)], classes=[1]), 0.04)
    assert ids_of(out) == [2]
    agnostic = ByteTracker(TrackerConfig(min_hits=1, class_aware=False))
    agnostic.update(dets([person(0)], classes=[0]), 0.0)
    assert ids_of(agnostic.update(dets([person(0)], classes=[1]), 0.04)) == [1]


def test_a_track_never_switches_class():
    # Even matched across classes (class_aware off), a track keeps its first class, and
    # with class_aware each class's detections stay on their own tracks.
    for class_aware in (False, True):
        tracker = ByteTracker(TrackerConfig(min_hits=1, class_aware=class_aware))
        classes: dict[int, set[int]] = {}
        for k in range(6):
            out = tracker.update(dets([person(0)], classes=[k % 2]), k / FPS)
            for tid, c in zip(out.track_ids.tolist(), out.class_ids.tolist()):
                classes.setdefault(tid, set()).add(c)
        assert all(len(c) == 1 for c in classes.values()), classes
        assert len(classes) == (2 if class_aware else 1)


def test_two_people_crossing_keep_their_ids():
    # A walks right, B walks left and passes in front of A; while A is mostly hidden
    # the detector misses it, and A's track coasts on its motion model.
    tracker = ByteTracker()
    seen: dict[str, set[int]] = {"A": set(), "B": set()}
    for k in range(60):
        a, b = person(100 + 6 * k, y=100), person(460 - 6 * k, y=110)
        hidden = iou_matrix(np.array([a]), np.array([b]))[0, 0] > 0.3
        boxes = [b] if hidden else [a, b]
        out = tracker.update(dets(boxes), k / FPS)
        for box, tid in zip(out.boxes, out.track_ids):
            seen["A" if np.allclose(box, a) else "B"].add(int(tid))
    assert seen == {"A": {1}, "B": {2}}


@pytest.mark.parametrize(
    ("sim", "min_iou", "expected"),
    [
        ([[0.9, 0.8], [0.85, 0.1]], 0.3, [(0, 1), (1, 0)]),  # best total, not greedy
        ([[0.9, 0.0], [0.0, 0.2]], 0.3, [(0, 0)]),  # below threshold never matched
        ([[0.5], [0.6], [0.4]], 0.3, [(1, 0)]),
        ([[0.3, 0.31]], 0.3, [(0, 1)]),
        (np.zeros((0, 3)), 0.3, []),
    ],
)
def test_assign_table(sim, min_iou, expected):
    rows, cols = assign(np.asarray(sim, np.float64), min_iou)
    assert list(zip(rows.tolist(), cols.tolist())) == expected


def test_iou_matrix_values():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 10]], np.float32)  # second has no area
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 0.0], [0.0, 0.0]])


# ----------------------------------------------------------------------------- kalman


def _reference_kalman(kf: BoxKalman, box0, steps, innovations=None):
    """The plain 8x8 textbook filter with the same model, for comparison; appends each
    step's normalised innovation (y_i^2 / S_ii) to ``innovations`` if given."""
    z0 = xyxy_to_cxcywh(np.array([box0]))[0]
    x = np.concatenate([z0, np.zeros(4)])
    s = np.array([z0[2], z0[3], z0[2], z0[3]])
    p = np.diag(np.concatenate([4 * kf.measurement_var * s**2, kf.initial_velocity_var * s**2]))
    h = np.hstack([np.eye(4), np.zeros((4, 4))])
    for dt, box in steps:
        f = np.eye(8)
        f[:4, 4:] = dt * np.eye(4)
        x = f @ x
        s = np.array([x[2], x[3], x[2], x[3]])
        q = np.diag(np.concatenate([kf.position_var_rate * s**2 * dt,
                                    kf.velocity_var_rate * kf.velocity_gain * s**2 * dt]))
        p = f @ p @ f.T + q
        r = np.diag(kf.measurement_var * s**2)
        innovation_cov = h @ p @ h.T + r
        k = p @ h.T @ np.linalg.inv(innovation_cov)
        y = xyxy_to_cxcywh(np.array([box]))[0] - h @ x
        if innovations is not None:
            innovations.append(y**2 / np.diag(innovation_cov))
        x = x + k @ y
        p = (np.eye(8) - k @ h) @ p
    return x, p


def test_kalman_equals_full_8x8_filter():
    kf = BoxKalman(measurement_std=0.05, position_noise=0.3, velocity_noise=1.0,
                   initial_velocity_std=1.0)
    steps = [(0.04, person(3)), (0.12, person(15, w=42)), (0.04, person(18, y=103)),
             (0.5, person(60))]
    pos, vel, cov = kf.initiate(np.array([person(0)], np.float32))
    for dt, box in steps:
        pos, cov = kf.predict(pos, vel, cov, dt)
        pos, vel, cov = kf.update(pos, vel, cov, np.array([box], np.float32))
    x, p = _reference_kalman(kf, person(0), steps)
    np.testing.assert_allclose(np.concatenate([pos[0], vel[0]]), x, rtol=1e-9)
    blocks = np.stack([np.diag(p[:4, :4]), np.diag(p[:4, 4:]), np.diag(p[4:, 4:])])
    np.testing.assert_allclose(cov[0], blocks, rtol=1e-9)
    off_diagonal = p[:4, :4] - np.diag(np.diag(p[:4, :4]))
    assert np.abs(off_diagonal).max() == 0.0  # coordinates really are independent


def test_kalman_velocity_gain_and_innovations_equal_the_full_filter():
    kf = BoxKalman(0.05, 0.3, 1.0, 1.0)
    kf.velocity_gain = np.array([9.0, 1.0, 1.0, 4.0])  # raised for cx and h only
    steps = [(0.1, person(8)), (0.1, person(30, w=41)), (0.3, person(45, y=104))]
    pos, vel, cov = kf.initiate(np.array([person(0)], np.float32))
    measured = []
    for dt, box in steps:
        pos, cov = kf.predict(pos, vel, cov, dt)
        pos, vel, cov, nis = kf.update_measured(pos, vel, cov, np.array([box], np.float32))
        measured.append(nis[0])
    expected = []
    x, p = _reference_kalman(kf, person(0), steps, expected)
    np.testing.assert_allclose(np.concatenate([pos[0], vel[0]]), x, rtol=1e-9)
    np.testing.assert_allclose(measured, expected, rtol=1e-9)
    assert min(m[0] for m in measured) > 0  # the person moved right of every prediction


def test_kalman_predicts_by_elapsed_time():
    kf = BoxKalman(0.05, 0.1, 0.3, 1.0)
    pos = xyxy_to_cxcywh(np.array([person(0)]))
    vel = np.array([[100.0, 0.0, 0.0, 0.0]])  # 100 px/s to the right
    cov = np.ones((1, 3, 4))
    moved, _ = kf.predict(pos, vel, cov, 0.2)
    np.testing.assert_allclose(boxes_xyxy(moved), [person(20)])


# ----------------------------------------------------------------------------- real gt


GT_DIR = Path(__import__("motmetrics").__file__).parent / "data"


# Measured with the default TrackerConfig on perturb(seed=0) (10% dropped, 5% jitter, 5%
# false positives, 25 fps): TUD-Campus HOTA 0.693 MOTA 0.783 IDF1 0.859 IDSW 0;
# TUD-Stadtmitte HOTA 0.691 MOTA 0.860 IDF1 0.862 IDSW 5. The input is fixed by the seed,
# so the result is deterministic; the floors sit about 3 points below the measurement.
# For scale, on the same input: this tracker with ByteTrack's original thresholds scores
# HOTA 0.555 / 0.597 (so losing the tuned association fails the test), Roboflow trackers
# 0.470 / 0.692, supervision 0.599 / 0.627. Across seeds 0..11 our HOTA ranges
# 0.64-0.73 (Campus) and 0.66-0.70 (Stadtmitte): seed 0 is a typical draw.
@pytest.mark.parametrize(
    ("sequence", "floors", "max_idsw"),
    [
        ("TUD-Campus", {"HOTA": 0.66, "MOTA": 0.75, "IDF1": 0.82}, 3),
        ("TUD-Stadtmitte", {"HOTA": 0.66, "MOTA": 0.83, "IDF1": 0.83}, 8),
    ],
)
def test_accuracy_on_perturbed_ground_truth(sequence, floors, max_idsw):
    gt = read_mot(GT_DIR / sequence / "gt.txt")
    frames = perturb(gt, seed=0, image_size=(640, 480))
    result = evaluate(gt, track_frames(ByteTracker().update, frames, FPS))
    for metric, floor in floors.items():
        assert result[metric] >= floor, f"{sequence} {metric} {result[metric]:.3f} < {floor}"
    assert result["IDSW"] <= max_idsw


# ----------------------------------------------------------------- one camera's lane


def meta(camera: str, index: int, pts_s: float | None = None, wall: float = 0.0) -> FrameMeta:
    return FrameMeta(camera, index, index / FPS if pts_s is None else pts_s, wall, 640, 480)


def step_ids(lane: CameraLane, index: int, boxes: list) -> list[list[int]]:
    """The track ids of the frames a lane releases for frame ``index``."""
    return [ids_of(f.tracks) for f in lane.step(meta(lane.camera_id, index), dets(boxes))]


def test_lanes_are_independent_and_report_their_stats():
    a, b = CameraLane("a", TrackerConfig(min_hits=1)), CameraLane("b", TrackerConfig(min_hits=1))
    assert step_ids(a, 0, [person(0), person(200)]) == [[1, 2]]
    assert step_ids(b, 0, [person(0)]) == [[1]]
    stats = a.stats()
    assert stats["tracks_confirmed"] == 2 and stats["last_frame_index"] == 0
    assert "smoothing" not in stats


def test_a_step_reports_the_removed_ids_with_its_frame():
    lane = CameraLane("a", TrackerConfig(min_hits=1, lost_buffer_s=0.1))
    lane.step(meta("a", 0), dets([person(0)]))
    [frame] = lane.step(meta("a", 10), Detections.empty())
    assert frame.removed_ids.tolist() == [1] and frame.meta.frame_index == 10


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda lane: lane.step(meta("a", 5), Detections.empty()), InputError,
         "camera 'a': frame_index 5 is not after the previous frame 5; frames must arrive "
         "in order per camera"),
        (lambda lane: lane.step(meta("a", 3), Detections.empty()), InputError,
         "camera 'a': frame_index 3 is not after the previous frame 5"),
        (lambda lane: lane.step(meta("b", 6), Detections.empty()), InputError,
         "camera 'a': frame belongs to camera 'b'"),
        (lambda lane: lane.step(meta("a", 6), None), InputError,
         "camera 'a': frame 6 has no detections"),
        (lambda lane: lane.step(meta("a", 6, pts_s=0.0), Detections.empty()),
         InputError, "camera 'a': pts_s went backwards: 0.0 s after 0.2 s"),
        (lambda lane: CameraLane(""), ConfigError, "camera_id must be a non-empty string"),
        (lambda lane: CameraLane("b", first_id=0), ConfigError,
         "camera 'b': first track id must be an integer >= 1"),
    ],
    ids=["same-frame", "older-frame", "other-camera", "no-detections", "time-backwards",
         "empty-id", "first-id"],
)
def test_lane_errors_name_the_camera(call, error, message):
    lane = CameraLane("a")
    lane.step(meta("a", 5), Detections.empty())
    with pytest.raises(error, match=re.escape(message)):
        call(lane)


def test_a_resumed_lane_continues_the_timeline_and_reports_the_dropped_ids():
    """A camera whose source actor was re-created numbers frames from 0 again: its frames
    go on after the last one, and the ids it had are removed with its next frame."""
    lane = CameraLane("a", TrackerConfig(min_hits=1))
    lane.step(meta("a", 40, wall=1000.0), dets([person(0)]))
    assert lane.resume().tolist() == [1]
    [frame] = lane.step(meta("a", 0, pts_s=0.0, wall=1010.0), dets([person(0)]))
    assert frame.meta.frame_index == 41 and frame.meta.pts_s == pytest.approx(40 / FPS + 10.0)
    assert ids_of(frame.tracks) == [2] and frame.removed_ids.tolist() == [1]
    [later] = lane.step(meta("a", 1, pts_s=0.04, wall=1010.04), dets([person(0)]))
    assert later.removed_ids.tolist() == [] and later.meta.frame_index == 42
    assert lane.source_frame_index == 1  # as the new actor numbered it: it goes on from it


def test_a_camera_added_again_continues_its_ids():
    """Removed and added again in one run (maybe on another tracker actor), a camera's
    ids continue from where they stopped: never reused within a run."""
    lane = CameraLane("a", TrackerConfig(min_hits=1))
    lane.step(meta("a", 0), dets([person(0), person(200)]))
    assert lane.next_id == 3 and sorted(lane.live_ids.tolist()) == [1, 2]
    again = CameraLane("a", TrackerConfig(min_hits=1), first_id=lane.next_id)
    assert step_ids(again, 0, [person(0)]) == [[3]]


def test_a_smoothing_lane_holds_frames_for_its_lookahead_and_flushes_them():
    lane = CameraLane("a", TrackerConfig(min_hits=1), SmoothingConfig(lookahead_s=0.2,
                                                                      max_gap_s=0.2))
    released = [len(lane.step(meta("a", k), dets([person(4 * k)]))) for k in range(10)]
    assert released == [0] * 5 + [1] * 5  # 0.2 s at 25 fps: five frames held
    held = lane.flush()
    assert [f.meta.frame_index for f in held] == [5, 6, 7, 8, 9]
    assert lane.stats()["smoothing"]["frames_out"] == 10
