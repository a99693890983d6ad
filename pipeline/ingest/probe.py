"""Reading the frame size of the cameras whose size can be known before a run: files and
image folders (network streams and devices are checked when they open).

``panoray validate`` uses it to refuse pixel zones and lines outside the frame
(:func:`pipeline.ingest.frame_geometry.geometry_problem`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pipeline.config import ConfigIssue, format_path, line_in
from pipeline.errors import SourceError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.frame_geometry import geometry_problems
from pipeline.ingest.source import open_source, resolve_kind

log = logging.getLogger(__name__)

PROBED_KINDS = frozenset({"file", "images"})


def frame_size(config: CameraConfig) -> tuple[int, int] | None:
    """(width, height) a file or image folder declares, or None for other kinds, sources
    that do not open, or an unknown size."""
    try:
        kind = resolve_kind(config)
        if kind not in PROBED_KINDS:
            return None
        source = open_source(config, kind)
    except SourceError as exc:
        log.debug("not probed: %s", exc)
        return None
    try:
        size = source.info.width, source.info.height
    finally:
        source.close()
    return size if min(size) > 0 else None


def probe_geometry(cameras: Sequence[CameraConfig], text: str | None = None
                   ) -> list[ConfigIssue]:
    """One issue per pixel zone or line that lies outside its camera's (known) frame, at
    key path ``cameras[i].zones[j].points`` or ``cameras[i].lines[j]``, with its line in
    the YAML ``text`` the cameras came from (when given)."""
    issues = []
    for i, cam in enumerate(cameras):
        if not any(g.units == "pixel" for g in (*cam.zones, *cam.lines)):
            continue
        size = frame_size(cam)
        for loc, why in geometry_problems(cam, *size) if size else []:
            path = ("cameras", i, *loc)
            issues.append(ConfigIssue(format_path(path), line_in(text, path), why))
    return issues
