"""The label-free continuity measure (benchmarks/continuity_measures.py) and the
continuity benchmark's own helpers. No Ray, no model, no video."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from benchmarks.continuity import parse_rates, ratio_to_best_peer, subsample
from benchmarks.continuity_measures import REJOIN_HEIGHTS, REJOIN_S, continuity
from pipeline.types import Tracks

W, H = 640, 480
FPS = 10.0


def walk(segments: list[tuple[int, int, int, float, float]], n: int) -> list[Tracks]:
    """Frames 0..n-1; each segment (track id, first frame, last frame, x at first, x per
    frame) is a 40x100 px box with its feet at y 300."""
    frames = []
    for k in range(n):
        boxes, ids = [], []
        for tid, a, b, x0, vx in segments:
            if a <= k <= b:
                x = x0 + vx * (k - a)
                boxes.append([x, 200, x + 40, 300])
                ids.append(tid)
        frames.append(Tracks(np.array(boxes, np.float32).reshape(-1, 4),
                             np.ones(len(ids), np.float32), np.ones(len(ids), np.int16),
                             np.array(ids, np.int64)))
    return frames


def times(n: int) -> np.ndarray:
    return np.arange(n) / FPS


def test_a_track_broken_in_the_middle_of_the_frame_is_one_break() -> None:
    frames = walk([(1, 0, 49, 100, 4), (2, 55, 99, 100 + 4 * 55, 4)], 100)
    c = continuity(frames, times(100), W, H)
    assert (c["tracks"], c["interior_ends"], c["probable_breaks"]) == (2, 1, 1)
    # 95 boxes shown at 0.1 s: 0.158 tracked minutes, one break
    assert c["tracked_min"] == pytest.approx(95 * 0.1 / 60, abs=0.01)
    assert c["breaks_per_tracked_min"] == pytest.approx(1 / (95 * 0.1 / 60), abs=0.05)
    assert c["tracked_s_per_break"] == pytest.approx(9.5, abs=0.1)


def test_leaving_at_the_edge_and_someone_entering_there_is_no_break() -> None:
    # track 1 walks into the right edge's margin (its box ends 10 px from the edge, within
    # 3 % of the width) and is lost there; track 2 walks in from there a moment later
    frames = walk([(1, 0, 38, 400, 5), (2, 41, 99, 592, -5)], 100)
    c = continuity(frames, times(100), W, H)
    assert c["interior_ends"] == 0 and c["probable_breaks"] == 0


def test_a_new_track_too_late_or_too_far_does_not_continue_an_ended_one() -> None:
    late = int(REJOIN_S * FPS) + 5
    frames = walk([(1, 0, 30, 200, 0), (2, 30 + late, 99, 200, 0)], 100)
    assert continuity(frames, times(100), W, H)["probable_breaks"] == 0
    far = 100 * REJOIN_HEIGHTS + 20  # box height 100 px
    frames = walk([(1, 0, 30, 200, 0), (2, 35, 99, 200 + far, 0)], 100)
    assert continuity(frames, times(100), W, H)["probable_breaks"] == 0
    frames = walk([(1, 0, 30, 200, 0), (2, 35, 99, 200 + far - 40, 0)], 100)
    assert continuity(frames, times(100), W, H)["probable_breaks"] == 1


def test_breaks_are_matched_one_to_one() -> None:
    # two tracks end at the same place; one new track starts there: one break, not two
    frames = walk([(1, 0, 30, 300, 0), (2, 0, 31, 310, 0), (3, 36, 99, 305, 0)], 100)
    c = continuity(frames, times(100), W, H)
    assert c["interior_ends"] == 2 and c["probable_breaks"] == 1


def test_tracks_at_the_footage_start_and_end_are_not_starts_or_ends() -> None:
    # track 2 starts in the first second (it may have begun before); track 1 ends in the last
    frames = walk([(1, 0, 95, 300, 0), (2, 5, 50, 100, 0)], 100)
    c = continuity(frames, times(100), W, H)
    assert c["interior_ends"] == 1 and c["probable_breaks"] == 0


def test_no_tracks_no_breaks() -> None:
    c = continuity(walk([], 20), times(20), W, H)
    assert (c["tracks"], c["probable_breaks"], c["breaks_per_tracked_min"]) == (0, 0, 0.0)
    assert c["tracked_s_per_break"] is None


def test_subsample_keeps_frames_by_media_time() -> None:
    t = np.arange(30) / 10.0
    assert subsample(t, None).tolist() == list(range(30))
    assert subsample(t, 5.0).tolist() == list(range(0, 30, 2))
    kept = subsample(t, 7.0)
    assert 20 <= len(kept) <= 22 and kept[0] == 0
    assert np.diff(t[kept]).min() >= 0.1 - 1e-9


def test_rates_are_parsed_and_bad_ones_named() -> None:
    assert parse_rates("native,7,5") == [None, 7.0, 5.0]
    with pytest.raises(argparse.ArgumentTypeError, match="'fast'"):
        parse_rates("native,fast")
    with pytest.raises(argparse.ArgumentTypeError, match="within"):
        parse_rates("0")


def test_ratio_to_the_best_peer() -> None:
    row = lambda r: {"breaks_per_tracked_min": r}  # noqa: E731
    rows = {"panoray_offline": row(2.0), "panoray_live": row(0.0), "sort": row(8.0),
            "bytetrack": row(4.0)}
    assert ratio_to_best_peer(rows, "panoray_offline") == 0.5
    assert ratio_to_best_peer(rows, "panoray_live") == 0.0
    rows["bytetrack"] = row(0.0)
    assert ratio_to_best_peer(rows, "panoray_live") == 1.0
    assert ratio_to_best_peer(rows, "panoray_offline") == float("inf")


def test_scales_are_parsed_and_bad_ones_named() -> None:
    from benchmarks.continuity import parse_scales

    assert parse_scales("1,0.5") == [1.0, 0.5]
    with pytest.raises(argparse.ArgumentTypeError, match="'half'"):
        parse_scales("1,half")
    with pytest.raises(argparse.ArgumentTypeError, match="2"):
        parse_scales("2")
