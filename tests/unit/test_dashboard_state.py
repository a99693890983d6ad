"""What the dashboard reads, without Ray: the bounded window history, still and live
heatmap encoding with ETags, the JSON views, and the static files the API serves."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib

import cv2
import numpy as np
import pytest

from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.events import ClosedWindow, WindowMetrics
from pipeline.dashboard import STATIC_DIR, STATIC_FILES
from pipeline.dashboard.history import WindowHistory
from pipeline.dashboard.images import (
    encode_heatmap,
    encode_still,
    grey_background,
    heatmap_etag,
    not_modified,
)
from pipeline.dashboard.views import history_view
from pipeline.errors import ConfigError, InputError
from pipeline.types import FrameMeta
from tests.unit.analytics_helpers import AGG_CONFIG as CONFIG
from tests.unit.analytics_helpers import AGG_SIZE as SIZE
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
    agg = Aggregator(history_s=3600)
    agg.add_camera("cam1", CONFIG, *SIZE)
    for i in range(90):
        agg.update("cam1", meta("cam1", i), tracks_at([(1, 100 + 4 * i, 200)]))
    closed = agg.pop_closed_windows()
    assert closed and closed[0].heatmap is not None
    assert [w.heatmap for w in agg.history()["cam1"]] == [None] * len(closed)


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
    config = {**CONFIG, "min_distinct_tracks": 2}  # one person: every non-empty row hidden
    agg = Aggregator()
    agg.add_camera("cam1", config, *SIZE)
    for i in range(90):
        agg.update("cam1", meta("cam1", i), tracks_at([(1, 100 + 4 * i, 200)]))
    published = agg.pop_closed_windows()
    kept = agg.history("cam1")["cam1"]
    assert [w.metrics for w in kept] == [w.metrics for w in published]
    rows = [r for w in kept for r in w.metrics]
    assert any(r.suppressed for r in rows)
    view = history_view(agg.history(), agg.history_s)
    json.dumps(view, allow_nan=False)  # strict JSON
    for w in view["cameras"]["cam1"]:
        for row in w["rows"]:
            if row["suppressed"]:
                assert set(row) == {"element_kind", "element_id", "is_queue", "suppressed",
                                    "late_events"}, row


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
                          "exits": 6, "queue_length_mean": 1.5}]


def test_removing_a_camera_forgets_its_history_still_and_heatmap() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, *SIZE)
    for i in range(90):
        agg.update("cam1", meta("cam1", i), tracks_at([(1, 100 + 4 * i, 200)]))
    agg.set_still("cam1", np.zeros((300, 400, 3), np.uint8), [])
    assert agg.history("cam1")["cam1"] and agg.still_image("cam1") is not None
    agg.remove_camera("cam1")
    assert agg.history() == {} and agg.history("cam1") == {}
    assert agg.still_image("cam1") is None and agg.heatmap_image("cam1") is None
    assert agg.still_infos() == {}


# -- stills ---------------------------------------------------------------------------------
def scene() -> np.ndarray:
    """A (300, 400) BGR frame with a detailed 'person' (a checkerboard) at 100..180 x 50..250."""
    frame = np.full((300, 400, 3), 40, np.uint8)
    yy, xx = np.mgrid[50:250, 100:180]
    frame[50:250, 100:180] = (((yy // 4 + xx // 4) % 2) * 255)[..., None].astype(np.uint8)
    return frame


def test_still_is_people_blurred_jpeg_with_an_etag_that_changes_with_each_still() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, *SIZE)
    assert agg.still_image("cam1") is None and agg.still_infos() == {}
    agg.set_still("cam1", scene(), [[100, 50, 180, 250]])
    img = agg.still_image("cam1")
    assert img is not None and img.content_type == "image/jpeg" and img.blurred
    still = decode(img.data)
    assert still.shape == (300, 400, 3)
    person = still[60:240, 110:170].astype(np.float64)
    assert person.std() < 0.5 * scene()[60:240, 110:170].std()  # the checkerboard is gone
    info = agg.still_infos()["cam1"]
    assert info == {"etag": img.etag, "blurred": True, "width": 400, "height": 300}
    assert agg.still_image("cam1") is img  # encoded once per still
    assert agg.still_image("cam1", if_none_match=img.etag).data is None
    agg.set_still("cam1", scene(), [[100, 50, 180, 250]])
    newer = agg.still_image("cam1", if_none_match=img.etag)
    assert newer.data is not None and newer.etag != img.etag
    assert Aggregator().still_image("cam1") is None  # an aggregator not hosting it


def test_still_etags_differ_between_runs() -> None:
    a, b = Aggregator(), Aggregator()
    for agg in (a, b):
        agg.add_camera("cam1", CONFIG, *SIZE)
        agg.set_still("cam1", scene(), [])
    assert a.still_image("cam1").etag != b.still_image("cam1").etag


def test_an_unblurred_still_is_only_there_when_the_operator_turned_blurring_off() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, *SIZE)
    agg.set_still("cam1", scene(), [[100, 50, 180, 250]], blur=False)
    img = agg.still_image("cam1")
    assert not img.blurred and agg.still_infos()["cam1"]["blurred"] is False


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
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, *SIZE)
    assert agg.heatmap_image("cam1") is None  # no frame yet
    for i in range(3):
        agg.update("cam1", meta("cam1", i), tracks_at([(1, 50, 200), (2, 60, 210)]))
    grey = agg.heatmap_image("cam1")
    assert grey.content_type == "image/png" and decode(grey.data).shape == (300, 400, 3)
    agg.set_still("cam1", scene(), [])
    img = agg.heatmap_image("cam1")
    assert img.etag != grey.etag  # the background changed
    assert agg.heatmap_image("cam1", if_none_match=img.etag).data is None
    agg.update("cam1", meta("cam1", 3), tracks_at([(1, 300, 200)]))
    moved = agg.heatmap_image("cam1", if_none_match=img.etag)
    assert moved.data is not None and moved.etag != img.etag
    png = decode(moved.data)
    # the cell of x=50, y=200 (8 columns over 400 px: column 1; 6 rows: row 4) is coloured
    assert np.abs(png[210, 60].astype(int) - scene()[210, 60].astype(int)).sum() > 60
    assert np.abs(png[20, 380].astype(int) - scene()[20, 380].astype(int)).sum() < 30


def test_open_window_heatmap_applies_the_minimum_count_rule() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", {**CONFIG, "min_distinct_tracks": 3}, *SIZE)
    for i in range(5):
        agg.update("cam1", meta("cam1", i), tracks_at([(1, 50, 200), (2, 300, 100)]))
    grid = agg._cameras["cam1"].open_heatmap()
    assert grid.counts.sum() == 0 and grid.suppressed_cells == 2
    agg2 = Aggregator()
    agg2.add_camera("cam1", CONFIG, *SIZE)
    for i in range(5):
        agg2.update("cam1", meta("cam1", i), tracks_at([(1, 50, 200), (2, 300, 100)]))
    assert agg2._cameras["cam1"].open_heatmap().counts.sum() == 10


def test_open_heatmap_is_none_when_heatmaps_are_off() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", {**CONFIG, "heatmap": {"enabled": False}}, *SIZE)
    agg.update("cam1", meta("cam1", 0), tracks_at([(1, 50, 200)]))
    assert agg.heatmap_image("cam1") is None


def test_heatmap_renders_with_the_sinks_renderer_on_the_sinks_grey() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", CONFIG, 1920, 1080)
    agg.update("cam1", FrameMeta("cam1", 0, 0.0, T0, 1920, 1080), tracks_at([(1, 50, 200)]))
    grid = agg._cameras["cam1"].open_heatmap()
    img = encode_heatmap(grid, None, heatmap_etag(grid, None))
    assert decode(img.data).shape == grey_background(1920, 1080).shape == (720, 1280, 3)


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
