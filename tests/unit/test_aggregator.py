"""The aggregator core (what the Ray actor wraps): many cameras' analytics, fed
TrackedFrames in batches, its output written by a real Parquet sink."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.config import AnalyticsConfig
from pipeline.errors import ConfigError, InputError
from pipeline.sinks import ParquetSinkConfig, Sinks
from pipeline.types import TrackedFrame, Tracks
from tests.unit.analytics_helpers import AGG_CONFIG as CONFIG
from tests.unit.analytics_helpers import agg_meta as meta
from tests.unit.analytics_helpers import tracks_at


def walk(camera: str, i: int, track: int = 1) -> TrackedFrame:
    """Frame ``i`` of ``camera``: one person walking right at 4 px a frame from x = 100."""
    return TrackedFrame(meta(camera, i), tracks_at([(track, 100 + 4 * i, 200)]))


def test_two_cameras_output_written_by_a_parquet_sink(tmp_path: Path) -> None:
    agg = Aggregator()
    sinks = Sinks([ParquetSinkConfig(root=tmp_path)], run_id="run-1")
    agg.add_camera("cam1", CONFIG)
    agg.add_camera("cam2", CONFIG)
    events = []
    for i in range(90):  # one call per frame pair, as a tracker forwards them
        out = agg.update([walk("cam1", i), TrackedFrame(meta("cam2", i), Tracks.empty())])
        assert out.errors == []
        sinks.write(out.events, out.windows, {})
        events += out.events
    assert [(e.camera_id, e.kind, e.element_id) for e in events] == [
        ("cam1", "zone_enter", "left"),
        ("cam1", "line_cross", "mid"),
        ("cam1", "zone_exit", "left"),
    ]
    snap = agg.snapshot()
    assert [c.camera_id for c in snap.cameras] == ["cam1", "cam2"]
    cam1 = snap.cameras[0]
    assert (cam1.lines[0].rl_direction, cam1.lines[0].rl_count) == ("out", 1)
    assert cam1.open_windows == ((5.0, 10.0),)
    assert snap.events_total == 3 and snap.windows_total == 2  # window [0, 5) of both cameras
    sinks.write([], agg.remove_camera("cam1"), {"cam2": np.zeros((30, 40, 3), np.uint8)})
    assert agg.camera_ids == ("cam2",)
    sinks.write([], agg.close(), {})
    sinks.close()
    ev = pd.read_parquet(tmp_path / "events")
    assert len(ev) == 3 and set(ev["camera_id"].astype(str)) == {"cam1"}
    assert set(ev["run_id"]) == {"run-1"}
    metrics = pd.read_parquet(tmp_path / "metrics")
    assert sorted(zip(metrics["camera_id"].astype(str), metrics["window_start_s"],
                      metrics["complete"], strict=True)) == [
        ("cam1", 0.0, True), ("cam1", 0.0, True), ("cam1", 5.0, False), ("cam1", 5.0, False),
        ("cam2", 0.0, True), ("cam2", 0.0, True), ("cam2", 5.0, False), ("cam2", 5.0, False),
    ]
    assert len(list((tmp_path / "heatmaps").rglob("*.png"))) == 4


def test_a_camera_starts_at_its_first_frame_with_that_frames_size() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    assert agg.snapshot().cameras == () and agg.open_heatmap("cam1") is None
    agg.update([walk("cam1", 0)])
    assert [c.camera_id for c in agg.snapshot().cameras] == ["cam1"]
    assert agg.open_heatmap("cam1").width == 400


def test_analytics_that_cannot_start_are_reported_and_the_others_go_on() -> None:
    outside = AnalyticsConfig(lines=[{"id": "far", "start": [10, 10], "end": [900, 10],
                                      "units": "pixel"}])
    agg = Aggregator()
    agg.add_camera("bad", outside)
    agg.add_camera("cam1", CONFIG)
    out = agg.update([TrackedFrame(meta("bad", i), Tracks.empty()) for i in range(3)]
                     + [walk("cam1", i) for i in range(30)])
    assert out.errors == [] and [e.kind for e in out.events] == ["zone_enter", "line_cross"]
    snap = agg.snapshot()
    assert [c.camera_id for c in snap.cameras] == ["cam1"]
    assert "far" in snap.errors["bad"] and "outside" in snap.errors["bad"]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda a: a.add_camera("cam1", CONFIG), ConfigError,
         "camera 'cam1' is already added; remove it first"),
        (lambda a: a.add_camera("cam2", {"window_s": 60}), ConfigError,
         "camera 'cam2': analytics config must be an AnalyticsConfig, got dict"),
        (lambda a: a.remove_camera("cam9"), InputError, "camera 'cam9' is not added here"),
    ],
)
def test_errors_name_the_camera(call, error: type, message: str) -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    with pytest.raises(error) as err:
        call(agg)
    assert message in str(err.value)


def test_a_bad_frame_fails_alone_and_says_why() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    frames = [walk("cam1", i) for i in range(60)]
    frames[3] = TrackedFrame(meta("nope", 3), Tracks.empty())  # a camera not added here
    out = agg.update(frames)
    assert out.errors == ["camera 'nope' is not added here; cameras: ['cam1']"]
    # the frames after the bad ones were processed: the walker crossed the line at frame 25
    line = agg.snapshot().cameras[0].lines[0]
    assert (line.rl_direction, line.rl_count) == ("out", 1)


def test_frames_of_another_size_are_scaled_to_the_first() -> None:
    """A source whose resolution changes mid-run (here doubled from frame 20 on, the same
    view) is counted on its first frames' grid: the same crossing, no error."""
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    frames = [walk("cam1", i) if i < 20 else
              TrackedFrame(meta("cam1", i, size=(800, 600)), walk("cam1", i).tracks.scaled(2, 2))
              for i in range(60)]
    out = agg.update(frames)
    assert out.errors == []
    cam = agg.snapshot().cameras[0]
    assert (cam.lines[0].rl_direction, cam.lines[0].rl_count) == ("out", 1)
