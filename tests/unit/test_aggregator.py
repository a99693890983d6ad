"""The aggregator core (what the Ray actor wraps), with and without a Parquet sink."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.analytics.aggregator import Aggregator
from pipeline.errors import ConfigError, InputError
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig
from pipeline.types import Tracks
from tests.unit.analytics_helpers import AGG_CONFIG as CONFIG
from tests.unit.analytics_helpers import agg_meta as meta
from tests.unit.analytics_helpers import tracks_at



def walk(i: int, track: int = 1) -> Tracks:
    """Walks right across the frame at 4 px a frame from x = 100."""
    return tracks_at([(track, 100 + 4 * i, 200)])


def test_two_cameras_with_a_sink(tmp_path: Path) -> None:
    agg = Aggregator(ParquetSink(ParquetSinkConfig(root=tmp_path)))
    agg.add_camera("cam1", CONFIG, 400, 300)
    agg.add_camera("cam2", CONFIG, 400, 300)
    events = []
    for i in range(90):
        events += agg.update("cam1", meta("cam1", i), walk(i))
        events += agg.update("cam2", meta("cam2", i), Tracks.empty())
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
    agg.set_still("cam1", np.zeros((300, 400, 3), np.uint8), [[10, 10, 50, 100]])
    agg.set_still("cam1", np.zeros((150, 200, 3), np.uint8), [[5, 5, 25, 50]])  # downscaled
    agg.remove_camera("cam1")
    assert agg.camera_ids == ("cam2",)
    agg.close()
    ev = pd.read_parquet(tmp_path / "events")
    assert len(ev) == 3 and set(ev["camera_id"].astype(str)) == {"cam1"}
    metrics = pd.read_parquet(tmp_path / "metrics")
    assert sorted(
        zip(
            metrics["camera_id"].astype(str),
            metrics["window_start_s"],
            metrics["complete"],
            strict=True,
        )
    ) == [
        ("cam1", 0.0, True),
        ("cam1", 0.0, True),
        ("cam1", 5.0, False),
        ("cam1", 5.0, False),
        ("cam2", 0.0, True),
        ("cam2", 0.0, True),
        ("cam2", 5.0, False),
        ("cam2", 5.0, False),
    ]
    assert len(list((tmp_path / "heatmaps").rglob("*.png"))) == 4


def test_without_a_sink_closed_windows_are_kept_for_the_caller() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, 400, 300)
    agg.update_batch("cam1", [(meta("cam1", i), walk(i), ()) for i in range(140)])
    assert [w.start_s for w in agg.pop_closed_windows()] == [0.0, 5.0]
    assert agg.pop_closed_windows() == []


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda a: a.add_camera("cam1", CONFIG, 400, 300),
            ConfigError,
            "camera 'cam1' is already added; remove it first",
        ),
        (
            lambda a: a.add_camera("cam2", {"window_s": -1}, 400, 300),
            ConfigError,
            "camera 'cam2': invalid analytics config",
        ),
        (
            lambda a: a.update("nope", meta("nope", 0), Tracks.empty()),
            InputError,
            "camera 'nope' is not added here; cameras: ['cam1']",
        ),
        (
            lambda a: a.update("cam1", meta("cam2", 0), Tracks.empty()),
            InputError,
            "frame of camera 'cam2' was sent to camera 'cam1'",
        ),
        (
            lambda a: a.update("cam1", meta("cam1", 0, size=(800, 600)), Tracks.empty()),
            InputError,
            "camera 'cam1': frame size changed from 400x300 to 800x600",
        ),
        (
            lambda a: a.set_still("cam1", np.zeros((10, 10, 3), np.uint8), []),
            InputError,
            "camera 'cam1': still is 10x10, not the aspect ratio of the camera's 400x300 frames",
        ),
        (lambda a: a.remove_camera("cam9"), InputError, "camera 'cam9' is not added here"),
    ],
)
def test_errors_name_the_camera(call, error: type, message: str) -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, 400, 300)
    with pytest.raises(error) as err:
        call(agg)
    assert message in str(err.value)


def test_closed_windows_kept_without_a_sink_are_bounded() -> None:
    agg = Aggregator(keep_closed_windows=3)
    agg.add_camera("cam1", {**CONFIG, "window_s": 1.0, "window_grace_s": 2.0}, 400, 300)
    for i in range(200):
        agg.update("cam1", meta("cam1", i), Tracks.empty())
    assert [w.start_s for w in agg.pop_closed_windows()] == [14.0, 15.0, 16.0]


def test_update_batch_keeps_going_past_a_bad_frame() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, 400, 300)
    frames = [(meta("cam1", i), walk(i), ()) for i in range(60)]
    frames[3] = (meta("cam2", 3), walk(3), ())  # a frame of another camera
    with pytest.raises(InputError, match="1 of 60 frames failed; first: frame of camera 'cam2'"):
        agg.update_batch("cam1", frames)
    # the frames after the bad one were processed: the walker crossed the line at frame 25
    line = agg.snapshot().cameras[0].lines[0]
    assert (line.rl_direction, line.rl_count) == ("out", 1)
