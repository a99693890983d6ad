"""The aggregator actor on a real local Ray cluster: many cameras, live state, stills,
history and Parquet output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import ray

from actors.aggregator_actor import AGGREGATOR_NUM_CPUS, AggregatorActor
from actors.alerts_actor import AlertsActor
from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.feed import AlertFeed
from pipeline.alerts.site_occupancy import SiteFlowsConfig
from pipeline.errors import InputError
from pipeline.sinks import ParquetSinkConfig
from pipeline.types import FrameMeta, TrackedFrame, Tracks
from tests.unit.analytics_helpers import AGG_CONFIG as CONFIG

pytestmark = pytest.mark.cluster

T0 = 1_795_651_200.0  # 2026-11-26T00:00:00Z


def frame(camera: str, i: int) -> TrackedFrame:
    """Track 1 walks right across a 400 x 300 frame at 10 fps; the tracker drops it at i = 60."""
    meta = FrameMeta(camera, i, i / 10, T0 + i / 10, 400, 300)
    if i >= 60:
        return TrackedFrame(meta, Tracks.empty(), [1] if i == 60 else [])
    x = 100 + 4 * i
    t = Tracks(
        np.array([[x - 10, 150, x + 10, 200]], np.float32),
        np.ones(1, np.float32),
        np.zeros(1, np.int16),
        np.array([1]),
    )
    return TrackedFrame(meta, t)


def test_aggregator_actor_hosts_cameras_and_writes_parquet(
    ray_session: None, tmp_path: Path
) -> None:
    agg = AggregatorActor.remote([ParquetSinkConfig(root=tmp_path)], "run-1")
    assert ray.get(agg.ready.remote())
    ray.get([agg.add_camera.remote(c, CONFIG) for c in ("cam1", "cam2", "cam3")])
    refs = []
    for i in range(100):
        refs.append(agg.update.remote([frame("cam1", i)]))
    refs.append(agg.update.remote([frame("cam2", i) for i in range(100)]))
    events = [e for r in ray.get(refs) for e in r]
    assert [(e.kind, e.element_id, e.track_id) for e in events] == [
        ("zone_enter", "left", 1),
        ("line_cross", "mid", 1),
        ("zone_exit", "left", 1),
        ("zone_enter", "left", 1),
        ("line_cross", "mid", 1),
        ("zone_exit", "left", 1),
    ]
    snap = ray.get(agg.snapshot.remote())
    by_cam = {c.camera_id: c for c in snap.cameras}
    assert set(by_cam) == {"cam1", "cam2"}  # cam3 starts with its first frame
    assert by_cam["cam1"].lines[0].rl_count == 1 and by_cam["cam1"].zones[0].exits_total == 1
    assert by_cam["cam1"].open_windows == ((5.0, 10.0),)
    assert by_cam["cam1"].active_tracks == 0  # removed by the tracker at frame 60

    with pytest.raises(InputError, match="1 of 2 frames failed; first: camera 'cam9' is not "
                       "added here"):
        ray.get(agg.update.remote([frame("cam9", 0), frame("cam3", 0)]))
    assert {c.camera_id for c in ray.get(agg.snapshot.remote()).cameras} == {
        "cam1", "cam2", "cam3"}  # the good frame of the call went on

    ray.get(agg.set_still.remote("cam1", np.full((150, 200, 3), 90, np.uint8), True))
    ray.get(agg.set_still.remote("cam9", np.full((150, 200, 3), 90, np.uint8), True))
    assert set(ray.get(agg.still_infos.remote())) == {"cam1"}  # cam9 is not hosted here
    assert ray.get(agg.still_infos.remote())["cam1"]["width"] == 200
    heat = ray.get(agg.heatmap_image.remote("cam1"))
    assert heat.content_type == "image/png" and (heat.width, heat.height) == (200, 150)
    history = ray.get(agg.history.remote("cam1"))["cam1"]
    assert [w.start_s for w in history] == [0.0]  # the window closed so far

    ray.get(agg.set_still.remote("cam2", np.full((150, 200, 3), 90, np.uint8), True))
    assert ray.get(agg.history.remote("cam2"))["cam2"]
    assert ray.get(agg.remove_camera.remote("cam2")) == 1  # its open window [5, 10)
    # a removed camera's history, still and heatmap are forgotten
    assert ray.get(agg.history.remote("cam2")) == {} and "cam2" not in ray.get(agg.history.remote())
    assert ray.get(agg.still_image.remote("cam2")) is None
    assert ray.get(agg.heatmap_image.remote("cam2")) is None
    ray.get(agg.flush.remote())
    before = ray.get(agg.snapshot.remote())
    last = ray.get(agg.close.remote())  # the run summary's: it had missed these windows
    assert last.windows_total == before.windows_total + 2  # cam1 and cam3's open ones
    assert {c.camera_id for c in last.cameras} == {"cam1", "cam3"}  # as they were
    assert ray.get(agg.close.remote()) is None  # already closed
    ray.kill(agg)

    ev = pd.read_parquet(tmp_path / "events")
    assert sorted(ev["camera_id"].astype(str)) == ["cam1"] * 3 + ["cam2"] * 3
    assert set(ev["run_id"]) == {"run-1"}
    assert set(ev["date"].astype(str)) == {"2026-11-26"}
    metrics = pd.read_parquet(tmp_path / "metrics")
    assert sorted(
        set(zip(metrics["camera_id"].astype(str), metrics["window_start_s"], strict=True))
    ) == [("cam1", 0.0), ("cam1", 5.0), ("cam2", 0.0), ("cam2", 5.0), ("cam3", 0.0)]
    assert len(list((tmp_path / "heatmaps").rglob("*.png"))) == 5


def test_aggregator_actor_reserves_a_small_fraction_of_a_cpu() -> None:
    assert 0 < AGGREGATOR_NUM_CPUS <= 0.5


def test_closing_hands_the_alerts_actor_the_last_samples_before_it_closes(
        ray_session: None) -> None:
    """Track 1 crosses the entrance line at 2.6 s; with 60 s between samples only the
    first frame was sampled, so only the aggregator's close delivers that crossing, and
    it must have reached the alerts actor when close returns (the run's shutdown closes
    the alerts actor right after)."""
    flows = SiteFlowsConfig(occupancy={"lines": [{"camera_id": "cam1", "line_id": "mid",
                                                  "in": "out"}]})
    alerts = AlertsActor.remote(AlertsConfig(), [], None, "run-1", flows)
    agg = AggregatorActor.remote([], "run-1", alerts=alerts,
                                 alert_feed=AlertFeed(60.0, {"cam1"}))
    ray.get(agg.add_camera.remote("cam1", CONFIG))
    ray.get([agg.update.remote([frame("cam1", i)]) for i in range(40)])
    assert ray.get(alerts.view.remote())["site_occupancy"]["value"] == 0  # not sampled yet
    ray.get(agg.close.remote())
    assert ray.get(alerts.view.remote())["site_occupancy"]["value"] == 1
    ray.get(alerts.close.remote())
    for actor in (agg, alerts):
        ray.kill(actor)


def test_frames_sent_twice_count_once(ray_session: None) -> None:
    """A tracker re-created from a saved lane sends again frames its dead predecessor had
    sent: the first copy counts, the repeats (a whole call, or the start of one) are
    dropped, and the camera's events and live counts are those of one pass."""
    once, twice = (AggregatorActor.remote([], "run-1") for _ in range(2))
    ray.get([a.add_camera.remote("cam1", CONFIG) for a in (once, twice)])
    events_once = ray.get(once.update.remote([frame("cam1", i) for i in range(80)]))
    events_twice = [e for ref in [twice.update.remote([frame("cam1", i) for i in range(50)]),
                                  twice.update.remote([frame("cam1", i) for i in range(20, 40)]),
                                  twice.update.remote([frame("cam1", i) for i in range(30, 80)])]
                    for e in ray.get(ref)]
    assert [(e.kind, e.element_id, e.pts_s) for e in events_twice] == [
        (e.kind, e.element_id, e.pts_s) for e in events_once]
    assert len(events_once) == 3
    snaps = [ray.get(a.snapshot.remote()).cameras[0] for a in (once, twice)]
    assert snaps[0] == snaps[1]
    for actor in (once, twice):
        ray.kill(actor)


def test_a_re_created_alerts_actor_gets_the_crossings_its_predecessor_took(
        ray_session: None, tmp_path: Path) -> None:
    """An alerts actor that dies loses what it took since its last save (every
    ``check_interval_s``; here none: 60 s). Its replacement goes on from the saved state
    (none here), and the aggregator sends it again the samples with crossings it kept:
    the crossing at 2.6 s counts once, and once only where a sample arrives twice."""
    flows = SiteFlowsConfig(occupancy={"lines": [{"camera_id": "cam1", "line_id": "mid",
                                                  "in": "out"}]})
    config, state = AlertsConfig(check_interval_s=60), str(tmp_path / "alerts.pkl")
    first = AlertsActor.remote(config, [], None, "run-1", flows, None, state)
    agg = AggregatorActor.remote([], "run-1", alerts=first, alert_feed=AlertFeed(0.5, {"cam1"}))
    ray.get(agg.add_camera.remote("cam1", CONFIG))
    ray.get([agg.update.remote([frame("cam1", i)]) for i in range(40)])

    def inside(alerts: object) -> int:
        return ray.get(alerts.view.remote())["site_occupancy"]["entered"]

    assert inside(first) == 1
    assert ray.get(agg.set_alerts.remote(first)) == 1  # sent again where it was taken
    assert inside(first) == 1
    ray.kill(first)  # no exit hook, no save
    second = AlertsActor.remote(config, [], None, "run-1", flows, None, state)
    assert ray.get(agg.set_alerts.remote(second)) == 1
    assert inside(second) == 1
    ray.get([agg.update.remote([frame("cam1", i)]) for i in range(40, 50)])
    assert inside(second) == 1
    ray.get(agg.close.remote())
    ray.get(second.close.remote())
    for actor in (agg, second):
        ray.kill(actor)


def test_a_plugin_call_that_never_returns_stops_the_plugin_not_the_actor(
    ray_session: None, tmp_path: Path
) -> None:
    """The actor's methods run on its main thread, where the deadline interrupts a plugin
    stuck in its update: the camera's frames go on through the actor."""
    hangs = {"type": "tests.plugin_fixtures:Hangs", "name": "hangs", "max_busy_s": 0.5,
             "config": {"fail_after": 5}}
    config = type(CONFIG).model_validate({**CONFIG.model_dump(), "plugins": [hangs]})
    agg = AggregatorActor.remote([ParquetSinkConfig(root=tmp_path)], "run-1")
    ray.get(agg.add_camera.remote("cam1", config), timeout=60)
    events = [e for i in range(100)
              for e in ray.get(agg.update.remote([frame("cam1", i)]), timeout=30)]
    assert [e.kind for e in events] == ["zone_enter", "line_cross", "zone_exit"]
    snap = ray.get(agg.snapshot.remote(), timeout=30)
    assert snap.plugin_errors["cam1"]["hangs"].startswith("interrupted: "), snap.plugin_errors
    ray.kill(agg)
