"""Honest gaps: every metrics row carries coverage, and windows without frames are written
with null figures, not zeros (in Parquet and in /v1/history)."""

from __future__ import annotations

import math

import pytest

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import metrics_to_table
from pipeline.control.views import history_window
from pipeline.errors import InputError
from tests.unit.analytics_helpers import WALL0, at, tracks_at

FPS = 10.0


def camera(**settings) -> CameraAnalytics:
    """A camera with a zone and a line, 10 s windows and a 1 s grace."""
    cfg = AnalyticsConfig(
        zones=[{"id": "z", "min_visit_s": 0, "exit_grace_s": 0, "units": "pixel",
                "points": [[0, 0], [100, 0], [100, 100], [0, 100]]}],
        lines=[{"id": "l", "units": "pixel", "start": [200, 0], "end": [200, 100]}],
        window_s=10, window_grace_s=1, min_distinct_tracks=1, **settings)
    return CameraAnalytics("c1", cfg, 640, 480)


def run(stop_s: float, resume_s: float, end_s: float, **settings) -> list:
    """A camera with one person in its zone at 10 fps, except between stop and resume."""
    cam = camera(**settings)
    n = round(end_s * FPS)
    for i in range(n):
        t = i / FPS
        if stop_s <= t < resume_s:
            continue
        cam.update(at(tracks_at([(1, 50, 50)]), t))
    return cam.pop_closed_windows() + cam.close()


def zone_rows(windows) -> dict[float, object]:
    return {w.start_s: w.metrics[0] for w in windows}


def test_a_camera_stopped_for_30_s_shows_partial_coverage_and_empty_windows() -> None:
    rows = zone_rows(run(stop_s=15.0, resume_s=45.0, end_s=70.0))
    assert sorted(rows) == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert rows[0.0].coverage == pytest.approx(1.0)
    assert rows[10.0].coverage == pytest.approx(0.5, abs=0.02)   # delivered 10-15 s only
    assert rows[40.0].coverage == pytest.approx(0.5, abs=0.02)   # again from 45 s
    assert rows[50.0].coverage == pytest.approx(1.0)
    for start in (20.0, 30.0):  # no frame at all: written as such, not as zeros
        r = rows[start]
        assert (r.frames, r.coverage, r.complete) == (0, 0.0, True)
        assert r.occupancy_mean is None and r.occupancy_max is None and r.visits is None
        assert r.distinct_tracks is None
    assert rows[10.0].occupancy_mean == pytest.approx(1.0)  # the frames it had count


def test_every_row_has_coverage_and_parquet_keeps_nulls() -> None:
    windows = run(stop_s=15.0, resume_s=45.0, end_s=50.0)
    metrics = [m for w in windows for m in w.metrics]
    assert all(m.coverage is not None and 0.0 <= m.coverage <= 1.0 for m in metrics)
    table = metrics_to_table(metrics).to_pandas()
    empty = table[table.frames == 0]
    assert len(empty) == 4  # windows 20 and 30 s, a zone and a line row each
    assert (empty.coverage == 0).all()
    assert empty.occupancy_mean.isna().all() and empty.lr_count.isna().all()


def test_history_carries_coverage_per_window() -> None:
    windows = run(stop_s=15.0, resume_s=45.0, end_s=50.0)
    by_start = {w.start_s: history_window(w) for w in windows}
    assert by_start[10.0]["coverage"] == pytest.approx(0.5, abs=0.02)
    assert by_start[20.0]["coverage"] == 0.0 and by_start[20.0]["frames"] == 0
    assert "occupancy_mean" not in by_start[20.0]["rows"][0]  # null, not 0


def test_an_outage_writes_at_most_max_empty_windows() -> None:
    windows = run(stop_s=5.0, resume_s=205.0, end_s=206.0, max_empty_windows=3)
    empty = [w.start_s for w in windows if w.metrics[0].frames == 0]
    assert empty == [170.0, 180.0, 190.0]  # the newest three of 19


def test_frames_further_apart_than_the_gap_leave_time_uncovered() -> None:
    # 10 fps is 0.1 s between frames: a max gap below that covers nothing
    rows = zone_rows(run(stop_s=math.inf, resume_s=math.inf, end_s=10.0,
                         coverage_max_gap_s=0.05))
    assert rows[0.0].coverage == 0.0 and rows[0.0].frames == 100


def test_a_down_camera_s_windows_are_written_while_it_is_down_and_once() -> None:
    """Only a frame moved a camera's windows on: a live camera reconnecting for hours
    held back its last window and those of the outage until it streamed again, and one
    removed or stopped meanwhile never wrote them."""
    cam = camera()
    person = tracks_at([(1, 50, 50)])
    for i in range(150):  # streams 0-15 s, then the stream drops
        cam.update(at(person, i / FPS))
    written = cam.pop_closed_windows()
    for wall_s in (20.0, 30.0, 40.0):  # the supervisor's checks while it reconnects
        cam.idle(WALL0 + wall_s)
        written += cam.pop_closed_windows()
    # at 40 s, media time up to 39 s (a grace for frames in flight): [10, 20) ended 19 s
    # ago, [20, 30) saw no frame; [30, 40) is not over
    assert [(w.start_s, w.metrics[0].frames, w.complete) for w in written] == [
        (0.0, 100, True), (10.0, 50, True), (20.0, 0, True)]
    with pytest.raises(InputError, match="went backwards"):
        cam.update(at(person, 38.5))  # older than what was written: refused
    for i in range(450, 520):  # streams again from 45 s
        cam.update(at(person, i / FPS))
    rest = cam.pop_closed_windows() + cam.close()
    assert [(w.start_s, w.metrics[0].frames) for w in rest] == [(30.0, 0), (40.0, 50),
                                                               (50.0, 20)]  # 20 s: once


def test_a_camera_stopped_while_down_writes_the_windows_of_its_outage() -> None:
    cam = camera()
    for i in range(150):
        cam.update(at(tracks_at([(1, 50, 50)]), i / FPS))
    cam.idle(WALL0 + 60.0, final=True)  # removed at 60 s: no frame can come
    written = cam.pop_closed_windows() + cam.close()
    assert [(w.start_s, w.metrics[0].frames, w.complete) for w in written] == [
        (0.0, 100, True), (10.0, 50, True), (20.0, 0, True), (30.0, 0, True),
        (40.0, 0, True), (50.0, 0, True)]
