"""Configuration of the analytics of one camera: zones, lines, windows, privacy.

Every threshold is a named, bounded, documented field. Geometry is given per camera in
``pixel`` or ``normalized`` (0..1 of the frame width and height) coordinates; normalised
coordinates are resolved against the frame size when the camera is added
(:func:`pipeline.analytics.geometry.resolve_camera_geometry`).

Example:
    >>> cfg = AnalyticsConfig(
    ...     zones=[{"id": "till", "points": [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]],
    ...             "queue": True}],
    ...     lines=[{"id": "door", "start": [0.5, 0.0], "end": [0.5, 1.0]}],
    ... )
    >>> cfg.zones[0].min_visit_s, cfg.lines[0].left_to_right, cfg.min_distinct_tracks
    (1.0, 'in', 5)
"""

from __future__ import annotations

from typing import Literal

from pydantic import FiniteFloat, Field, field_validator, model_validator

from pipeline.analytics.plugins import PluginConfig
from pipeline.analytics.classes import DEFAULT_CLASS
from pipeline.config import StrictModel

Units = Literal["pixel", "normalized"]
"""How zone and line coordinates are given: pixels, or fractions (0..1) of width/height."""

Point = tuple[FiniteFloat, FiniteFloat]
"""(x, y); NaN and infinities are refused."""

MIN_LINE_LENGTH = {"pixel": 1.0, "normalized": 1e-3}
"""Shortest counting line per unit: 1 pixel, or a thousandth of the frame."""

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """True when the closed segments p1p2 and q1q2 share a point (exact arithmetic on floats)."""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True

    def on_seg(a: Point, b: Point, c: Point) -> bool:
        return all(min(a[i], b[i]) <= c[i] <= max(a[i], b[i]) for i in (0, 1))

    return (
        (d1 == 0 and on_seg(q1, q2, p1))
        or (d2 == 0 and on_seg(q1, q2, p2))
        or (d3 == 0 and on_seg(p1, p2, q1))
        or (d4 == 0 and on_seg(p1, p2, q2))
    )


def class_names_field(what: str) -> object:
    """The ``classes`` field of a zone or line: the model's class names it counts."""
    return Field(
        (DEFAULT_CLASS,), min_length=1, max_length=64,
        description=f"Object classes (the model's class names) this {what} counts, each "
        "separately: every row, event and live count is per class.",
    )


def unique_classes(classes: tuple[str, ...]) -> tuple[str, ...]:
    for name in classes:
        if not name or len(name) > 64:
            raise ValueError(f"class names must have 1 to 64 characters, got {name!r}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat, got {list(classes)}")
    return classes


def _check_units(points: tuple[Point, ...], units: Units, what: str) -> None:
    for x, y in points:
        if units == "normalized" and not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"{what}: normalized coordinates must lie in [0, 1], but got ({x}, {y}); "
                "set units: pixel for pixel coordinates"
            )
        if units == "pixel" and (x < 0 or y < 0):
            raise ValueError(f"{what}: pixel coordinates must be >= 0, but got ({x}, {y})")


class ZoneConfig(StrictModel):
    """A polygonal zone: occupancy, visits with enter/exit events, dwell; optionally a queue.

    A track is inside when its anchor (box bottom centre) is inside the polygon. A visit
    starts on the first frame inside; it counts (a ``zone_enter`` event, stamped with that
    first frame's time) once the track has been inside for ``min_visit_s``; it ends (a
    ``zone_exit`` event, stamped with the last frame seen inside) once the track has not
    been seen inside for more than ``exit_grace_s``. Its dwell is first to last frame
    inside, plus the walk to the border at an end nobody saw (``dwell_to_border_s``).
    """

    id: str = Field(pattern=_ID_PATTERN, description="Zone id, unique per camera.")
    points: tuple[Point, ...] = Field(
        max_length=64,
        description="Polygon vertices (x, y) in order; not self-intersecting.",
    )
    units: Units = Field("normalized", description="Units of `points`.")
    classes: tuple[str, ...] = class_names_field("zone")  # type: ignore[assignment]
    queue: bool = Field(
        False,
        description="Treat the zone as a queue: report queue length, measured waits and an "
        "estimated current wait.",
    )
    min_visit_s: float = Field(
        1.0,
        ge=0.0,
        le=3600.0,
        description="Shortest visit that counts (media seconds inside, first to last frame). "
        "Shorter visits (people clipping a corner, short-lived spurious tracks, ID flicker "
        "fragments) produce no events.",
    )
    exit_grace_s: float = Field(
        2.0,
        ge=0.0,
        le=600.0,
        description="A visit ends only after the track has not been seen inside for longer "
        "than this (media seconds), so brief occlusions and anchor jitter across the border "
        "do not split a visit. Longer joins more of a person's broken visits and also "
        "merges two people's visits when one track takes over another's id; it never "
        "inflates occupancy or dwell (a track seen outside stops counting, and dwell ends "
        "at the last frame inside, or `dwell_to_border_s` past it). With offline smoothing "
        "visits hardly depend on it.",
    )
    dwell_to_border_s: float = Field(
        1.0,
        ge=0.0,
        le=60.0,
        description="A visit whose track was first seen deep inside the zone (it started "
        "there: the person was not seen crossing the border) or last seen there (it "
        "vanished) was longer than what was seen: its dwell adds, at each such end, the "
        "time to walk from there to the zone's border at the visit's mean speed (at least "
        "`border_min_speed`), at most this many media seconds, and never more than the "
        "camera was watching unseen (from its first frame, until the visit ended or the "
        "tracker removed the track). A "
        "queue's waits are dwells and include it; event times are not moved. 0: dwell is "
        "first to last frame inside.",
    )
    border_min_speed: float = Field(
        0.2,
        gt=0.0,
        le=10.0,
        description="The slowest speed assumed for `dwell_to_border_s`, body heights per "
        "second (a person who barely moved while seen is taken to walk this fast to the "
        "border; a walk is about 0.8).",
    )
    queue_lookback_s: float = Field(
        300.0,
        gt=0.0,
        le=86400.0,
        description="Queues only: departures within this many media seconds give the service "
        "rate of the live wait estimate (Little's law).",
    )

    _classes = field_validator("classes")(unique_classes)

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: tuple[Point, ...]) -> tuple[Point, ...]:
        n = len(points)
        if n < 3:
            raise ValueError(f"a polygon needs at least 3 points, got {n}")
        for i in range(n):
            for j in range(i + 1, n):
                if j == i + 1 or (i == 0 and j == n - 1):
                    continue  # adjacent edges share a vertex
                a, b = points[i], points[(i + 1) % n]
                c, d = points[j], points[(j + 1) % n]
                if _segments_intersect(a, b, c, d):
                    raise ValueError(f"polygon is self-intersecting: edge {i} crosses edge {j}")
        area2 = sum(
            points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1]
            for i in range(n)
        )
        if abs(area2) <= 1e-12:
            raise ValueError("polygon has zero area (are its points on one line?)")
        return points

    @model_validator(mode="after")
    def _units(self) -> ZoneConfig:
        _check_units(self.points, self.units, f"zone {self.id!r}")
        return self


class LineConfig(StrictModel):
    """A directed counting segment from ``start`` to ``end``.

    Sides are named as seen in the image, standing on ``start`` and looking towards ``end``
    (image y grows downwards):

    - a line drawn from left to right: its right-hand side is below it, so walking *down*
      the image across it is ``left_to_right``;
    - a line drawn from top to bottom: its right-hand side is the image's left, so walking
      *leftwards* across it is ``left_to_right``.

    Reversing ``start`` and ``end`` swaps the two directions.

    A crossing counts once the anchor is at least the hysteresis distance past the line
    on the other side, and only if the anchor's path crossed the finite segment (not its
    extension beside an end).
    """

    id: str = Field(pattern=_ID_PATTERN, description="Line id, unique per camera.")
    start: Point = Field(description="First end point (x, y).")
    end: Point = Field(description="Second end point (x, y).")
    units: Units = Field("normalized", description="Units of `start` and `end`.")
    classes: tuple[str, ...] = class_names_field("line")  # type: ignore[assignment]
    left_to_right: str = Field(
        "in",
        min_length=1,
        max_length=32,
        description="Direction name of a crossing from the left to the right side.",
    )
    right_to_left: str = Field(
        "out",
        min_length=1,
        max_length=32,
        description="Direction name of a crossing from the right to the left side.",
    )
    hysteresis_px: float = Field(
        2.0,
        ge=0.0,
        le=10000.0,
        description="Minimum distance (pixels) past the line before a side counts; the "
        "larger of this and `hysteresis_box_fraction` x box height applies.",
    )
    hysteresis_box_fraction: float = Field(
        0.1,
        ge=0.0,
        le=10.0,
        description="Minimum distance past the line as a fraction of the box height, so the "
        "margin scales with how big (near) the person is and so with the anchor's jitter.",
    )
    min_side_s: float = Field(
        0.0,
        ge=0.0,
        le=60.0,
        description="Media seconds the anchor must stay past the hysteresis distance, on "
        "every frame, before that side counts (and the crossing is reported, this much "
        "later). Rejects a box that jumps across the line for a frame or two: a detection "
        "merging two people, a wrong association. Longer also misses crossings just "
        "before a track ends.",
    )

    _classes = field_validator("classes")(unique_classes)

    @model_validator(mode="after")
    def _check(self) -> LineConfig:
        _check_units((self.start, self.end), self.units, f"line {self.id!r}")
        if self.start == self.end:
            raise ValueError(f"line {self.id!r}: start and end are the same point {self.start}")
        length = ((self.end[0] - self.start[0]) ** 2 + (self.end[1] - self.start[1]) ** 2) ** 0.5
        if length < MIN_LINE_LENGTH[self.units]:
            raise ValueError(f"line {self.id!r}: start and end are {length:g} apart; a line "
                             f"must be at least {MIN_LINE_LENGTH[self.units]:g} long "
                             f"({self.units} units)")
        if self.left_to_right == self.right_to_left:
            raise ValueError(
                f"line {self.id!r}: left_to_right and right_to_left must differ, both are "
                f"{self.left_to_right!r}"
            )
        return self


class HeatmapConfig(StrictModel):
    """Where anchors were, on a coarse grid per camera and window."""

    enabled: bool = Field(True, description="Accumulate a heatmap per window.")
    columns: int = Field(
        64,
        ge=1,
        le=1024,
        description="Grid columns; rows follow from the frame's aspect ratio (square cells).",
    )


class ContinuityConfig(StrictModel):
    """Joining a person's broken track, from position and time only (no appearance).

    When a new track starts within ``max_gap_s`` of another track's last sighting (the
    earlier track not seen since, or removed by the tracker) and near where it was last
    seen (within ``max_distance`` plus ``speed`` x the gap, in body heights), and neither
    was at the frame's border then (``frame_edge``), the new track continues it: a zone
    visit that the earlier track left deep inside the zone (at least ``zone_edge`` body
    heights from the zone's border) goes on as one visit when the new track starts inside
    the same zone (its dwell covers both and its events count the ``tracklets`` it
    joined); the new track does not count its first change of side across a line in the
    direction the lost one last crossed it (a person counts once when the track breaks
    just after a line), and with ``lines`` the line sides go on too.
    ``max_gap_s: 0`` turns joining off.
    """

    max_gap_s: float = Field(
        3.0,
        ge=0.0,
        le=60.0,
        description="Longest time (media s) from a track's last sighting to the first "
        "frame of a new track that may continue it; 0 turns joining off. A visit whose "
        "track was last seen deep inside the zone also stays open at least this long "
        "(it never inflates dwell, which ends at the last frame inside). At most "
        "`window_grace_s` and `track_idle_timeout_s` apply, so that exits stay in their "
        "window.",
    )
    max_distance: float = Field(
        0.5,
        ge=0.0,
        le=20.0,
        description="Farthest (in body heights: the mean box height of the two tracks) the "
        "new track's first anchor may be from the earlier track's last anchor, at a gap "
        "of 0 s.",
    )
    speed: float = Field(
        0.5,
        ge=0.0,
        le=10.0,
        description="What the allowed distance grows by per second of gap, in body "
        "heights per second (a walk is about 0.8; people hidden for long mostly stand or "
        "walk slowly behind others).",
    )
    frame_edge: float = Field(
        0.1,
        ge=0.0,
        le=10.0,
        description="A track whose box came within this many body heights of the frame's "
        "border when last seen left the view, and one whose box starts that close "
        "entered it: neither is joined.",
    )
    lines: bool = Field(
        False,
        description="Also pass line sides on to the continuing track, so that a person "
        "lost just before a line and found just after it counts once. Off by default: "
        "measured on long sequences it recovers few missed crossings and, on lines "
        "people walk along, joins of two people walking side by side add false ones.",
    )
    zone_edge: float = Field(
        0.1,
        ge=0.0,
        le=20.0,
        description="A visit continues only if the earlier track's last anchor was at "
        "least this far (body heights) inside the zone's border, where a person cannot "
        "have left unseen; a track lost near the border may have left the zone.",
    )


class AnalyticsConfig(StrictModel):
    """Analytics of one camera: zones, lines, windows, privacy and state bounds."""

    zones: tuple[ZoneConfig, ...] = Field((), max_length=256, description="Zones and queues.")
    lines: tuple[LineConfig, ...] = Field((), max_length=256, description="Counting lines.")
    window_s: float = Field(
        60.0, gt=0.0, le=86400.0, description="Length of the tumbling metric windows (media s)."
    )
    window_grace_s: float = Field(
        10.0,
        ge=0.0,
        le=3600.0,
        description="A window closes once media time passes its end by this much, so that "
        "events stamped inside it but known later (zone enters after min_visit_s, exits after "
        "exit_grace_s) still land in it. Must be at least every zone's min_visit_s and "
        "exit_grace_s.",
    )
    min_distinct_tracks: int = Field(
        5,
        ge=1,
        le=1000,
        description="k of the minimum-count rule: a window's aggregate of a zone, line or "
        "heatmap cell covering between 1 and k-1 distinct tracks is suppressed (nulled); "
        "zero is published. 1 turns suppression off. The default 5 is the usual small-cell "
        "threshold of statistical disclosure control: below it a row's dwell percentiles "
        "are single people's times and someone who was there can work out the others'.",
    )
    track_idle_timeout_s: float = Field(
        30.0,
        gt=0.0,
        le=86400.0,
        description="Per-track state is dropped when the tracker removes the track, or, as a "
        "safety net, after the track has not been seen for this long (media s).",
    )
    heatmap: HeatmapConfig = Field(default_factory=HeatmapConfig, description="Heatmap grid.")
    continuity: ContinuityConfig = Field(
        default_factory=ContinuityConfig,
        description="Joining broken tracks into one visit and one line crossing.",
    )
    coverage_max_gap_s: float = Field(
        1.0, gt=0.0, le=600.0,
        description="Two frames further apart than this (media s) leave the time between "
        "them uncovered: a window's `coverage` is the fraction of it between closer frames.",
    )
    plugins: tuple[PluginConfig, ...] = Field(
        (), max_length=64,
        description="Analytics plugins run beside the built-ins, each writing its own table "
        "under the same windows and minimum-count rule (README, Extending panoray).",
    )
    max_empty_windows: int = Field(
        1440, ge=0, le=100_000,
        description="Most windows without any frame written for one outage (the newest; "
        "frames = 0, coverage = 0, figures null); bounds what a long outage writes.",
    )

    @model_validator(mode="after")
    def _check(self) -> AnalyticsConfig:
        names = [p.name for p in self.plugins]
        if len(set(names)) != len(names):
            raise ValueError(f"plugin names must be unique, got {names}")
        seen: dict[str, str] = {}
        for kind, items in (("zone", self.zones), ("line", self.lines)):
            for item in items:
                if item.id in seen:
                    raise ValueError(
                        f"{kind} id {item.id!r} is already used by a {seen[item.id]}; zone and "
                        "line ids must be unique per camera"
                    )
                seen[item.id] = kind
        for zone in self.zones:
            needed = max(zone.min_visit_s, zone.exit_grace_s)
            if self.window_grace_s < needed:
                raise ValueError(
                    f"window_grace_s ({self.window_grace_s}) must be at least zone "
                    f"{zone.id!r}'s max(min_visit_s, exit_grace_s) ({needed}), or its events "
                    "would arrive after their window closed"
                )
            if self.track_idle_timeout_s <= zone.exit_grace_s:
                raise ValueError(
                    f"track_idle_timeout_s ({self.track_idle_timeout_s}) must exceed zone "
                    f"{zone.id!r}'s exit_grace_s ({zone.exit_grace_s})"
                )
        return self
