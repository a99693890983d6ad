"""Geometry (point in polygon, signed distances, resolution) and analytics config validation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.analytics.config import AnalyticsConfig, LineConfig, ZoneConfig
from pipeline.analytics.geometry import (
    PolygonSet,
    SegmentSet,
    resolve_camera_geometry,
    resolve_points,
)
from pipeline.errors import ConfigError

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10]]
TRIANGLE = [[0, 0], [10, 0], [5, 10]]
L_SHAPE = [[0, 0], [4, 0], [4, 4], [10, 4], [10, 10], [0, 10]]


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((5, 5), [True, True, True]),
        ((-1, 5), [False, False, False]),
        ((11, 5), [False, False, False]),
        ((8, 2), [True, True, False]),  # inside the square and triangle, in the L's notch
        ((1, 9), [True, False, True]),  # beside the triangle's apex
        ((9, 9), [True, False, True]),
        ((5, 10.5), [False, False, False]),
    ],
)
def test_points_in_several_polygons_at_once(
    point: tuple[float, float], expected: list[bool]
) -> None:
    polys = PolygonSet.from_polygons([np.array(p, float) for p in (SQUARE, TRIANGLE, L_SHAPE)])
    got = polys.contains(np.array([float(point[0])]), np.array([float(point[1])]))
    assert got.shape == (1, 3)
    assert got[0].tolist() == expected


def test_polygon_test_is_vectorised_over_points() -> None:
    polys = PolygonSet.from_polygons([np.array(SQUARE, float)])
    rng = np.random.default_rng(0)
    pts = rng.uniform(-5, 15, size=(1000, 2))
    got = polys.contains(pts[:, 0], pts[:, 1])[:, 0]
    expected = (pts[:, 0] > 0) & (pts[:, 0] < 10) & (pts[:, 1] > 0) & (pts[:, 1] < 10)
    assert np.array_equal(got, expected)


def test_border_distance_ignores_the_padding_of_polygons_with_fewer_edges() -> None:
    # The triangle's edge arrays are padded to the L's 6 edges with zero edges at the
    # origin: a point near the origin, far from the triangle, must not measure to them.
    far = np.array(TRIANGLE, float) + 20.0  # (20, 20), (30, 20), (25, 30)
    polys = PolygonSet.from_polygons([far, np.array(L_SHAPE, float)])
    d = polys.border_distance(np.array([1.0, 25.0, 7.0]), np.array([1.0, 19.0, 2.0]))
    assert d.shape == (3, 2)
    np.testing.assert_allclose(d[0], [np.hypot(19.0, 19.0), 1.0])
    np.testing.assert_allclose(d[1], [1.0, np.hypot(15.0, 9.0)])  # 1 px below its base
    np.testing.assert_allclose(d[2], [np.hypot(13.0, 18.0), 2.0])  # 2 px below the notch


def test_signed_distance_is_positive_on_the_right_as_seen_in_the_image() -> None:
    # A line drawn left to right: below it (larger y) is its right-hand side.
    # A line drawn top to bottom: left of it (smaller x) is its right-hand side.
    segs = SegmentSet.from_segments([[0, 0, 10, 0], [0, 0, 0, 10]])
    d, t = segs.measure(np.array([5.0, -3.0]), np.array([2.0, 4.0]))
    assert d.tolist() == [[2.0, -5.0], [4.0, 3.0]]
    assert t.tolist() == [[0.5, 0.2], [-0.3, 0.4]]


def test_zero_length_segment_is_rejected() -> None:
    with pytest.raises(ConfigError, match="segment 1 has zero length"):
        SegmentSet.from_segments([[0, 0, 1, 1], [2, 2, 2, 2]])


def test_resolve_normalized_and_pixel_points() -> None:
    assert resolve_points([[0.5, 0.25], [1, 1]], "normalized", 1920, 1080).tolist() == [
        [960.0, 270.0],
        [1920.0, 1080.0],
    ]
    assert resolve_points([[640, 480]], "pixel", 640, 480).tolist() == [[640.0, 480.0]]


def test_pixel_geometry_outside_the_frame_names_zone_camera_and_path() -> None:
    cfg = AnalyticsConfig(
        zones=[
            {"id": "a", "points": [[0, 0], [10, 0], [10, 10]], "units": "pixel"},
            {"id": "door", "points": [[0, 0], [700, 0], [700, 100]], "units": "pixel"},
        ]
    )
    with pytest.raises(ConfigError) as err:
        resolve_camera_geometry(cfg, 640, 480, "cam1")
    assert str(err.value) == (
        "zones[1].points: zone 'door' on camera 'cam1': point (700, 0) lies outside the "
        "640x480 frame (pixel coordinates must be within it; use units: normalized to scale "
        "with the frame)"
    )
    assert err.value.path == "zones[1].points"


def test_line_outside_the_frame() -> None:
    cfg = AnalyticsConfig(lines=[{"id": "l", "start": [0, 0], "end": [10, 500], "units": "pixel"}])
    with pytest.raises(
        ConfigError, match=r"^lines\[0\]: line 'l' on camera 'c': point \(10, 500\)"
    ):
        resolve_camera_geometry(cfg, 640, 480, "c")


ZONE = {"id": "z", "points": SQUARE, "units": "pixel"}
LINE = {"id": "l", "start": [0, 0], "end": [1, 1]}


@pytest.mark.parametrize(
    ("model", "data", "message"),
    [
        (
            ZoneConfig,
            {**ZONE, "points": [[0, 0], [10, 10], [0, 10], [10, 0]]},
            "polygon is self-intersecting: edge 0 crosses edge 2",
        ),
        (ZoneConfig, {**ZONE, "points": [[0, 0], [5, 5], [10, 10]]}, "polygon has zero area"),
        (
            ZoneConfig,
            {**ZONE, "points": [[0, 0], [1, 1]]},
            "a polygon needs at least 3 points, got 2",
        ),
        (
            ZoneConfig,
            {**ZONE, "units": "normalized"},
            "zone 'z': normalized coordinates must lie in [0, 1], but got (10.0, 0.0)",
        ),
        (
            ZoneConfig,
            {**ZONE, "points": [[0, 0], [-1, 5], [5, 5]]},
            "zone 'z': pixel coordinates must be >= 0, but got (-1.0, 5.0)",
        ),
        (ZoneConfig, {**ZONE, "id": "bad id"}, "should match pattern"),
        (ZoneConfig, {**ZONE, "min_visit_s": -1}, "greater than or equal to 0"),
        (ZoneConfig, {**ZONE, "exit_grace": 1}, "Extra inputs are not permitted"),
        (
            LineConfig,
            {**LINE, "end": [0, 0]},
            "line 'l': start and end are the same point (0.0, 0.0)",
        ),
        (
            LineConfig,
            {**LINE, "left_to_right": "in", "right_to_left": "in"},
            "line 'l': left_to_right and right_to_left must differ, both are 'in'",
        ),
        (LineConfig, {**LINE, "hysteresis_px": -2}, "greater than or equal to 0"),
        (
            AnalyticsConfig,
            {"zones": [ZONE], "lines": [{**LINE, "id": "z"}]},
            "line id 'z' is already used by a zone; zone and line ids must be unique per camera",
        ),
        (
            AnalyticsConfig,
            {"zones": [{**ZONE, "exit_grace_s": 20}], "window_grace_s": 10},
            "window_grace_s (10.0) must be at least zone 'z''s max(min_visit_s, exit_grace_s) "
            "(20.0)",
        ),
        (
            AnalyticsConfig,
            {"zones": [{**ZONE, "exit_grace_s": 5}], "track_idle_timeout_s": 5},
            "track_idle_timeout_s (5.0) must exceed zone 'z''s exit_grace_s (5.0)",
        ),
        (AnalyticsConfig, {"continuity": {"zone_edge": -1}}, "greater than or equal to 0"),
        (AnalyticsConfig, {"min_distinct_tracks": 0}, "greater than or equal to 1"),
        (AnalyticsConfig, {"window_s": 0}, "greater than 0"),
    ],
)
def test_config_errors_say_what_is_wrong(model: type, data: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        model.model_validate(data)
    assert message in str(err.value)


def test_defaults() -> None:
    cfg = AnalyticsConfig(zones=[ZONE], lines=[LINE])
    z, ln = cfg.zones[0], cfg.lines[0]
    assert (
        cfg.window_s,
        cfg.window_grace_s,
        cfg.min_distinct_tracks,
        cfg.track_idle_timeout_s,
    ) == (60.0, 10.0, 5, 30.0)
    assert (z.min_visit_s, z.exit_grace_s, z.units) == (1.0, 2.0, "pixel")
    assert (ln.hysteresis_px, ln.hysteresis_box_fraction, ln.units) == (2.0, 0.1, "normalized")
    assert (ln.left_to_right, ln.right_to_left) == ("in", "out")
    with pytest.raises(ValidationError, match="frozen"):
        cfg.window_s = 5  # type: ignore[misc]
