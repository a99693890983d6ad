"""The calibration pieces of the identity benchmark's detection model: recall against a
neighbour, extra boxes that keep their shape while they last, persistent false boxes and
the temporal statistics the calibration compares. Synthetic inputs only (no Ray, no model,
no ../shared data)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.detsim import hold_per_episode, miss_runs_s, prepare, simulate
from benchmarks.detsim_fit import fit
from benchmarks.detsim_model import BackgroundModel, ScoreModel, motion_clock
from benchmarks.detsim_obs import _Chains, concat, observe
from benchmarks.detsim_stats import next_frame_pairs, temporal_summary
from benchmarks.detsim_views import Clip, FullFrameView
from benchmarks.evaluation import MotSequence
from tests.unit.test_identity_benchmark import THRESHOLD, known_model

VIEW = FullFrameView(300 / 640, 300 / 480)


def walkers(frames: int, gap_px: float, people: int = 2) -> Clip:
    """``people`` people side by side, ``gap_px`` apart (80 px wide: IoU > 0 below 80),
    walking right at 1 px a frame, 25 fps; bottoms level (nobody in front)."""
    f = np.repeat(np.arange(1, frames + 1), people)
    ids = np.tile(np.arange(1, people + 1), frames)
    x = 100.0 + (ids - 1) * gap_px + np.repeat(np.arange(frames), people)
    tlwh = np.stack([x, np.full(len(f), 100.0), np.full(len(f), 80.0),
                     np.full(len(f), 200.0)], 1)
    return Clip("walkers", MotSequence(f, ids, tlwh, np.ones(len(f)), frames),
                np.arange(frames) / 25.0, 640, 480)


def test_prepare_measures_the_largest_iou_with_another_person():
    near, apart = prepare(walkers(5, 40.0), VIEW), prepare(walkers(5, 200.0), VIEW)
    assert near.neighbour_iou == pytest.approx(np.full(10, 1 / 3))  # 40/120 overlap
    assert (apart.neighbour_iou == 0).all()
    assert (near.visible == 1).all()  # level bottoms: nobody in front


def test_fit_recovers_how_a_neighbour_lowers_recall():
    """People walking close (IoU 1/3) are detected less than people apart, by a known
    coefficient, at the same size and visibility."""
    truth = known_model(nms_iou=1.0, score=dataclasses.replace(known_model().score,
                                                               neighbour=-3.0))
    parts = []
    for gap in (40.0, 200.0, 60.0):
        clip = walkers(150, gap, people=3)
        feats = prepare(clip, VIEW)
        parts += [observe(clip, simulate(truth, feats, s), VIEW, THRESHOLD, scene=feats)
                  for s in range(4)]
    fitted = fit(concat(parts), THRESHOLD, (300, 300, "plain"), "synthetic")
    assert fitted.score.neighbour == pytest.approx(-3.0, abs=1.0)
    h, sq, vis = np.full(2, 94.0), np.full(2, 0.75), np.ones(2)
    nb = np.array([0.0, 1 / 3])
    want = truth.score.recall(h, sq, vis, truth.ranges, THRESHOLD, nb)
    got = fitted.score.recall(h, sq, vis, fitted.ranges, THRESHOLD, nb)
    # how much a neighbour costs (the level itself varies with the few people's slow
    # latents)
    assert got[0] - got[1] == pytest.approx(want[0] - want[1], abs=0.08), (got, want)
    assert want[1] < want[0] - 0.15  # the effect is there to recover


def edge_standers(frames: int) -> Clip:
    """Three people, 80 x 200 px, apart: one whose label ends at the frame's left edge,
    one whose label reaches 40 px beyond the right edge (its visible share says so), one
    in the middle; 25 fps."""
    f = np.repeat(np.arange(1, frames + 1), 3)
    ids = np.tile(np.arange(1, 4), frames)
    x = np.tile([0.0, 600.0, 280.0], frames)
    tlwh = np.stack([x, np.full(len(f), 100.0), np.full(len(f), 80.0),
                     np.full(len(f), 200.0)], 1)
    return Clip("edge", MotSequence(f, ids, tlwh, np.ones(len(f)), frames),
                np.arange(frames) / 25.0, 640, 480)


def test_prepare_marks_labels_that_end_at_the_frame_side():
    feats = prepare(edge_standers(4), VIEW)
    # the label stopping at the edge is cut; one reaching beyond it is not (visible counts
    # the part outside), nor one in the middle
    assert feats.cut.reshape(4, 3).tolist() == [[1.0, 0.0, 0.0]] * 4
    assert feats.visible.reshape(4, 3)[0] == pytest.approx([1.0, 0.5, 1.0])


def test_fit_recovers_how_a_cut_label_lowers_recall():
    """A person whose label ends at the frame's side is detected less than one in the
    middle at the same size and visibility, by a known coefficient."""
    truth = known_model(nms_iou=1.0, score=dataclasses.replace(known_model().score, cut=-3.0))
    clip = edge_standers(200)
    feats = prepare(clip, VIEW)
    fitted = fit(concat([observe(clip, simulate(truth, feats, s), VIEW, THRESHOLD, scene=feats)
                         for s in range(6)]), THRESHOLD, (300, 300, "plain"), "synthetic")
    assert fitted.score.cut == pytest.approx(-3.0, abs=1.0)
    args = (np.full(2, 125.0), np.full(2, 0.75), np.ones(2))
    cut = np.array([0.0, 1.0])
    want = truth.score.recall(*args, truth.ranges, THRESHOLD, None, cut)
    got = fitted.score.recall(*args, fitted.ranges, THRESHOLD, None, cut)
    assert got[0] - got[1] == pytest.approx(want[0] - want[1], abs=0.1), (got, want)
    assert want[1] < want[0] - 0.3  # the effect is there to recover
    hit = observe(clip, simulate(truth, feats, 99), VIEW, THRESHOLD,
                  scene=feats).hit.reshape(-1, 3)
    assert hit[:, 0].mean() < hit[:, 2].mean() - 0.2  # the simulator draws it


def still_and_walking(frames: int, fps: float = 25.0) -> Clip:
    """Two people 200 px tall, apart: one standing still, one walking right at one body
    height per second; ``fps`` frames a second."""
    f = np.repeat(np.arange(1, frames + 1), 2)
    ids = np.tile([1, 2], frames)
    t = np.repeat(np.arange(frames) / fps, 2)
    x = np.where(ids == 1, 40.0, 300.0 + 200.0 * t)
    tlwh = np.stack([x, np.full(len(f), 100.0), np.full(len(f), 80.0),
                     np.full(len(f), 200.0)], 1)
    return Clip("still", MotSequence(f, ids, tlwh, np.ones(len(f)), frames),
                np.arange(frames) / fps, 1280, 480)


def test_motion_clock_runs_with_body_heights_moved_at_any_frame_rate():
    clip = still_and_walking(75)
    feats = prepare(clip, VIEW)
    assert feats.speed.reshape(-1, 2).mean(axis=0) == pytest.approx([0.0, 1.0])
    clock = motion_clock(feats.group, feats.time_s, feats.speed, 4.0).reshape(-1, 2)
    # still: media time; walking: 1 + 4 s per second
    assert clock[-1] == pytest.approx([74 / 25, 5 * 74 / 25])
    sub = prepare(clip.every(3), VIEW)
    sub_clock = motion_clock(sub.group, sub.time_s, sub.speed, 4.0).reshape(-1, 2)
    assert sub_clock == pytest.approx(clock[::3])


def test_fit_tells_a_motion_clock_from_media_time():
    """Misses of someone standing still last, of someone walking past they flicker, when
    the latent's clock runs with motion; the fit finds that clock, and none where misses
    last alike."""
    clip = still_and_walking(200)
    feats = prepare(clip, VIEW)
    base = dataclasses.replace(known_model().score, timescales=((1.0, 1.0),))
    got = {}
    for k in (0.0, 8.0):
        truth = known_model(nms_iou=1.0, score=dataclasses.replace(base, clock_s_per_height=k))
        obs = concat([observe(clip, simulate(truth, feats, s), VIEW, THRESHOLD, scene=feats)
                      for s in range(6)])
        got[k] = fit(obs, THRESHOLD, (300, 300, "plain"), "synthetic").score.clock_s_per_height
        if k:
            runs = [miss_runs_s(obs.group[obs.group % 2 == g], obs.time_s[obs.group % 2 == g],
                                obs.hit[obs.group % 2 == g]) for g in (0, 1)]
            assert runs[0].mean() > 2 * runs[1].mean()  # the still one's misses last
    assert got[0.0] <= 2.0 and 4.0 <= got[8.0] <= 16.0, got


def test_hold_per_episode_keeps_the_first_value_while_the_event_lasts():
    groups = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    times = np.array([0.0, 0.04, 0.08, 0.12, 0.16, 0.0, 0.04, 0.08])
    event = np.array([1, 1, 0, 1, 1, 1, 1, 1], np.bool_)
    u = np.arange(8) / 10.0
    got = hold_per_episode(groups, times, event, u)
    assert got.tolist() == pytest.approx([0.0, 0.0, 0.2, 0.3, 0.3, 0.5, 0.5, 0.5])
    # rows given out of time order: the episode still starts at the earliest row
    perm = np.array([4, 2, 0, 7, 1, 3, 6, 5])
    assert hold_per_episode(groups[perm], times[perm], event[perm], u[perm]) == \
        pytest.approx(got[perm])


def test_simulated_extra_boxes_persist_as_the_tracker_sees_them():
    """An extra box next to a person lasts several frames at one shape: most of them are
    persistent false boxes (chains of 3+ frames)."""
    pool = np.array([[dx, 0.0, dlw, dlh, 0.6] for dx, dlw, dlh in
                     ((-0.9, 0.3, -0.3), (-0.6, -0.3, 0.2), (0.6, 0.2, -0.2),
                      (0.9, -0.2, 0.3), (-0.75, 0.0, 0.0), (0.75, 0.1, 0.1))])
    extra = dataclasses.replace(known_model().extra, beta=(-1.4, 0.0, 0.0, 0.0, 0.0),
                                timescales=((0.9, 0.5),), pool=pool)
    model = known_model(nms_iou=1.0, extra=extra,
                        score=ScoreModel((8.0,) + (0.0,) * 9, 1.0, ()),
                        background=BackgroundModel(0.0, 1.0, np.zeros((0, 2)), np.zeros(0)))
    clip = walkers(200, 300.0)
    feats = prepare(clip, VIEW)
    obs = [observe(clip, simulate(model, feats, s), VIEW, THRESHOLD, scene=feats)
           for s in range(4)]
    false = sum(o.false_boxes for o in obs)
    assert false > 50
    share = sum(o.false_persistent for o in obs) / false
    assert share > 0.6, share  # redrawn each frame: about 0.48


def test_chains_count_only_false_boxes_seen_three_frames_running():
    chains = _Chains()
    still = np.array([[10.0, 10.0, 50.0, 110.0]])
    flicker = np.array([[300.0, 10.0, 340.0, 110.0]])
    for k in range(4):
        chains.step(np.concatenate([still, flicker]) if k == 1 else still)
    chains.step(np.zeros((0, 4)))
    chains.step(still)  # a new chain of one
    assert chains.persistent() == 4


def test_temporal_summary_reads_miss_runs_and_error_steps():
    """A person missed in runs of 4 frames of every 8, with box errors drifting by a known
    step: the summary reads P(miss after miss) = 3/4 and the step."""
    clip = walkers(400, 300.0, people=1)
    feats = prepare(clip, VIEW)
    dets = simulate(known_model(nms_iou=1.0, score=ScoreModel((8.0,) + (0.0,) * 9, 1.0, ()),
                                extra=dataclasses.replace(known_model().extra,
                                                          pool=np.zeros((0, 5))),
                                background=BackgroundModel(0.0, 1.0, np.zeros((0, 2)),
                                                           np.zeros(0))), feats, 0)
    kept = [d if f % 8 < 4 else dataclasses.replace(d, boxes=d.boxes[:0], scores=d.scores[:0],
                                                    class_ids=d.class_ids[:0])
            for f, d in enumerate(dets)]
    stats = temporal_summary(observe(clip, kept, VIEW, THRESHOLD, scene=feats))
    assert stats["p_miss_after_miss"] == pytest.approx(0.75, abs=0.01)
    assert 0 < stats["error_step_median"]["dcx"] < 0.2


def test_next_frame_pairs_link_each_person_to_its_next_frame():
    group = np.array([1, 0, 0, 1, 0])
    frame = np.array([5, 2, 3, 6, 5])
    a, b = next_frame_pairs(group, frame)
    assert sorted(zip(a.tolist(), b.tolist())) == [(0, 3), (1, 2)]


def test_residuals_report_in_sample_and_leave_one_out_apart():
    from benchmarks.identity_calibration import residuals

    def row(condition: str, diffs: dict[str, float]) -> dict:
        return {"condition": condition,
                "hota": {n: {"real": 50.0, "sim": 50.0 + d, "diff": d}
                         for n, d in diffs.items()}}

    rows = [row("TUD-Campus/full_frame/1x1/every1", {"a": -4.0, "b": 1.0}),
            row("TUD-Stadtmitte/full_frame/1x1/every3", {"a": 2.0, "b": 3.5}),
            row("TUD-Campus/tiled/1x1/every1", {"a": 0.5, "b": -0.5}),
            row("TUD-Campus/full_frame/1x1/every1/leave_one_out", {"a": -9.0, "b": 2.0}),
            row("TUD-Campus/own_fit/full_frame/1x1", {"a": 6.0, "b": 2.0})]
    got = residuals(rows)
    assert got["in_sample_full_frame"]["max_abs_diff_points"] == 4.0
    assert got["in_sample_full_frame"]["where"] == "TUD-Campus/full_frame/1x1/every1:a"
    assert got["in_sample_full_frame"]["mean_diff_points"] == pytest.approx(0.6, abs=0.05)
    assert got["in_sample_tiled"]["max_abs_diff_points"] == 0.5
    assert got["leave_one_out_full_frame"]["max_abs_diff_points"] == 9.0
    assert got["leave_one_out_full_frame"]["signed"] == -9.0
    assert got["own_fit_full_frame"]["max_abs_diff_points"] == 6.0
