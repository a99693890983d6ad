"""Line crossings: hand-made edge cases and MOT ground truth against a plain computation."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from tests.unit.analytics_helpers import (
    at,
    feed_path,
    load_mot,
    mot_anchor_paths,
    run_mot,
    tracks_at,
)

# A horizontal segment from (100, 100) to (300, 100) in a 400 x 400 frame. Looking from its
# start to its end (rightwards), its right-hand side is below it: walking down is "in".
LINE = {
    "id": "door",
    "start": [100, 100],
    "end": [300, 100],
    "units": "pixel",
    "hysteresis_px": 5.0,
    "hysteresis_box_fraction": 0.0,
}


def camera(**line_overrides: object) -> CameraAnalytics:
    cfg = AnalyticsConfig(lines=[{**LINE, **line_overrides}], min_distinct_tracks=1)
    return CameraAnalytics("cam1", cfg, 400, 400)


def down(*ys: float, x: float = 200.0) -> list[tuple[float, float]]:
    return [(x, y) for y in ys]


CASES = [
    ("clean crossing downwards", down(80, 90, 110, 120), ["in"]),
    ("clean crossing upwards", down(120, 110, 90, 80), ["out"]),
    ("passes exactly through the line", down(80, 100, 120), ["in"]),
    ("touches the line and goes back", down(80, 100, 80), []),
    ("stops on the line", down(80, 100, 100, 100), []),
    ("jitter on the line, then through", down(80, 99, 101, 99, 101, 99, 101, 120), ["in"]),
    ("jitter on the line only", down(80, 99, 101, 98, 102, 99, 101), []),
    ("jitter within hysteresis after crossing", down(80, 120, 97, 103, 97, 103, 97), ["in"]),
    ("back and forth", down(80, 120, 80), ["in", "out"]),
    ("back and forth twice", down(80, 120, 80, 120, 80), ["in", "out", "in", "out"]),
    ("jump over the line between two frames", down(50, 150), ["in"]),
    ("passes beside the end", down(80, 120, x=320), []),
    ("passes beside the start", down(80, 120, x=80), []),
    ("crosses exactly at the end point", down(80, 120, x=300), ["in"]),
    ("diagonal jump through the segment", [(50, 50), (350, 150)], ["in"]),
    ("diagonal jump beside the end", [(280, 60), (360, 140)], []),
    (
        "walks around the end of the segment",
        [(250, 80), (310, 95), (320, 100), (310, 105), (250, 120)],
        [],
    ),
    ("first seen within the hysteresis band", down(102, 80), []),
    ("moves from far side only onto the band", down(120, 103, 101), []),
    ("occluded while crossing", [(200, 80), None, None, None, (200, 120)], ["in"]),
    (
        "crosses, then beside the end back, then through again",
        [(200, 80), (200, 120), (320, 120), (320, 80), (200, 80), (200, 120)],
        ["in", "in"],
    ),
]


@pytest.mark.parametrize(("name", "path", "expected"), CASES, ids=[c[0] for c in CASES])
def test_crossing_cases(name: str, path: list, expected: list[str]) -> None:
    events = feed_path(camera(), path)
    assert [e.direction for e in events] == expected, name
    assert all(e.kind == "line_cross" and e.element_id == "door" for e in events)


@pytest.mark.parametrize(
    ("ys", "expected"),
    [((80, 108), []), ((80, 112), ["in"]), ((80, 112, 91), ["in"]), ((80, 112, 88), ["in", "out"])],
)
def test_hysteresis_scales_with_box_height(ys: tuple[float, ...], expected: list[str]) -> None:
    # 10 % of a 100 px box: 10 px past the line are needed on either side.
    cam = camera(hysteresis_px=0.0, hysteresis_box_fraction=0.1)
    assert [e.direction for e in feed_path(cam, down(*ys), box_h=100.0)] == expected


def test_event_fields_and_totals() -> None:
    cam = camera(left_to_right="enter", right_to_left="leave")
    events = feed_path(cam, down(80, 120, 80), track_id=42)
    assert [(e.direction, e.track_id, e.pts_s, e.dwell_s) for e in events] == [
        ("enter", 42, 1 / 25, None),
        ("leave", 42, 2 / 25, None),
    ]
    assert events[0].captured_at == pytest.approx(1.8e9 + 1 / 25)
    snap = cam.snapshot().lines[0]
    assert (snap.lr_direction, snap.lr_count, snap.rl_direction, snap.rl_count) == (
        "enter",
        1,
        "leave",
        1,
    )


def test_two_tracks_crossing_in_one_frame_are_ordered_by_track_id() -> None:
    cam = camera()
    cam.update(at(tracks_at([(9, 150, 80), (3, 250, 80)]), 0.0))
    events = cam.update(at(tracks_at([(3, 250, 120), (9, 150, 120)]), 0.04))
    assert [(e.track_id, e.direction) for e in events] == [(3, "in"), (9, "in")]


def test_crossing_in_the_frame_that_removes_the_track_keeps_its_id() -> None:
    cam = camera()
    cam.update(at(tracks_at([(7, 200, 80)]), 0.0))
    events = cam.update(at(tracks_at([(7, 200, 120)]), 0.04, removed_ids=[7]))
    assert [(e.track_id, e.direction) for e in events] == [(7, "in")]


def test_removed_track_forgets_its_side() -> None:
    cam = camera()
    cam.update(at(tracks_at([(1, 200, 80)]), 0.0))
    cam.update(at(tracks_at([]), 0.04, removed_ids=[1]))
    assert cam.snapshot().active_tracks == 0
    # Same id again (a tracker never does this, but state must be fresh): no crossing.
    assert cam.update(at(tracks_at([(1, 200, 120)]), 0.08)) == []


# ----------------------------------------------------------------- MOT ground truth


def plain_side_changes(
    paths: dict[int, list[tuple[int, float, float]]], x0: float, hysteresis: float
) -> list[tuple[int, int, str]]:
    """(frame, track, direction) of crossings of the vertical line x = x0 spanning the frame.

    Written plainly: per track, the confirmed side is the sign of (x0 - x) once
    |x0 - x| >= hysteresis (and nonzero); each change of confirmed side is a crossing.
    Positive (x < x0) is the right-hand side of a line drawn from top to bottom.
    """
    out = []
    for tid, path in paths.items():
        side = 0
        for f, x, _y in path:
            d = x0 - x
            if d == 0 or abs(d) < hysteresis:
                continue
            s = 1 if d > 0 else -1
            if side != 0 and s != side:
                out.append((f, tid, "westward" if s > 0 else "eastward"))
            side = s
    return sorted(out)


def plain_segment_crossings(
    paths: dict[int, list[tuple[int, float, float]]], a: tuple[float, float], b: tuple[float, float]
) -> list[tuple[int, int]]:
    """(frame, track) of steps whose straight path crosses the closed segment a-b, with zero
    hysteresis, skipping anchors exactly on the line (plain 2-D segment intersection)."""

    def side(p: tuple[float, float]) -> float:
        return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])

    out = []
    for tid, path in paths.items():
        prev = None
        for f, x, y in path:
            s = side((x, y))
            if s == 0:
                continue
            if prev is not None and (prev[0] > 0) != (s > 0):
                px, py = prev[1]
                w = prev[0] / (prev[0] - s)
                cx, cy = px + (x - px) * w, py + (y - py) * w
                t = ((cx - a[0]) * (b[0] - a[0]) + (cy - a[1]) * (b[1] - a[1])) / (
                    (b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2
                )
                if 0.0 <= t <= 1.0:
                    out.append((f, tid))
            prev = (s, (x, y))
    return sorted(out)


@pytest.mark.parametrize("sequence", ["TUD-Campus", "TUD-Stadtmitte"])
@pytest.mark.parametrize("hysteresis", [0.0, 12.0])
def test_mot_full_height_lines_match_plain_sign_changes(sequence: str, hysteresis: float) -> None:
    frames, last = load_mot(sequence)
    xs = [90.5, 200.25, 320.0, 433.3, 560.75]
    lines = [
        {
            "id": f"x{i}",
            "start": [x, 0],
            "end": [x, 480],
            "units": "pixel",
            "left_to_right": "westward",
            "right_to_left": "eastward",
            "hysteresis_px": hysteresis,
            "hysteresis_box_fraction": 0.0,
        }
        for i, x in enumerate(xs)
    ]
    cam = CameraAnalytics("tud", AnalyticsConfig(lines=lines, min_distinct_tracks=1), 640, 480)
    events = run_mot(cam, frames, last)
    paths = mot_anchor_paths(frames)
    total = 0
    for i, x in enumerate(xs):
        got = sorted(
            (round(e.pts_s * 25) + 1, e.track_id, e.direction)
            for e in events
            if e.element_id == f"x{i}"
        )
        assert got == plain_side_changes(paths, x, hysteresis), f"line at x={x}"
        total += len(got)
    assert total > 10  # the sequences really cross these lines


@pytest.mark.parametrize("sequence", ["TUD-Campus", "TUD-Stadtmitte"])
def test_mot_finite_segments_match_plain_intersections(sequence: str) -> None:
    frames, last = load_mot(sequence)
    segments = [
        ((150.5, 300.0), (470.5, 420.0)),
        ((320.2, 200.0), (320.2, 360.0)),
        ((50.0, 280.7), (600.0, 280.7)),
        ((200.0, 470.0), (260.0, 240.0)),
    ]
    lines = [
        {
            "id": f"s{i}",
            "start": list(a),
            "end": list(b),
            "units": "pixel",
            "hysteresis_px": 0.0,
            "hysteresis_box_fraction": 0.0,
        }
        for i, (a, b) in enumerate(segments)
    ]
    cam = CameraAnalytics("tud", AnalyticsConfig(lines=lines, min_distinct_tracks=1), 640, 480)
    events = run_mot(cam, frames, last)
    paths = mot_anchor_paths(frames)
    for i, (a, b) in enumerate(segments):
        got = sorted(
            (round(e.pts_s * 25) + 1, e.track_id) for e in events if e.element_id == f"s{i}"
        )
        assert got == plain_segment_crossings(paths, a, b), f"segment {i}"


def test_state_is_vectorised_not_per_track_python() -> None:
    # 500 tracks in one frame cross at once: one update, 500 events, sorted by track id.
    cam = camera()
    ids = np.arange(500)
    xs = np.linspace(110, 290, 500)
    cam.update(at(tracks_at(zip(ids, xs, np.full(500, 80.0), strict=True)), 0.0))
    events = cam.update(at(tracks_at(zip(ids, xs, np.full(500, 120.0), strict=True)), 0.04))
    assert [e.track_id for e in events] == list(range(500))
