"""MQTT sink against a real broker (mosquitto) and real subscribers (paho)."""

from __future__ import annotations

import json
import time

import pytest

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.feed import AlertFeed, observed_cameras, publishes_live_counts
from pipeline.alerts.runtime import AlertRuntime
from pipeline.alerts.events import AlertEvent
from pipeline.alerts.mqtt import MqttSink
from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.groups import ZoneGroupConfig
from pipeline.errors import ConfigError
from pipeline.types import FrameMeta, TrackedFrame
from tests.alert_site import CROWD_RULE, Site
from tests.conftest import free_port
from tests.mosquitto_broker import Broker, Subscriber, make_certificates, require_mosquitto
from tests.unit.analytics_helpers import at, tracks_at

OUTAGE_S = 2.0  # the 60 s broker outage, scaled down


@pytest.fixture
def broker(tmp_path):
    require_mosquitto()
    b = Broker(tmp_path / "broker", free_port())
    b.start()
    yield b
    b.stop()


def mqtt_config(tmp_path, port: int, **sink) -> AlertsConfig:
    return AlertsConfig.model_validate({
        "site": "hq",
        "rules": [CROWD_RULE],
        "sinks": [{"type": "mqtt", "name": "broker", "host": "127.0.0.1", "port": port,
                   "publish_timeout_s": 2, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5,
                   "retry": {"initial_s": 0.05, "max_s": 0.3}, **sink}],
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
    })


def test_alerts_reach_a_subscriber_at_qos1_and_survive_a_broker_outage(tmp_path, broker):
    sub = Subscriber(broker.port, "panoray/hq/alerts/#", client_id="ops-console")
    site = Site(mqtt_config(tmp_path, broker.port))
    try:
        assert site.sinks[0].wait_connected(10)
        site.fire(2)
        assert site.wait_delivered("broker")
        assert sub.wait_for(lambda ms: len(ms) >= 4)

        broker.stop()  # down while alerts fire
        site.fire(5)
        time.sleep(OUTAGE_S)
        during = site.worker.stats()["broker"]
        assert during.pending == 10 and during.failed_total >= 2
        assert "not connected to the broker 127.0.0.1" in during.last_error

        broker.start()
        assert site.wait_delivered("broker", timeout_s=20)
        fired = [e.event_id for e in site.fired]
        assert sub.wait_for(lambda ms: len({json.loads(m.payload)["event_id"] for m in ms})
                            >= len(fired)), broker.log()
        after = site.worker.stats()["broker"]
    finally:
        site.stop()
        sub.close()
    got = sub.payloads()
    unique = list(dict.fromkeys(m["event_id"] for m in got))
    assert unique == fired  # every alert, in order, none lost, repeats dropped by event_id
    assert {m.topic for m in sub.messages} == {"panoray/hq/alerts/crowd"}
    assert {m.qos for m in sub.messages} == {1} and not any(m.retain for m in sub.messages)
    assert AlertEvent.from_json(sub.messages[0].payload) == site.fired[0]
    assert (after.delivered_total, after.pending) == (14, 0)


def test_retained_live_counts_reach_a_late_subscriber(tmp_path, broker):
    # a real camera's analytics: two people standing in the lobby, one crossing the door
    cfg = AnalyticsConfig(
        zones=[{"id": "lobby", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
        lines=[{"id": "door", "start": [0.75, 0], "end": [0.75, 1]}],
        min_distinct_tracks=1,
    )
    cam = CameraAnalytics("c1", cfg, width=200, height=100)
    for i in range(40):
        t = i / 10
        x3 = 120 + 2 * i  # walks right, across x = 150
        cam.update(at(tracks_at([(1, 40, 80), (2, 60, 90), (3, x3, 80)]), t, captured_at=1e9 + t,
                      camera_id="c1"))
    snap = cam.snapshot()
    assert snap.zones[0].occupancy == 2 and snap.lines[0].rl_count + snap.lines[0].lr_count == 1

    sink = MqttSink(mqtt_config(tmp_path, broker.port).sinks[0], site="hq")
    try:
        assert sink.wait_connected(10)
        # a subscriber from before the publishes: once it has all three, the broker holds them
        watch = Subscriber(broker.port, "panoray/hq/#")
        assert sink.publish_live(snap, at=1e9 + 4) == 2
        assert sink.publish_live(snap, at=1e9 + 5) == 0  # nothing changed: nothing sent
        assert sink.publish_group("floor", 7, pts_s=4.0, at=1e9 + 4) == 1
        assert watch.wait_for(lambda ms: len(ms) >= 3)
        watch.close()
        late = Subscriber(broker.port, "panoray/hq/#")
        assert late.wait_for(lambda ms: len(ms) >= 3)
        by_topic = {m.topic: m for m in late.messages}
        assert all(m.retain for m in late.messages)
        zone = json.loads(by_topic["panoray/hq/live/c1/zones/lobby"].payload)
        assert (zone["camera_id"], zone["zone_id"]) == ("c1", "lobby")
        assert zone["counts"]["occupancy"] == 2
        line = json.loads(by_topic["panoray/hq/live/c1/lines/door"].payload)
        assert line["counts"] == {"in": snap.lines[0].lr_count, "out": snap.lines[0].rl_count}
        group = json.loads(by_topic["panoray/hq/groups/floor"].payload)
        assert group["counts"] == {"occupancy": 7}
        late.close()

        sink.forget_camera("c1")  # a removed camera's retained figures are cleared
        time.sleep(0.3)
        later = Subscriber(broker.port, "panoray/hq/#")
        assert later.wait_for(lambda ms: len(ms) >= 1)
        time.sleep(0.3)
        assert [m.topic for m in later.messages] == ["panoray/hq/groups/floor"]
        later.close()
    finally:
        sink.close()


def test_a_run_s_samples_publish_live_counts_and_group_sums(tmp_path, broker):
    # as in a run: a camera's analytics in an aggregator, its sampled feed, the alerts
    # runtime with an MQTT sink; no rule reads the camera, the sink's live counts do
    alerts = AlertsConfig.model_validate({**mqtt_config(tmp_path, broker.port).model_dump(),
                                          "rules": []})
    floor = ZoneGroupConfig(name="floor", zones=[{"camera_id": "c1", "zone_id": "lobby"}])
    agg = Aggregator()
    agg.add_camera("c1", AnalyticsConfig(
        zones=[{"id": "lobby", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
        lines=[{"id": "door", "start": [0.75, 0], "end": [0.75, 1]}], min_distinct_tracks=1))
    feed = AlertFeed(0.5, observed_cameras(alerts, [floor]), publishes_live_counts(alerts))
    feed.add_camera("c1")
    runtime = AlertRuntime(alerts, [floor], root=None, run_id="r")
    watch = Subscriber(broker.port, "panoray/hq/#")
    topics = {"panoray/hq/live/c1/zones/lobby", "panoray/hq/live/c1/lines/door",
              "panoray/hq/groups/floor"}
    try:
        # two people stand in the lobby, a third crosses the door once (at 1.5 s) and stays
        for i in range(40):
            frame = TrackedFrame(FrameMeta("c1", i, i / 10, 1e9 + i / 10, 200, 100), tracks_at(
                [(1, 40, 80), (2, 60, 90), (3, min(120 + 2 * i, 190), 80)]))
            runtime.observe(feed.collect([frame], agg.update([frame]).events,
                                         agg.camera_snapshot))
            time.sleep(0.02)  # a few samples a second, as a live camera gives

        def latest(ms):
            return {m.topic: json.loads(m.payload)["counts"] for m in ms if m.payload}

        assert watch.wait_for(lambda ms: topics <= set(latest(ms)) and sum(
            latest(ms)["panoray/hq/live/c1/lines/door"].values()) == 1), broker.log()
        now = latest(watch.messages)
        assert now["panoray/hq/live/c1/zones/lobby"]["occupancy"] == 2
        assert set(now["panoray/hq/live/c1/lines/door"]) == {"in", "out"}
        assert now["panoray/hq/groups/floor"] == {"occupancy": 2}
        # state, not a stream: a topic is sent again only when its figures change
        assert len([m for m in watch.messages if m.topic.endswith("/door")]) <= 2

        runtime.forget_camera("c1", at=1e9 + 4)  # removed: its figures go, its group empties
        assert watch.wait_for(lambda ms: latest(ms)["panoray/hq/groups/floor"] == {
            "occupancy": 0})  # the broker has it: what a late subscriber gets is retained
        late = Subscriber(broker.port, "panoray/hq/#")
        assert late.wait_for(lambda ms: any(m.topic == "panoray/hq/groups/floor" and m.retain
                                            and json.loads(m.payload)["counts"]["occupancy"] == 0
                                            for m in ms))
        time.sleep(0.3)
        assert {m.topic for m in late.messages if m.payload} == {"panoray/hq/groups/floor"}
        late.close()
    finally:
        watch.close()
        runtime.close()


@pytest.fixture
def tls_broker(tmp_path):
    require_mosquitto()
    certs = make_certificates(tmp_path / "certs")
    b = Broker(tmp_path / "tls-broker", free_port(),
               tls={"cafile": certs["ca"], "certfile": certs["server_cert"],
                    "keyfile": certs["server_key"]},
               require_certificate=True, users={"panoray": "broker-pass-123"})
    b.start()
    yield b, certs
    b.stop()


@pytest.mark.parametrize("case, host, tls, password, failure", [
    ("verified", "localhost", {}, "broker-pass-123", None),
    ("wrong password", "localhost", {}, "wrong-pass-456", "the broker refused the connection"),
    ("name mismatch", "127.0.0.1", {}, "broker-pass-123", "cannot connect"),
    ("name mismatch, insecure", "127.0.0.1", {"insecure": True}, "broker-pass-123", None),
    ("unknown CA", "localhost", {"ca_file": "other_ca"}, "broker-pass-123", "cannot connect"),
])
def test_tls_and_credentials(tmp_path, tls_broker, monkeypatch, case, host, tls, password,
                             failure):
    broker, certs = tls_broker
    monkeypatch.setenv("PANORAY_TEST_MQTT_USER", "panoray")
    monkeypatch.setenv("PANORAY_TEST_MQTT_PASSWORD", password)
    tls_cfg = {"ca_file": str(certs["ca"]), "cert_file": str(certs["client_cert"]),
               "key_file": str(certs["client_key"]), **tls}
    if tls_cfg["ca_file"] == "other_ca":
        tls_cfg["ca_file"] = str(certs["other_ca"])
    cfg = mqtt_config(tmp_path, broker.port, host=host, tls=tls_cfg,
                      username_env="PANORAY_TEST_MQTT_USER",
                      password_env="PANORAY_TEST_MQTT_PASSWORD")
    site = Site(cfg)
    try:
        site.fire(1)
        if failure is None:
            assert site.wait_delivered("broker"), broker.log()
        else:
            # The broker's answer can come after the first tries ("not connected").
            assert site.wait("broker", lambda s: s.failed_total >= 2
                             and failure in (s.last_error or "")), site.worker.stats()
            stats = site.worker.stats()["broker"]
            assert stats.pending == 2 and not site.sinks[0].connected
            assert failure in stats.last_error and password not in stats.last_error
    finally:
        site.stop()


def test_unset_credentials_variable_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PANORAY_TEST_MQTT_USER", raising=False)
    cfg = mqtt_config(tmp_path, 1883, username_env="PANORAY_TEST_MQTT_USER")
    with pytest.raises(ConfigError, match="environment variable PANORAY_TEST_MQTT_USER is not set"):
        MqttSink(cfg.sinks[0], site="hq")
