"""The calibration ablation's swapping of detection parts (benchmarks/identity_ablation.py):
found and false boxes split against the labelled people, and hybrids that take exactly one
part from each side. No Ray, no model, no ../shared data."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.detsim_views import Clip
from benchmarks.evaluation import MotSequence
from benchmarks.identity_ablation import (
    FIXED_SCORE,
    HYBRIDS,
    Split,
    hybrids,
    split_frame,
)
from pipeline.types import Detections

# Two labelled people in each of two frames.
TRUTH = np.array([[0, 0, 10, 40], [30, 0, 40, 40]], np.float64)


def dets(boxes: list[list[float]], scores: list[float]) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4),
                      np.array(scores, np.float32), np.ones(len(scores), np.int16))


def clip() -> Clip:
    rows = [(f, pid, *TRUTH[pid - 1]) for f in (1, 2) for pid in (1, 2)]
    frames = np.array([r[0] for r in rows])
    ids = np.array([r[1] for r in rows])
    b = np.array([r[2:] for r in rows], np.float64)
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)
    truth = MotSequence(frames, ids, xywh, np.ones(len(rows)), num_frames=2)
    return Clip("toy", truth, np.array([0.0, 0.04]), 100, 60)


# Real: frame 1 finds person 1 (shifted) and has a false box; frame 2 finds both.
REAL = [dets([[1, 0, 11, 40], [70, 0, 80, 30]], [0.8, 0.6]),
        dets([[0, 1, 10, 41], [30, 0, 40, 42]], [0.7, 0.5])]
# Simulated: frame 1 finds person 2; frame 2 finds nobody and has a false box.
SIM = [dets([[31, 0, 41, 40]], [0.9]), dets([[50, 10, 60, 40]], [0.45])]


def test_split_separates_found_and_false_boxes_one_to_one():
    s = split_frame(TRUTH, REAL[0])
    assert s.rows.tolist() == [0] and s.found.tolist() == [0] and s.false.tolist() == [1]
    # Two boxes on one person: only one finds them, the other is false.
    two = dets([[0, 0, 10, 40], [0, 0, 10, 38]], [0.9, 0.8])
    s = split_frame(TRUTH, two)
    assert len(s.found) == 1 and len(s.false) == 1
    assert split_frame(TRUTH, dets([], [])).false.tolist() == []


def test_hybrids_take_each_part_from_the_named_side():
    c = clip()
    h = hybrids(c, Split(c, REAL), Split(c, SIM))
    assert set(h) == set(HYBRIDS)
    real_side, sim_side = h["as is"]
    assert real_side is not sim_side and sim_side[0].boxes.tolist() == SIM[0].boxes.tolist()
    # Simulated found boxes plus the real false one.
    _, s = h["sim with real false"]
    assert sorted(s[0].boxes[:, 0].tolist()) == [31, 70] and s[1].boxes[:, 0].tolist() == []
    # Real found boxes plus the simulated false one.
    _, s = h["sim with real found"]
    assert s[0].boxes[:, 0].tolist() == [1] and sorted(s[1].boxes[:, 0].tolist()) == [0, 30, 50]
    # Found only: no false box on either side, scores by descending order.
    r, s = h["found only"]
    assert r[0].boxes[:, 0].tolist() == [1] and s[1].boxes.shape == (0, 4)
    assert r[1].scores.tolist() == sorted(r[1].scores.tolist(), reverse=True)
    # True boxes: the labelled box of whoever was found, the detection's score.
    r, s = h["found only, true boxes"]
    assert r[0].boxes.tolist() == [TRUTH[0].tolist()] and s[0].boxes.tolist() == [TRUTH[1].tolist()]
    assert np.allclose(r[0].scores, [0.8])
    r, s = h["found only, true boxes, score 0.9"]
    assert np.allclose(r[1].scores, FIXED_SCORE) and np.allclose(s[0].scores, FIXED_SCORE)


# --------------------------------------------------------------------------- static goals


def test_line_counts_are_judged_against_at_least_ten_crossings():
    from benchmarks.scene_analytics import count_error

    assert count_error(2, 1) == pytest.approx(0.1)  # one off with one true crossing
    assert count_error(0, 3) == pytest.approx(0.3)
    assert count_error(18, 20) == pytest.approx(0.1)  # relative from ten up
    assert count_error(5, 0) == pytest.approx(0.5)


def _report(seq: str, ids: float, visits_err: float, line_count: float, line_raw: float):
    tracker = {"ids": ids,
               "analytics_error_mean": {"zone.visits": visits_err, "zone.mean_dwell_s": 0.1,
                                        "head_on.in": line_raw, "along.out": 0.0},
               "line_count_error_mean": {"head_on.in": line_count, "along.out": 0.0}}
    return {"sequence": seq, "truth_ids": 10,
            "variants": {"own": {"trackers": {"panoray_offline": tracker}}}}


def test_static_goals_give_worst_mean_and_the_raw_line_error():
    from benchmarks.identity_report import analytics_goals

    g = analytics_goals([_report("ADL-Rundle-6", 12, 0.1, 0.1, 1.0),
                         _report("Venice-2", 20, 0.3, 0.05, 0.5),
                         _report("ETH-Bahnhof", 99, 0.9, 0.9, 0.9)])  # not static: ignored
    assert g["static.ids_ratio"]["value"] == pytest.approx(2.0)
    assert g["static.ids_ratio"]["worst"] == "Venice-2/own"
    assert g["static.ids_ratio"]["mean"] == pytest.approx(1.6)
    assert g["static.zone_visits"]["value"] == pytest.approx(0.3)
    line = g["static.line_direction"]
    assert line["value"] == pytest.approx(0.1) and line["met"]
    assert line["raw_worst"] == pytest.approx(1.0)
    assert line["raw_worst_where"] == "ADL-Rundle-6/own:head_on.in"
    assert "static.line_direction_raw" not in g


def test_ablate_needs_calibration_only(capsys):
    from benchmarks import identity

    with pytest.raises(SystemExit):
        identity.main(["--ablate"])
    assert "--ablate needs --calibration-only" in capsys.readouterr().err
