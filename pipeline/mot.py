"""MOTChallenge files: sequences of boxes with ids, their text format, ``seqinfo.ini``.

- :class:`MotSequence`: one sequence of boxes with ids, columnar, frames 1-based.
- :func:`read_mot` / :func:`format_mot_rows`: MOTChallenge text, one row per box:
  ``frame, id, left, top, width, height, conf, x, y, z`` (pixels; frames from 1).
- :func:`read_seqinfo`: a sequence's ``seqinfo.ini`` (frame rate, length, size); image
  folders read as cameras take their frame rate from it.
- :class:`MotTrackWriter`: streams a run's tracks, one file per camera
  (``panoray run --export-tracks``), so any tracking evaluator can score a run.

Ground-truth rows: every row counts, except rows whose ``conf`` is exactly 0, which
MOT16 and later use for "do not evaluate"; MOT15 ground truth (for example TUD-Campus and
TUD-Stadtmitte) marks every row 1, so all of its rows count.

Example:
    >>> gt = read_mot("TUD-Campus/gt/gt.txt")                           # doctest: +SKIP
    >>> read_seqinfo("TUD-Campus").fps                                  # doctest: +SKIP
    25.0
"""

from __future__ import annotations

import configparser
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError
from pipeline.types import FrameMeta, Tracks

log = logging.getLogger(__name__)

_SPLIT = re.compile(r"[,\s]+")


def _tlwh(boxes_xyxy: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(n, 4) x1, y1, x2, y2 pixels as (n, 4) float64 left, top, width, height."""
    b = np.asarray(boxes_xyxy, np.float64)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


@dataclass(frozen=True)
class MotSequence:
    """Boxes with ids over the frames of one sequence (ground truth or tracker output).

    Rows are kept sorted by frame, then id. Arrays are read-only.

    Attributes:
        frames: (n,) int64 frame numbers, 1-based.
        ids: (n,) int64 object or track ids; unique within a frame.
        tlwh: (n, 4) float64 left, top, width, height in pixels.
        confs: (n,) float64 the ``conf`` column (ground truth: 1 evaluate, 0 ignore).
        num_frames: frames in the sequence (>= the largest frame number), so that
            trailing frames with no boxes still count.
    """

    frames: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]
    tlwh: npt.NDArray[np.float64]
    confs: npt.NDArray[np.float64]
    num_frames: int

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames, np.int64).reshape(-1)
        ids = np.asarray(self.ids, np.int64).reshape(-1)
        tlwh = np.asarray(self.tlwh, np.float64)
        confs = np.asarray(self.confs, np.float64).reshape(-1)
        n = len(frames)
        if tlwh.shape != (n, 4) or len(ids) != n or len(confs) != n:
            raise InputError(
                f"MotSequence expects frames (n,), ids (n,), tlwh (n, 4), confs (n,), but got "
                f"{frames.shape}, {ids.shape}, {tlwh.shape}, {confs.shape}",
                "tlwh",
            )
        if n and frames.min() < 1:
            raise InputError(f"frames are 1-based, but got frame {frames.min()}", "frames")
        if not np.isfinite(tlwh).all():
            raise InputError("tlwh must be finite, but got NaN or inf", "tlwh")
        num_frames = int(self.num_frames)
        if n and frames.max() > num_frames:
            raise InputError(
                f"num_frames is {num_frames}, but a row has frame {frames.max()}", "num_frames"
            )
        order = np.lexsort((ids, frames))
        frames, ids, tlwh, confs = frames[order], ids[order], tlwh[order], confs[order]
        dup = (np.diff(frames) == 0) & (np.diff(ids) == 0)
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputError(
                f"id {ids[i]} appears more than once in frame {frames[i]}", "ids"
            )
        for name, column in (("frames", frames), ("ids", ids), ("tlwh", tlwh), ("confs", confs)):
            column.flags.writeable = False
            object.__setattr__(self, name, column)
        object.__setattr__(self, "num_frames", num_frames)

    def __len__(self) -> int:
        return len(self.frames)

    @classmethod
    def from_tracks(cls, per_frame: Sequence[Tracks], num_frames: int | None = None) -> MotSequence:
        """Builds a sequence from one Tracks per frame (``per_frame[i]`` is frame i + 1)."""
        n = len(per_frame) if num_frames is None else num_frames
        items = [(i + 1, t) for i, t in enumerate(per_frame) if len(t)]
        if not items:
            return cls(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0), n)
        frames = np.concatenate([np.full(len(t), f) for f, t in items])
        return cls(
            frames,
            np.concatenate([t.track_ids for _, t in items]),
            _tlwh(np.concatenate([t.boxes for _, t in items])),
            np.concatenate([t.scores for _, t in items]),
            n,
        )

    def boxes_xyxy(self) -> npt.NDArray[np.float64]:
        """(n, 4) float64 boxes as x1, y1, x2, y2 pixels."""
        return np.concatenate([self.tlwh[:, :2], self.tlwh[:, :2] + self.tlwh[:, 2:]], axis=1)

    def frame_rows(self, frame: int) -> slice:
        """The rows of ``frame`` (1-based) as a slice of the row arrays."""
        start, stop = np.searchsorted(self.frames, (frame, frame + 1))
        return slice(int(start), int(stop))

    def keep(self, mask: npt.NDArray[np.bool_]) -> MotSequence:
        """The rows selected by a boolean mask, same num_frames."""
        return MotSequence(
            self.frames[mask], self.ids[mask], self.tlwh[mask], self.confs[mask], self.num_frames
        )


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


def read_mot(path: str | Path, num_frames: int | None = None) -> MotSequence:
    """Reads a MOTChallenge text file (gt.txt or a tracker result).

    Fields are separated by commas and/or whitespace; rows need at least the six fields
    ``frame, id, left, top, width, height``; ``conf`` defaults to 1 when absent.

    Args:
        path: the text file.
        num_frames: sequence length; the largest frame number when omitted.

    Raises:
        InputError: a row is malformed; the message gives the file and line.
    """
    rows: list[list[float]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = _SPLIT.split(line)
            try:
                values = [float(p) for p in parts[:7]]
            except ValueError:
                raise InputError(
                    f"{path}:{lineno}: expected numbers (frame, id, left, top, width, "
                    f"height, conf, ...), got {line[:80]!r}",
                    "mot",
                ) from None
            if len(values) < 6:
                raise InputError(
                    f"{path}:{lineno}: expected at least 6 fields (frame, id, left, top, "
                    f"width, height), got {len(values)}",
                    "mot",
                )
            if values[0] != int(values[0]) or values[1] != int(values[1]) or values[0] < 1:
                raise InputError(
                    f"{path}:{lineno}: frame must be an integer >= 1 and id an integer, got "
                    f"frame {parts[0]} id {parts[1]}",
                    "mot",
                )
            rows.append(values if len(values) == 7 else values + [1.0])
    data = np.array(rows, np.float64).reshape(-1, 7)
    frames = data[:, 0].astype(np.int64)
    n_frames = int(frames.max(initial=0)) if num_frames is None else num_frames
    return MotSequence(frames, data[:, 1].astype(np.int64), data[:, 2:6], data[:, 6], n_frames)


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
        text = format_mot_rows(frames, tracks.track_ids, _tlwh(tracks.boxes), tracks.scores)
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
