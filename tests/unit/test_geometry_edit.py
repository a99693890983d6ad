"""Zones and lines replaced while a camera runs: the aggregator swaps them at the next
window boundary, counts every frame once and stamps what it writes with the version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from pipeline.alerts.feed import AlertFeed
from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.geometry_edit import PendingGeometry
from pipeline.control.geometry import GeometryEdit, apply_geometry_edit
from pipeline.errors import ConfigError, InputError
from pipeline.site_config import SiteConfig
from pipeline.sinks import ParquetSinkConfig, Sinks
from pipeline.types import TrackedFrame
from tests.unit.analytics_helpers import AGG_CONFIG as CONFIG
from tests.unit.analytics_helpers import agg_meta as meta
from tests.unit.analytics_helpers import tracks_at

# The frame is 400 x 300 px, 10 fps, 5 s windows. Version 0 has line "mid" at x = 200;
# version 1 replaces it with line "far" at x = 300 (zone "left" stays).
FAR = CONFIG.model_copy(update={"lines": (CONFIG.lines[0].model_copy(update={
    "id": "far", "start": (0.75, 0.0), "end": (0.75, 1.0)}),)})
FAR = type(CONFIG).model_validate(FAR.model_dump())
EDIT_AT = 10  # frame at which the edit is asked for (media time 1.0 s, window 0)


def frame(i: int) -> TrackedFrame:
    """Frame ``i``: three people walking right at 4 px a frame.

    Track 1 from x = 80 (crosses x = 200 at 3.0 s, x = 300 at 5.5 s); track 2 from
    x = 260 at frame 10 to frame 40 (crosses x = 300 at 2.0 s: only a geometry applied
    too early would count it); track 3 from x = 180 at frame 55 (crosses x = 200 at 6.0 s:
    only a geometry kept too long would count it; x = 300 at 8.5 s)."""
    rows = [(1, 80 + 4 * i, 150)]
    if 10 <= i <= 40:
        rows.append((2, 260 + 4 * (i - 10), 150))
    if i >= 55:
        rows.append((3, 180 + 4 * (i - 55), 150))
    return TrackedFrame(meta("cam1", i), tracks_at(rows))


def test_an_edit_takes_effect_at_the_next_window_and_no_frame_is_lost(tmp_path: Path) -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    sinks = Sinks([ParquetSinkConfig(root=tmp_path)], run_id="run-1")
    crossings, windows = [], []
    for i in range(100):
        if i == EDIT_AT:
            agg.set_geometry("cam1", FAR, version=1)
            assert agg.geometry_version("cam1") == 0  # waits for the boundary
        out = agg.update([frame(i)])
        assert out.errors == []
        sinks.write(out.events, out.windows, {})
        crossings += [(e.element_id, e.track_id, e.geometry_version) for e in out.events
                      if e.kind == "line_cross"]
        windows += out.windows
        if i == 49:
            assert [w.start_s for w in windows] == []  # window 0 still open at 4.9 s
        if i == 50:  # the first frame of window 1 swapped the geometry
            assert agg.geometry_version("cam1") == 1
            assert [ln.line_id for ln in agg.camera_snapshot("cam1").lines] == ["far"]
    final = agg.close()
    sinks.write([], final, {})
    sinks.close()
    windows += final
    assert crossings == [("mid", 1, 0), ("far", 1, 1), ("far", 3, 1)]
    assert [(w.start_s, w.complete, {r.geometry_version for r in w.metrics}) for w in windows
            ] == [(0.0, False, {0}), (5.0, False, {1})]
    assert [r.element_id for r in windows[1].metrics] == ["left", "far"]
    # every frame counted once, in the window of its geometry
    assert [w.metrics[0].frames for w in windows] == [50, 50]
    metrics = pd.read_parquet(tmp_path / "metrics")
    assert sorted(zip(metrics["element_id"], metrics["geometry_version"], strict=True)) == [
        ("far", 1), ("left", 0), ("left", 1), ("mid", 0)]
    events = pd.read_parquet(tmp_path / "events")
    assert sorted(zip(events["element_id"], events["geometry_version"], strict=True))[:2] == [
        ("far", 1), ("far", 1)]


def test_an_edit_before_the_first_frame_applies_at_once() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    agg.set_geometry("cam1", FAR, version=1)
    assert agg.geometry_version("cam1") == 1
    out = agg.update([frame(0)])
    assert out.errors == [] and [ln.line_id for ln in agg.camera_snapshot("cam1").lines] == ["far"]


def test_a_newer_edit_before_the_boundary_replaces_the_pending_one() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    agg.update([frame(0)])
    agg.set_geometry("cam1", FAR, version=1)
    agg.set_geometry("cam1", CONFIG, version=2)
    for i in range(1, 52):
        agg.update([frame(i)])
    assert agg.geometry_version("cam1") == 2
    assert [ln.line_id for ln in agg.camera_snapshot("cam1").lines] == ["mid"]


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"version": 0}, InputError, "geometry version 0 is not newer than its version 0"),
    ({"config": CONFIG.model_copy(update={"window_s": 10.0})}, ConfigError,
     "changes zones and lines only"),
    ({"config": FAR.model_copy(update={"lines": (FAR.lines[0].model_copy(update={
        "units": "pixel", "start": (100.0, 0.0), "end": (100.0, 900.0)}),)})}, ConfigError,
     "lies outside the 400x300 frame"),
    ({"camera_id": "nope"}, InputError, "camera 'nope' is not added here"),
])
def test_bad_edits_are_refused_with_the_reason(change, error, message) -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    agg.update([frame(0)])
    args = {"camera_id": "cam1", "config": FAR, "version": 1, **change}
    with pytest.raises(error, match=message):
        agg.set_geometry(**args)
    assert agg.geometry_version("cam1") == 0


def test_a_removed_camera_forgets_its_pending_edit_and_writes_its_version() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, geometry_version=3)
    agg.update([frame(0)])
    agg.set_geometry("cam1", FAR, version=4)
    windows = agg.remove_camera("cam1")
    assert {r.geometry_version for w in windows for r in w.metrics} == {3}
    agg.add_camera("cam1", CONFIG)
    assert agg.geometry_version("cam1") == 0


def test_pending_geometry_is_due_in_a_later_window_only() -> None:
    p = PendingGeometry(CONFIG, 1, asked_at_pts_s=4.99)
    assert [p.due(t) for t in (4.99, 4.999, 5.0, 12.0)] == [False, False, True, True]
    assert PendingGeometry(CONFIG, 1, float("nan")).due(0.0)


# -- the edit checked against the whole site (what PUT /v1/cameras/{id}/geometry runs) ----
SITE = {
    "cameras": [
        {"id": "north", "url": "rtsp://cam/n",
         "zones": [{"id": "floor", "points": [[0, 0], [1, 0], [1, 1]]}],
         "lines": [{"id": "door", "start": [0.5, 0], "end": [0.5, 1]}]},
        {"id": "south", "url": "rtsp://cam/s"}],
    "groups": [{"name": "hall", "zones": [{"camera_id": "north", "zone_id": "floor"}]}],
    "flows": {"occupancy": {"lines": [{"camera_id": "north", "line_id": "door", "in": "in"}]}},
    "analytics": {"window_grace_s": 5},
}
TRIANGLE = [[0, 0], [0.5, 0], [0.5, 0.5]]


@pytest.mark.parametrize(("body", "message"), [
    ({"zones": [{"id": "floor", "points": TRIANGLE}]},
     "site occupancy: camera 'north' has no line 'door'"),
    ({"lines": [{"id": "door", "start": [0.5, 0], "end": [0.5, 1]}]},
     "group 'hall': camera 'north' has no zone 'floor'"),
    ({"zones": [{"id": "floor", "points": TRIANGLE, "exit_grace_s": 9}],
      "lines": [{"id": "door", "start": [0.5, 0], "end": [0.5, 1]}]},
     "window_grace_s \\(5.0\\) must be at least zone 'floor'"),
])
def test_an_edit_that_breaks_the_site_is_refused_naming_what_breaks(body, message) -> None:
    site = SiteConfig.model_validate(SITE)
    with pytest.raises(ConfigError, match=message) as info:
        apply_geometry_edit(site, site.cameras[0], GeometryEdit.model_validate(body))
    assert str(info.value).startswith("cameras[north]: ")


def test_the_models_of_the_site_yaml_validate_the_body() -> None:
    with pytest.raises(ValidationError, match="polygon is self-intersecting"):
        GeometryEdit.model_validate({"zones": [{"id": "z", "points": [
            [0, 0], [1, 1], [1, 0], [0, 1]]}]})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        GeometryEdit.model_validate({"zone": []})


def test_a_valid_edit_gives_the_new_site_camera_and_analytics() -> None:
    site = SiteConfig.model_validate(SITE)
    edit = GeometryEdit.model_validate({
        "zones": [{"id": "floor", "points": TRIANGLE}],
        "lines": [{"id": "door", "start": [0.25, 0], "end": [0.25, 1]}]})
    new_site, camera, analytics = apply_geometry_edit(site, site.cameras[0], edit)
    assert new_site.cameras[0].lines[0].start == (0.25, 0.0) == analytics.lines[0].start
    assert new_site.cameras[1] is site.cameras[1] and camera.url == site.cameras[0].url
    assert analytics.window_grace_s == 5.0
    other = apply_geometry_edit(site, site.cameras[1], edit)  # nothing names south's
    assert other[0].cameras[0] is site.cameras[0] and other[1].zones[0].points[1] == (0.5, 0.0)


# -- the alerts' last samples at shutdown --------------------------------------------
def test_the_feed_hands_over_crossings_not_yet_sampled_at_shutdown() -> None:
    feed = AlertFeed(interval_s=60.0, cameras={"cam1"})
    feed.add_camera("cam1")
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    sent = []
    for i in range(40):  # track 1 crosses "mid" at 3.0 s, after the sample at frame 0
        out = agg.update([frame(i)])
        sent += feed.collect([frame(i)], out.events, agg.camera_snapshot)
    assert [len(o.crossings) for o in sent] == [0]
    final = feed.final(agg.camera_snapshot)
    assert [(o.camera_id, o.pts_s, [c.line_id for c in o.crossings]) for o in final] == [
        ("cam1", 3.9, ["mid"])]
    assert feed.final(agg.camera_snapshot) == []  # nothing new since
