"""Visits that survive broken tracks (``analytics.continuity``): position and time only."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import Event, events_to_table
from pipeline.analytics.geometry import PolygonSet
from pipeline.analytics.slots import INITIAL_SLOTS
from tests.unit.analytics_helpers import FPS, at, tracks_at

# Zone: the square 100..300 x 100..300 px of a 400 x 400 frame; people 50 px tall, so
# continuity's defaults reach 25 px (+25 px per second of gap) and the zone's border
# band (zone_edge 0.1) is 5 px deep.
SQUARE = [[100, 100], [300, 100], [300, 300], [100, 300]]
OUT = (200.0, 360.0)
GAP_OFF = {"max_gap_s": 0.0}


def camera(continuity: dict | None = None, queue: bool = False,
           lines: list | None = None) -> CameraAnalytics:
    zone = {"id": "shop", "points": SQUARE, "units": "pixel", "min_visit_s": 0.5,
            "exit_grace_s": 0.5, "queue": queue, "dwell_to_border_s": 0.0}
    config = AnalyticsConfig(zones=[zone], lines=lines or [], min_distinct_tracks=1,
                             window_s=60.0, **({} if continuity is None
                                               else {"continuity": continuity}))
    return CameraAnalytics("cam1", config, 400, 400)


def play(cam: CameraAnalytics, script: list[tuple[float, float, list[tuple[int, float, float]],
                                                  list[int]]]) -> list[Event]:
    """Feeds frames at 25 fps: each script row (start s, end s, tracks (id, x, y), ids
    removed at the row's last frame) holds its tracks still from start to end."""
    events: list[Event] = []
    for t0, t1, rows, removed in script:
        n = int(round((t1 - t0) * FPS))
        for i in range(n + 1):
            t = t0 + i / FPS
            events += cam.update(at(tracks_at(rows), t, removed if i == n else ()))
    return events


def zone_events(events: list[Event]) -> list[tuple]:
    return [(e.kind, e.track_id, round(e.pts_s, 2),
             None if e.dwell_s is None else round(e.dwell_s, 2), e.tracklets)
            for e in events if e.kind != "line_cross"]


def broken_stay(second: tuple[float, float], gap_s: float, first: tuple[float, float] = (200, 200)
                ) -> list:
    """Track 1 inside at ``first`` for 1 s, lost, removed 0.5 s later; track 2 starts at
    ``second`` ``gap_s`` after track 1's last frame, stays 1 s, then walks out."""
    t2 = 1.0 + gap_s
    return [
        (0.0, 1.0, [(1, *first)], []),
        (1.04, 1.5, [], [1]),
        (1.54, t2 - 0.04, [], []),
        (t2, t2 + 1.0, [(2, *second)], []),
        (t2 + 1.04, t2 + 3.0, [(2, *OUT)], []),
    ]


def test_a_track_broken_inside_a_zone_gives_one_visit_of_two_tracklets() -> None:
    script = broken_stay((210, 200), gap_s=1.0)
    events = play(camera(), script)
    assert zone_events(events) == [
        ("zone_enter", 1, 0.0, None, 1),
        ("zone_exit", 2, 3.0, 3.0, 2),  # dwell covers both tracklets and the gap
    ]
    (row,) = [m for w in camera_windows(script) for m in w.metrics]
    assert (row.visits, row.exits, row.tracklets) == (1, 1, 2)
    # The guarded feature: without continuity the stay is two visits of one tracklet each.
    assert zone_events(play(camera(GAP_OFF), script)) == [
        ("zone_enter", 1, 0.0, None, 1),
        ("zone_exit", 1, 1.0, 1.0, 1),
        ("zone_enter", 2, 2.0, None, 1),
        ("zone_exit", 2, 3.0, 1.0, 1),
    ]


def camera_windows(script: list) -> list:
    cam = camera()
    play(cam, script)
    return cam.close()


def test_a_person_who_returns_after_the_gap_makes_two_visits() -> None:
    events = play(camera(), broken_stay((200, 200), gap_s=3.5))  # default max_gap_s is 3
    assert [(k, tid, n) for k, tid, _, _, n in zone_events(events)] == [
        ("zone_enter", 1, 1), ("zone_exit", 1, 1), ("zone_enter", 2, 1), ("zone_exit", 2, 1)]
    # ... and within the gap, the same return is one visit.
    events = play(camera(), broken_stay((200, 200), gap_s=2.5))
    assert [(k, n) for k, _, _, _, n in zone_events(events)] == [("zone_enter", 1),
                                                                 ("zone_exit", 2)]


def test_a_new_track_too_far_away_is_someone_else() -> None:
    # 1 s gap: the defaults reach 0.5 + 0.5 x 1 = 1 body height (50 px).
    near = play(camera(), broken_stay((245, 200), gap_s=1.0))
    far = play(camera(), broken_stay((255, 200), gap_s=1.0))
    assert [e.tracklets for e in near if e.kind == "zone_exit"] == [2]
    assert [e.tracklets for e in far if e.kind == "zone_exit"] == [1, 1]


@pytest.mark.parametrize(("x", "joined"), [(103.0, False), (110.0, True)])
def test_a_break_near_the_zone_edge_does_not_join(x: float, joined: bool) -> None:
    # Last seen 3 px inside the border (under zone_edge 0.1 x 50 px): may have left.
    # 10 px inside: cannot have left unseen, so the same break joins.
    events = play(camera(), broken_stay((x + 5, 200), gap_s=1.0, first=(x, 200)))
    exits = [e.tracklets for e in events if e.kind == "zone_exit"]
    assert exits == ([2] if joined else [1, 1])


def test_tracks_at_the_frame_border_are_never_joined() -> None:
    zone = [[0, 100], [300, 100], [300, 300], [0, 300]]  # reaches the frame's left border
    config = AnalyticsConfig(zones=[{"id": "z", "points": zone, "units": "pixel",
                                     "min_visit_s": 0.5, "exit_grace_s": 0.5}],
                             min_distinct_tracks=1)
    at_border = play(CameraAnalytics("cam1", config, 400, 400),
                     broken_stay((14, 200), gap_s=1.0, first=(12, 200)))  # box from x=2
    inside = play(CameraAnalytics("cam1", config, 400, 400),
                  broken_stay((34, 200), gap_s=1.0, first=(32, 200)))
    assert [e.tracklets for e in at_border if e.kind == "zone_exit"] == [1, 1]
    assert [e.tracklets for e in inside if e.kind == "zone_exit"] == [2]


def test_a_joined_queue_visit_is_one_wait() -> None:
    script = broken_stay((210, 200), gap_s=1.0)
    cam = camera(queue=True)
    play(cam, script)
    (row,) = [m for w in cam.close() for m in w.metrics]
    assert (row.wait_count, row.wait_p50_s, row.tracklets) == (1, 3.0, 2)
    cam = camera(GAP_OFF, queue=True)
    play(cam, script)
    (row,) = [m for w in cam.close() for m in w.metrics]
    assert (row.wait_count, row.wait_p50_s, row.tracklets) == (2, 1.0, 2)


def test_line_sides_go_on_only_when_asked() -> None:
    # A horizontal line at y = 240 inside the zone; track 1 walks down to 10 px above it
    # and is lost, track 2 appears 15 px below it and walks on down.
    line = [{"id": "l", "start": [150, 240], "end": [250, 240], "units": "pixel"}]
    script = [
        (0.0, 1.0, [(1, 200, 230)], []),
        (1.04, 1.5, [], [1]),
        (1.54, 1.96, [], []),
        (2.0, 3.0, [(2, 200, 255)], []),
        (3.04, 4.0, [(2, 200, 290)], []),
    ]

    def crossings(continuity: dict) -> list[str]:
        return [e.direction for e in play(camera(continuity, lines=line), script)
                if e.kind == "line_cross"]

    assert crossings({"lines": True}) == ["in"]
    assert crossings({}) == []  # the default: each track needs its own path across


def test_joining_state_stays_bounded() -> None:
    # 400 people one after another, each seen 0.4 s deep inside and removed; every new
    # one starts far from the last (no joins): removed tracks are kept at most max_gap_s.
    cam = camera()
    most_retired = 0
    t = 0.0
    for k in range(400):
        x = 120.0 + (k % 4) * 55.0
        for i in range(10):
            cam.update(at(tracks_at([(k, x, 200.0)]), t, [k] if i == 9 else ()))
            t += 1 / FPS
        most_retired = max(most_retired, int(cam._ends.retired.sum()))
    assert most_retired <= 3.0 / 0.4 + 2
    assert cam._slots.capacity == INITIAL_SLOTS
    cam.update(at(tracks_at([]), t + 3.1))
    assert not cam._ends.retired.any() and len(cam._slots) == 0
    assert np.isnan(cam._zones.start).all()


def test_border_distance_inside_and_outside() -> None:
    square = PolygonSet.from_polygons([np.array(SQUARE, np.float64)])
    d = square.border_distance(np.array([200.0, 103.0, 50.0]), np.array([200.0, 200.0, 200.0]))
    assert d[:, 0].tolist() == [100.0, 3.0, 50.0]


def test_tracklets_column_is_written() -> None:
    events = play(camera(), broken_stay((210, 200), gap_s=1.0))
    table = events_to_table([e for e in events if e.captured_at is not None])
    assert table.column("tracklets").to_pylist() == [1, 2]


def test_a_person_whose_track_breaks_after_crossing_counts_once() -> None:
    # Track 1 walks down across the line (y = 240) and is lost 10 px past it; track 2,
    # which continues it, starts 8 px back above the line (a box that moved) and walks on.
    line = [{"id": "l", "start": [150, 240], "end": [250, 240], "units": "pixel"}]
    script = [(i * 0.2, i * 0.2 + 0.16, [(1, 200, y)], []) for i, y in enumerate((220, 230, 250))]
    script += [
        (0.6, 1.0, [], [1]),
        (1.04, 1.5, [(2, 200, 232)], []),
        (1.54, 2.5, [(2, 200, 270)], []),
    ]

    def crossings(continuity: dict) -> list[tuple[int, str]]:
        return [(e.track_id, e.direction) for e in play(camera(continuity, lines=line), script)
                if e.kind == "line_cross"]

    assert crossings({}) == [(1, "in")]
    assert crossings(GAP_OFF) == [(1, "in"), (2, "in")]


def test_a_person_lost_deep_inside_counts_in_occupancy_while_the_visit_may_go_on() -> None:
    cam = camera()
    play(cam, broken_stay((210, 200), gap_s=1.0)[:3])  # track 1 removed, track 2 not yet
    assert cam.snapshot().zones[0].occupancy == 1  # 0.96 s after its last frame
    cam.update(at(tracks_at([]), 1.0 + 3.04))  # past max_gap_s: the visit ended
    assert cam.snapshot().zones[0].occupancy == 0


def test_deep_flags_settle_from_the_last_sighting() -> None:
    # Visits measure how deep their track was only when it matters (lost, removed or
    # continued tracks). Whenever a visit's flag is settled it must say what the track's
    # last sighting said: inside and at least zone_edge body heights (here 50 px) from
    # the square's border, however the track was lost (hidden, removed, frames skipped).
    cam = camera({"zone_edge": 1.0})
    rng = np.random.default_rng(7)
    pos = rng.integers(60, 340, size=(8, 2)).astype(np.float64)
    ids, hidden, next_id = list(range(8)), np.zeros(8, np.int64), 8
    last: dict[int, tuple[float, float]] = {}
    outcomes = {"settled": 0, "ended": 0}
    t = 0.0
    for _ in range(1500):
        pos = np.clip(pos + rng.integers(-4, 5, size=pos.shape), 40, 360)
        removed = []
        for i in np.flatnonzero((hidden == 0) & (rng.random(8) < 0.02)):
            hidden[i] = rng.integers(5, 40)
            if rng.random() < 0.5:
                removed.append(ids[i])
                ids[i], next_id = next_id, next_id + 1
        rows = [(ids[i], *pos[i]) for i in np.flatnonzero(hidden == 0)]
        hidden[hidden > 0] -= 1
        cam.update(at(tracks_at(rows), t, removed))
        last.update({tid: (x, y) for tid, x, y in rows})
        t += (1 + 15 * (rng.random() < 0.01)) / FPS  # now and then frames are skipped
        zv = cam._zones
        for slot in np.flatnonzero(~np.isnan(zv.start[:, 0]) | cam._ends.retired):
            x, y = last[int(cam._slots.track_id[slot])]
            inside = 100 < x < 300 and 100 < y < 300
            deep = inside and min(x - 100, 300 - x, y - 100, 300 - y) >= 50
            if not zv.unsettled[slot] and not np.isnan(zv.start[slot, 0]):
                assert bool(zv.deep[slot, 0]) == (deep and not zv.seen_out[slot, 0])
                outcomes["settled"] += 1
            if cam._ends.retired[slot] and inside and not deep:  # removed near the border
                assert np.isnan(zv.start[slot, 0])  # its visit ended at once
                outcomes["ended"] += 1
    assert outcomes["settled"] > 50 and outcomes["ended"] > 5
