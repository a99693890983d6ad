"""Per-class analytics: zones and lines count the classes they name, each separately."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.errors import ConfigError
from pipeline.types import FrameMeta, TrackedFrame, Tracks

LABELS = {0: "red", 1: "blue", 2: "person"}
FULL = [[0, 0], [1, 0], [1, 1], [0, 1]]


def config(zone_classes=("red", "blue"), line_classes=("red", "blue")) -> AnalyticsConfig:
    return AnalyticsConfig(
        zones=[{"id": "left", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]],
                "min_visit_s": 0, "exit_grace_s": 0, "classes": list(zone_classes)}],
        lines=[{"id": "mid", "start": [0.5, 0], "end": [0.5, 1], "classes": list(line_classes)}],
        window_s=10, window_grace_s=1, min_distinct_tracks=1)


def frame(k: int, rows: list[tuple[int, int, float]]) -> TrackedFrame:
    """rows: (track id, class id, anchor x) of 10x10 boxes at y 40..50 of a 100x100 frame."""
    boxes = np.array([[x - 5, 40, x + 5, 50] for _, _, x in rows], np.float32).reshape(-1, 4)
    tracks = Tracks(boxes, np.ones(len(rows), np.float32),
                    np.array([c for _, c, _ in rows], np.int16), [t for t, _, _ in rows])
    return TrackedFrame(FrameMeta("c", k, k / 10, 1.8e9 + k / 10, 100, 100), tracks)


def run(cam: CameraAnalytics) -> list:
    """Tracks 1 (red) and 2 (blue) walk left to right; 3 (person) stays left; 4 (red)
    stays left."""
    events = []
    for k in range(30):
        x = 10 + 3 * k
        events += cam.update(frame(k, [(1, 0, x), (2, 1, x + 1), (3, 2, 20), (4, 0, 25)]))
    return events


def test_each_class_is_counted_in_its_own_column():
    cam = CameraAnalytics("c", config(), 100, 100, LABELS)
    events = run(cam)
    crossings = sorted((e.class_name, e.track_id) for e in events if e.kind == "line_cross")
    assert crossings == [("blue", 2), ("red", 1)]
    enters = sorted((e.class_name, e.track_id) for e in events if e.kind == "zone_enter")
    assert enters == [("blue", 2), ("red", 1), ("red", 4)]  # never the person
    snap = cam.snapshot()
    (zone,) = snap.zones
    assert zone.occupancy == 1  # the red track 4 stayed; the person does not count
    assert [(z.class_name, z.occupancy, z.visits_total) for z in zone.by_class] == [
        ("red", 1, 2), ("blue", 0, 1)]
    (line,) = snap.lines
    assert line.lr_count + line.rl_count == 2
    assert [(ln.class_name, ln.lr_count + ln.rl_count) for ln in line.by_class] == [
        ("red", 1), ("blue", 1)]
    rows = cam.close()[0].metrics
    assert [(r.element_id, r.class_name) for r in rows] == [
        ("left", "red"), ("left", "blue"), ("mid", "red"), ("mid", "blue")]
    assert [r.visits for r in rows[:2]] == [2, 1]
    assert [r.lr_count + r.rl_count for r in rows[2:]] == [1, 1]


def test_an_element_counts_only_its_classes():
    cam = CameraAnalytics("c", config(zone_classes=("person",), line_classes=("blue",)),
                          100, 100, LABELS)
    events = run(cam)
    assert sorted((e.kind, e.class_name, e.track_id) for e in events) == [
        ("line_cross", "blue", 2), ("zone_enter", "person", 3)]


def test_without_labels_every_track_is_a_person():
    cam = CameraAnalytics("c", config(zone_classes=("person",), line_classes=("person",)),
                          100, 100)
    events = run(cam)
    assert {e.class_name for e in events} == {"person"}
    assert sorted(e.track_id for e in events if e.kind == "line_cross") == [1, 2]


@pytest.mark.parametrize("labels, message", [
    (LABELS, "camera 'c': zone 'left' counts class 'car', which the model does not have"),
    (None, "camera 'c': zone 'left' counts class 'car', which the model does not have"),
])
def test_a_class_the_model_lacks_is_a_config_error(labels, message):
    with pytest.raises(ConfigError, match=message):
        CameraAnalytics("c", config(zone_classes=("car",)), 100, 100, labels)


@pytest.mark.parametrize("classes, message", [
    ([], "at least 1 item"),
    (["red", "red"], "classes must not repeat"),
    ([""], "1 to 64 characters"),
])
def test_bad_classes_are_refused(classes, message):
    with pytest.raises(ValueError, match=message):
        config(zone_classes=classes)


def test_alert_rules_read_their_classes_only():
    from pipeline.alerts.config import AlertsConfig
    from pipeline.alerts.engine import RuleEngine
    from pipeline.alerts.inputs import observation_from_analytics

    rules = AlertsConfig.model_validate({"rules": [
        {"id": f"{kind}-{c}", "kind": kind, "camera_id": "c", "classes": [c], "for_s": 0,
         **({"zone_id": "left", "threshold": 2} if kind == "occupancy"
            else {"line_id": "mid", "threshold_per_min": 0.5, "window_s": 60})}
        for kind in ("occupancy", "line_flow") for c in ("red", "blue")]}).rules
    engine = RuleEngine(rules, site="s")
    cam = CameraAnalytics("c", config(), 100, 100, LABELS)
    opened = set()
    for k in range(30):
        x = 10 + 3 * k
        # two red tracks stay left, one blue stays right; one blue track crosses the line
        events = cam.update(frame(k, [(1, 0, 20), (2, 0, 25), (3, 1, 80), (4, 1, x)]))
        obs = observation_from_analytics(cam.snapshot(), events, 1.8e9 + k / 10)
        opened |= {e.rule_id for e in engine.observe(obs) if e.phase == "open"}
    assert opened == {"occupancy-red", "line_flow-blue"}


def test_live_view_splits_counts_by_class():
    from pipeline.analytics.aggregator import AggregatorSnapshot
    from pipeline.control.views import live_view

    cam = CameraAnalytics("c", config(), 100, 100, LABELS)
    run(cam)
    live = live_view({"c": "streaming"}, [AggregatorSnapshot((cam.snapshot(),), 0, 0)])
    view = live["cameras"]["c"]
    assert view["zones"]["left"]["occupancy"] == 1
    assert {c: z["occupancy"] for c, z in view["zones"]["left"]["by_class"].items()} == {
        "red": 1, "blue": 0}
    assert view["lines"]["mid"] == {"in": 0, "out": 2}
    assert view["lines_by_class"]["mid"] == {"red": {"in": 0, "out": 1},
                                             "blue": {"in": 0, "out": 1}}
