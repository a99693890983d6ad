"""The accuracy audit's pure logic (banding, matching, crowding, occlusion, tallies,
mosaics) on synthetic boxes, and the benchmark's handling of absent data. No Ray, no model,
no ../shared data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import audit
from benchmarks.audit import format_table, mosaic, slug
from benchmarks.audit_measures import (
    covered_fraction,
    match,
    neighbours,
    read_visibility,
    visible_fraction,
    wilson,
)
from benchmarks.audit_tally import AuditSpec, AuditTally, Banding, Grid
from pipeline.errors import InputError

W, H = 640, 480


def person(x: float, bottom: float, height: float, width: float | None = None) -> list[float]:
    """A standing person's box, xyxy, centred on x with its feet at ``bottom``."""
    w = height * 0.4 if width is None else width
    return [x - w / 2, bottom - height, x + w / 2, bottom]


# ----------------------------------------------------------------------------- banding


@pytest.mark.parametrize(
    ("banding", "labels"),
    [
        (Banding((60, 100, 150)), ("<60", "60-100", "100-150", ">=150")),
        (Banding((1, 3), integer=True), ("0", "1-2", "3+")),
        (Banding((1, 2), integer=True), ("0", "1", "2+")),
        (Banding((0.25, 0.5, 0.75)), ("<0.25", "0.25-0.5", "0.5-0.75", ">=0.75")),
        (Banding((80,), labels=("small", "large")), ("small", "large")),
    ],
)
def test_band_labels(banding, labels):
    assert banding.labels == labels


def test_band_index_edges_belong_to_the_band_above_and_nan_to_none():
    b = Banding((60, 100, 150))
    assert b.index([0, 59.99, 60, 99.9, 100, 149, 150, 1e6, np.nan]).tolist() == [
        0, 0, 1, 1, 2, 2, 3, 3, -1]
    assert b.labels_from(100) == ("100-150", ">=150")
    assert b.labels_from(0) == ("60-100", "100-150", ">=150")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"edges": ()}, "band edges must be one or more increasing numbers, got ()"),
        ({"edges": (100, 60)}, "increasing numbers, got (100.0, 60.0)"),
        ({"edges": (60, 60)}, "increasing"),
        ({"edges": (60, np.inf)}, "band edges must be finite"),
        ({"edges": (60,), "labels": ("a",)}, "1 edges need 2 distinct labels, got ('a',)"),
        ({"edges": (60,), "labels": ("a", "a")}, "need 2 distinct labels"),
        ({"edges": (0.5,), "integer": True}, "count band edges must be whole numbers >= 1"),
    ],
)
def test_bad_bands_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(InputError) as exc:
        Banding(**kwargs)
    assert message in str(exc.value)


def test_grid_cells_follow_the_feet():
    g = Grid()
    boxes = [
        person(10, 100, 50),        # feet top-left
        person(320, 240, 200),      # middle-centre (head in the top row: does not matter)
        person(630, 479, 150),      # bottom-right
        person(700, 600, 150),      # outside the image: clipped into bottom-right
    ]
    labels = [g.labels[i] for i in g.index(boxes, W, H)]
    assert labels == ["top-left", "middle-centre", "bottom-right", "bottom-right"]
    assert Grid(columns=("l", "r"), rows=("far", "near")).labels == (
        "far-l", "far-r", "near-l", "near-r")


@pytest.mark.parametrize(("label", "name"), [("<60", "lt_60"), ("60-100", "60_100"),
                                             (">=150", "ge_150"), ("3+", "3_plus"),
                                             ("0.25-0.5", "0.25_0.5")])
def test_band_labels_as_goal_names(label, name):
    assert slug(label) == name


# ----------------------------------------------------------------------------- matching


def test_matching_is_hungarian_not_greedy():
    gt = np.array([[0, 0, 10, 10], [3, 0, 13, 10]], float)
    det = np.array([[1, 0, 11, 10],     # IoU 0.82 with gt 0, 0.67 with gt 1
                    [-2, 0, 8, 10]],    # IoU 0.67 with gt 0, 0.33 with gt 1
                   float)
    # Greedy takes (0, 0) first and leaves gt 1 unmatched; the optimum matches both.
    gi, di = match(gt, det)
    assert sorted(zip(gi.tolist(), di.tolist())) == [(0, 1), (1, 0)]


def test_matching_needs_iou_half():
    gt = np.array([[0, 0, 10, 10]], float)
    assert len(match(gt, np.array([[0, 0, 10, 19.9]]))[0]) == 1   # IoU 0.503
    assert len(match(gt, np.array([[0, 0, 10, 20.1]]))[0]) == 0   # IoU 0.498
    assert len(match(gt, np.zeros((0, 4)))[0]) == 0
    assert len(match(np.zeros((0, 4)), gt)[0]) == 0


# ----------------------------------------------------------------------------- crowding, occlusion


def test_neighbours_within_one_box_height_exclude_oneself():
    gt = np.array([person(100, 300, 100), person(150, 300, 100), person(199, 300, 100),
                   person(500, 300, 100)])
    # Centres 50 and 99 px apart (within 100), 400 px (not).
    assert neighbours(gt, gt, 1.0, same=True).tolist() == [2, 2, 2, 0]
    assert neighbours(gt, gt, 0.6, same=True).tolist() == [1, 2, 1, 0]
    # A false positive next to the group: every ground-truth person near it counts.
    fp = np.array([person(160, 300, 100)])
    assert neighbours(fp, gt, 1.0).tolist() == [3]
    assert neighbours(fp, np.zeros((0, 4)), 1.0).tolist() == [0]


def test_covered_fraction_is_the_union_of_the_covers():
    box = [0, 0, 10, 10]
    assert covered_fraction(box, np.zeros((0, 4))) == 0.0
    assert covered_fraction(box, [[5, 0, 20, 10]]) == pytest.approx(0.5)
    # Two covers overlapping each other: their union, not the sum.
    assert covered_fraction(box, [[5, 0, 20, 10], [0, 5, 20, 20]]) == pytest.approx(0.75)
    assert covered_fraction(box, [[-5, -5, 15, 15]]) == pytest.approx(1.0)
    assert covered_fraction(box, [[20, 20, 30, 30]]) == 0.0


def test_visibility_counts_only_the_people_in_front():
    back = person(100, 300, 100, width=40)        # feet at 300: farther away
    front = person(120, 350, 120, width=40)       # feet lower in the image: nearer
    vis = visible_fraction(np.array([back, front]))
    # The front box covers x 100..140 of the back box's 80..120 and y 230..300 of 200..300.
    assert vis[0] == pytest.approx(1 - (20 * 70) / (40 * 100))
    assert vis[1] == 1.0


def test_visibility_column_only_from_mot16_style_ground_truth(tmp_path):
    mot16 = tmp_path / "gt16.txt"
    mot16.write_text("1,1,10,10,20,50,1,1,0.25\n1,2,40,10,20,50,1,1,1.0\n2,1,11,10,20,50,1,1,0\n")
    assert read_visibility(mot16) == {(1, 1): 0.25, (1, 2): 1.0, (2, 1): 0.0}
    mot15 = tmp_path / "gt15.txt"  # fields 8-10 are world coordinates
    mot15.write_text("1,1,88,99,61.08,218.56,1,4.4852,5.5016,0\n")
    assert read_visibility(mot15) is None
    wrong = tmp_path / "other.txt"  # nine fields, but the ninth is no fraction
    wrong.write_text("1,1,10,10,20,50,1,4.5,5.5\n")
    assert read_visibility(wrong) is None


def test_real_mot15_ground_truth_has_no_visibility_column():
    gt = Path(pytest.importorskip("motmetrics").__file__).parent / "data" / "TUD-Campus" / "gt.txt"
    assert read_visibility(gt) is None


# ----------------------------------------------------------------------------- tallies


def one_frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four labelled people and three detections: two hits, one miss (small, in a
    group), one false positive (tall, alone), one miss of a person hidden behind another."""
    gt = np.array([
        person(100, 400, 200),          # 0 tall, alone: found
        person(400, 300, 80),           # 1 small: found
        person(430, 300, 80),           # 2 small, next to 1: missed
        person(100, 380, 200),          # 3 tall, just behind 0: hidden, missed
    ])
    # 0 is in front of 3 (feet lower): 3 is almost entirely covered.
    det = np.array([gt[0], gt[1] + [1, 0, 1, 0], person(600, 450, 180)])
    return gt, np.array([10, 11, 12, 13]), det


def test_tally_bands_hits_misses_and_false_positives():
    gt, ids, det = one_frame()
    t = AuditTally(AuditSpec(), key="s")
    t.add_frame(gt, ids, det, W, H)
    tab = t.table()
    assert tab["frames"] == 1 and tab["visibility_source"] == "estimated"
    allm = tab["all"]["all"]
    assert (allm["gt"], allm["tp"], allm["fn"], allm["fp"]) == (4, 2, 2, 1)
    assert allm["recall"] == 0.5 and allm["precision"] == pytest.approx(0.667, abs=1e-3)
    # Counts: 3 detected against 4 labelled.
    assert allm["count_abs_error_per_frame"] == 1.0 and allm["count_bias_rel"] == -0.25
    small, tall = tab["height"]["60-100"], tab["height"][">=150"]
    assert (small["gt"], small["tp"], small["fp"], small["people"]) == (2, 1, 0, 2)
    # The false positive is banded by its own box (180 px): a miss and a false alarm in
    # the same band cancel in the band's count.
    assert (tall["gt"], tall["tp"], tall["fp"]) == (2, 1, 1)
    assert tall["count_abs_error_per_frame"] == 0.0 and tall["count_error_rel"] == 0.0
    assert small["count_abs_error_per_frame"] == 1.0
    assert tab["height"]["<60"]["recall"] is None and tab["height"]["<60"]["gt"] == 0
    # Crowding: 0 and 3 are near each other (and 1-2 near each other); the false
    # positive has nobody near.
    assert tab["crowding"]["0"]["gt"] == 0 and tab["crowding"]["0"]["fp"] == 1
    assert tab["crowding"]["1-2"]["gt"] == 4
    # Visibility: recall only; the hidden person is the one missed among the tall.
    vis = tab["visibility"]
    assert vis["<0.25"]["gt"] == 1 and vis["<0.25"]["tp"] == 0
    assert vis[">=0.75"]["gt"] == 3 and vis[">=0.75"]["tp"] == 2
    assert vis[">=0.75"]["precision"] is None and vis[">=0.75"]["fp"] is None
    assert tab["position"]["bottom-left"]["gt"] == 2


def test_ground_truth_visibility_is_used_when_given():
    gt, ids, det = one_frame()
    t = AuditTally(AuditSpec(), key="s")
    t.add_frame(gt, ids, det, W, H, gt_visibility=[0.1, 0.1, 0.1, 0.1])
    assert t.table()["visibility"]["<0.25"]["gt"] == 4
    assert t.visibility_source == "ground truth"


def test_tallies_add_up_and_keep_people_of_sequences_apart():
    gt, ids, det = one_frame()
    a, b = AuditTally(AuditSpec(), key="a"), AuditTally(AuditSpec(), key="b")
    a.add_frame(gt, ids, det, W, H)
    a.add_frame(gt, ids, det, W, H)
    b.add_frame(gt, ids, np.zeros((0, 4)), W, H)
    pooled = a + b
    m = pooled.metrics("all")
    assert pooled.frames == 3
    assert (m["gt"], m["tp"], m["fp"], m["people"]) == (12, 4, 2, 8)
    assert a.metrics("all")["people"] == 4  # the same four people in two frames
    assert m["count_abs_error_per_frame"] == pytest.approx((1 + 1 + 4) / 3, abs=1e-3)
    assert pooled.metrics("height", ["60-100", ">=150"])["gt"] == 12
    with pytest.raises(InputError, match="unknown bands"):
        pooled.metrics("height", ["huge"])
    with pytest.raises(InputError, match="different banding"):
        a + AuditTally(AuditSpec(min_iou=0.3))


def test_tally_refuses_mismatched_ids():
    with pytest.raises(InputError, match="gt_ids has 1 entries for 2 boxes"):
        AuditTally(AuditSpec()).add_frame(np.zeros((2, 4)), [1], np.zeros((0, 4)), W, H)


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634),
                                                  (10, 10, 0.7225, 1.0)])
def test_wilson_interval(k, n, lo, hi):
    assert wilson(k, n) == pytest.approx((lo, hi), abs=1e-4)
    assert wilson(0, 0) is None


def test_text_table_lists_every_band():
    gt, ids, det = one_frame()
    t = AuditTally(AuditSpec(), key="s")
    t.add_frame(gt, ids, det, W, H)
    text = format_table("demo", t.table(), ("height",))
    assert text.splitlines()[0] == "demo (1 frames; visibility estimated)"
    assert [ln.split()[1] for ln in text.splitlines()[2:]] == ["<60", "60-100", "100-150", ">=150"]


# ----------------------------------------------------------------------------- mosaics


def test_mosaic_shrinks_frames_and_boxes_into_their_cells():
    frames = [np.full((H, W, 3), v, np.uint8) for v in (10, 20, 30, 40)]
    boxes = [np.array([person(320, 400, 200)]), np.zeros((0, 4)),
             np.array([[-20, 100, 60, 300]]), np.array([person(320, 400, 200)] * 2)]
    canvas, out = mosaic(frames, boxes, 2)
    assert canvas.shape == (H, W, 3)
    assert canvas[0, 0, 0] == 10 and canvas[0, W - 1, 0] == 20
    assert canvas[H - 1, 0, 0] == 30 and canvas[H - 1, W - 1, 0] == 40
    np.testing.assert_allclose(out[0], [[140, 100, 180, 200]])       # half size, top-left
    assert out[1].shape == (0, 4)
    np.testing.assert_allclose(out[2], [[0, 290, 30, 390]])          # clipped to its cell
    np.testing.assert_allclose(out[3][0], [460, 340, 500, 440])      # bottom-right cell
    with pytest.raises(InputError, match="a 2 x 2 mosaic needs 4 images and box arrays"):
        mosaic(frames[:3], boxes[:3], 2)


# ----------------------------------------------------------------------------- the benchmark


def test_absent_sequences_are_skipped_with_a_message(tmp_path, capsys):
    assert audit.main(["--quick", "--data", str(tmp_path)]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["benchmark"] == "audit" and last["every"] == audit.QUICK_EVERY
    assert set(last["skipped"]) == {"TUD-Campus", "TUD-Stadtmitte"}
    assert "TUD-Campus.mp4 or its gt/gt.txt is absent" in last["skipped"]["TUD-Campus"]
    assert last["goals"] == {} and last["pooled"] == {}
    assert last["config"]["banding"]["height_px"] == ["<60", "60-100", "100-150", ">=150"]


def test_band_options_reach_the_banding(tmp_path, capsys):
    audit.main(["--data", str(tmp_path), "--height-edges", "80,120", "--crowding-edges", "2"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["config"]["banding"]["height_px"] == ["<80", "80-120", ">=120"]
    assert last["config"]["banding"]["crowding"] == ["0-1", "2+"]


def test_goals_name_bands_and_leave_out_empty_ones():
    gt, ids, det = one_frame()
    pooled = {s: AuditTally(AuditSpec(), key="s") for s in audit.SOURCES}
    for t in pooled.values():
        t.add_frame(gt, ids, det, W, H)
    g = audit.goals(pooled)
    assert g["recall_h_ge_150"] == {"value": 0.5, "target": 0.8, "met": False,
                                    "note": "2 boxes of 2 people"}
    assert "recall_h_lt_60" not in g and "recall_h_60_100" in g
    assert "rescaled.recall_h_60_100" in g and "rescaled.recall_h_ge_150" not in g
    assert g["precision"]["met"] is False and g["precision"]["target"] == 0.9
    assert "recall_crowded_over_alone" not in g  # nobody alone: no ratio to claim
    assert g["tracked_count_error_rel"]["value"] == 0.25


def test_false_positives_near_a_person_are_told_apart_from_phantoms():
    gt = np.array([[100, 100, 140, 200]], float)
    det = np.array([[100, 140, 140, 240],      # IoU 0.43 with the person: badly placed
                    [400, 100, 440, 200]],     # nobody there: a phantom
                   float)
    t = AuditTally(AuditSpec(), key="s")
    t.add_frame(gt, [1], det, W, H)
    m = t.metrics("all")
    assert (m["tp"], m["fp"], m["fp_near_person"]) == (0, 2, 0.5)
    assert t.metrics("visibility")["fp_near_person"] is None


def test_own_sequences_can_be_named(tmp_path, capsys):
    audit.main(["--data", str(tmp_path), "--sequences", "dock,lobby"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last["skipped"]) == {"dock", "lobby"}


@pytest.mark.parametrize(("args", "message"), [
    (["--height-edges", "100,60"], "increasing numbers, got (100.0, 60.0)"),
    (["--height-edges", "a,b"], "expected comma-separated numbers, got 'a,b'"),
    (["--crowding-edges", "0.5"], "count band edges must be whole numbers >= 1"),
    (["--crowding-radius", "0"], "crowding_radius must be > 0 box heights, got 0.0"),
    (["--every", "0"], "--every must be >= 1, got 0"),
])
def test_bad_options_are_usage_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        audit.main(["--data", str(tmp_path), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
