"""Zone visits: hand-made edge cases and MOT ground truth against a plain computation."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from tests.unit.analytics_helpers import (
    FPS,
    at,
    feed_path,
    load_mot,
    mot_anchor_paths,
    run_mot,
    tracks_at,
)

# Zone: the square 100..300 x 100..300 px of a 400 x 400 frame.
SQUARE = [[100, 100], [300, 100], [300, 300], [100, 300]]
IN, OUT = (200.0, 200.0), (50.0, 50.0)


def camera(min_visit_s: float = 0.2, exit_grace_s: float = 0.3, **cfg: object) -> CameraAnalytics:
    zone = {
        "id": "shop",
        "points": SQUARE,
        "units": "pixel",
        "min_visit_s": min_visit_s,
        "exit_grace_s": exit_grace_s,
        "dwell_to_border_s": 0.0,  # first to last frame inside (test_border_dwell: more)
    }
    cfg.setdefault("continuity", {"max_gap_s": 0.0})  # exit_grace_s alone (see test_visit_joins)
    config = AnalyticsConfig(zones=[zone], min_distinct_tracks=1, **cfg)
    return CameraAnalytics("cam1", config, 400, 400)


def summary(events: list) -> list[tuple]:
    """(kind, frame, dwell in frames) per event; frames are 1/25 s."""
    return [
        (e.kind, round(e.pts_s * FPS), None if e.dwell_s is None else round(e.dwell_s * FPS))
        for e in events
    ]


# At 25 fps: min visit 0.2 s = 5 frames; grace 0.3 s = 7.5 frames.
CASES = [
    (
        "enter, stay, leave",
        [OUT] + [IN] * 10 + [OUT] * 10,
        [("zone_enter", 1, None), ("zone_exit", 10, 9)],
    ),
    ("visit shorter than the minimum", [OUT] + [IN] * 4 + [OUT] * 10, []),
    (
        "visit exactly the minimum (first to last frame)",
        [OUT] + [IN] * 6 + [OUT] * 10,
        [("zone_enter", 1, None), ("zone_exit", 6, 5)],
    ),
    (
        "exit flicker: out for 7 frames (< grace) is one visit",
        [IN] * 6 + [OUT] * 7 + [IN] * 6 + [OUT] * 9,
        [("zone_enter", 0, None), ("zone_exit", 18, 18)],
    ),
    (
        "out for 8 frames (> grace) splits the visit",
        [IN] * 6 + [OUT] * 8 + [IN] * 6 + [OUT] * 9,
        [
            ("zone_enter", 0, None),
            ("zone_exit", 5, 5),
            ("zone_enter", 14, None),
            ("zone_exit", 19, 5),
        ],
    ),
    (
        "enter flicker: in and out at the border counts once",
        [OUT, IN, OUT, IN, OUT, IN, IN, IN, IN, IN] + [OUT] * 9,
        [("zone_enter", 1, None), ("zone_exit", 9, 8)],
    ),
    (
        "flicker that never lasts the minimum",
        [OUT, IN, OUT, OUT, OUT, OUT, OUT, OUT, OUT, OUT, IN, OUT] + [OUT] * 9,
        [],
    ),
    (
        "occluded (absent) for less than the grace",
        [IN] * 6 + [None] * 7 + [IN] * 3 + [None] * 9,
        [("zone_enter", 0, None), ("zone_exit", 15, 15)],
    ),
    (
        "occluded (absent) for longer than the grace",
        [IN] * 6 + [None] * 8 + [IN] * 3,
        [("zone_enter", 0, None), ("zone_exit", 5, 5)],
    ),
    ("still inside at the end: no exit", [IN] * 30, [("zone_enter", 0, None)]),
]


@pytest.mark.parametrize(("name", "path", "expected"), CASES, ids=[c[0] for c in CASES])
def test_visit_cases(name: str, path: list, expected: list[tuple]) -> None:
    assert summary(feed_path(camera(), path)) == expected, name


def test_occupancy_counts_counted_visits_only() -> None:
    cam = camera()
    seen = []
    for i in range(12):
        rows = [(1, *IN)] + ([(2, *IN)] if i >= 3 else []) + [(3, *OUT)]
        cam.update(at(tracks_at(rows), i / FPS))
        seen.append(cam.snapshot().zones[0].occupancy)
    # Track 1 counts from frame 5 (0.2 s), track 2 from frame 8; track 3 never.
    assert seen == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    snap = cam.snapshot().zones[0]
    assert (snap.visits_total, snap.exits_total) == (2, 0)


def test_removed_track_exits_now_with_its_last_inside_time() -> None:
    cam = camera()
    for i in range(10):
        cam.update(at(tracks_at([(5, *IN)]), i / FPS))
    events = cam.update(at(tracks_at([]), 10 / FPS, removed_ids=[5, 999]))
    assert summary(events) == [("zone_exit", 9, 9)]
    assert events[0].track_id == 5
    assert cam.snapshot().active_tracks == 0


def test_visit_counted_and_ended_in_the_frame_that_removes_the_track() -> None:
    cam = camera(min_visit_s=0.0)
    cam.update(at(tracks_at([(8, *OUT)]), 0.0))
    events = cam.update(at(tracks_at([(8, *IN)]), 0.04, removed_ids=[8]))
    assert [(e.kind, e.track_id, e.dwell_s) for e in events] == [
        ("zone_enter", 8, None),
        ("zone_exit", 8, 0.0),
    ]


def test_removed_ids_may_be_a_numpy_array_as_the_tracker_gives_them() -> None:
    cam = camera(min_visit_s=0.0)
    cam.update(at(tracks_at([(1, *IN), (2, *IN), (3, *OUT)]), 0.0))
    events = cam.update(at(tracks_at([]), 0.04, removed_ids=np.array([1, 2, 3], np.int64)))
    assert [(e.kind, e.track_id) for e in events] == [("zone_exit", 1), ("zone_exit", 2)]
    assert cam.update(at(tracks_at([]), 0.08, removed_ids=np.zeros(0, np.int64))) == []


def test_removed_track_with_uncounted_visit_exits_silently() -> None:
    cam = camera()
    cam.update(at(tracks_at([(5, *IN)]), 0.0))
    assert cam.update(at(tracks_at([]), 0.04, removed_ids=[5])) == []


def test_idle_tracks_are_evicted_after_the_timeout() -> None:
    cam = camera(exit_grace_s=1.0, track_idle_timeout_s=2.0)
    cam.update(at(tracks_at([(1, *OUT), (2, *OUT)]), 0.0))
    cam.update(at(tracks_at([(2, *OUT)]), 1.0))
    assert cam.snapshot().active_tracks == 2
    cam.update(at(tracks_at([(2, *OUT)]), 2.01))
    assert cam.snapshot().active_tracks == 1  # track 1 unseen for more than 2 s
    cam.update(at(tracks_at([]), 10.0))
    assert cam.snapshot().active_tracks == 0


def test_state_stays_bounded_over_many_short_tracks() -> None:
    cam = camera()
    for i in range(3000):
        cam.update(at(
            tracks_at([(i, *IN), (i + 100_000, *OUT)]), i / FPS, removed_ids=[i - 1, i + 99_999]
        ))
    assert cam.snapshot().active_tracks == 2
    assert cam._slots.capacity == 64  # slots were reused, never grown


def test_concave_zone() -> None:
    # An L shape: the notch (250, 150) is outside.
    l_shape = [[100, 100], [200, 100], [200, 200], [300, 200], [300, 300], [100, 300]]
    cfg = AnalyticsConfig(
        zones=[{"id": "L", "points": l_shape, "units": "pixel", "min_visit_s": 0}],
        min_distinct_tracks=1,
    )
    cam = CameraAnalytics("cam1", cfg, 400, 400)
    events = cam.update(at(tracks_at([(1, 150, 150), (2, 250, 150), (3, 250, 250)]), 0.0))
    assert sorted(e.track_id for e in events) == [1, 3]


def test_normalized_zone_resolves_against_frame_size() -> None:
    cfg = AnalyticsConfig(
        zones=[{"id": "right", "points": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]], "min_visit_s": 0}],
        min_distinct_tracks=1,
    )
    cam = CameraAnalytics("cam1", cfg, 1920, 1080)
    events = cam.update(at(tracks_at([(1, 900, 500), (2, 1000, 500)]), 0.0))
    assert [e.track_id for e in events] == [2]


# ----------------------------------------------------------------- MOT ground truth

# Rectangles in pixels, edges off the (integer or 3-decimal) anchors.
MOT_ZONES = {
    "TUD-Campus": [(200.123, 300.123, 440.456, 480.0), (0.0, 350.5, 160.25, 470.5)],
    "TUD-Stadtmitte": [(150.123, 250.123, 450.456, 330.777), (400.5, 200.5, 640.0, 300.321)],
}


def plain_visits(
    paths: dict[int, list[tuple[int, float, float]]],
    rect: tuple[float, float, float, float],
    last: int,
    min_frames: float,
    grace_frames: float,
) -> tuple[list[tuple[int, int]], list[tuple[int, int, int]]]:
    """Enters (track, first frame) and exits (track, last frame, dwell frames), plainly.

    Per track, the frames whose anchor is inside are split into runs wherever more than
    ``grace_frames`` frames pass without it (every frame of the sequence is observed); a
    run counts if it lasts at least ``min_frames`` (first to last); its exit is seen if
    more than ``grace_frames`` frames follow it before the sequence ends.
    """
    x0, y0, x1, y1 = rect
    enters, exits = [], []
    for tid, path in paths.items():
        inside = [f for f, x, y in path if x0 < x < x1 and y0 < y < y1]
        runs: list[list[int]] = []
        for f in inside:
            if runs and (f - runs[-1][-1] - 1) <= grace_frames:
                runs[-1].append(f)
            else:
                runs.append([f])
        for run in runs:
            if run[-1] - run[0] >= min_frames:
                enters.append((tid, run[0]))
                if last - run[-1] > grace_frames:
                    exits.append((tid, run[-1], run[-1] - run[0]))
    return sorted(enters), sorted(exits)


@pytest.mark.parametrize("sequence", ["TUD-Campus", "TUD-Stadtmitte"])
@pytest.mark.parametrize(("min_visit_s", "exit_grace_s"), [(0.0, 0.0), (0.3, 0.5), (1.1, 0.22)])
def test_mot_zone_visits_match_plain_runs(
    sequence: str, min_visit_s: float, exit_grace_s: float
) -> None:
    frames, last = load_mot(sequence)
    rects = MOT_ZONES[sequence]
    zones = [
        {
            "id": f"z{i}",
            "units": "pixel",
            "min_visit_s": min_visit_s,
            "exit_grace_s": exit_grace_s,
            "dwell_to_border_s": 0.0,
            "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
        }
        for i, (x0, y0, x1, y1) in enumerate(rects)
    ]
    # One visit per labelled track (TUD-Campus relabels a hidden person: continuity would
    # join the two tracks' visits; test_visit_joins covers that).
    config = AnalyticsConfig(zones=zones, min_distinct_tracks=1, continuity={"max_gap_s": 0})
    cam = CameraAnalytics("tud", config, 640, 480)
    events = run_mot(cam, frames, last)
    paths = mot_anchor_paths(frames)
    n = 0
    for i, rect in enumerate(rects):
        enters, exits = plain_visits(paths, rect, last, min_visit_s * FPS, exit_grace_s * FPS)
        mine = [e for e in events if e.element_id == f"z{i}"]
        assert (
            sorted((e.track_id, round(e.pts_s * FPS) + 1) for e in mine if e.kind == "zone_enter")
            == enters
        )
        assert (
            sorted(
                (e.track_id, round(e.pts_s * FPS) + 1, round(e.dwell_s * FPS))
                for e in mine
                if e.kind == "zone_exit"
            )
            == exits
        )
        n += len(enters)
    assert n >= 2  # the sequences really visit these zones
