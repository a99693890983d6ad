"""Webhook sink and delivery worker against a real local HTTP receiver that checks signatures."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.delivery import DeliveryWorker, build_sinks
from pipeline.alerts.engine import RuleEngine
from pipeline.alerts.events import AlertEvent
from pipeline.alerts.inputs import CameraObservation
from pipeline.alerts.outbox import Outbox
from pipeline.alerts.sink_config import OutboxConfig
from pipeline.alerts.webhook import WebhookSink, sign_body, verify_signature
from pipeline.errors import ConfigError
from tests.alert_receiver import Receiver
from tests.alert_site import CROWD_RULE, T0, Site
from tests.conftest import free_port

SECRET = "s3cret-s3cret-s3cret"
OUTAGE_S = 3.0  # the 60 s outage, scaled down: the same logic, less waiting


def alerts_config(url: str, tmp_path, **sink) -> AlertsConfig:
    return AlertsConfig.model_validate({
        "site": "hq",
        "rules": [CROWD_RULE],
        "sinks": [{"type": "webhook", "name": "ops", "url": url,
                   "secret_env": "PANORAY_TEST_WEBHOOK_SECRET", "timeout_s": 2,
                   "retry": {"initial_s": 0.05, "max_s": 0.4}, **sink}],
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
    })


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("PANORAY_TEST_WEBHOOK_SECRET", SECRET)


def test_receiver_down_while_alerts_fire_gets_every_alert_once_when_back(tmp_path, secret_env):
    receiver = Receiver(free_port(), SECRET.encode(), basic_auth=("hook", "pw-in-url"))
    url = receiver.url.replace("http://", "http://hook:pw-in-url@") + "?token=tok-in-url"
    receiver.start()
    site = Site(alerts_config(url, tmp_path))
    try:
        site.fire(2)
        assert site.wait_delivered("ops") and len(receiver.unique) == 4

        receiver.stop()
        site.fire(5)
        time.sleep(OUTAGE_S)
        during = site.worker.stats()["ops"]
        assert during.pending == 10 and during.failed_total >= 2
        assert "Connection refused" in during.last_error
        assert "pw-in-url" not in during.last_error and "tok-in-url" not in during.last_error
        assert "hook:***@" in during.last_error
        assert during.retry_in_s <= 0.4

        receiver.start()
        assert site.wait_delivered("ops")
        after = site.worker.stats()["ops"]
    finally:
        site.stop()
        receiver.stop()
    fired = [e.event_id for e in site.fired]
    assert len(fired) == 14
    assert list(receiver.unique) == fired  # every alert, in order, none lost
    assert len(receiver.raw) == len(fired)  # and none twice (no crash: no repeat at all)
    assert receiver.rejected == []
    assert (after.delivered_total, after.pending, after.consecutive_failures) == (14, 0, 0)
    first = receiver.raw[4]
    assert AlertEvent.from_json(json.dumps(first)) == site.fired[4]
    assert first["phase"] == "open" and receiver.raw[5]["alert_id"] == first["alert_id"]


def test_wrong_secret_is_rejected_and_counted_as_failures(tmp_path, secret_env):
    receiver = Receiver(free_port(), b"another-secret-entirely")
    receiver.start()
    site = Site(alerts_config(receiver.url, tmp_path))
    try:
        site.fire(1)
        site.wait("ops", lambda s: s.failed_total >= 3, 10)
        stats = site.worker.stats()["ops"]
    finally:
        site.stop()
        receiver.stop()
    assert stats.failed_total >= 3 and stats.delivered_total == 0 and stats.pending == 2
    assert "answered 401" in stats.last_error and SECRET not in stats.last_error
    assert receiver.raw == [] and set(receiver.rejected) == {"bad signature"}


def test_a_stale_timestamp_is_rejected(tmp_path, secret_env):
    """The timestamp is signed: a request replayed an hour later fails the receiver's check."""
    receiver = Receiver(free_port(), SECRET.encode(), tolerance_s=60)
    receiver.start()
    cfg = alerts_config(receiver.url, tmp_path)
    stale = WebhookSink(cfg.sinks[0], SECRET.encode(), clock=lambda: time.time() - 3600)
    site = Site(cfg, sinks=[stale])
    try:
        site.fire(1)
        site.wait("ops", lambda s: s.failed_total >= 1, 10)
    finally:
        site.stop()
        receiver.stop()
    assert receiver.raw == [] and receiver.rejected[0] == "stale timestamp"


def test_signature_covers_timestamp_and_body():
    key = SECRET.encode()
    sig = sign_body(key, 1_800_000_000, b'{"x":1}')
    assert verify_signature(key, b'{"x":1}', "1800000000", sig, now=1_800_000_100)
    assert not verify_signature(key, b'{"x":2}', "1800000000", sig, now=1_800_000_100)
    assert not verify_signature(key, b'{"x":1}', "1800000001", sig, now=1_800_000_100)
    assert not verify_signature(b"other-key-other-key", b'{"x":1}', "1800000000", sig,
                                now=1_800_000_100)
    assert not verify_signature(key, b'{"x":1}', "1800000000", sig, now=1_800_000_000 + 301)
    assert not verify_signature(key, b'{"x":1}', None, sig, now=1_800_000_000)


@pytest.mark.parametrize("value, message", [
    (None, "environment variable PANORAY_TEST_WEBHOOK_SECRET is not set"),
    ("xq7Zk", "holds a secret shorter than 16 characters"),
])
def test_missing_or_short_secret_is_a_config_error(tmp_path, monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("PANORAY_TEST_WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("PANORAY_TEST_WEBHOOK_SECRET", value)
    with pytest.raises(ConfigError, match=message) as err:
        build_sinks(alerts_config("http://127.0.0.1:9/x", tmp_path))
    assert err.value.path == "alerts.sinks.ops.secret_env"
    if value:
        assert value not in str(err.value)


def test_an_unreachable_port_times_out_and_is_retried(tmp_path, secret_env):
    """A receiver that accepts the connection but never answers: the timeout fails it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # never accepted: connects, then the request is never answered
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    cfg = alerts_config(url, tmp_path, timeout_s=0.3)
    box = Outbox(OutboxConfig(path=tmp_path / "o2.sqlite"), ["ops"])
    worker = DeliveryWorker(box, build_sinks(cfg))
    engine = RuleEngine(cfg.rules, "hq")
    box.add(engine.observe(CameraObservation("c1", 0.0, T0, {"z": 9})))
    try:
        assert worker.deliver_pending("ops") == 0
    finally:
        listener.close()
    stats = worker.stats()["ops"]
    assert stats.failed_total == 1 and stats.pending == 1
    assert "no full answer within timeout_s=0.3 s" in stats.last_error


def test_a_receiver_that_drips_its_answer_is_cut_off_at_timeout_s(tmp_path, secret_env):
    """timeout_s bounds the whole request: a receiver that sent a byte of its answer every
    0.1 s held the sink (each read was within the timeout) until it stopped, 20 s later."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    dripping = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            dripping.set()
            for byte in (b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200)[:200]:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the sender hung up
                time.sleep(0.1)

    server = threading.Thread(target=drip, daemon=True)
    server.start()
    cfg = alerts_config(f"http://127.0.0.1:{listener.getsockname()[1]}/x", tmp_path,
                        timeout_s=0.5)
    box = Outbox(OutboxConfig(path=tmp_path / "o3.sqlite"), ["ops"])
    worker = DeliveryWorker(box, build_sinks(cfg))
    box.add(RuleEngine(cfg.rules, "hq").observe(CameraObservation("c1", 0.0, T0, {"z": 9})))
    started = time.monotonic()
    try:
        assert worker.deliver_pending("ops") == 0
        held_s = time.monotonic() - started
    finally:
        listener.close()
    stats = worker.stats()["ops"]
    assert dripping.is_set() and held_s < 10.0  # not the drip's 20 s
    assert "no full answer within timeout_s=0.5 s" in stats.last_error and stats.pending == 1
