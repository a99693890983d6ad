"""Dwell up to the zone's border for the ends of a visit nobody saw
(``ZoneConfig.dwell_to_border_s``, :mod:`pipeline.analytics.borders`)."""

from __future__ import annotations

import pytest

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from tests.unit.analytics_helpers import FPS, at, tracks_at

# Zone: the square 100..300 x 100..300 px of a 400 x 400 frame; boxes 50 px tall.
SQUARE = [[100, 100], [300, 100], [300, 300], [100, 300]]
CLOCK = (9, 20.0, 380.0)  # someone outside the zone from the camera's first frame on
STEP = 2.0  # px per frame: 50 px/s, one body height per second


def camera(cap: float, continuity: dict | None = None) -> CameraAnalytics:
    zone = {"id": "shop", "points": SQUARE, "units": "pixel", "min_visit_s": 0.5,
            "exit_grace_s": 2.0, "dwell_to_border_s": cap}
    cfg = AnalyticsConfig(zones=[zone], min_distinct_tracks=1,
                          continuity=continuity or {"max_gap_s": 0.0})
    return CameraAnalytics("cam1", cfg, 400, 400)


def dwells(cap: float, script: list[list[tuple[int, float, float]]],
           continuity: dict | None = None) -> list[float]:
    """Dwell of every zone exit when ``script`` (rows per frame, 1/25 s apart) plays,
    then 4 s with nobody but the clock."""
    cam = camera(cap, continuity)
    events = []
    frames = script + [[]] * int(4 * FPS)
    for i, rows in enumerate(frames):
        events += cam.update(at(tracks_at([CLOCK, *rows]), i / FPS))
    return [e.dwell_s for e in events if e.kind == "zone_exit"]


def walk(track: int, start: int, x0: float, frames: int, y: float = 200.0
         ) -> dict[int, tuple[int, float, float]]:
    """Frame -> row of a track walking right at STEP px per frame from ``x0``."""
    return {start + i: (track, x0 + STEP * i, y) for i in range(frames)}


def script_of(*walks: dict[int, tuple[int, float, float]], idle: int = 0
              ) -> list[list[tuple[int, float, float]]]:
    n = max(f for w in walks for f in w) + 1
    return [[w[f] for w in walks if f in w] for f in range(n)]


def test_a_person_first_seen_deep_inside_gets_the_walk_from_the_border():
    # Born 100 px (2 s at 50 px/s) inside, 2 s after the camera started; seen leaving.
    script = script_of(walk(1, 50, 200.0, 70))
    (seen,) = dwells(0.0, script)
    assert seen == pytest.approx(49 / FPS)  # first to last frame inside
    assert dwells(1.0, script) == [pytest.approx(seen + 1.0)]  # capped
    assert dwells(3.0, script) == [pytest.approx(seen + 2.0)]  # 100 px at 50 px/s


def test_a_person_lost_deep_inside_gets_the_walk_to_the_border():
    # Enters from outside, vanishes 60 px inside (1.2 s at 50 px/s).
    script = script_of(walk(1, 0, 50.0, 56))
    (seen,) = dwells(0.0, script)
    assert dwells(1.0, script) == [pytest.approx(seen + 1.0)]
    assert dwells(3.0, script) == [pytest.approx(seen + 1.2)]


def test_a_person_seen_entering_and_leaving_gets_nothing_added():
    script = script_of(walk(1, 0, 50.0, 150))
    assert dwells(3.0, script) == dwells(0.0, script) == [pytest.approx(99 / FPS)]


def test_nothing_is_added_before_the_cameras_first_frame():
    # Inside at the first frame: they may have been there for long, but nobody watched.
    cam = camera(3.0)
    events = []
    for i in range(120):
        rows = [(1, 200.0 + STEP * i, 200.0)] + ([CLOCK] if i else [])
        events += cam.update(at(tracks_at(rows), i / FPS))
    (exit_,) = [e for e in events if e.kind == "zone_exit"]
    assert exit_.dwell_s == pytest.approx(49 / FPS)


def test_someone_standing_still_is_taken_to_walk_at_the_minimum_speed():
    # Born 100 px inside, never moves, then vanishes: 0.2 body heights/s is 10 px/s, so
    # 10 s to the border at each end; the cap holds it to 1 s each.
    script = script_of({50 + i: (1, 200.0, 200.0) for i in range(30)})
    (seen,) = dwells(0.0, script)
    assert dwells(1.0, script) == [pytest.approx(seen + 2.0)]


def test_a_joined_visit_starts_where_its_first_track_started():
    # Track 1 is born 100 px inside and vanishes; track 2 continues it 0.4 s later and
    # walks out: one visit, the start extended from track 1's first anchor.
    first = walk(1, 50, 200.0, 20)
    second = walk(2, 80, 200.0 + STEP * 30, 50)
    script = script_of(first, second)
    joins = {"max_gap_s": 3.0}
    (seen,) = dwells(0.0, script, joins)
    assert seen == pytest.approx((99 - 50) / FPS)  # track 1's first to track 2's last inside
    assert dwells(1.0, script, joins) == [pytest.approx(seen + 1.0)]


def test_the_truth_goes_without_it():
    from benchmarks.scenes import SCENES, analytics_config

    truth = analytics_config(SCENES["TUD-Campus"], truth=True)
    assert [z.dwell_to_border_s for z in truth.zones] == [0.0]
    assert [z.dwell_to_border_s for z in analytics_config(SCENES["TUD-Campus"]).zones] == [1.0]


def test_nothing_is_added_after_the_tracker_removed_the_track():
    # Lost deep inside and removed by the tracker 0.2 s later (the recording ended): the
    # visit waits for a successor, but the walk out can only have happened before that.
    cam = camera(1.0, {"max_gap_s": 3.0})
    events = []
    for i in range(50):
        events += cam.update(at(tracks_at([CLOCK, (1, 50.0 + STEP * i, 200.0)]), i / FPS))
    events += cam.update(at(tracks_at([CLOCK]), 55 / FPS, removed_ids=[1]))
    for i in range(56, 56 + int(4 * FPS)):
        events += cam.update(at(tracks_at([CLOCK]), i / FPS))
    (exit_,) = [e for e in events if e.kind == "zone_exit"]
    assert exit_.dwell_s == pytest.approx((49 - 25) / FPS + 6 / FPS)
