"""MOTChallenge I/O, trackeval-based metrics and the ground-truth perturbation. No Ray.

Ground truth comes from the ``motmetrics`` package data (TUD-Campus, TUD-Stadtmitte), not
from ../shared, so a fresh clone can run these tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks.evaluation import MotSequence, evaluate, read_mot, trackeval_data
from benchmarks.perturb import jitter_detections, perturb, track_frames
from pipeline.boxes import iou_matrix
from pipeline.errors import InputError
from pipeline.mot import format_mot_rows, read_seqinfo
from pipeline.types import Detections, Tracks

GT_DIR = Path(__import__("motmetrics").__file__).parent / "data"


def seq(rows, num_frames=None) -> MotSequence:
    """rows: (frame, id, left, top, width, height)."""
    a = np.asarray(rows, np.float64).reshape(-1, 6)
    n = int(a[:, 0].max(initial=0)) if num_frames is None else num_frames
    return MotSequence(a[:, 0], a[:, 1], a[:, 2:6], np.ones(len(a)), n)


@pytest.fixture(scope="module")
def campus() -> MotSequence:
    return read_mot(GT_DIR / "TUD-Campus" / "gt.txt")


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize(
    ("name", "rows", "ids", "frames"),
    [("TUD-Campus", 359, 8, 71), ("TUD-Stadtmitte", 1156, 10, 179)],
)
def test_reads_mot15_ground_truth(name, rows, ids, frames):
    gt = read_mot(GT_DIR / name / "gt.txt")
    assert (len(gt), len(np.unique(gt.ids)), gt.num_frames) == (rows, ids, frames)
    assert (gt.confs == 1).all()  # MOT15 marks every ground-truth row 1: all count
    assert evaluate(gt, gt)["num_gt_dets"] == rows


def test_write_then_read_round_trip(tmp_path, campus):
    path = tmp_path / "out.txt"
    path.write_text(format_mot_rows(campus.frames, campus.ids, campus.tlwh, campus.confs))
    back = read_mot(path, num_frames=campus.num_frames)
    np.testing.assert_array_equal(back.frames, campus.frames)
    np.testing.assert_array_equal(back.ids, campus.ids)
    np.testing.assert_allclose(back.tlwh, campus.tlwh, atol=1e-3)
    assert path.read_text().splitlines()[0] == "1,1,399.000,182.000,121.000,229.000,1,-1,-1,-1"


def test_reads_whitespace_crlf_comments_and_six_columns(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"# comment\r\n2 7 1 2 3 4\r\n\r\n1,3,0,0,10,10,0.5,-1,-1,-1\r\n")
    s = read_mot(path)
    assert s.frames.tolist() == [1, 2] and s.ids.tolist() == [3, 7]
    assert s.confs.tolist() == [0.5, 1.0]  # conf defaults to 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,2,3,4,5",
         "t.txt:1: expected at least 6 fields (frame, id, left, top, width, height), got 5"),
        ("1,a,3,4,5,6",
         "t.txt:1: expected numbers (frame, id, left, top, width, height, conf, ...), "
         "got '1,a,3,4,5,6'"),
        ("0,1,3,4,5,6",
         "t.txt:1: frame must be an integer >= 1 and id an integer, got frame 0 id 1"),
        ("1.5,1,3,4,5,6", "t.txt:1: frame must be an integer >= 1"),
        ("1,1,nan,4,5,6", "tlwh must be finite, but got NaN or inf"),
        ("1,1,3,4,5,6\n1,1,9,9,5,6", "id 1 appears more than once in frame 1"),
    ],
)
def test_read_errors_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "t.txt"
    path.write_text(line + "\n")
    with pytest.raises(InputError, match=re.escape(message)):
        read_mot(path)


def test_read_seqinfo(tmp_path):
    (tmp_path / "seqinfo.ini").write_text(
        "[Sequence]\nname=X\nimDir=img1\nframeRate=25\nseqLength=71\nimWidth=640\n"
        "imHeight=480\nimExt=.jpg\n"
    )
    info = read_seqinfo(tmp_path / "seqinfo.ini")
    assert (info.name, info.fps, info.num_frames) == ("X", 25.0, 71)
    assert (info.width, info.height) == (640, 480)
    (tmp_path / "bad.ini").write_text("[Sequence]\nname=X\n")
    with pytest.raises(InputError, match="bad.ini: bad or missing seqinfo value: 'frameRate'"):
        read_seqinfo(tmp_path / "bad.ini")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frames": [0]}, "frames are 1-based, but got frame 0"),
        ({"num_frames": 1, "frames": [2]}, "num_frames is 1, but a row has frame 2"),
        ({"tlwh": [[0, 0, 1]]}, "MotSequence expects frames (n,), ids (n,), tlwh (n, 4)"),
    ],
)
def test_mot_sequence_validates(kwargs, message):
    args = {"frames": [1], "ids": [1], "tlwh": [[0, 0, 1, 1]], "confs": [1.0], "num_frames": 3}
    args.update(kwargs)
    with pytest.raises(InputError, match=re.escape(message)):
        MotSequence(**args)


def test_from_tracks_and_frame_rows():
    t = Tracks(np.array([[10, 20, 30, 60]], np.float32), np.array([0.8], np.float32),
               np.zeros(1, np.int16), np.array([4]))
    s = MotSequence.from_tracks([Tracks.empty(), t, Tracks.empty()])
    assert s.num_frames == 3 and s.frames.tolist() == [2]
    assert s.tlwh.tolist() == [[10, 20, 20, 40]]
    assert s.frame_rows(2) == slice(0, 1) and s.frame_rows(3) == slice(1, 1)


# ----------------------------------------------------------------------------- metrics


def test_perfect_tracking_scores_one(campus):
    r = evaluate(campus, campus)
    for key in ("HOTA", "DetA", "AssA", "LocA", "MOTA", "IDF1"):
        assert r[key] == pytest.approx(1.0), key
    assert (r["IDSW"], r["FP"], r["FN"]) == (0, 0, 0)


def test_empty_prediction_scores_zero(campus):
    r = evaluate(campus, MotSequence.from_tracks([], num_frames=campus.num_frames))
    assert (r["HOTA"], r["MOTA"], r["IDF1"], r["FN"]) == (0.0, 0.0, 0.0, len(campus))


def test_hand_computed_counts():
    # Two objects over 4 frames; the tracker misses object 2 in frame 3, swaps its id
    # from frame 3 on, and adds one false box in frame 4.
    gt = seq([(f, i, 100 * i, 0, 50, 100) for f in range(1, 5) for i in (1, 2)])
    pred = seq([(1, 1, 100, 0, 50, 100), (1, 2, 200, 0, 50, 100),
                (2, 1, 100, 0, 50, 100), (2, 2, 200, 0, 50, 100),
                (3, 1, 100, 0, 50, 100),
                (4, 1, 100, 0, 50, 100), (4, 9, 200, 0, 50, 100), (4, 5, 400, 0, 50, 50)])
    r = evaluate(gt, pred)
    assert (r["TP"], r["FN"], r["FP"], r["IDSW"]) == (7, 1, 1, 1)
    assert r["MOTA"] == pytest.approx(1 - (1 + 1 + 1) / 8)
    # IDF1: best id mapping 1->1, 2->2: IDTP 6, IDFP 2 (ids 9, 5), IDFN 2 (frames 3, 4).
    assert r["IDF1"] == pytest.approx(6 / (6 + 0.5 * 2 + 0.5 * 2))


def test_localisation_error_lowers_hota_not_mota(campus):
    shifted = MotSequence(campus.frames, campus.ids, campus.tlwh + [5, 0, 0, 0], campus.confs,
                          campus.num_frames)
    r = evaluate(campus, shifted)
    assert r["MOTA"] == pytest.approx(1.0)  # IoU stays above 0.5
    assert 0.6 < r["HOTA"] < 0.95 and r["LocA"] < 0.95


def test_ignored_ground_truth_rows():
    gt = MotSequence([1, 1], [1, 2], [[0, 0, 10, 10], [50, 0, 10, 10]], [1.0, 0.0], 1)
    pred = seq([(1, 1, 0, 0, 10, 10)])
    data = trackeval_data(gt, pred)
    assert data["num_gt_dets"] == 1
    assert evaluate(gt, pred)["MOTA"] == pytest.approx(1.0)


def test_trackeval_data_layout(campus):
    data = trackeval_data(campus, campus)
    assert data["num_timesteps"] == 71 and len(data["gt_ids"]) == 71
    assert data["num_gt_ids"] == 8 and max(int(ids.max()) for ids in data["gt_ids"]) == 7
    for gt_ids, tr_ids, sim in zip(data["gt_ids"], data["tracker_ids"],
                                   data["similarity_scores"]):
        assert sim.shape == (len(gt_ids), len(tr_ids))


# ----------------------------------------------------------------------------- perturb


def test_perturb_is_reproducible_and_seeded(campus):
    a = perturb(campus, seed=3, image_size=(640, 480))
    b = perturb(campus, seed=3, image_size=(640, 480))
    c = perturb(campus, seed=4, image_size=(640, 480))
    assert len(a) == campus.num_frames
    assert all(np.array_equal(x.boxes, y.boxes) and np.array_equal(x.scores, y.scores)
               for x, y in zip(a, b))
    assert not all(np.array_equal(x.boxes, y.boxes) for x, y in zip(a, c))


def test_perturb_drops_jitters_and_adds_false_positives(campus):
    frames = perturb(campus, seed=0, image_size=(640, 480))
    boxes = np.concatenate([f.boxes for f in frames])
    scores = np.concatenate([f.scores for f in frames])
    n = len(campus)
    assert len(boxes) == n - round(0.10 * n) + round(0.05 * n)
    gt_boxes = campus.boxes_xyxy()
    true_hits = iou_matrix(gt_boxes, boxes).max(axis=0) > 0.5
    # Every kept box stays near its truth (a false positive may land on someone too).
    assert true_hits.sum() >= n - round(0.10 * n)
    assert scores.min() >= 0.05 and scores.max() <= 1.0
    false = boxes[~true_hits]  # false positives lie inside the image
    assert (false >= 0).all() and (false[:, 2] <= 640).all() and (false[:, 3] <= 480).all()
    assert all(np.all(np.diff(f.scores) <= 0) for f in frames)  # sorted like a detector's


def test_perturb_jitter_is_five_percent_of_box_size(campus):
    frames = perturb(campus, seed=0, image_size=(640, 480), drop=0, false_positives=0)
    gt = campus.boxes_xyxy()
    offsets = []
    for frame, d in enumerate(frames, 1):
        g = gt[campus.frame_rows(frame)]
        g = g[iou_matrix(d.boxes, g).argmax(axis=1)]
        offsets.append((d.boxes[:, 0] - g[:, 0]) / (g[:, 2] - g[:, 0]))
    assert 0.045 < np.std(np.concatenate(offsets)) < 0.055


def test_perturb_scores_hidden_people_low(campus):
    frames = perturb(campus, seed=0, image_size=(640, 480), drop=0, false_positives=0)
    scores = np.concatenate([f.scores for f in frames])
    assert (scores < 0.5).mean() > 0.15  # TUD-Campus is a crowded sequence
    assert (scores >= 0.6).mean() > 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"drop": 1.5}, "drop must be within 0..1, got 1.5"),
     ({"jitter": -0.1}, "jitter must be within 0..inf, got -0.1"),
     ({"false_positives": float("nan")}, "false_positives must be within 0..inf, got nan")],
)
def test_perturb_validates(campus, kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        perturb(campus, seed=0, **kwargs)


# ----------------------------------------------------------------------------- jitter


def test_jitter_detections_drops_and_moves_boxes_reproducibly(campus):
    frames = perturb(campus, seed=0, image_size=(640, 480), drop=0, jitter=0,
                     false_positives=0)
    a = jitter_detections(frames, seed=1, drop=0.1, jitter=0.02)
    b = jitter_detections(frames, seed=1, drop=0.1, jitter=0.02)
    assert len(a) == len(frames)
    assert all(np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b))
    n_in = sum(len(f) for f in frames)
    n_out = sum(len(f) for f in a)
    assert 0.85 * n_in < n_out < 0.95 * n_in
    kept = jitter_detections(frames, seed=1, drop=0.0, jitter=0.02)
    rel = np.concatenate([(k.boxes[:, 0] - f.boxes[:, 0]) / (f.boxes[:, 2] - f.boxes[:, 0])
                          for k, f in zip(kept, frames)])
    assert 0.017 < np.std(rel) < 0.023
    assert all(np.array_equal(k.scores, f.scores) for k, f in zip(kept, frames))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"drop": -0.1}, "drop must be within 0..1, got -0.1"),
     ({"jitter": float("inf")}, "jitter must be 0 or more, got inf")],
)
def test_jitter_detections_validates(kwargs, message):
    with pytest.raises(InputError, match=re.escape(message)):
        jitter_detections([Detections.empty()], seed=0, **kwargs)


def test_track_frames_passes_media_time():
    seen = []

    def update(d: Detections, pts_s: float) -> Tracks:
        seen.append(pts_s)
        return Tracks.empty()

    out = track_frames(update, [Detections.empty()] * 3, fps=25.0)
    assert seen == [0.0, 0.04, 0.08] and out.num_frames == 3
    with pytest.raises(InputError, match="fps must be positive, got 0"):
        track_frames(update, [], fps=0)
