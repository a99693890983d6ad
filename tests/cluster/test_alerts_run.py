"""Alerts wired into a run: a replayed clip, real detector, trackers, aggregators, the
alerts actor, a real webhook receiver that checks signatures, and the Parquet table."""

import json
import os
import pathlib
import shutil
import threading
import time

import pandas as pd
import pytest
import ray

from pipeline.app.runner import PipelineRunner, RunOptions
from pipeline.site_config import SiteConfig
from tests.alert_receiver import Receiver
from tests.conftest import free_port
from tests.mosquitto_broker import MOSQUITTO, Broker, Subscriber, require_mosquitto

pytestmark = pytest.mark.cluster

CLIP = pathlib.Path(__file__).resolve().parents[2] / "pipeline" / "demo" / "vtest.mp4"
FRAMES = 300  # 30 s of media
SECRET_ENV = "PANORAY_TEST_RUN_WEBHOOK_SECRET"
SECRET = "wired-alerts-test-secret-0123456789"
ZONE = [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]


@pytest.fixture(scope="module")
def alert_run(serve_app, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts")
    receiver = Receiver(free_port(), SECRET.encode())
    receiver.start()
    sinks = [{"type": "webhook", "name": "ops", "url": receiver.url, "secret_env": SECRET_ENV,
              "retry": {"initial_s": 0.05, "max_s": 0.5}}]
    broker = watch = None
    if shutil.which(MOSQUITTO):  # live counts too (test_live_counts_... needs it)
        broker = Broker(tmp / "broker", free_port())
        broker.start()
        watch = Subscriber(broker.port, "panoray/test-site/live/#")
        sinks.append({"type": "mqtt", "name": "broker", "host": "127.0.0.1",
                      "port": broker.port, "reconnect_min_s": 0.1})
    os.environ[SECRET_ENV] = SECRET  # the driver reads it and hands it to the alerts actor
    cfg = SiteConfig.model_validate({
        "cameras": [{"id": "cam-a", "url": str(CLIP), "source": {"max_frames": FRAMES},
                     "inference": {"tiling": None},  # one model run a frame: a shorter run
                     # dwell first to last frame inside, so that an exit's pts_s - dwell_s
                     # is its visit's first frame (the check below reads visits that way)
                     "zones": [{"id": "path-west", "points": ZONE,
                                "dwell_to_border_s": 0.0}]}],
        "analytics": {"window_s": 10, "min_distinct_tracks": 1},
        "alerts": {
            "site": "test-site",
            "sample_interval_s": 0.2,
            "rules": [{"id": "path-busy", "kind": "presence", "camera_id": "cam-a",
                       "zone_id": "path-west", "for_s": 0, "clear_for_s": 0.5,
                       "min_interval_s": 0}],
            "sinks": sinks,
            "outbox": {"path": str(tmp / "outbox.sqlite")},
        },
    })
    runner = PipelineRunner(cfg, RunOptions(output_dir=tmp / "out", offline=True),
                            detector=serve_app["handle"])
    try:
        runner.start()
        why = runner.wait(threading.Event())
        view = ray.get(runner.controller.alerts.remote())
        cameras_sinks = view["sinks"]
        runner.shutdown()
        if watch is not None:
            time.sleep(0.5)  # the last published figures are on their way
        live = [] if watch is None else list(watch.messages)
    finally:
        os.environ.pop(SECRET_ENV, None)
        receiver.stop()
        if watch is not None:
            watch.close()
            broker.stop()
    assert why == "ended"
    return tmp, receiver, view, cameras_sinks, live


def test_alerts_reach_the_receiver_once_each_and_the_parquet_table(alert_run):
    tmp, receiver, view, _, _ = alert_run
    table = pd.read_parquet(tmp / "out" / "alerts")
    assert len(table) >= 2, "the clip must open and close at least one alert"
    assert not receiver.rejected, receiver.rejected  # every signature checked out
    assert set(receiver.unique) == set(table.event_id)  # delivered, none lost
    assert len(receiver.raw) == len(table)  # and none twice
    assert set(table.rule_id) == {"path-busy"} and set(table.site) == {"test-site"}
    assert table.run_id.nunique() == 1
    for event_id, row in table.set_index("event_id").iterrows():
        assert receiver.unique[event_id]["alert_id"] == row.alert_id
    # the alerts actor saved its state during the run; a clean stop leaves none
    assert not (tmp / "out" / ".checkpoints").exists()


def test_alerts_open_and_close_in_media_time_on_the_rule(alert_run):
    tmp, _, _, _, _ = alert_run
    table = pd.read_parquet(tmp / "out" / "alerts").sort_values(["pts_s", "phase"])
    opens, closes = table[table.phase == "open"], table[table.phase == "close"]
    assert len(opens) >= 1 and len(closes) >= 1
    assert (opens.value == 1).all() and (closes.value == 0).all()  # presence: 1/0
    assert len(opens) >= 2, "the clip's path-west is empty between visits"
    for _, close in closes.iterrows():
        opened = opens[opens.alert_id == close.alert_id]
        assert len(opened) == 1
        assert close.pts_s > opened.pts_s.iloc[0]
        assert close.duration_s == pytest.approx(close.pts_s - opened.pts_s.iloc[0])
    assert (table.pts_s <= FRAMES / 10.0).all()  # media time of the clip, not wall time
    # the zone's own events agree: a visit counts from min_visit_s (1 s) after it starts
    # until exit_grace_s (2 s) after it ends; an alert opens while one counts and closes
    # when none does
    events = pd.read_parquet(tmp / "out" / "events")
    zone = events[events.element_id == "path-west"]
    visits = [(row.pts_s - row.dwell_s, row.pts_s)  # exits carry the visit's end
              for _, row in zone[zone.kind == "zone_exit"].iterrows()]
    last = events.pts_s.max()
    visits += [(t, last) for t in zone[zone.kind == "zone_enter"].pts_s
               if not any(abs(t - a) < 1e-3 for a, _ in visits)]  # still inside at the end
    for t in opens.pts_s:
        assert any(a <= t <= b + 2.0 for a, b in visits), (t, visits)
    for t in closes.pts_s:
        assert not any(a + 1.0 + 0.5 < t < b for a, b in visits), (t, visits)


def test_sink_counters_are_in_the_alerts_view(alert_run):
    _, _, view, sinks, _ = alert_run
    assert set(sinks) - {"broker"} == {"ops"}
    ops = sinks["ops"]
    assert ops["failed_total"] == 0 and ops["dropped_total"] == 0
    assert ops["delivered_total"] + ops["pending"] == view["events_total"] >= 2
    assert all(e["rule_id"] == "path-busy" for e in view["recent"])


def test_live_counts_reach_an_mqtt_subscriber_during_the_run(alert_run):
    require_mosquitto()
    tmp, _, _, _, live = alert_run
    topic = "panoray/test-site/live/cam-a/zones/path-west"
    zone = [json.loads(m.payload) for m in live if m.topic == topic]
    assert zone, sorted({m.topic for m in live})
    assert {(z["camera_id"], z["zone_id"]) for z in zone} == {("cam-a", "path-west")}
    counts = [z["counts"] for z in zone]
    # sent when a figure changes, not every sample: consecutive messages differ
    assert all(a != b for a, b in zip(counts, counts[1:]))
    # people came and went: the zone's exits during the run reached the subscriber
    events = pd.read_parquet(tmp / "out" / "events")
    exits = int(((events.element_id == "path-west") & (events.kind == "zone_exit")).sum())
    assert max(c["occupancy"] for c in counts) >= 1 and counts[-1]["exits_total"] == exits
