"""Streams each camera's tracks to MOTChallenge text, so any tracking evaluator can score a run.

One file per camera, ``<dir>/<camera_id>.txt``, rows
``frame,id,left,top,width,height,conf,-1,-1,-1`` with 1-based frame numbers as in the source
(``frame_index + 1``). Rows are buffered and appended; memory is bounded by
``flush_rows``.
"""

from __future__ import annotations

import io
import logging
import pathlib

import numpy as np
import numpy.typing as npt

from pipeline.types import FrameMeta, Tracks

log = logging.getLogger(__name__)


def format_mot_rows(
    frames: npt.ArrayLike, ids: npt.ArrayLike, tlwh: npt.ArrayLike, confs: npt.ArrayLike
) -> str:
    """MOTChallenge text lines for (n,) frames, (n,) ids, (n, 4) tlwh pixels, (n,) confs."""
    out = io.StringIO()
    for fr, tid, (x, y, w, h), conf in zip(frames, ids, np.asarray(tlwh), confs):
        out.write(f"{fr},{tid},{x:.3f},{y:.3f},{w:.3f},{h:.3f},{conf:.5g},-1,-1,-1\n")
    return out.getvalue()


class MotTrackWriter:
    """Appends tracks of many cameras to per-camera MOTChallenge files.

    Args:
        directory: created if missing; existing files of the same cameras are replaced.
        flush_rows: buffered rows (all cameras) that trigger a write.
    """

    def __init__(self, directory: str | pathlib.Path, flush_rows: int = 10_000) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._flush_rows = flush_rows
        self._buffers: dict[str, list[str]] = {}
        self._rows = 0
        self._started: set[str] = set()

    def path(self, camera_id: str) -> pathlib.Path:
        """The file of ``camera_id``."""
        return self.directory / f"{camera_id}.txt"

    def write(self, meta: FrameMeta, tracks: Tracks) -> None:
        """Buffers one frame's tracks of ``meta.camera_id``."""
        if meta.camera_id not in self._started:
            self.path(meta.camera_id).write_text("")  # a new run replaces an old file
            self._started.add(meta.camera_id)
        if not len(tracks):
            return
        b = tracks.boxes.astype(np.float64)
        tlwh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
        frames = np.full(len(tracks), meta.frame_index + 1)
        text = format_mot_rows(frames, tracks.track_ids, tlwh, tracks.scores)
        self._buffers.setdefault(meta.camera_id, []).append(text)
        self._rows += len(tracks)
        if self._rows >= self._flush_rows:
            self.flush()

    def flush(self) -> None:
        """Appends every buffered row to its camera's file."""
        for camera_id, chunks in self._buffers.items():
            if chunks:
                with open(self.path(camera_id), "a", encoding="utf-8") as f:
                    f.write("".join(chunks))
        self._buffers.clear()
        self._rows = 0
