"""Failures recorded beside the output, and windows marked incomplete because of them.

When an actor of a run dies (a camera, tracker or aggregator actor) and is re-created,
each camera it served has a gap: from the last frame its analytics saw before the failure
to the first after. Every window that spans a gap is written ``complete = false``, and
the gap itself as one row of ``incidents/part-<run_id>-<...>.parquet``
(:data:`INCIDENTS_SCHEMA`). No Ray.

Incident files are sealed before they are written, as the sinks' files are
(:mod:`pipeline.sinks.pending`): :meth:`FailureBook.seal` fixes a file's name and rows in
the book, the aggregator saves its checkpoint (which holds the book), and only then
:meth:`FailureBook.write_sealed` writes it. A book restored from a checkpoint writes its
sealed files again under their names, replacing one already written, so a gap is one row
however the writer died.

Example:
    >>> book = FailureBook()
    >>> book.record("cam1", "tracker restarted", last_pts=12.0, at=1.8e9)
    >>> book.seen("cam1", 14.5)[0].to_pts_s
    14.5
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.analytics.events import ClosedWindow
from pipeline.sinks.files import write_atomically
from pipeline.sinks.pending import PendingFile

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
    sealed: bool = False  # its row is in a sealed incidents file

    def spans(self, window: ClosedWindow) -> bool:
        """True when the window overlaps the gap."""
        starts_before_end = self.from_pts_s is None or self.from_pts_s < window.end_s
        ends_after_start = self.to_pts_s is None or self.to_pts_s > window.start_s
        return starts_before_end and ends_after_start


class FailureBook:
    """The open failures per camera of one aggregator."""

    def __init__(self) -> None:
        self._open: dict[str, list[Failure]] = {}
        self._sealed: list[PendingFile] = []  # incidents files named, maybe not written

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("_sealed", [])  # a checkpoint of an older version

    def record(self, camera_id: str, kind: str, last_pts: float | None, at: float) -> None:
        """A gap begins after media time ``last_pts`` (None: before any frame)."""
        kept = self._open.setdefault(camera_id, [])
        kept.append(Failure(camera_id, kind, last_pts, None, at))
        del kept[:-MAX_OPEN_FAILURES]

    def seen(self, camera_id: str, pts_s: float) -> list[Failure]:
        """A frame of the camera arrived: closes its open gaps; returns those closed."""
        closed = []
        for f in self._open.get(camera_id, ()):
            if f.to_pts_s is None and not f.sealed:
                f.to_pts_s = pts_s
                closed.append(f)
        return closed

    def open_gaps(self) -> list[Failure]:
        """Gaps no frame has closed yet (and not sealed as open)."""
        return [f for fs in self._open.values() for f in fs
                if f.to_pts_s is None and not f.sealed]

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

    def seal(self, failures: Sequence[Failure], root: Path, run_id: str,
             name: str | None = None) -> None:
        """Fixes ``failures`` as one incidents file under ``root``/incidents, its name
        drawn now (``name``: that one instead, so that sealing the same failures again
        replaces the file); :meth:`write_sealed` writes it (save the book in between)."""
        if not failures:
            return
        for f in failures:
            f.sealed = True
        table = pa.Table.from_pylist(
            [{**{k: getattr(f, k) for k in INCIDENTS_SCHEMA.names if k != "run_id"},
              "run_id": run_id} for f in failures], INCIDENTS_SCHEMA)
        path = Path(root) / "incidents" / f"part-{run_id}-{name or uuid.uuid4().hex[:12]}.parquet"
        self._sealed.append(PendingFile(path, "incidents", len(failures), table))

    @property
    def sealed(self) -> bool:
        """True while a sealed incidents file waits to be written."""
        return bool(self._sealed)

    def write_sealed(self, write_file: Callable[[Path, Callable[[Path], Any], str], None]
                     = write_atomically) -> list[Path]:
        """Writes the sealed incidents files in order (atomically, through ``write_file``,
        the sink's file layer), each forgotten once written; returns their paths.

        Raises:
            OSError: a write failed (that file and those after it stay sealed).
        """
        written = []
        while self._sealed:
            f = self._sealed[0]
            write_file(f.path, f.write_to, uuid.uuid4().hex[:12])
            self._sealed.pop(0)
            written.append(f.path)
            log.warning("recorded %d failure(s) in %s", f.rows, f.path)
        return written
