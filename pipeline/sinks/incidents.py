"""Failures recorded beside the output, and windows marked incomplete because of them.

When an actor of a run dies (a camera, tracker or aggregator actor) and is re-created,
each camera it served has a gap: from the last frame its analytics saw before the failure
to the first after. Every window that spans a gap is written ``complete = false``, and
the gap itself as one row of ``incidents/part-<run_id>-<...>.parquet``
(:data:`INCIDENTS_SCHEMA`). No Ray.

Example:
    >>> book = FailureBook()
    >>> book.record("cam1", "tracker restarted", last_pts=12.0, at=1.8e9)
    >>> book.seen("cam1", 14.5)[0].to_pts_s
    14.5
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.analytics.events import ClosedWindow

log = logging.getLogger(__name__)

INCIDENTS_SCHEMA = pa.schema([
    pa.field("camera_id", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("from_pts_s", pa.float64()),
    pa.field("to_pts_s", pa.float64()),
    pa.field("recorded_at", pa.float64(), nullable=False),
    pa.field("run_id", pa.string(), nullable=False),
])
"""One row per gap: the camera, what failed, the media time of the last frame before
(null: none seen) and of the first after (null: none came), wall time it was recorded."""
MAX_OPEN_FAILURES = 64
"""Most failures kept per camera until windows past them close (oldest dropped)."""


@dataclass
class Failure:
    """One gap in a camera's frames."""

    camera_id: str
    kind: str
    from_pts_s: float | None
    to_pts_s: float | None
    recorded_at: float

    def spans(self, window: ClosedWindow) -> bool:
        """True when the window overlaps the gap."""
        starts_before_end = self.from_pts_s is None or self.from_pts_s < window.end_s
        ends_after_start = self.to_pts_s is None or self.to_pts_s > window.start_s
        return starts_before_end and ends_after_start


class FailureBook:
    """The open failures per camera of one aggregator."""

    def __init__(self) -> None:
        self._open: dict[str, list[Failure]] = {}

    def record(self, camera_id: str, kind: str, last_pts: float | None, at: float) -> None:
        """A gap begins after media time ``last_pts`` (None: before any frame)."""
        kept = self._open.setdefault(camera_id, [])
        kept.append(Failure(camera_id, kind, last_pts, None, at))
        del kept[:-MAX_OPEN_FAILURES]

    def seen(self, camera_id: str, pts_s: float) -> list[Failure]:
        """A frame of the camera arrived: closes its open gaps; returns those closed."""
        closed = []
        for f in self._open.get(camera_id, ()):
            if f.to_pts_s is None:
                f.to_pts_s = pts_s
                closed.append(f)
        return closed

    def open_gaps(self) -> list[Failure]:
        """Gaps no frame has closed yet."""
        return [f for fs in self._open.values() for f in fs if f.to_pts_s is None]

    def mark(self, windows: Sequence[ClosedWindow]) -> list[ClosedWindow]:
        """``windows`` with those that span a gap marked incomplete (metrics rows
        included); gaps that every later window is past are forgotten."""
        out = []
        for w in windows:
            fails = self._open.get(w.camera_id, [])
            if any(f.spans(w) for f in fails):
                w = dataclasses.replace(w, complete=False, metrics=tuple(
                    dataclasses.replace(m, complete=False) for m in w.metrics))
            self._open[w.camera_id] = [f for f in fails
                                       if f.to_pts_s is None or f.to_pts_s > w.start_s]
            out.append(w)
        return out

    def drop_camera(self, camera_id: str) -> None:
        self._open.pop(camera_id, None)


def write_incidents(root: Path, run_id: str, failures: Sequence[Failure]) -> Path | None:
    """Writes ``failures`` as one Parquet file under ``root``/incidents (atomically);
    returns its path, or None when there is nothing to write.

    Raises:
        OSError: the write failed.
    """
    if not failures:
        return None
    table = pa.Table.from_pylist(
        [{**dataclasses.asdict(f), "run_id": run_id} for f in failures], INCIDENTS_SCHEMA)
    folder = Path(root) / "incidents"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"part-{run_id}-{uuid.uuid4().hex[:12]}.parquet"
    tmp = folder / f".{final.name}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    log.warning("recorded %d failure(s) in %s", len(failures), final)
    return final
