"""Alerts wired into a run, without Ray: the site config's `alerts:` and `groups:`, the
aggregator's sampled feed, and the run's runtime (engine, groups, Parquet table)."""

from __future__ import annotations

import math
import os
import pathlib
import re
import subprocess
import sys

import pandas as pd
import pytest

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.feed import AlertFeed, observed_cameras, publishes_live_counts
from pipeline.alerts.inputs import CameraObservation, CameraStatus, LineCrossing
from pipeline.alerts.runtime import AlertRuntime
from pipeline.alerts.site_occupancy import SiteFlowsConfig
from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.groups import GroupSums, ZoneGroupConfig
from pipeline.config import load_config
from pipeline.errors import ConfigError, ConfigFileError
from pipeline.site_config import SiteConfig
from pipeline.types import FrameMeta, TrackedFrame
from tests.unit.analytics_helpers import tracks_at

ROOT = pathlib.Path(__file__).resolve().parents[2]

SITE = """\
cameras:
  - id: a
    url: rtsp://cam-a/live
    zones:
      - {id: lobby, points: [[0, 0], [1, 0], [1, 1], [0, 1]]}
      - {id: tills, queue: true, points: [[0, 0], [1, 0], [1, 1], [0, 1]]}
    lines: [{id: door, start: [0.5, 0], end: [0.5, 1]}]
  - id: b
    url: rtsp://cam-b/live
    zones: [{id: lobby, points: [[0, 0], [1, 0], [1, 1], [0, 1]]}]
groups:
  - name: ground
    zones: [{camera_id: a, zone_id: lobby}, {camera_id: b, zone_id: lobby}]
alerts:
  rules:
"""


def site(rule: str) -> SiteConfig:
    return load_config(SITE + "    - " + rule + "\n", SiteConfig)


def test_rules_naming_what_exists_validate() -> None:
    for rule in ("{id: r, kind: occupancy, camera_id: a, zone_id: lobby, threshold: 3}",
                 "{id: r, kind: occupancy, group: ground, threshold: 3}",
                 "{id: r, kind: queue_wait, camera_id: a, zone_id: tills, threshold_s: 60}",
                 "{id: r, kind: line_flow, camera_id: a, line_id: door, threshold_per_min: 5}",
                 "{id: r, kind: camera_offline, for_s: 30}"):
        assert site(rule).alerts.rules[0].id == "r"


@pytest.mark.parametrize(("rule", "message"), [
    ("{id: crowd, kind: occupancy, camera_id: a, zone_id: hall, threshold: 3}",
     "rule 'crowd': camera 'a' has no zone 'hall'"),
    ("{id: crowd, kind: occupancy, camera_id: z, zone_id: lobby, threshold: 3}",
     "rule 'crowd': camera 'z' is not configured"),
    ("{id: floor, kind: occupancy, group: upstairs, threshold: 3}",
     "rule 'floor': zone group 'upstairs' is not configured"),
    ("{id: slow, kind: queue_wait, camera_id: a, zone_id: lobby, threshold_s: 60}",
     "rule 'slow': camera 'a' has no queue zone 'lobby'"),
    ("{id: rush, kind: line_flow, camera_id: b, line_id: door, threshold_per_min: 5}",
     "rule 'rush': camera 'b' has no line 'door'"),
])
def test_rules_naming_what_is_missing_are_refused_by_name(rule: str, message: str) -> None:
    with pytest.raises(ConfigFileError, match=message.replace("(", r"\(")):
        site(rule)


def test_a_group_naming_a_missing_zone_is_refused_by_name() -> None:
    text = SITE.replace("{camera_id: b, zone_id: lobby}", "{camera_id: b, zone_id: hall}")
    with pytest.raises(ConfigFileError, match="group 'ground': camera 'b' has no zone 'hall'"):
        load_config(text + "    - {id: r, kind: camera_offline}\n", SiteConfig)


def test_cameras_of_rules_groups_and_entrance_lines_are_observed_and_no_others() -> None:
    from pipeline.alerts.site_occupancy import SiteOccupancyConfig

    cfg = site("{id: r, kind: camera_offline}")
    assert observed_cameras(cfg.alerts, cfg.groups) == {"a", "b"}  # the group's
    assert observed_cameras(cfg.alerts, ()) == set()  # camera_offline needs no samples
    cfg = site("{id: r, kind: occupancy, camera_id: a, zone_id: lobby, threshold: 3}")
    assert observed_cameras(cfg.alerts, ()) == {"a"}
    doors = SiteOccupancyConfig(lines=[{"camera_id": "c", "line_id": "d", "in": "in"}])
    assert observed_cameras(cfg.alerts, (), doors) == {"a", "c"}


def at(tracks, pts_s: float, camera_id: str) -> TrackedFrame:
    return TrackedFrame(FrameMeta(camera_id, 0, pts_s, 1.8e9 + pts_s, 640, 480), tracks)


def _door_site() -> tuple[Aggregator, AlertFeed]:
    agg = Aggregator()
    agg.add_camera("a", AnalyticsConfig(
        zones=[{"id": "lobby", "min_visit_s": 0, "units": "pixel",
                "points": [[0, 0], [200, 0], [200, 200], [0, 200]]}],
        lines=[{"id": "door", "units": "pixel", "start": [100, 0], "end": [100, 200]}]))
    feed = AlertFeed(1.0, {"a"})
    feed.add_camera("a")
    return agg, feed


def test_the_feed_samples_each_interval_and_keeps_every_crossing() -> None:
    agg, feed = _door_site()
    observations = []
    for i in range(50):  # 2 s at 25 fps; the track crosses the door at x = 100
        frame = at(tracks_at([(1, 60 + 2 * i, 100)]), i / 25, camera_id="a")
        out = agg.update([frame])
        observations += feed.collect([frame], out.events, agg.camera_snapshot)
    assert [o.pts_s for o in observations] == [0.0, 1.0]  # one sample a media second
    crossings = [c for o in observations for c in o.crossings]
    assert len(crossings) == 1 and crossings[0].line_id == "door"
    assert crossings[0].pts_s not in (0.0, 1.0)  # crossed between two samples, still kept
    assert observations[-1].zone_occupancy == {"lobby": 1}
    assert observations[-1].live is None  # no sink publishes live counts


def test_the_feed_ignores_cameras_no_rule_reads() -> None:
    agg, _ = _door_site()
    feed = AlertFeed(0.0, {"other"})
    feed.add_camera("a")
    frame = at(tracks_at([(1, 50, 50)]), 0.0, camera_id="a")
    assert feed.collect([frame], agg.update([frame]).events, agg.camera_snapshot) == []


def test_a_feed_for_live_counts_samples_every_camera_with_its_whole_snapshot() -> None:
    agg, _ = _door_site()
    feed = AlertFeed(1.0, {"other"}, live_counts=True)  # no rule reads camera a
    feed.add_camera("a")
    observations = []
    for i in range(50):
        frame = at(tracks_at([(1, 60 + 2 * i, 100)]), i / 25, camera_id="a")
        observations += feed.collect([frame], agg.update([frame]).events, agg.camera_snapshot)
    assert [o.pts_s for o in observations] == [0.0, 1.0]
    last = observations[-1].live  # the state at the sample (1.0 s): zones and lines
    assert last is not None and last.pts_s == 1.0 and last.zones[0].occupancy == 1
    assert [ln.line_id for ln in last.lines] == ["door"]
    assert last.lines[0].lr_count + last.lines[0].rl_count == 1  # crossed at 0.8 s


def test_the_zones_alone_are_the_snapshot_s_zones_without_lines_or_windows() -> None:
    agg, feed = _door_site()
    for i in range(30):
        agg.update([at(tracks_at([(1, 60 + 2 * i, 100)]), i / 25, camera_id="a")])
    full, zones = agg.camera_snapshot("a"), agg.camera_snapshot("a", zones_only=True)
    assert zones.zones == full.zones and zones.pts_s == full.pts_s
    assert full.lines and full.open_windows and (zones.lines, zones.open_windows) == ((), ())
    assert agg.camera_snapshot("missing", zones_only=True) is None
    # a feed without live counts asks for the zones alone; with them, for everything
    asked = []

    def spy(cid, zones_only):
        asked.append(zones_only)
        return agg.camera_snapshot(cid, zones_only)

    frame = at(tracks_at([(1, 150, 100)]), 5.0, camera_id="a")
    out = agg.update([frame])
    feed.collect([frame], out.events, spy)
    live = AlertFeed(1.0, set(), live_counts=True)
    live.add_camera("a")
    live.collect([frame], out.events, spy)
    assert asked == [True, False]


def test_live_counts_are_published_only_by_mqtt_sinks_that_ask_for_them(tmp_path) -> None:
    def alerts(*sinks: dict) -> AlertsConfig:
        return AlertsConfig.model_validate({"sinks": list(sinks), "outbox": {
            "path": str(tmp_path / "o.sqlite")}} if sinks else {})

    mqtt = {"type": "mqtt", "name": "m", "host": "127.0.0.1"}
    hook = {"type": "webhook", "name": "w", "url": "https://example.org/hook",
            "secret_env": "X"}
    assert publishes_live_counts(alerts(mqtt))  # on by default
    assert not publishes_live_counts(alerts({**mqtt, "live_counts": False}))
    assert not publishes_live_counts(alerts(hook)) and not publishes_live_counts(alerts())


def test_group_sums_are_the_latest_of_each_member_and_forget_removed_cameras() -> None:
    g = ZoneGroupConfig(name="g", zones=[{"camera_id": "a", "zone_id": "z"},
                                         {"camera_id": "b", "zone_id": "z"}])
    sums = GroupSums([g])
    assert sums.update("a", {"z": 4}, 10.0) == [("g", 4, 10.0)]
    assert sums.update("b", {"z": 3}, 2.0) == [("g", 7, 10.0)]  # the group clock never goes back
    assert sums.update("a", {"z": 1}, 11.0) == [("g", 4, 11.0)]
    assert sums.forget_camera("b") == [("g", 1, 11.0)]


def runtime(tmp_path, rules: list[dict], groups=()) -> AlertRuntime:
    return AlertRuntime(AlertsConfig.model_validate({"site": "hq", "rules": rules}),
                        groups, tmp_path, "run-1")


def test_a_group_rule_opens_on_the_sum_of_two_cameras_and_lands_in_parquet(tmp_path) -> None:
    g = ZoneGroupConfig(name="floor", zones=[{"camera_id": "a", "zone_id": "z"},
                                             {"camera_id": "b", "zone_id": "z"}])
    rt = runtime(tmp_path, [{"id": "full", "kind": "occupancy", "group": "floor",
                             "threshold": 5, "for_s": 0, "clear_for_s": 0,
                             "min_interval_s": 0}], [g])
    t0 = 1.8e9
    assert rt.observe([CameraObservation("a", 1.0, t0 + 1, {"z": 3})]) == []
    opened = rt.observe([CameraObservation("b", 1.0, t0 + 1, {"z": 2})])
    assert [(e.phase, e.group, e.value) for e in opened] == [("open", "floor", 5.0)]
    closed = rt.observe([CameraObservation("a", 2.0, t0 + 2, {"z": 0})])
    assert [(e.phase, e.value) for e in closed] == [("close", 2.0)]
    rt.close()
    table = pd.read_parquet(tmp_path / "alerts")
    assert table.phase.tolist() == ["open", "close"] and set(table.run_id) == {"run-1"}
    assert rt.view()["groups"] == {"floor": 2}


def test_camera_states_open_an_offline_alert_after_for_s_and_close_it(tmp_path) -> None:
    rt = runtime(tmp_path, [{"id": "down", "kind": "camera_offline", "for_s": 30}])
    t0 = 1.8e9
    assert rt.camera_states([CameraStatus("a", "streaming", t0)]) == []
    assert rt.camera_states([CameraStatus("a", "reconnecting", t0 + 10)]) == []
    assert rt.tick(t0 + 39) == []
    (opened,) = rt.tick(t0 + 41)
    assert (opened.phase, opened.camera_id, opened.rule_id) == ("open", "a", "down")
    (closed,) = rt.camera_states([CameraStatus("a", "streaming", t0 + 50)])
    assert (closed.phase, closed.alert_id) == ("close", opened.alert_id)
    assert len(pd.read_parquet(tmp_path / "alerts")) == 1  # written by the tick at 41
    rt.tick(t0 + 51)
    assert len(pd.read_parquet(tmp_path / "alerts")) == 2


def test_removing_a_camera_closes_its_alerts(tmp_path) -> None:
    rt = runtime(tmp_path, [{"id": "p", "kind": "presence", "camera_id": "a",
                             "zone_id": "z", "min_interval_s": 0}])
    (opened,) = rt.observe([CameraObservation("a", 1.0, 1.8e9, {"z": 1})])
    (closed,) = rt.forget_camera("a", 1.8e9 + 5)
    assert (closed.alert_id, closed.reason) == (opened.alert_id, "camera_removed")
    assert rt.view()["open"] == []


def test_a_sample_going_back_in_media_time_is_skipped_not_fatal(tmp_path) -> None:
    rt = runtime(tmp_path, [{"id": "p", "kind": "presence", "camera_id": "a",
                             "zone_id": "z", "min_interval_s": 0}])
    rt.observe([CameraObservation("a", 5.0, 1.8e9, {"z": 0})])
    assert rt.observe([CameraObservation("a", 4.0, 1.8e9, {"z": 1}),
                       CameraObservation("a", math.nan, 1.8e9, {"z": 1}),
                       CameraObservation("a", 6.0, 1.8e9, {"z": 1})])[0].pts_s == 6.0
    assert (rt.repeated_observations, rt.dropped_observations) == (1, 1)


def _entrance(tmp_path, state: bytes | None = None) -> AlertRuntime:
    """A runtime with no rules counting people inside through camera a's door line."""
    flows = SiteFlowsConfig.model_validate({"occupancy": {
        "lines": [{"camera_id": "a", "line_id": "door", "in": "in"}]}})
    return AlertRuntime(AlertsConfig(), (), tmp_path, "run-1", flows, state=state)


def _crossing_sample(pts: float, *crossed: float) -> CameraObservation:
    return CameraObservation("a", pts, 1.8e9 + pts, crossings=tuple(
        LineCrossing("door", "in", t) for t in crossed))


def test_samples_sent_again_count_each_crossing_once(tmp_path) -> None:
    """An aggregator restored from its checkpoint sends samples of frames it replays (and
    crossings it had kept since its last sample before the checkpoint) again: each
    crossing counts once, in the state a resumed runtime goes on from too."""
    rt = _entrance(tmp_path)
    rt.observe([_crossing_sample(1.0, 0.5), _crossing_sample(2.0, 1.5, 2.0)])
    # the restored aggregator: its sample at 1.0 again, then one with old and new crossings
    rt.observe([_crossing_sample(1.0, 0.5), _crossing_sample(2.5, 1.5, 2.0, 2.2)])
    assert rt.flows_view()["site_occupancy"]["value"] == 4
    assert rt.repeated_observations == 1
    resumed = _entrance(tmp_path, rt.state())
    resumed.observe([_crossing_sample(2.5, 2.2), _crossing_sample(3.0, 2.2, 2.8)])
    assert resumed.flows_view()["site_occupancy"]["value"] == 5
    # a removed camera's samples sent again still count once; one added again under its
    # id starts a new timeline
    resumed.forget_camera("a", 1.8e9 + 4)
    resumed.observe([_crossing_sample(3.0, 2.2, 2.8)])
    assert resumed.flows_view()["site_occupancy"]["value"] == 5
    resumed.camera_added("a")
    resumed.observe([_crossing_sample(0.5, 0.4)])
    assert resumed.flows_view()["site_occupancy"]["value"] == 6


@pytest.mark.parametrize("name", ["retail.yaml", "warehouse-safety.yaml"])
def test_the_example_sites_validate_with_their_rules(name: str) -> None:
    import pathlib

    from pipeline.site_config import load_site_config

    cfg = load_site_config(pathlib.Path(__file__).parents[2] / "examples" / name)
    assert len(cfg.alerts.rules) >= 4 and cfg.alerts.sinks and cfg.alerts.outbox
    assert {r.kind for r in cfg.alerts.rules} >= {"camera_offline"}


def test_the_readme_alerts_example_validates_in_a_site() -> None:
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    section = text.split("## Alerts", 1)[1]
    example = re.search(r"```yaml\n(.+?)\n```", section, re.S).group(1)
    square = "[[0, 0], [1, 0], [1, 1], [0, 1]]"
    cameras = f"""cameras:
  - id: entrance
    url: rtsp://cam/1
    zones: [{{id: lobby, points: {square}}}, {{id: tills, queue: true, points: {square}}}]
    lines: [{{id: door, start: [0.5, 0], end: [0.5, 1]}}]
  - {{id: hall, url: rtsp://cam/2, zones: [{{id: floor, points: {square}}}]}}
  - {{id: dock, url: rtsp://cam/3, zones: [{{id: yard, points: {square}}}]}}
"""
    cfg = load_config(cameras + example, SiteConfig)
    assert len(cfg.alerts.rules) == 6 and cfg.groups[0].name == "ground-floor"


CLASSY_SITE = """\
model: {classes: []}
cameras:
  - id: a
    url: rtsp://cam-a/live
    zones: [{id: aisle, points: [[0, 0], [1, 0], [1, 1], [0, 1]], classes: [person, cart]}]
  - id: b
    url: rtsp://cam-b/live
    zones: [{id: aisle, points: [[0, 0], [1, 0], [1, 1], [0, 1]], classes: %s}]
groups:
  - {name: carts, zones: [{camera_id: a, zone_id: aisle}, {camera_id: b, zone_id: aisle}],
     classes: [cart]}
"""


def test_a_group_sums_only_its_classes() -> None:
    cfg = load_config(CLASSY_SITE % "[cart]", SiteConfig)
    sums = GroupSums(cfg.groups)
    # camera a counts people and carts (split by class); camera b counts carts only
    assert sums.update("a", {"aisle": 5}, 1.0, {"aisle": {"person": 4, "cart": 1}}) == [
        ("carts", 1, 1.0)]
    assert sums.update("b", {"aisle": 2}, 1.5) == [("carts", 3, 1.5)]


@pytest.mark.parametrize(("zone_b", "rule", "message"), [
    ("[person]", "",
     "group 'carts': zone 'aisle' of camera 'b' does not count classes ['cart'] "
     "(it counts ['person'])"),
    ("[cart]", "alerts: {rules: [{id: full, kind: occupancy, group: carts, threshold: 3}]}",
     "rule 'full': classes ['person'] differ from those zone group 'carts' sums (['cart'])"),
])
def test_group_classes_must_be_counted_and_match_their_rules(zone_b, rule, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(CLASSY_SITE % zone_b + rule + "\n", SiteConfig)
    if rule:  # the same rule about the group's classes is fine
        fixed = rule.replace("threshold: 3", "threshold: 3, classes: [cart]")
        assert load_config(CLASSY_SITE % zone_b + fixed + "\n", SiteConfig).alerts


@pytest.mark.parametrize(("value", "message"), [
    (None, "environment variable PANORAY_TEST_HOOK_SECRET is not set"),
    ("short", "holds a secret shorter than 16 characters"),
])
def test_a_missing_webhook_secret_stops_panoray_run_before_anything_starts(
        tmp_path, value, message):
    """Found only once Ray, Serve and the detector had started, with a traceback and exit
    1; now a config error, exit 2, before Ray starts (its own process: the suite's Ray)."""
    env = {k: v for k, v in os.environ.items() if k != "PANORAY_TEST_HOOK_SECRET"}
    if value is not None:
        env["PANORAY_TEST_HOOK_SECRET"] = value
    path = tmp_path / "site.yaml"
    path.write_text(
        "cameras: [{id: a, url: rtsp://h/x}]\n"
        "alerts:\n  sinks: [{name: hook, type: webhook, url: 'http://127.0.0.1:9/h',\n"
        "                    secret_env: PANORAY_TEST_HOOK_SECRET}]\n"
        f"  outbox: {{path: {tmp_path / 'outbox.db'}}}\n")
    done = subprocess.run([sys.executable, "-m", "pipeline", "run", str(path), "--output",
                           str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "alerts.sinks.hook.secret_env" in done.stderr
    assert "Traceback" not in done.stderr and "Ray" not in done.stderr
    assert not (tmp_path / "outbox.db").exists()
