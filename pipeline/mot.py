"""MOTChallenge files that runs read and write: ``seqinfo.ini`` and track text files.

- :func:`format_mot_rows`: MOTChallenge text, one row per box:
  ``frame, id, left, top, width, height, conf, x, y, z`` (pixels; frames from 1).
- :func:`read_seqinfo`: a sequence's ``seqinfo.ini`` (frame rate, length, size); image
  folders read as cameras take their frame rate from it.
- :class:`MotTrackWriter`: streams a run's tracks, one file per camera
  (``panoray run --export-tracks``), so any tracking evaluator can score a run.

Reading such files back and scoring them is the benchmarks' and the tests' business
(:mod:`benchmarks.evaluation`).

Example:
    >>> read_seqinfo("TUD-Campus").fps                                  # doctest: +SKIP
    25.0
"""

from __future__ import annotations

import configparser
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError
from pipeline.types import FrameMeta, Tracks


def xyxy_to_tlwh(boxes_xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(n, 4) x1, y1, x2, y2 pixels as (n, 4) float64 left, top, width, height."""
    b = np.asarray(boxes_xyxy, np.float64)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


@dataclass(frozen=True)
class SeqInfo:
    """A MOTChallenge sequence's ``seqinfo.ini``.

    Attributes:
        name: sequence name.
        fps: frame rate (frames per second).
        num_frames: sequence length in frames.
        width: image width in pixels.
        height: image height in pixels.
    """

    name: str
    fps: float
    num_frames: int
    width: int
    height: int


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Reads a MOTChallenge ``seqinfo.ini``: the file itself, or the one in a directory or
    beside it (an ``img1/`` folder's parent holds it).

    Raises:
        InputError: no such file, or it lacks a ``[Sequence]`` key or a value is not a
            number.
    """
    path = Path(path)
    if path.is_dir():
        found = [p for p in (path / "seqinfo.ini", path.parent / "seqinfo.ini") if p.is_file()]
        if not found:
            raise InputError(f"{path}: no seqinfo.ini in it or beside it", "seqinfo")
        path = found[0]
    parser = configparser.ConfigParser()
    try:
        if not parser.read(path):
            raise InputError(f"{path}: cannot read seqinfo", "seqinfo")
        s = parser["Sequence"]
        return SeqInfo(
            name=s.get("name", path.parent.name),
            fps=float(s["frameRate"]),
            num_frames=int(s["seqLength"]),
            width=int(s["imWidth"]),
            height=int(s["imHeight"]),
        )
    except (KeyError, ValueError, configparser.Error) as exc:
        raise InputError(f"{path}: bad or missing seqinfo value: {exc}", "seqinfo") from None


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

    def __init__(self, directory: str | Path, flush_rows: int = 10_000) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._flush_rows = flush_rows
        self._buffers: dict[str, list[str]] = {}
        self._rows = 0
        self._started: set[str] = set()

    def path(self, camera_id: str) -> Path:
        """The file of ``camera_id``."""
        return self.directory / f"{camera_id}.txt"

    def write(self, meta: FrameMeta, tracks: Tracks) -> None:
        """Buffers one frame's tracks of ``meta.camera_id``."""
        if meta.camera_id not in self._started:
            self.path(meta.camera_id).write_text("")  # a new run replaces an old file
            self._started.add(meta.camera_id)
        if not len(tracks):
            return
        frames = np.full(len(tracks), meta.frame_index + 1)
        text = format_mot_rows(frames, tracks.track_ids, xyxy_to_tlwh(tracks.boxes), tracks.scores)
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
