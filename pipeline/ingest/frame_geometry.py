"""Checking a camera's pixel zones and lines against its frame, before frames flow.

Zones and lines in ``units: pixel`` only make sense inside the frame; one outside would
switch the camera's analytics off at its first frame. The camera's decoder checks them
when the source is opened (the size it declares) and on its first frame when that has
another size (later sizes are scaled to it: :class:`~pipeline.tracking.lane.CameraLane`),
and fails the camera visibly (state ``failed``, the reason naming the zone or
line, ``panoray run`` exit 3); other cameras go on. ``panoray validate`` runs the same
check on files and image folders, whose size it can read
(:func:`pipeline.ingest.probe.probe_geometry`).

Example:
    >>> cam = CameraConfig(id="door", url="/clips/door.mp4",
    ...                    lines=[{"id": "l", "start": [10, 10], "end": [10, 600],
    ...                            "units": "pixel"}])
    >>> check_frame_geometry(cam, "file", 768, 576)  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    pipeline.errors.FrameGeometryError: camera 'door' (file /clips/door.mp4):
    lines[0]: line 'l': point (10, 600) lies outside the 768x576 frame (pixel coordinates must
    be within it; use units: normalized to scale with the frame)
"""

from __future__ import annotations

from pipeline.analytics.config import LineConfig, ZoneConfig
from pipeline.analytics.geometry import resolve_points
from pipeline.config import format_path
from pipeline.errors import ConfigError, FrameGeometryError
from pipeline.ingest.config import CameraConfig


def geometry_problems(config: CameraConfig, width: int, height: int
                      ) -> list[tuple[tuple[str | int, ...], str]]:
    """Each pixel zone or line of the camera that does not fit a ``width`` x ``height``
    frame, as (key path under the camera, e.g. ``("lines", 0)``, why); none when the size
    is unknown (0)."""
    if width <= 0 or height <= 0:
        return []
    items: list[tuple[tuple[str | int, ...], ZoneConfig | LineConfig]] = [
        *((("zones", i, "points"), z) for i, z in enumerate(config.zones)),
        *((("lines", i), line) for i, line in enumerate(config.lines)),
    ]
    problems = []
    for loc, item in items:
        if item.units != "pixel":
            continue
        points = item.points if isinstance(item, ZoneConfig) else (item.start, item.end)
        kind = "zone" if isinstance(item, ZoneConfig) else "line"
        try:
            resolve_points(points, "pixel", width, height, f"{kind} {item.id!r}")
        except ConfigError as exc:
            problems.append((loc, str(exc)))
    return problems


def geometry_problem(config: CameraConfig, width: int, height: int) -> str | None:
    """Why the camera's pixel zones and lines do not fit a ``width`` x ``height`` frame
    (``zones[i].points: ...; lines[j]: ...``, every one that does not), or None when they
    fit or the size is unknown (0)."""
    problems = geometry_problems(config, width, height)
    return "; ".join(f"{format_path(loc)}: {why}" for loc, why in problems) or None


def check_frame_geometry(config: CameraConfig, kind: str, width: int, height: int) -> None:
    """Raises :class:`FrameGeometryError` when :func:`geometry_problem` finds one."""
    problem = geometry_problem(config, width, height)
    if problem is not None:
        raise FrameGeometryError(config.id, kind, config.redacted_url, problem)
