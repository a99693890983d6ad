"""Analytics plugins without Ray: found by entry point or dotted path, run beside the
built-ins in the aggregator core, their rows checked, suppressed and written; a plugin
that breaks the rules stops alone."""

from __future__ import annotations

import logging
import pathlib
import pickle
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from actors.plugin_deadline import interrupt_after
from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.config import AnalyticsConfig
from pipeline.sinks import ParquetSinkConfig, Sinks
from pipeline.types import FrameMeta, TrackedFrame, Tracks

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "plugins" / "flowtime"
FPS = 10.0
SPEED = 20.0  # px/s: a person walks from x = 10 (in zone A) to the line at x = 150
STARTS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)  # six people, one a second
ZONE = {"id": "tills", "units": "pixel", "points": [[0, 0], [60, 0], [60, 100], [0, 100]]}
LINE = {"id": "door", "units": "pixel", "start": [150, 0], "end": [150, 100],
        "left_to_right": "back", "right_to_left": "out"}
FLOW = {"type": "flow_time", "name": "till_to_door",
        "config": {"from_zone": "tills", "to_line": "door"}}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The example plugin installed as a distribution with an entry point: a dist-info
    beside its package on sys.path, as pip leaves it."""
    dist = tmp_path / "site"
    info = dist / "panoray_flowtime-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: panoray-flowtime\n"
                                   "Version: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[panoray.analytics]\nflow_time = panoray_flowtime:FlowTime\n")
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(dist))
    return dist


def walkers(until_s: float, starts=STARTS) -> list[TrackedFrame]:
    """Frames of people walking right at SPEED from x = 10, one track each, on a 200x100
    camera; each track is removed once it leaves the frame."""
    frames = []
    for k in range(int(until_s * FPS) + 1):
        t = k / FPS
        rows = [(i + 1, 10 + SPEED * (t - s)) for i, s in enumerate(starts)
                if s <= t and 10 + SPEED * (t - s) < 200]
        gone = [i + 1 for i, s in enumerate(starts) if 10 + SPEED * (t - s) >= 200 >
                10 + SPEED * (t - 1 / FPS - s)]
        x = np.array([r[1] for r in rows], np.float32)
        boxes = np.stack([x - 5, np.full_like(x, 40), x + 5, np.full_like(x, 90)], axis=1)
        tracks = Tracks(boxes.reshape(-1, 4), np.ones(len(rows), np.float32),
                        np.zeros(len(rows), np.int16), np.array([r[0] for r in rows], np.int64))
        frames.append(TrackedFrame(FrameMeta("cam1", k, t, 1.8e9 + t, 200, 100), tracks, gone))
    return frames


def run(plugins: list[dict], k: int = 5, until_s: float = 35.0):
    """Feeds the walkers through an aggregator (on the wall clock, with the deadline on
    plugin calls, as the aggregator actor runs it); returns it, its events and the plugin
    tables of every window (the last closed at shutdown)."""
    agg = Aggregator(clock=time.perf_counter, deadline=interrupt_after)
    agg.add_camera("cam1", AnalyticsConfig(zones=[ZONE], lines=[LINE], window_s=20.0,
                                           min_distinct_tracks=k, plugins=plugins))
    events = []
    for frame in walkers(until_s):
        out = agg.update([frame])
        assert not out.errors
        events += out.events
    agg.close()
    return agg, events, agg.pop_plugin_tables()


def test_an_installed_plugin_writes_its_table(installed, tmp_path):
    agg, events, tables = run([FLOW])
    sinks = Sinks([ParquetSinkConfig(root=tmp_path / "out")], run_id="run-1")
    sinks.write_plugin_tables(tables)
    sinks.close()
    rows = pd.read_parquet(tmp_path / "out" / "plugins" / "till_to_door" / "rows")
    first = rows[rows.window_start_s == 0.0].iloc[0]
    # each walked 140 px to the line plus its 5 px hysteresis at 20 px/s: 7.25 s, the
    # next frame at 10 fps: 7.3 s
    assert first.flows == 6 and first.distinct_tracks == 6 and not first.suppressed
    assert first.flow_mean_s == pytest.approx(7.3)
    enters = {e.track_id: e.pts_s for e in events if e.kind == "zone_enter"}
    crosses = {e.track_id: e.pts_s for e in events if e.kind == "line_cross"}
    assert len(enters) == len(crosses) == 6  # the built-ins ran beside it, unchanged
    assert first.flow_p50_s == pytest.approx(
        np.median([crosses[t] - enters[t] for t in crosses]))
    assert set(rows.camera_id) == {"cam1"} and set(rows.run_id) == {"run-1"}
    assert not {"track_id", "id"} & set(rows.columns)
    assert agg.snapshot().plugin_errors == {}


def test_rows_of_fewer_than_k_people_are_suppressed(installed):
    _, _, tables = run([FLOW], k=7)
    first = tables[0].table.to_pylist()[0]
    assert first["suppressed"] and first["flows"] is None and first["flow_mean_s"] is None
    assert first["distinct_tracks"] is None and first["from_zone"] == "tills"


@pytest.mark.parametrize("bad, why", [
    ("Raises", "raised RuntimeError: plugin bug"),
    ("WrongShape", "returned dict, not a list of rows"),
    ("LeaksIds", "frames = list is not a int64 scalar"),
    ("ExtraColumn", "has columns ['distinct_tracks', 'frames', 'track_id']"),
])
def test_a_bad_plugin_stops_alone(installed, bad, why, caplog):
    plugins = [{"type": f"tests.plugin_fixtures:{bad}", "name": "bad"},
               {"type": "tests.plugin_fixtures:Frames", "name": "good"}, FLOW]
    with caplog.at_level(logging.ERROR):
        agg, events, tables = run(plugins)
    assert len([e for e in events if e.kind == "line_cross"]) == 6  # the camera went on
    assert why in agg.snapshot().plugin_errors["cam1"]["bad"]
    assert "analytics plugin 'bad' stopped: " in caplog.text and why in caplog.text
    written = {(t.name, t.table.num_rows) for t in tables}
    assert ("good", 1) in written and ("till_to_door", 1) in written
    assert "bad" not in {t.name for t in tables}


def test_a_plugin_that_cannot_start_on_a_camera_is_reported(installed):
    flow = {**FLOW, "config": {"from_zone": "nowhere", "to_line": "door"}}
    agg, events, tables = run([flow])
    assert "has no zone 'nowhere'" in agg.snapshot().plugin_errors["cam1"]["till_to_door"]
    assert events and not tables


@pytest.mark.parametrize("plugin, message", [
    ({"type": "no_such_plugin", "name": "x"},
     "no 'panoray.analytics' entry point named 'no_such_plugin'"),
    ({"type": "tests.plugin_fixtures:Nope", "name": "x"}, "cannot load"),
    ({"type": "tests.plugin_fixtures:DeclaresIds", "name": "x"},
     "column 'track_id' looks like an identifier"),
    ({**FLOW, "config": {"from_zone": "tills"}}, "config.to_line: Field required"),
    ({**FLOW, "config": {"from_zone": "a", "to_line": "b", "k": 1}},
     "config.k: Extra inputs are not permitted"),
    ({**FLOW, "name": "Bad Name"}, "String should match pattern"),
    ({"type": "tests.plugin_fixtures:PlainConfig", "name": "x"},
     "its Config must be a pydantic model class"),
    ({"type": "broken_plugin:P", "name": "x"},
     r"cannot load 'broken_plugin:P': SyntaxError: expected ':' \(broken_plugin.py, line 1\)"),
    ({"type": "raising_plugin:P", "name": "x"},
     "cannot load 'raising_plugin:P': RuntimeError: needs a licence server"),
])
def test_bad_plugin_configs_are_refused_when_the_config_loads(installed, plugin, message,
                                                              tmp_path, monkeypatch):
    """A module that does not compile or raises as it is imported was a traceback, not a
    config error naming the plugin."""
    (tmp_path / "broken_plugin.py").write_text("class P\n    pass\n")
    (tmp_path / "raising_plugin.py").write_text("raise RuntimeError('needs a licence server')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValidationError, match=message):
        AnalyticsConfig(zones=[ZONE], lines=[LINE], plugins=[plugin])


def test_plugin_names_are_unique(installed):
    with pytest.raises(ValidationError, match="plugin names must be unique"):
        AnalyticsConfig(plugins=[FLOW, FLOW])


def test_a_plugin_runs_only_on_its_cameras(installed):
    agg, _, tables = run([{**FLOW, "cameras": ["other"]}])
    assert not tables and agg.snapshot().plugin_errors == {}


def test_plugin_events_are_written_with_their_wall_time(installed, tmp_path):
    _, _, tables = run([{"type": "tests.plugin_fixtures:Ticks", "name": "ticks"}],
                       until_s=9.9)
    sinks = Sinks([ParquetSinkConfig(root=tmp_path / "out")], run_id="run-1")
    sinks.write_plugin_tables(tables)
    sinks.close()
    events = pd.read_parquet(tmp_path / "out" / "plugins" / "ticks" / "events")
    assert sorted(events.pts_s) == [float(s) for s in range(10)]  # frames 0, 10, ... 90
    assert (events.captured_at - events.pts_s == 1.8e9).all()
    assert events[events.pts_s == 3.0].in_view.item() == 4  # people 1-4 had started
    assert set(events.kind) == {"tick"} and set(events.camera_id) == {"cam1"}


def test_a_slow_plugin_is_stopped_before_it_holds_the_aggregator(installed, caplog):
    """A plugin that slept 1 s a frame held the aggregator, which serves every camera
    there, until the run's calls to it timed out and the run failed with nothing written.
    Here 0.2 s a frame against max_busy_s 0.5: its third frame's call is interrupted
    once the budget is spent, and the plugin stopped."""
    slow = {"type": "tests.plugin_fixtures:Slow", "name": "slow", "max_busy_s": 0.5,
            "config": {"fail_after": 20}}
    with caplog.at_level(logging.ERROR):
        agg, events, tables = run([slow, FLOW], until_s=9.9)
    why = agg.snapshot().plugin_errors["cam1"]["slow"]
    assert why.startswith("interrupted: this call took its calls past its max_busy_s"), why
    assert "slow" not in {t.name for t in tables} and "till_to_door" in {t.name for t in tables}
    _, alone, _ = run([FLOW], until_s=9.9)
    assert events == alone  # the camera went on


def test_a_plugin_call_that_never_returns_is_interrupted_and_stops_that_plugin(installed):
    """A plugin stuck in its update (sleeping forever, swallowing exceptions) held the
    aggregator, and every camera on it, for good: its call is now interrupted once it
    has spent its max_busy_s, and the camera and the other plugins go on."""
    hangs = {"type": "tests.plugin_fixtures:Hangs", "name": "hangs", "max_busy_s": 0.5,
             "config": {"fail_after": 5}}
    started = time.perf_counter()
    agg, events, tables = run([hangs, FLOW], until_s=9.9)
    assert time.perf_counter() - started < 10
    why = agg.snapshot().plugin_errors["cam1"]["hangs"]
    assert why.startswith("interrupted: this call took its calls past its max_busy_s "
                          "(0.5 s over its last 64 calls)"), why
    assert "hangs" not in {t.name for t in tables} and "till_to_door" in {t.name for t in tables}
    _, alone, _ = run([FLOW], until_s=9.9)
    assert events == alone


def test_a_plugin_whose_state_grows_too_big_or_cannot_pickle_stops_at_the_checkpoint(
        installed, caplog):
    """A plugin keeping 10 MB a frame grew the aggregator to 4.8 GB and its checkpoint to
    1.6 GB, unnoticed; one that holds a lock made every checkpoint of its aggregator fail."""
    agg = Aggregator()
    plugins = [{"type": "tests.plugin_fixtures:Hoards", "name": "hoards", "max_state_mb": 5},
               {"type": "tests.plugin_fixtures:Unpicklable", "name": "locked"},
               {"type": "tests.plugin_fixtures:Frames", "name": "good"}]
    agg.add_camera("cam1", AnalyticsConfig(zones=[ZONE], lines=[LINE], window_s=20.0,
                                           plugins=plugins))
    frames = walkers(9.9)
    for frame in frames[:4]:
        agg.update([frame])
    pickle.loads(pickle.dumps(agg))  # 4 MB: under its limit
    assert agg.snapshot().plugin_errors["cam1"].keys() == {"locked"}
    for frame in frames[4:8]:
        agg.update([frame])
    with caplog.at_level(logging.ERROR):
        restored = pickle.loads(pickle.dumps(agg))
    errors = agg.snapshot().plugin_errors["cam1"]
    assert errors["hoards"] == "its state grew to 8 MB, over its max_state_mb (5)"
    assert errors["locked"].startswith("its state cannot be pickled for the checkpoint: "
                                       "TypeError: cannot pickle '_thread.lock' object")
    assert "analytics plugin 'hoards' stopped" in caplog.text
    for frame in frames[8:]:
        restored.update([frame])
    restored.close()
    assert {t.name for t in restored.pop_plugin_tables()} == {"good"}
    assert restored.snapshot().plugin_errors["cam1"].keys() == {"hoards", "locked"}


def test_a_removed_camera_s_stopped_plugins_stay_in_the_snapshot(installed):
    """An offline batch removes each file's camera as it ends: the run summary's
    plugin_errors of those cameras came out empty."""
    agg = Aggregator()
    config = AnalyticsConfig(zones=[ZONE], lines=[LINE], plugins=[
        {"type": "tests.plugin_fixtures:Raises", "name": "bad"}])
    agg.add_camera("cam1", config)
    for frame in walkers(1.0):
        agg.update([frame])
    agg.remove_camera("cam1")
    assert agg.snapshot().plugin_errors == {"cam1": {"bad": "raised RuntimeError: plugin bug"}}
    agg.add_camera("cam1", config)  # the same id again: a new camera
    assert agg.snapshot().plugin_errors == {}


def test_validate_warns_of_a_plugin_camera_the_config_lacks(tmp_path):
    """A typo in a plugin's cameras passed validate, and the plugin ran nowhere."""
    site = tmp_path / "site.yaml"
    site.write_text("cameras: [{id: cam-a, url: /x.mp4}]\n"
                    "analytics:\n  plugins: [{type: 'tests.plugin_fixtures:Frames', name: f,\n"
                    "             cameras: [cam-a, cam-b]}]\n")
    done = subprocess.run([sys.executable, "-m", "pipeline", "validate", str(site)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr  # allowed: cam-b may come through the API
    assert ("panoray: warning: analytics.plugins[0] (f): camera 'cam-b' is not in the config"
            in done.stderr) and "'cam-a'" not in done.stderr
