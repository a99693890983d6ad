"""The camera actor's Ray metrics: counters exported as increases, tagged by camera id only."""

from __future__ import annotations

import pytest

import actors.camera_actor as camera_actor
from pipeline.ingest.health import HealthTracker


class FakeMetric:
    def __init__(self, name, description="", boundaries=None, tag_keys=()):
        self.name, self.tag_keys = name, tuple(tag_keys)
        self.default_tags: dict[str, str] = {}
        self.values: dict[tuple, float] = {}

    def set_default_tags(self, tags):
        assert set(tags) <= set(self.tag_keys)
        self.default_tags = dict(tags)

    def _key(self, tags):
        merged = {**self.default_tags, **(tags or {})}
        assert set(merged) == set(self.tag_keys), (self.name, merged)
        return tuple(sorted(merged.items()))

    def inc(self, value=1.0, tags=None):
        key = self._key(tags)
        self.values[key] = self.values.get(key, 0) + value

    def set(self, value, tags=None):
        self.values[self._key(tags)] = value


class FakeMetricsModule:
    Counter = Gauge = Histogram = FakeMetric


@pytest.fixture
def metrics(monkeypatch):
    monkeypatch.setattr(camera_actor, "metrics", FakeMetricsModule)
    return camera_actor.CameraMetrics("door")


def test_counters_are_exported_as_increases(metrics):
    h = HealthTracker("door", url="rtsp://admin:***@10.0.0.5/live")
    h.set_state(camera_actor.CameraState.CONNECTING)
    for _ in range(5):
        h.decoded()
    h.add("frames_dropped", 2)
    h.add("reconnects")
    metrics.export(h.snapshot())
    h.decoded()
    h.set_state(camera_actor.CameraState.RECONNECTING, "refused")
    metrics.export(h.snapshot())
    frames = metrics.frames.values
    assert frames[(("camera_id", "door"), ("outcome", "decoded"))] == 6
    assert frames[(("camera_id", "door"), ("outcome", "dropped"))] == 2
    assert metrics.reconnects.values == {(("camera_id", "door"),): 1}
    states = {dict(k)["state"]: v for k, v in metrics.state.values.items()}
    assert states["reconnecting"] == 1.0 and states["connecting"] == 0.0


def test_no_metric_is_tagged_with_the_url(metrics):
    h = HealthTracker("door", url="rtsp://admin:***@10.0.0.5/live")
    metrics.export(h.snapshot())
    every = [m for m in vars(metrics).values() if isinstance(m, FakeMetric)]
    assert every and all(set(m.tag_keys) <= {"camera_id", "outcome", "state"} for m in every)
    for m in every:
        for key in m.values:
            assert all("://" not in value for _, value in key)
