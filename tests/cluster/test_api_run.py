"""The Python API in-process on the shared Ray session: the embedded demo run offline
with analytics plugins beside the built-ins (the flow-time example, a well-behaved one,
and one that raises on one camera), its result read as Arrow tables; and a live handle
that adds a camera."""

from __future__ import annotations

import pathlib

import pyarrow.compute as pc
import pytest

from pipeline import Site, run, start
from tests.conftest import free_port

pytestmark = pytest.mark.cluster

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
FRAMES = 100  # 10 s of each demo camera
CLIP_FPS = 10.0
ANALYSED = round(FRAMES * Site.demo().cameras[0].target_fps / CLIP_FPS)
"""Frames each camera analyses: the demo's cameras subsample the clip (target_fps)."""
PLUGINS = [
    {"type": "examples.plugins.flowtime.panoray_flowtime:FlowTime", "name": "flow",
     "cameras": ["campus-a"], "config": {"from_zone": "path-west", "to_line": "lamp-post"}},
    {"type": "tests.plugin_fixtures:Frames", "name": "frames"},
    {"type": "tests.plugin_fixtures:Raises", "name": "bad", "cameras": ["campus-b"],
     "config": {"fail_after": 20}},
]


def _demo() -> Site:
    """The demo's three cameras, shortened, with 5 s windows and the plugins."""
    demo = Site.demo()
    cameras = [c.model_copy(update={"source": c.source.model_copy(
        update={"max_frames": FRAMES})}) for c in demo.cameras]
    return Site.of({**dict(demo), "cameras": cameras, "http": {"port": free_port()},
                    "analytics": {"window_s": 5, "window_grace_s": 2,
                                  "min_distinct_tracks": 1, "plugins": PLUGINS}})


@pytest.fixture(scope="module")
def demo_result(serve_app, tmp_path_factory):
    rows = []
    result = run(_demo(), offline=True, output_dir=tmp_path_factory.mktemp("api") / "out",
                 detector=serve_app["handle"], on_status=rows.extend)
    return result, rows


def test_the_demo_runs_offline_in_process(demo_result):
    result, _ = demo_result
    assert result.why == "ended" and not result.failed_cameras
    cams = result.summary["cameras"]
    assert set(cams) == {"campus-a", "campus-b", "campus-c"}
    assert ANALYSED == 70  # 7 of the clip's 10 frames a second
    assert all(c["frames_delivered"] == ANALYSED and c["frames_dropped"] == 0
               for c in cams.values())
    events, metrics = result.events(), result.metrics()
    assert set(pc.unique(events.column("run_id")).to_pylist()) == {result.run_id}
    crossings = pc.equal(events.column("kind"), "line_cross")
    assert pc.sum(crossings).as_py() == sum(
        n for c in cams.values() for line in c["crossings"].values() for n in line.values())
    assert metrics.num_rows > 0 and set(pc.unique(metrics.column("camera_id")).to_pylist()) \
        == set(cams)
    windows = {(c, s) for c, s in zip(metrics.column("camera_id").to_pylist(),
                                       metrics.column("window_start_s").to_pylist())}
    assert result.summary["windows_total"] == len(windows)  # those written at the end too
    assert result.summary["events_total"] == events.num_rows


def test_plugins_write_their_tables_beside_the_builtins(demo_result):
    result, _ = demo_result
    frames = result.table("plugins/frames/rows").to_pylist()
    by_camera = {}
    for row in frames:
        by_camera[row["camera_id"]] = by_camera.get(row["camera_id"], 0) + row["frames"]
    assert by_camera == {"campus-a": ANALYSED, "campus-b": ANALYSED, "campus-c": ANALYSED}
    flow = result.table("plugins/flow/rows")
    assert set(pc.unique(flow.column("camera_id")).to_pylist()) == {"campus-a"}
    assert set(flow.column("from_zone").to_pylist()) == {"path-west"}
    assert result.table("plugins/bad/rows").num_rows == 0


def test_a_bad_plugin_stops_alone_and_says_so(demo_result):
    result, rows = demo_result
    cams = result.summary["cameras"]
    assert cams["campus-b"]["state"] == "ended"  # the camera kept running to its end
    assert "raised RuntimeError: plugin bug" in cams["campus-b"]["plugin_errors"]["bad"]
    assert all(not c["plugin_errors"] for cid, c in cams.items() if cid != "campus-b")
    reasons = [r.reason for r in rows if r.camera_id == "campus-b"]
    assert any("plugin bad stopped: raised RuntimeError" in r for r in reasons), reasons[-3:]


def test_a_live_handle_adds_a_camera_and_stops(serve_app, tmp_path):
    site = Site.of({"cameras": [{"id": "first", "url": str(CLIP), "mode": "offline",
                                 "source": {"max_frames": 30}}],
                    "http": {"port": free_port()}})
    with start(site, output_dir=tmp_path / "out", detector=serve_app["handle"]) as handle:
        view = handle.add_camera({"id": "second", "url": str(CLIP), "mode": "offline",
                                  "source": {"max_frames": 30},
                                  "lines": [{"id": "l", "start": [0.56, 0.2],
                                             "end": [0.56, 0.66]}]})
        assert view["id"] == "second" and view["added_by"] == "python"
        assert set(handle.live()["cameras"]) == {"first", "second"}
        assert handle.wait() == "ended"
    summary = handle.result.summary
    assert summary["cameras"]["second"]["frames_delivered"] == 30
    assert handle.stop() is handle.result  # stopping twice returns the same result
