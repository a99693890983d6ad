"""The JSON shapes of every read: cameras, live analytics, the status table, the run
summary and the dashboard's history. No Ray; the controller calls these.

Camera URLs are redacted in every view; floats that are NaN or infinite become null
(strict JSON).

Example:
    >>> from pipeline.analytics.events import ClosedWindow, WindowMetrics
    >>> row = WindowMetrics("cam1", 0.0, 60.0, 1.8e9, True, "line", "door", False, 40, 0,
    ...                     False, 7, lr_direction="in", lr_count=4, rl_direction="out",
    ...                     rl_count=3)
    >>> view = history_view({"cam1": (ClosedWindow("cam1", 0.0, 60.0, 1.8e9, True, (row,),
    ...                                            None),)}, 3600.0)
    >>> view["cameras"]["cam1"][0]["rows"][0]["lr_count"]
    4
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.analytics.aggregator import AggregatorSnapshot
from pipeline.analytics.events import (
    CameraSnapshot,
    ClosedWindow,
    QueueStatus,
    WindowMetrics,
    finite_or_none,
)
from pipeline.control.records import CameraRecord
from pipeline.ingest.health import CameraStats
from pipeline.redact import redact_text


def camera_view(record: CameraRecord, stats: CameraStats) -> dict[str, Any]:
    """JSON-ready health, counters and config of one camera (credentials redacted)."""
    data = dataclasses.asdict(stats)
    url = record.camera.url
    for key in ("reason", "last_error"):
        data[key] = redact_text(str(data[key]), url)
    data.pop("camera_id", None)
    return json_safe({
        "id": record.camera_id,
        **data,
        "url": record.camera.redacted_url,
        "added_by": record.added_by,
        "restarts": record.restarts,
        "node_id": record.node_id,
        "geometry_version": record.geometry_version,
        "config": record.camera.public_dict(),
    })


STARTING = "starting"
"""The dashboard's state of a camera being placed: no actor yet, so no stats (not one of
:class:`~pipeline.ingest.health.CameraState`, which its actor reports once it runs)."""


def starting_view(record: CameraRecord) -> dict[str, Any]:
    """JSON-ready view of a camera reserved and being placed (start-up, an add): its id,
    state ``starting``, why, and config (credentials redacted); no counters yet."""
    return json_safe({
        "id": record.camera_id,
        "state": STARTING,
        "reason": "being placed on the cluster: it waits up to ray.camera_start_timeout_s "
                  "for a node with room for it",
        "url": record.camera.redacted_url,
        "added_by": record.added_by,
        "geometry_version": record.geometry_version,
        "config": record.camera.public_dict(),
    })


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinite floats as None and tuples as lists (strict JSON)."""
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# -- live analytics and status ------------------------------------------
@dataclass
class CameraRow:
    """One camera's line of the live status table."""

    camera_id: str
    state: str
    reason: str
    fps: float
    decoded: int
    delivered: int
    dropped: int
    failed: int
    reconnects: int
    occupancy: dict[str, int] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    restarts: int = 0
    batch: bool = False  # an offline camera of a batch (it may wait its turn, state idle)


def live_cameras(snapshots: Sequence[AggregatorSnapshot]) -> dict[str, CameraSnapshot]:
    """Every camera's live analytics, by camera id."""
    return {c.camera_id: c for snap in snapshots for c in snap.cameras}


def plugin_errors(snapshots: Sequence[AggregatorSnapshot]) -> dict[str, dict[str, str]]:
    """Per camera, each analytics plugin that was stopped and why."""
    return {cid: errors for snap in snapshots for cid, errors in snap.plugin_errors.items()}


def line_counts(snap: CameraSnapshot) -> dict[str, dict[str, int]]:
    """Per line, its crossings so far by direction name (summed over its classes)."""
    return {ln.line_id: {ln.lr_direction: ln.lr_count, ln.rl_direction: ln.rl_count}
            for ln in snap.lines}


def line_counts_by_class(snap: CameraSnapshot) -> dict[str, dict[str, dict[str, int]]]:
    """Per line, per class it counts, its crossings so far by direction name."""
    return {ln.line_id: {c.class_name or "": {c.lr_direction: c.lr_count,
                                              c.rl_direction: c.rl_count}
                         for c in ln.by_class}
            for ln in snap.lines}


def _queue_view(q: QueueStatus | None) -> dict[str, Any] | None:
    return None if q is None else {
        "length": q.length, "est_wait_s": q.est_wait_s,
        "arrivals_per_min": finite_or_none(q.arrivals_per_min),
        "departures_per_min": finite_or_none(q.departures_per_min),
        "method": q.method,
    }


def totals(snapshots: Sequence[AggregatorSnapshot]) -> dict[str, int]:
    """Events emitted and windows closed so far, over every aggregator."""
    return {"events_total": sum(s.events_total for s in snapshots),
            "windows_total": sum(s.windows_total for s in snapshots)}


def status_rows(
    records: Mapping[str, CameraRecord], stats: Mapping[str, CameraStats],
    snapshots: Sequence[AggregatorSnapshot],
) -> list[CameraRow]:
    """One status row per camera, in the order of ``records``."""
    live = live_cameras(snapshots)
    stopped = plugin_errors(snapshots)
    rows = []
    for cid, rec in records.items():
        s = stats[cid]
        reason = "; ".join([redact_text(s.reason or s.last_error, rec.camera.url)] + [
            f"plugin {name} stopped: {why}" for name, why in stopped.get(cid, {}).items()])
        row = CameraRow(cid, s.state, reason.lstrip("; "),
                        s.fps, s.frames_decoded, s.frames_delivered, s.frames_dropped,
                        s.frames_failed, s.reconnects, restarts=rec.restarts)
        snap = live.get(cid)
        if snap is not None:
            row.occupancy = {z.zone_id: z.occupancy for z in snap.zones}
            row.counts = line_counts(snap)
            row.queues = {z.zone_id: {"length": z.queue.length, "est_wait_s": z.queue.est_wait_s,
                                      "method": z.queue.method}
                          for z in snap.zones if z.queue is not None}
        rows.append(row)
    return rows


def live_view(
    states: Mapping[str, str], snapshots: Sequence[AggregatorSnapshot]
) -> dict[str, Any]:
    """JSON-ready current occupancy and counts per camera, zone and line: each zone's
    figures summed over its classes and ``by_class``; per line, ``lines`` by direction
    and ``lines_by_class``.

    Args:
        states: each running camera's state.
        snapshots: every aggregator's snapshot.
    """
    live = live_cameras(snapshots)
    cameras: dict[str, Any] = {}
    for cid, state in states.items():
        snap = live.get(cid)
        cameras[cid] = {"state": state, "pts_s": None, "active_tracks": 0,
                        "zones": {}, "lines": {}, "lines_by_class": {}}
        if snap is None:  # no frame has reached the analytics yet
            continue
        cameras[cid].update({
            "pts_s": finite_or_none(snap.pts_s),
            "active_tracks": snap.active_tracks,
            "zones": {
                z.zone_id: {
                    "occupancy": z.occupancy, "visits_total": z.visits_total,
                    "exits_total": z.exits_total, "queue": _queue_view(z.queue),
                    "by_class": {c.class_name: {
                        "occupancy": c.occupancy, "visits_total": c.visits_total,
                        "exits_total": c.exits_total, "queue": _queue_view(c.queue),
                    } for c in z.by_class},
                }
                for z in snap.zones
            },
            "lines": line_counts(snap),
            "lines_by_class": line_counts_by_class(snap),
        })
    return json_safe({"cameras": cameras, **totals(snapshots)})


def run_summary(
    final: Mapping[str, tuple[CameraRecord, CameraStats]],
    snapshots: Sequence[AggregatorSnapshot],
    export_failed: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON summary ``panoray run`` prints at the end.

    Args:
        final: each camera's record and final stats (removed cameras included).
        snapshots: every aggregator's last snapshot.
        export_failed: per camera whose track export stopped, why
            (:func:`export_failures`).
    """
    live = live_cameras(snapshots)
    analytics_errors = {k: v for snap in snapshots for k, v in snap.errors.items()}
    cameras = {}
    for cid, (rec, s) in final.items():
        snap = live.get(cid) or rec.analytics  # removed cameras: kept at their removal
        cameras[cid] = {
            "state": s.state, "reason": redact_text(s.reason, rec.camera.url),
            "frames_decoded": s.frames_decoded, "frames_delivered": s.frames_delivered,
            "frames_dropped": s.frames_dropped, "frames_failed": s.frames_failed,
            "frames_sent": s.frames_sent, "frames_held": s.frames_held,
            "reconnects": s.reconnects, "restarts": rec.restarts, "added_by": rec.added_by,
            "analytics_error": analytics_errors.get(cid),
            "plugin_errors": plugin_errors(snapshots).get(cid, {}),
            "visits": {z.zone_id: z.visits_total for z in snap.zones} if snap else {},
            "crossings": line_counts(snap) if snap else {},
        }
    return {"cameras": cameras, **totals(snapshots),
            "output": output_state(snapshots, export_failed or {})}


def export_failures(tracker_stats: Sequence[Any]) -> dict[str, str]:
    """Per camera whose track export stopped, why, from the trackers' stats (entries that
    are not stats, a tracker's call that failed, are skipped)."""
    return {cid: why for stats in tracker_stats if isinstance(stats, dict)
            for cid, why in stats.get("export_failed", {}).items()}


def output_state(snapshots: Sequence[AggregatorSnapshot],
                 export_failed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Whether every row was written by the close (``complete``): the rows dropped while
    output was paused, the rows left unwritten at the close, those of them kept in a
    checkpoint for the next run on the output to write (``kept_rows``), why, and per
    camera whose track export stopped, why (``track_export_failed``); from the
    aggregators' last snapshots (an aggregator that did not close counts as complete:
    its checkpoint's recovery writes its rows)."""
    outs = [s.output for s in snapshots if s is not None and s.output]
    dropped = sum(o.get("dropped_rows", 0) for o in outs)
    unwritten = sum(o.get("buffered_rows", 0) for o in outs if o.get("reason"))
    export_failed = dict(export_failed or {})
    return {"complete": not (dropped or unwritten or export_failed), "dropped_rows": dropped,
            "unwritten_rows": unwritten, "kept_rows": sum(o.get("kept_rows", 0) for o in outs),
            "reason": "; ".join(dict.fromkeys(o["reason"] for o in outs if o.get("reason"))),
            "track_export_failed": export_failed}


# -- history --------------------------------------------------------------------------
ROW_ID_FIELDS = ("element_kind", "element_id", "class_name", "is_queue", "suppressed")
"""Fields of a metric row that are always present in the history view."""
WINDOW_FIELDS = frozenset({"camera_id", "window_start_s", "window_end_s", "window_start_at",
                           "complete", "frames", "coverage", "geometry_version"})
"""Fields shared by all rows of a window, given once per window instead."""


def history_row(row: WindowMetrics) -> dict[str, Any]:
    """One metric row as JSON: its identity plus every metric that is not null (a
    suppressed row has none)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(row):
        if f.name in WINDOW_FIELDS:
            continue
        value = getattr(row, f.name)
        if isinstance(value, float):
            value = finite_or_none(value)
        if value is not None or f.name in ROW_ID_FIELDS:
            out[f.name] = value
    return out


def history_window(window: ClosedWindow) -> dict[str, Any]:
    """One closed window as JSON: ``start_s``/``end_s`` (media s), ``start_at`` (wall s
    since the epoch, or None), ``complete``, ``frames``, ``coverage`` (0 and null figures:
    no frame in the window), ``geometry_version`` (the zones and lines it was counted
    with) and its ``rows`` (zones first)."""
    frames = window.metrics[0].frames if window.metrics else 0
    coverage = window.metrics[0].coverage if window.metrics else None
    return {
        "start_s": window.start_s,
        "end_s": window.end_s,
        "start_at": None if window.start_at is None else finite_or_none(window.start_at),
        "complete": window.complete,
        "frames": frames,
        "coverage": coverage,  # fraction of the window the camera delivered frames
        "geometry_version": window.metrics[0].geometry_version if window.metrics else 0,
        "rows": [history_row(r) for r in window.metrics],
    }


def history_view(
    windows: Mapping[str, Sequence[ClosedWindow]], horizon_s: float
) -> dict[str, Any]:
    """The ``GET /v1/history`` body: every camera's closed windows, oldest first.

    Args:
        windows: per camera id, its kept windows (see
            :class:`pipeline.dashboard.history.WindowHistory`).
        horizon_s: the history's span, media seconds.
    """
    return {
        "horizon_s": horizon_s,
        "cameras": {cid: [history_window(w) for w in ws] for cid, ws in sorted(windows.items())},
    }
