"""Outputs of the analytics: events, window metrics, heatmaps and live snapshots.

Small frozen dataclasses, with Arrow schemas declared up front for the sinks and
converters that raise on anything that does not fit them.

Example:
    >>> e = Event("cam1", "line_cross", "door", "in", 7, 12.5, 1_800_000_000.0, None)
    >>> events_to_table([e]).num_rows
    1
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pipeline.analytics.classes import DEFAULT_CLASS
from pipeline.errors import InputError

EventKind = Literal["line_cross", "zone_enter", "zone_exit"]
EVENT_KINDS: tuple[str, ...] = ("line_cross", "zone_enter", "zone_exit")


@dataclass(frozen=True, slots=True)
class Event:
    """One line crossing or zone enter/exit of one anonymous track.

    Attributes:
        camera_id: the camera's id.
        kind: ``line_cross``, ``zone_enter`` or ``zone_exit``.
        element_id: id of the line or zone.
        direction: the line's direction name (``line_cross`` only, else None).
        track_id: the tracker's anonymous id: a counter scoped to one run (files written
            by the Parquet sink carry the run's ``run_id`` beside it).
        pts_s: media time (s) of the event: the frame where a crossing was confirmed, the
            first frame inside (enter), the last frame seen inside (exit).
        captured_at: wall time (s since the epoch) of ``pts_s``, from the camera's latest
            pts-to-wall offset; None when the caller gave no capture times.
        dwell_s: visit length in media seconds (``zone_exit`` only, else None): first to
            last frame inside, plus the walk to the zone's border at an end of the visit
            nobody saw (``ZoneConfig.dwell_to_border_s``, at most 1 s per end by default),
            so it can exceed this exit's ``pts_s`` minus its enter's.
        geometry_version: the camera's zones and lines this event was counted with: 0 as
            configured, +1 per edit through the API (``PUT /v1/cameras/{id}/geometry``).
        tracklets: zone events only (else None): how many tracks the visit joined, 1
            unless the person's track broke inside the zone and a new track continued
            the visit (``analytics.continuity``); on a ``zone_enter``, those joined by
            the time it counted, on a ``zone_exit`` all of them. ``track_id`` is the
            track of the event's own frame (an exit names the last tracklet).
        class_name: the track's object class (the model's class name).
    """

    camera_id: str
    kind: EventKind
    element_id: str
    direction: str | None
    track_id: int
    pts_s: float
    captured_at: float | None
    dwell_s: float | None
    tracklets: int | None = None
    geometry_version: int = 0
    class_name: str = DEFAULT_CLASS


EVENTS_SCHEMA = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("element_id", pa.string(), nullable=False),
        pa.field("class_name", pa.string(), nullable=False),
        pa.field("direction", pa.string(), nullable=True),
        pa.field("track_id", pa.int64(), nullable=False),
        pa.field("pts_s", pa.float64(), nullable=False),
        pa.field("captured_at", pa.float64(), nullable=False),
        pa.field("dwell_s", pa.float64(), nullable=True),
        pa.field("tracklets", pa.int64(), nullable=True),
        pa.field("geometry_version", pa.int64(), nullable=False),
    ]
)
"""Arrow schema of event rows (captured_at: seconds since the epoch, UTC).

Track ids are counters that start again in every run, so the Parquet sink adds
:data:`RUN_ID_FIELD` to every row it writes and rows of two runs in one partition are
never confused: ``(run_id, camera_id, track_id)`` names one track (unless the camera was
removed and added again during the run: its new tracker counts from 1 again)."""

RUN_ID_FIELD = pa.field("run_id", pa.string(), nullable=False)
"""Column the Parquet sink appends to every events and metrics file: the random id of the
pipeline run that wrote the row (see :class:`pipeline.sinks.parquet.ParquetSinkConfig`)."""


def check_table(table: pa.Table, schema: pa.Schema, name: str) -> None:
    """Raises InputError unless ``table`` has exactly ``schema`` (names, types, nullability)."""
    if table.schema.remove_metadata().equals(schema):
        return
    got = {f.name: f for f in table.schema}
    problems = []
    for f in schema:
        g = got.pop(f.name, None)
        if g is None:
            problems.append(f"missing {f.name} ({f.type})")
        elif g.type != f.type or g.nullable != f.nullable:
            problems.append(
                f"{f.name}: expected {f.type}{'' if f.nullable else ' not null'}, got "
                f"{g.type}{'' if g.nullable else ' not null'}"
            )
    problems += [f"unexpected column {n}" for n in got]
    if not problems:
        problems.append("columns are in a different order")
    raise InputError(f"{name} table does not match its schema: " + "; ".join(problems), name)


def events_to_table(events: Sequence[Event]) -> pa.Table:
    """Returns events as a table of :data:`EVENTS_SCHEMA`.

    Raises:
        InputError: an event has no ``captured_at`` or an unknown kind.
    """
    for e in events:
        if e.captured_at is None:
            raise InputError(
                f"event {e.kind} of {e.element_id!r} on camera {e.camera_id!r} has no "
                "captured_at; pass captured_at to CameraAnalytics.update",
                "captured_at",
            )
        if e.kind not in EVENT_KINDS:
            raise InputError(f"event kind must be one of {EVENT_KINDS}, but got {e.kind!r}", "kind")
    columns = {f.name: [getattr(e, f.name) for e in events] for f in fields(Event)}
    return pa.Table.from_pydict(columns, schema=EVENTS_SCHEMA)


@dataclass(frozen=True, slots=True)
class WindowMetrics:
    """Aggregates of one zone or line of one camera over one tumbling window.

    Metric fields are None where they do not apply to the element's kind, and all of them
    (``distinct_tracks`` included) are None when the row is suppressed (it covered between
    1 and k-1 distinct tracks).

    Attributes:
        camera_id: the camera's id.
        window_start_s: window start, media seconds (inclusive).
        window_end_s: window end, media seconds (exclusive).
        window_start_at: wall time (s since the epoch) of the window start, or None.
        complete: False when the window was closed before ``window_grace_s`` had passed
            after its end (its file ended, the camera was removed or its geometry edited,
            the run stopped): events known only later, such as an exit confirmed
            ``exit_grace_s`` after it, are not in it, even where every frame was seen.
        element_kind: ``zone`` or ``line``.
        element_id: the zone's or line's id.
        class_name: the object class the row counts (one row per element and class).
        is_queue: the zone is configured as a queue.
        frames: frames observed in the window.
        coverage: fraction of the window's media time the camera was delivering frames
            (between frames at most ``coverage_max_gap_s`` apart), in [0, 1]; 0 for a
            window without frames, whose figures are all null.
        late_events: events stamped in an already-closed window that were counted here.
        suppressed: the row covered fewer than k distinct tracks and is nulled.
        distinct_tracks: distinct tracks the row covers.
        lr_direction, lr_count: name and count of left-to-right crossings (lines).
        rl_direction, rl_count: name and count of right-to-left crossings (lines).
        occupancy_mean: mean over the window's frames of tracks in a counted visit that
            were inside when last seen (zones).
        occupancy_max: the most such tracks in one frame (zones).
        visits: visits that started in the window (zones).
        exits: visits that ended in the window (zones).
        tracklets: tracks joined by the visits that ended in the window (zones): equals
            ``exits`` unless broken tracks were joined into one visit.
        dwell_p50_s, dwell_p90_s: percentiles of the dwell of visits that ended (zones).
        queue_length_mean, queue_length_max: the occupancy of a queue zone.
        wait_count, wait_p50_s, wait_p90_s: measured waits (dwell) of completed queue visits.
        est_wait_s: Little's-law wait estimate over the window (queue_length_mean divided
            by the departure rate), None without departures.
        est_wait_method: how ``est_wait_s`` was obtained (``littles_law`` or ``none``).
        geometry_version: the camera's zones and lines the window was counted with (see
            :attr:`Event.geometry_version`).
    """

    camera_id: str
    window_start_s: float
    window_end_s: float
    window_start_at: float | None
    complete: bool
    element_kind: str
    element_id: str
    is_queue: bool
    frames: int
    late_events: int
    suppressed: bool
    distinct_tracks: int | None = None
    lr_direction: str | None = None
    lr_count: int | None = None
    rl_direction: str | None = None
    rl_count: int | None = None
    occupancy_mean: float | None = None
    occupancy_max: int | None = None
    visits: int | None = None
    exits: int | None = None
    dwell_p50_s: float | None = None
    dwell_p90_s: float | None = None
    queue_length_mean: float | None = None
    queue_length_max: int | None = None
    wait_count: int | None = None
    wait_p50_s: float | None = None
    wait_p90_s: float | None = None
    est_wait_s: float | None = None
    est_wait_method: str | None = None
    coverage: float | None = None
    tracklets: int | None = None
    geometry_version: int = 0
    class_name: str = DEFAULT_CLASS


METRICS_SCHEMA = pa.schema(
    [
        pa.field("camera_id", pa.string(), nullable=False),
        pa.field("window_start_s", pa.float64(), nullable=False),
        pa.field("window_end_s", pa.float64(), nullable=False),
        pa.field("window_start_at", pa.float64(), nullable=False),
        pa.field("complete", pa.bool_(), nullable=False),
        pa.field("element_kind", pa.string(), nullable=False),
        pa.field("element_id", pa.string(), nullable=False),
        pa.field("class_name", pa.string(), nullable=False),
        pa.field("is_queue", pa.bool_(), nullable=False),
        pa.field("frames", pa.int64(), nullable=False),
        pa.field("coverage", pa.float64()),
        pa.field("late_events", pa.int64(), nullable=False),
        pa.field("suppressed", pa.bool_(), nullable=False),
        pa.field("distinct_tracks", pa.int64()),
        pa.field("lr_direction", pa.string()),
        pa.field("lr_count", pa.int64()),
        pa.field("rl_direction", pa.string()),
        pa.field("rl_count", pa.int64()),
        pa.field("occupancy_mean", pa.float64()),
        pa.field("occupancy_max", pa.int64()),
        pa.field("visits", pa.int64()),
        pa.field("exits", pa.int64()),
        pa.field("tracklets", pa.int64()),
        pa.field("dwell_p50_s", pa.float64()),
        pa.field("dwell_p90_s", pa.float64()),
        pa.field("queue_length_mean", pa.float64()),
        pa.field("queue_length_max", pa.int64()),
        pa.field("wait_count", pa.int64()),
        pa.field("wait_p50_s", pa.float64()),
        pa.field("wait_p90_s", pa.float64()),
        pa.field("est_wait_s", pa.float64()),
        pa.field("est_wait_method", pa.string()),
        pa.field("geometry_version", pa.int64(), nullable=False),
    ]
)
"""Arrow schema of window metric rows: one per window, zone or line, and class."""


def metrics_to_table(rows: Sequence[WindowMetrics]) -> pa.Table:
    """Returns metric rows as a table of :data:`METRICS_SCHEMA`.

    Raises:
        InputError: a row has no ``window_start_at`` (no capture times were given).
    """
    for r in rows:
        if r.window_start_at is None:
            raise InputError(
                f"window metrics of {r.element_id!r} on camera {r.camera_id!r} have no "
                "window_start_at; pass captured_at to CameraAnalytics.update",
                "window_start_at",
            )
    columns = {f.name: [getattr(r, f.name) for r in rows] for f in fields(WindowMetrics)}
    return pa.Table.from_pydict(columns, schema=METRICS_SCHEMA)


@dataclass(frozen=True)
class HeatmapGrid:
    """Where anchors were during one window of one camera.

    Attributes:
        camera_id: the camera's id.
        window_start_s, window_end_s: the window, media seconds.
        window_start_at: wall time (s since the epoch) of the window start, or None.
        counts: (rows, columns) int64 anchor observations (one per track per frame) per
            cell, read-only; cells visited by 1..k-1 distinct tracks are zeroed.
        suppressed_cells: how many non-empty cells were zeroed by the minimum-count rule.
        width, height: the frame size the grid covers, pixels.
    """

    camera_id: str
    window_start_s: float
    window_end_s: float
    window_start_at: float | None
    counts: npt.NDArray[np.int64]
    suppressed_cells: int
    width: int
    height: int


@dataclass(frozen=True)
class ClosedWindow:
    """Everything one camera produced for one closed window.

    Attributes:
        camera_id: the camera's id.
        start_s, end_s: the window, media seconds.
        start_at: wall time of ``start_s`` (s since the epoch), or None.
        complete: False when closed before ``window_grace_s`` passed after its end
            (see :class:`WindowMetrics`).
        metrics: one row per zone and line, in config order (zones first).
        heatmap: the window's heatmap, or None when heatmaps are off.
    """

    camera_id: str
    start_s: float
    end_s: float
    start_at: float | None
    complete: bool
    metrics: tuple[WindowMetrics, ...]
    heatmap: HeatmapGrid | None


@dataclass(frozen=True)
class QueueStatus:
    """Live state of a queue zone.

    Attributes:
        length: tracks in a counted visit now.
        arrivals_per_min: counted visits started per minute over the lookback.
        departures_per_min: visits ended per minute over the lookback.
        est_wait_s: estimated current wait in seconds, or None.
        method: ``littles_law`` (length / departure rate), ``oldest_in_queue`` (no
            departures yet: the longest current wait, a lower bound), ``empty`` (no one
            waiting, 0 s) or ``none`` (no estimate).
    """

    length: int
    arrivals_per_min: float
    departures_per_min: float
    est_wait_s: float | None
    method: str


@dataclass(frozen=True)
class ZoneSnapshot:
    """Live state of a zone: occupancy now and totals since the camera was added.

    Attributes:
        zone_id: the zone.
        occupancy, visits_total, exits_total: summed over the classes the zone counts.
        queue: a queue zone's status when it counts one class (else None: see by_class).
        by_class: the same figures per class the zone counts, in its classes' order, each
            with its ``class_name`` (and its own ``queue``); empty in those entries.
        class_name: the class of a ``by_class`` entry; None on the zone's totals.
    """

    zone_id: str
    occupancy: int
    visits_total: int
    exits_total: int
    queue: QueueStatus | None
    by_class: tuple[ZoneSnapshot, ...] = ()
    class_name: str | None = None

    @classmethod
    def total(cls, zone_id: str, parts: tuple[ZoneSnapshot, ...]) -> ZoneSnapshot:
        """The zone's figures summed over its per-class ``parts``, which it keeps."""
        return cls(zone_id, sum(p.occupancy for p in parts), sum(p.visits_total for p in parts),
                   sum(p.exits_total for p in parts), parts[0].queue if len(parts) == 1 else None,
                   by_class=parts)


@dataclass(frozen=True)
class LineSnapshot:
    """Live crossing totals of a line since the camera was added.

    Attributes:
        line_id: the line.
        lr_direction, lr_count, rl_direction, rl_count: each direction's name and its
            crossings, summed over the classes the line counts.
        by_class: the same per class the line counts, in its classes' order, each with
            its ``class_name``; empty in those entries.
        class_name: the class of a ``by_class`` entry; None on the line's totals.
    """

    line_id: str
    lr_direction: str
    lr_count: int
    rl_direction: str
    rl_count: int
    by_class: tuple[LineSnapshot, ...] = ()
    class_name: str | None = None

    @classmethod
    def total(cls, parts: tuple[LineSnapshot, ...]) -> LineSnapshot:
        """The line's counts summed over its per-class ``parts``, which it keeps."""
        p0 = parts[0]
        return cls(p0.line_id, p0.lr_direction, sum(p.lr_count for p in parts),
                   p0.rl_direction, sum(p.rl_count for p in parts), by_class=parts)


@dataclass(frozen=True)
class CameraSnapshot:
    """Live state of one camera's analytics (not suppressed: it is for operators).

    Attributes:
        camera_id: the camera's id.
        pts_s: media time of the latest frame (NaN before the first).
        active_tracks: tracks with state held now.
        zones: per zone, in config order.
        lines: per line, in config order.
        open_windows: (start_s, end_s) of windows still accumulating.
        late_events_total: events that arrived after their window closed.
    """

    camera_id: str
    pts_s: float
    active_tracks: int
    zones: tuple[ZoneSnapshot, ...]
    lines: tuple[LineSnapshot, ...]
    open_windows: tuple[tuple[float, float], ...]
    late_events_total: int


def finite_or_none(x: float) -> float | None:
    """Returns ``x`` as a float, or None when it is NaN or infinite."""
    return float(x) if math.isfinite(x) else None
