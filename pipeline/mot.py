"""MOTChallenge files that runs read and write: ``seqinfo.ini`` and track text files.

- :func:`format_mot_rows`: MOTChallenge text, one row per box:
  ``frame, id, left, top, width, height, conf, x, y, z`` (pixels; frames from 1).
- :func:`read_seqinfo`: a sequence's ``seqinfo.ini`` (frame rate, length, size); image
  folders read as cameras take their frame rate from it.
- :class:`MotTrackWriter`: streams a run's tracks, one file per camera
  (``panoray run --export-tracks``), so any tracking evaluator can score a run; a
  re-created tracker continues a camera's file where it ends. The export is a side
  output: a write that fails (a full disk) stops that camera's export, logged once and
  kept in :attr:`MotTrackWriter.failed`, and never tracking or analytics.

Reading such files back and scoring them is the benchmarks' and the tests' business
(:mod:`benchmarks.evaluation`).

Example:
    >>> read_seqinfo("TUD-Campus").fps                                  # doctest: +SKIP
    25.0
"""

from __future__ import annotations

import configparser
import contextlib
import io
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError
from pipeline.types import TrackedFrame

log = logging.getLogger(__name__)


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


ExportStart = Literal["new", "append", "resume"]
"""How a camera's track file begins (:meth:`MotTrackWriter.start`): ``new`` replaces a
file of an earlier run; ``append`` adds to this run's file (a camera added again under the
same id); ``resume`` continues it after a tracker was re-created, without frames it holds
already."""

TAIL_BYTES = 4096
"""Bytes read from a file's end to find its last frame (rows are well under 100 bytes)."""
MAX_FAILED_KEPT = 1000
"""Cameras whose stopped export :attr:`MotTrackWriter.failed` keeps after they stopped
(an offline batch of many files on a full disk: the newest)."""


class MotTrackWriter:
    """Writes each camera's tracks to its MOTChallenge file, ``<directory>/<camera>.txt``,
    as the tracker releases them.

    Every :meth:`write` reaches the file before it returns, so a tracker process that
    dies loses no row it released; the tracker re-created in its place :meth:`start` s the
    camera with ``resume``. A camera's file takes whole rows only: a write that fails
    (``OSError``: a full disk, a file too large) is cut back off the file where it can be,
    logged once, and ends that camera's export until it is started again; it raises
    nothing (see :attr:`failed`).

    Args:
        directory: created if missing.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._after: dict[str, int] = {}  # per started camera: frames written only past it
        self._failed: dict[str, str] = {}  # per started camera whose export stopped: why

    @property
    def failed(self) -> dict[str, str]:
        """Per started camera whose export stopped, the OS error that stopped it (a copy,
        e.g. ``{"door": "[Errno 28] No space left on device"}``)."""
        return dict(self._failed)

    def path(self, camera_id: str) -> Path:
        """The file of ``camera_id``."""
        return self.directory / f"{camera_id}.txt"

    def start(self, camera_id: str, how: ExportStart = "new") -> None:
        """Opens ``camera_id``'s file for this tracker (see :data:`ExportStart`)."""
        path = self.path(camera_id)
        self._failed.pop(camera_id, None)
        self._after[camera_id] = 0
        try:
            if how == "new" or not path.exists():
                path.write_text("")
            self._after[camera_id] = last_frame(path) if how == "resume" else 0
        except OSError as exc:
            self._fail(camera_id, exc)

    def stop(self, camera_id: str) -> None:
        """Forgets ``camera_id`` (its file stays as written; a stopped export stays in
        :attr:`failed`, for the run's summary)."""
        self._after.pop(camera_id, None)

    def write(self, frames: Sequence[TrackedFrame]) -> None:
        """Appends the rows of ``frames`` (in order per camera, cameras started) to their
        cameras' files; a resumed camera's frames up to its file's last are skipped."""
        for camera_id, group in itertools.groupby(frames, lambda f: f.meta.camera_id):
            after = self._after[camera_id]
            if camera_id in self._failed:
                continue
            text = "".join(
                format_mot_rows(np.full(len(f.tracks), f.meta.frame_index + 1),
                                f.tracks.track_ids, xyxy_to_tlwh(f.tracks.boxes),
                                f.tracks.scores)
                for f in group if len(f.tracks) and f.meta.frame_index + 1 > after)
            if text:
                try:
                    append_whole(self.path(camera_id), text.encode("utf-8"))
                except OSError as exc:
                    self._fail(camera_id, exc)

    def _fail(self, camera_id: str, exc: OSError) -> None:
        """Ends ``camera_id``'s export for the OS error ``exc``; logs it."""
        why = f"[Errno {exc.errno}] {exc.strerror}" if exc.strerror else str(exc)
        self._failed[camera_id] = why
        if len(self._failed) > MAX_FAILED_KEPT:  # the oldest stopped camera's goes
            del self._failed[next(iter(self._failed))]
        log.error("track export of camera %s to %s stopped: %s; analytics go on",
                  camera_id, self.path(camera_id), why)


def append_whole(path: Path, data: bytes) -> None:
    """Appends ``data`` to ``path`` all or nothing: a write that fails part way is cut
    back off the file (where it can be: not on a device), then its ``OSError`` raised."""
    with open(path, "ab", buffering=0) as f:
        start = f.seek(0, io.SEEK_END)
        view = memoryview(data)
        try:
            while view:
                view = view[f.write(view):]  # a short write: the rest, or the error
        except OSError:
            with contextlib.suppress(OSError):
                f.truncate(start)
            raise


def last_frame(path: Path) -> int:
    """The frame number of the last whole row of a MOTChallenge file (0 if it has none);
    a row cut short (its writer died mid-write) is removed first."""
    with open(path, "r+b") as f:
        size = f.seek(0, io.SEEK_END)
        start = max(0, size - TAIL_BYTES)
        f.seek(start)
        tail = f.read()
        whole = tail.rfind(b"\n") + 1
        if start + whole < size:
            f.truncate(start + whole)
    rows = tail[:whole].splitlines()
    return int(rows[-1].split(b",", 1)[0]) if rows else 0
