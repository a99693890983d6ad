"""What the dashboard reads, without Ray: the bounded window history, stills and live
heatmaps with ETags, the JSON views, and the static files the API serves."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib

import cv2
import numpy as np
import pytest

from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.config import HeatmapConfig
from pipeline.analytics.events import ClosedWindow, WindowMetrics
from pipeline.control.records import CameraRecord
from pipeline.control.views import STARTING, history_view, starting_view
from pipeline.dashboard import STATIC_DIR, STATIC_FILES
from pipeline.dashboard.history import WindowHistory
from pipeline.dashboard.stills import (
    Stills,
    encode_heatmap,
    encode_still,
    heatmap_etag,
    not_modified,
)
from pipeline.errors import ConfigError, InputError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import CameraState
from pipeline.privacy import grey_background, private_still
from pipeline.types import FrameMeta, TrackedFrame
from tests.unit.analytics_helpers import AGG_CONFIG as CONFIG
from tests.unit.analytics_helpers import AGG_T0 as T0
from tests.unit.analytics_helpers import agg_meta as meta
from tests.unit.analytics_helpers import tracks_at

ROOT = pathlib.Path(__file__).resolve().parents[2]


def window(camera: str, start: float, length: float = 60.0) -> ClosedWindow:
    return ClosedWindow(camera, start, start + length, T0 + start, True, (), None)


def decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


# -- history ------------------------------------------------------------------------------
def test_history_keeps_the_last_horizon_per_camera_and_drops_older_windows() -> None:
    h = WindowHistory(horizon_s=3600, max_windows=1000)
    for k in range(120):  # two hours of one-minute windows
        h.add(window("a", 60.0 * k))
    h.add(window("b", 0.0))
    starts = [w.start_s for w in h.windows("a")]
    assert starts[0] == 3600.0 and starts[-1] == 7140.0 and len(starts) == 60
    assert [w.start_s for w in h.windows("b")] == [0.0]  # pruned against its own newest
    assert list(h.all()) == ["a", "b"] and len(h) == 61
    h.drop_camera("a")
    assert h.windows("a") == () and list(h.all()) == ["b"]


def test_history_is_capped_in_windows_whatever_the_window_length() -> None:
    h = WindowHistory(horizon_s=3600, max_windows=50)
    for k in range(10_000):  # 0.1 s windows: an hour would be 36 000 of them
        h.add(window("a", 0.1 * k, 0.1))
    kept = h.windows("a")
    assert len(kept) == 50 and kept[-1].start_s == pytest.approx(999.9)


def test_history_drops_heatmaps() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    closed = agg.update([TrackedFrame(meta("cam1", i), tracks_at([(1, 100 + 4 * i, 200)]))
                         for i in range(90)]).windows
    history = WindowHistory(horizon_s=3600)
    for w in closed:
        history.add(w)
    assert closed and closed[0].heatmap is not None
    assert [w.heatmap for w in history.windows("cam1")] == [None] * len(closed)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"horizon_s": 0}, "history horizon_s must be > 0, got 0"),
        ({"horizon_s": float("nan")}, "history horizon_s must be > 0, got nan"),
        ({"max_windows": 0}, "history max_windows must be >= 1, got 0"),
    ],
)
def test_history_bounds_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        WindowHistory(**kwargs)


def test_history_shows_what_was_published_suppressed_rows_stay_nulled() -> None:
    config = CONFIG.model_copy(update={"min_distinct_tracks": 2})  # one person: rows hidden
    agg = Aggregator()
    agg.add_camera("cam1", config)
    published = agg.update([TrackedFrame(meta("cam1", i), tracks_at([(1, 100 + 4 * i, 200)]))
                            for i in range(90)]).windows
    history = WindowHistory()
    for w in published:
        history.add(w)
    kept = history.windows("cam1")
    assert [w.metrics for w in kept] == [w.metrics for w in published]
    rows = [r for w in kept for r in w.metrics]
    assert any(r.suppressed for r in rows)
    view = history_view(history.all(), history.horizon_s)
    json.dumps(view, allow_nan=False)  # strict JSON
    for w in view["cameras"]["cam1"]:
        for row in w["rows"]:
            if row["suppressed"]:
                assert set(row) == {"element_kind", "element_id", "class_name", "is_queue",
                                    "suppressed", "late_events"}, row


def test_history_view_gives_window_fields_once_and_drops_nulls() -> None:
    row = WindowMetrics("cam1", 0.0, 60.0, T0, True, "zone", "z", True, 600, 0, False, 7,
                        occupancy_mean=1.5, occupancy_max=3, visits=7, exits=6,
                        queue_length_mean=1.5, est_wait_s=float("nan"))
    view = history_view({"cam1": [ClosedWindow("cam1", 0.0, 60.0, T0, True, (row,), None)]},
                        3600.0)
    assert view["horizon_s"] == 3600.0
    (w,) = view["cameras"]["cam1"]
    assert (w["start_s"], w["end_s"], w["start_at"], w["frames"]) == (0.0, 60.0, T0, 600)
    assert w["rows"] == [{"element_kind": "zone", "element_id": "z", "is_queue": True,
                          "late_events": 0, "suppressed": False, "distinct_tracks": 7,
                          "occupancy_mean": 1.5, "occupancy_max": 3, "visits": 7,
                          "exits": 6, "queue_length_mean": 1.5, "class_name": "person"}]


# -- stills ---------------------------------------------------------------------------------
def scene() -> np.ndarray:
    """A (300, 400) BGR frame with a detailed 'person' (a checkerboard) at 100..180 x 50..250."""
    frame = np.full((300, 400, 3), 40, np.uint8)
    yy, xx = np.mgrid[50:250, 100:180]
    frame[50:250, 100:180] = (((yy // 4 + xx // 4) % 2) * 255)[..., None].astype(np.uint8)
    return frame


def test_still_is_jpeg_with_an_etag_that_changes_with_each_still() -> None:
    stills = Stills()
    assert stills.still_image("cam1") is None and stills.infos() == {}
    private = private_still(scene(), [[100, 50, 180, 250]], 3.0)  # as the camera sends it
    stills.set("cam1", private, blurred=True)
    img = stills.still_image("cam1")
    assert img is not None and img.content_type == "image/jpeg" and img.blurred
    still = decode(img.data)
    assert still.shape == (300, 400, 3)
    assert np.abs(still.astype(int) - private).mean() < 3  # kept as sent: no second blur
    info = stills.infos()["cam1"]
    assert info == {"etag": img.etag, "blurred": True, "width": 400, "height": 300}
    assert stills.still_image("cam1") is img  # encoded once per still
    assert stills.still_image("cam1", if_none_match=img.etag).data is None
    stills.set("cam1", private, blurred=True)
    newer = stills.still_image("cam1", if_none_match=img.etag)
    assert newer.data is not None and newer.etag != img.etag
    assert set(stills.backgrounds()) == {"cam1"}
    stills.drop("cam1")
    assert stills.still_image("cam1") is None and stills.infos() == {}


def test_still_etags_differ_between_runs() -> None:
    a, b = Stills(), Stills()
    for stills in (a, b):
        stills.set("cam1", scene(), blurred=True)
    assert a.still_image("cam1").etag != b.still_image("cam1").etag


def test_an_unblurred_still_says_so() -> None:
    stills = Stills()
    stills.set("cam1", scene(), blurred=False)  # the operator turned blurring off
    img = stills.still_image("cam1")
    assert not img.blurred and stills.infos()["cam1"]["blurred"] is False


def test_a_still_must_be_a_bgr_image() -> None:
    with pytest.raises(InputError, match=r"still must be a \(height, width, 3\) uint8 BGR image"):
        Stills().set("cam1", np.zeros((10, 10), np.uint8), blurred=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, False), ("", False), ('"x-1"', True), ('W/"x-1"', True), ('"a", "x-1"', True),
     ("*", True), ('"x-2"', False)],
)
def test_if_none_match(header: str | None, expected: bool) -> None:
    assert not_modified('"x-1"', header) is expected


def test_encode_still_refuses_what_is_not_a_bgr_image() -> None:
    with pytest.raises(InputError, match=r"still must be a \(height, width, 3\) uint8 BGR image"):
        encode_still(np.zeros((10, 10), np.uint8), '"e"', True)


# -- live heatmap ---------------------------------------------------------------------------
def test_open_window_heatmap_over_the_still_and_its_etag() -> None:
    agg, stills = Aggregator(), Stills()
    agg.add_camera("cam1", CONFIG)
    assert agg.open_heatmap("cam1") is None and stills.heatmap_image(None) is None  # no frame
    agg.update([TrackedFrame(meta("cam1", i), tracks_at([(1, 50, 200), (2, 60, 210)]))
                for i in range(3)])
    grey = stills.heatmap_image(agg.open_heatmap("cam1"))
    assert grey.content_type == "image/png" and decode(grey.data).shape == (300, 400, 3)
    stills.set("cam1", scene(), blurred=True)
    img = stills.heatmap_image(agg.open_heatmap("cam1"))
    assert img.etag != grey.etag  # the background changed
    assert stills.heatmap_image(agg.open_heatmap("cam1"), if_none_match=img.etag).data is None
    agg.update([TrackedFrame(meta("cam1", 3), tracks_at([(1, 300, 200)]))])
    moved = stills.heatmap_image(agg.open_heatmap("cam1"), if_none_match=img.etag)
    assert moved.data is not None and moved.etag != img.etag
    png = decode(moved.data)
    # the cell of x=50, y=200 (8 columns over 400 px: column 1; 6 rows: row 4) is coloured
    assert np.abs(png[210, 60].astype(int) - scene()[210, 60].astype(int)).sum() > 60
    assert np.abs(png[20, 380].astype(int) - scene()[20, 380].astype(int)).sum() < 30


def test_open_window_heatmap_applies_the_minimum_count_rule() -> None:
    frames = [TrackedFrame(meta("cam1", i), tracks_at([(1, 50, 200), (2, 300, 100)]))
              for i in range(5)]
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG.model_copy(update={"min_distinct_tracks": 3}))
    agg.update(frames)
    grid = agg.open_heatmap("cam1")
    assert grid.counts.sum() == 0 and grid.suppressed_cells == 2
    agg2 = Aggregator()
    agg2.add_camera("cam1", CONFIG)
    agg2.update(frames)
    assert agg2.open_heatmap("cam1").counts.sum() == 10


def test_open_heatmap_is_none_when_heatmaps_are_off() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG.model_copy(update={"heatmap": HeatmapConfig(enabled=False)}))
    agg.update([TrackedFrame(meta("cam1", 0), tracks_at([(1, 50, 200)]))])
    assert agg.open_heatmap("cam1") is None


def test_heatmap_renders_with_the_sinks_renderer_on_the_sinks_grey() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG)
    agg.update([TrackedFrame(FrameMeta("cam1", 0, 0.0, T0, 1920, 1080),
                             tracks_at([(1, 50, 200)]))])
    grid = agg.open_heatmap("cam1")
    img = encode_heatmap(grid, None, heatmap_etag(grid, None))
    assert decode(img.data).shape == grey_background(1920, 1080).shape == (360, 640, 3)


# -- static files ---------------------------------------------------------------------------
def test_every_served_file_exists_and_ships_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["pipeline.dashboard"]
    shipped = {p.name for g in globs for p in STATIC_DIR.parent.glob(g)}
    assert set(STATIC_FILES) <= shipped
    assert {p.name for p in STATIC_DIR.iterdir()} == set(STATIC_FILES)


def test_pages_load_nothing_from_elsewhere() -> None:
    for name in STATIC_FILES:
        text = (STATIC_DIR / name).read_text()
        assert not re.search(r"(src|href)=\"(https?:)?//", text), name
        assert "innerHTML" not in text and "eval(" not in text, name
        for ref in re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", text):
            assert ref.removeprefix("/static/") in STATIC_FILES, (name, ref)


def test_every_camera_state_has_a_badge_of_its_own() -> None:
    css = (STATIC_DIR / "style.css").read_text()
    rules = dict(re.findall(r"^\.state\.s-([a-z]+) \{([^}]*)\}", css, re.MULTILINE))
    states = [s.value for s in CameraState] + [STARTING]
    assert set(states) <= set(rules), sorted(set(states) - set(rules))
    looks = [" ".join(rules[s].split()) for s in states]
    assert len(set(looks)) == len(states), dict(zip(states, looks, strict=True))


# -- cameras being placed -------------------------------------------------------------------
def test_a_camera_being_placed_is_shown_starting_with_its_secrets_redacted() -> None:
    camera = CameraConfig(id="door", url="rtsp://viewer:s3cr3t@10.0.0.5/live?token=t0k3n",
                          zones=[{"id": "till", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]],
                                  "queue": True}])
    view = starting_view(CameraRecord(camera, "config"))
    assert view["id"] == "door" and view["state"] == STARTING == "starting"
    assert "placed" in view["reason"] and "camera_start_timeout_s" in view["reason"]
    assert view["config"]["zones"][0]["id"] == "till" and view["geometry_version"] == 0
    text = json.dumps(view)
    assert "s3cr3t" not in text and "t0k3n" not in text
    assert view["url"] == view["config"]["url"] == camera.redacted_url
