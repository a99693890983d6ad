"""Runtime control of a pipeline, without Ray: what an API caller may add, how a camera's
counters survive the loss of its actor, and the JSON views of health and live analytics.

:class:`actors.controller_actor.PipelineController` is the Ray shell around these pieces;
they are plain functions and dataclasses so that they are tested without a cluster.

Example:
    >>> cam = SiteCamera(id="door", url="rtsp://viewer:hunter2@10.0.0.5/live")
    >>> check_api_source(cam, media_roots=()).url == cam.url      # network URLs pass
    True
    >>> public_camera(cam)["url"]
    'rtsp://viewer:***@10.0.0.5/live'
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pipeline.analytics.aggregator import AggregatorSnapshot
from pipeline.analytics.events import CameraSnapshot, finite_or_none
from pipeline.errors import ConfigError, InputError, PanorayError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import COUNTERS, CameraState, CameraStats
from pipeline.ingest.redact import redact_text
from pipeline.site_config import SiteCamera

CONTROLLER_NAME = "panoray-controller"
"""Ray actor name of the running pipeline's controller, in the run's namespace."""

SITE_ONLY_FIELDS = frozenset({"zones", "lines", "tracker", "resources"})
"""SiteCamera fields that are not part of the camera's ingest config."""

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
"""URL schemes a camera added through the API may use without a media root."""

PLAYLIST_SUFFIXES = frozenset({".m3u", ".m3u8", ".ffconcat", ".concat", ".sdp", ".txt"})
"""File types that make FFmpeg open further files or addresses named inside them; an API
caller could reach past the media roots with one, so they are refused."""


# -- errors ------------------------------------------------------------------------------
class CameraExistsError(ConfigError):
    """A camera with this id already runs.

    Attributes:
        camera_id: the id asked for.
    """

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        super().__init__(f"camera {camera_id!r} already exists; remove it first", "id")

    def __reduce__(self) -> tuple[Any, ...]:  # rebuilt from its fields across Ray calls
        return type(self), (self.camera_id,)


class UnknownCameraError(PanorayError):
    """No camera with this id runs.

    Attributes:
        camera_id: the id asked for.
        known: the ids that do run.
    """

    def __init__(self, camera_id: str, known: Iterable[str] = ()) -> None:
        self.camera_id = camera_id
        self.known = sorted(known)
        super().__init__(f"no camera {camera_id!r}; cameras: {self.known}")

    def __reduce__(self) -> tuple[Any, ...]:  # rebuilt from its fields across Ray calls
        return type(self), (self.camera_id, self.known)


class SourceNotAllowedError(InputError):
    """A camera added through the API names a source it may not read.

    Attributes:
        field: always ``url``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, "url")


class PipelineClosedError(PanorayError):
    """The pipeline is shutting down and accepts no more changes."""


# -- config ------------------------------------------------------------------------------
def validation_message(exc: ValidationError) -> str:
    """A pydantic error as ``path: message`` parts, never echoing the input (which may
    hold a camera password)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def camera_source_config(
    camera: SiteCamera, offline: bool, blur_people: bool = True
) -> CameraConfig:
    """The ingest part of a site camera, with the run's mode and privacy applied.

    Args:
        camera: the site camera.
        offline: process in offline mode whatever the camera says.
        blur_people: the site's ``privacy.blur_people``; False lets stills leave unblurred.
    """
    data = camera.model_dump(exclude=set(SITE_ONLY_FIELDS))
    data["blur_stills"] = camera.blur_stills and blur_people
    if offline:
        data["mode"] = "offline"
    return CameraConfig.model_validate(data)


def public_camera(camera: SiteCamera) -> dict[str, Any]:
    """The camera's config as JSON-ready data with its URL redacted."""
    return {**camera.model_dump(mode="json"), "url": camera.redacted_url}


def check_api_source(camera: SiteCamera, media_roots: Sequence[pathlib.Path]) -> SiteCamera:
    """Checks that a camera added through the API reads only what it may.

    Network URLs (``rtsp``, ``rtsps``, ``http``, ``https``) pass. A file or image folder
    passes when its real path (symlinks and ``..`` resolved) lies under one of
    ``media_roots``; the returned camera then names that real path, so a symlink swapped
    later cannot redirect it. Devices, other schemes and playlists are refused.

    Args:
        camera: the camera as posted.
        media_roots: the configured ``http.media_roots``.

    Returns:
        The camera, its file URL replaced by the resolved path.

    Raises:
        SourceNotAllowedError: with the reason.
    """
    url = camera.url
    if isinstance(url, int) or camera.kind == "usb":
        raise SourceNotAllowedError(
            "local capture devices cannot be added through the API; add them to the "
            "config file"
        )
    text = url.strip()
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme in NETWORK_SCHEMES:
            return camera
        if scheme != "file":
            raise SourceNotAllowedError(
                f"URL scheme {scheme!r} is not allowed; use {', '.join(NETWORK_SCHEMES)}, "
                "or a file under http.media_roots"
            )
        text = text.split("://", 1)[1]
    path = pathlib.Path(text)
    if not path.is_absolute():
        raise SourceNotAllowedError(
            f"a file path must be absolute, got {redact_text(text)!r}"
        )
    if not media_roots:
        raise SourceNotAllowedError(
            "files cannot be added through the API: http.media_roots is empty; use a "
            f"network URL ({', '.join(NETWORK_SCHEMES)})"
        )
    real = pathlib.Path(os.path.realpath(path))
    roots = [pathlib.Path(os.path.realpath(r)) for r in media_roots]
    if not any(real == r or real.is_relative_to(r) for r in roots):
        via = "" if real == path else f" (it resolves to {str(real)!r})"
        raise SourceNotAllowedError(
            f"{str(path)!r} is outside the media roots{via}; allowed: "
            f"{[str(r) for r in roots]}"
        )
    if real.suffix.lower() in PLAYLIST_SUFFIXES:
        raise SourceNotAllowedError(
            f"{str(path)!r} is a playlist ({real.suffix}); FFmpeg would open the files it "
            "names, so only media files and image folders may be added"
        )
    if not real.exists():
        raise SourceNotAllowedError(f"{str(path)!r} does not exist")
    return camera.model_copy(update={"url": str(real)})


# -- camera bookkeeping ------------------------------------------------------------------
@dataclass
class CameraRecord:
    """What the controller knows about one camera across the lives of its actor.

    Attributes:
        camera: its config (a file URL resolved when it came through the API).
        added_by: ``config`` or ``api``.
        tracker: index of the tracker actor hosting it.
        restarts: times its actor died and was re-created.
        carried: counters of its earlier actors, added to the current actor's.
        last: the last stats read from it (with ``carried`` added), or None.
        node_id: the Ray node its actor runs on, when known.
        lost: why its actor is gone and not re-created (empty while it runs).
    """

    camera: SiteCamera
    added_by: str
    tracker: int
    restarts: int = 0
    carried: dict[str, int] = field(default_factory=dict)
    last: CameraStats | None = None
    node_id: str | None = None
    lost: str = ""

    @property
    def camera_id(self) -> str:
        return self.camera.id

    def total(self, stats: CameraStats) -> CameraStats:
        """``stats`` of the current actor plus the counters of the earlier ones."""
        if not self.carried:
            return stats
        return dataclasses.replace(
            stats, **{k: getattr(stats, k) + self.carried.get(k, 0) for k in COUNTERS}
        )

    def carry_over(self) -> None:
        """Keeps the last known counters before the actor is replaced (they are not lost
        with it; frames it had in flight are)."""
        if self.last is not None:
            self.carried = {k: getattr(self.last, k) for k in COUNTERS}

    def needs_restart(self, max_restarts: int | None) -> bool:
        """True when its actor died while the camera was running and restarts are left."""
        if self.last is not None and CameraState(self.last.state).terminal:
            return False
        return max_restarts is None or self.restarts < max_restarts


def lost_stats(record: CameraRecord, reason: str) -> CameraStats:
    """Stats of a camera whose actor cannot be reached: its last counters, state
    ``reconnecting`` while a restart is due, else ``failed``."""
    base = record.last
    state = CameraState.FAILED.value if record.lost else CameraState.RECONNECTING.value
    if base is None:
        counters = {"reconnects": 0, **record.carried}
        return CameraStats(camera_id=record.camera_id, url=record.camera.redacted_url,
                           kind="unknown", state=state, reason=reason, state_since=0.0,
                           last_error="", last_error_at=0.0, fps=0.0, **counters)
    if CameraState(base.state).terminal:
        return base
    return dataclasses.replace(base, state=state, reason=reason, fps=0.0,
                               delivered_fps=0.0, in_flight=0, pending=0)


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
        "config": public_camera(record.camera),
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


# -- live analytics and status ----------------------------------------------------------
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


def live_cameras(snapshots: Sequence[AggregatorSnapshot]) -> dict[str, CameraSnapshot]:
    """Every camera's live analytics, by camera id."""
    return {c.camera_id: c for snap in snapshots for c in snap.cameras}


def status_rows(
    records: Mapping[str, CameraRecord], stats: Mapping[str, CameraStats],
    snapshots: Sequence[AggregatorSnapshot],
) -> list[CameraRow]:
    """One status row per camera, in the order of ``records``."""
    live = live_cameras(snapshots)
    rows = []
    for cid, rec in records.items():
        s = stats[cid]
        row = CameraRow(cid, s.state, redact_text(s.reason or s.last_error, rec.camera.url),
                        s.fps, s.frames_decoded, s.frames_delivered, s.frames_dropped,
                        s.frames_failed, s.reconnects, restarts=rec.restarts)
        snap = live.get(cid)
        if snap is not None:
            row.occupancy = {z.zone_id: z.occupancy for z in snap.zones}
            row.counts = {ln.line_id: {ln.lr_direction: ln.lr_count,
                                       ln.rl_direction: ln.rl_count} for ln in snap.lines}
            row.queues = {z.zone_id: {"length": z.queue.length, "est_wait_s": z.queue.est_wait_s,
                                      "method": z.queue.method}
                          for z in snap.zones if z.queue is not None}
        rows.append(row)
    return rows


def live_view(
    states: Mapping[str, str], snapshots: Sequence[AggregatorSnapshot]
) -> dict[str, Any]:
    """JSON-ready current occupancy and counts per camera, zone and line.

    Args:
        states: each running camera's state.
        snapshots: every aggregator's snapshot.
    """
    live = live_cameras(snapshots)
    cameras: dict[str, Any] = {}
    for cid, state in states.items():
        snap = live.get(cid)
        cameras[cid] = {"state": state, "pts_s": None, "active_tracks": 0,
                        "zones": {}, "lines": {}}
        if snap is None:  # no frame has reached the analytics yet
            continue
        cameras[cid].update({
            "pts_s": finite_or_none(snap.pts_s),
            "active_tracks": snap.active_tracks,
            "zones": {
                z.zone_id: {
                    "occupancy": z.occupancy, "visits_total": z.visits_total,
                    "exits_total": z.exits_total,
                    "queue": None if z.queue is None else {
                        "length": z.queue.length, "est_wait_s": z.queue.est_wait_s,
                        "arrivals_per_min": finite_or_none(z.queue.arrivals_per_min),
                        "departures_per_min": finite_or_none(z.queue.departures_per_min),
                        "method": z.queue.method,
                    },
                }
                for z in snap.zones
            },
            "lines": {ln.line_id: {ln.lr_direction: ln.lr_count, ln.rl_direction: ln.rl_count}
                      for ln in snap.lines},
        })
    return json_safe({
        "cameras": cameras,
        "events_total": sum(s.events_total for s in snapshots),
        "windows_total": sum(s.windows_total for s in snapshots),
    })


def run_summary(
    final: Mapping[str, tuple[CameraRecord, CameraStats]],
    trackers: Sequence[Mapping[str, Any]],
    snapshots: Sequence[AggregatorSnapshot],
    output_dir: str,
) -> dict[str, Any]:
    """The JSON summary ``panoray run`` prints at the end.

    Args:
        final: each camera's record and final stats (removed cameras included).
        trackers: every tracker actor's final ``stats()``.
        snapshots: every aggregator's last snapshot.
        output_dir: where the tables are.
    """
    live = live_cameras(snapshots)
    analytics_errors = {k: v for t in trackers for k, v in t["analytics_errors"].items()}
    cameras = {}
    for cid, (rec, s) in final.items():
        snap = live.get(cid)
        cameras[cid] = {
            "state": s.state, "reason": redact_text(s.reason, rec.camera.url),
            "frames_decoded": s.frames_decoded, "frames_delivered": s.frames_delivered,
            "frames_dropped": s.frames_dropped, "frames_failed": s.frames_failed,
            "reconnects": s.reconnects, "restarts": rec.restarts, "added_by": rec.added_by,
            "analytics_error": analytics_errors.get(cid),
            "visits": {z.zone_id: z.visits_total for z in snap.zones} if snap else {},
            "crossings": {ln.line_id: {ln.lr_direction: ln.lr_count,
                                       ln.rl_direction: ln.rl_count}
                          for ln in snap.lines} if snap else {},
        }
    return {
        "cameras": cameras,
        "events_total": sum(s.events_total for s in snapshots),
        "windows_total": sum(s.windows_total for s in snapshots),
        "output_dir": output_dir,
    }


def pick_tracker(records: Iterable[CameraRecord], trackers: int) -> int:
    """Index of the tracker actor hosting the fewest cameras (the lowest on ties)."""
    load = [0] * trackers
    for rec in records:
        load[rec.tracker] += 1
    return min(range(trackers), key=lambda i: (load[i], i))
