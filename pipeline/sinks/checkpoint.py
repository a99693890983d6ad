"""Aggregator checkpoints: the analytics state and unwritten output of one aggregator,
saved often enough that a crash loses at most ``checkpoint_s`` of media time. No Ray.

A checkpoint is one pickle per aggregator under the output root,
``.checkpoints/<run_id>/aggregator-<n>.pkl``, written to a temporary file and renamed into
place, so a crash of any process leaves the previous checkpoint or the new one, never half
of one. It is not synced to the disk (a save costs about a millisecond, not a flush of the
device): it survives the death of the aggregator, the controller or the driver, not of
the machine, after which it may be missing or unreadable and is ignored. It holds only
what panoray itself wrote, compact (one Arrow table per buffer, folded heatmaps, numpy
arrays as their raw bytes: :func:`encode_state`), and is
read back only by the aggregator that replaces the one that wrote it, by the driver when
its controller died, or by the next run on the same output when the driver died
(:mod:`pipeline.sinks.recovery`); a clean close deletes it, unless it holds rows the sinks
could not write (the next run on the output writes them).

Example:
    >>> import tempfile
    >>> path = checkpoint_path(tempfile.mkdtemp(), "run-1", 0)
    >>> save_checkpoint(path, {"x": 1}) > 0, load_checkpoint(path)
    (True, {'x': 1})
"""

from __future__ import annotations

import copyreg
import fcntl
import io
import json
import logging
import os
import pickle
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

CHECKPOINT_DIR = ".checkpoints"


def checkpoint_path(root: str | Path, run_id: str, index: int) -> Path:
    """Where aggregator ``index`` of run ``run_id`` keeps its checkpoint under ``root``."""
    return Path(root) / CHECKPOINT_DIR / run_id / f"aggregator-{index}.pkl"


def alerts_state_path(root: str | Path, run_id: str) -> Path:
    """Where the alerts actor of run ``run_id`` keeps its rules' and flows' state."""
    return Path(root) / CHECKPOINT_DIR / run_id / "alerts.pkl"


_RAW_KINDS = frozenset("biufcmM")
"""numpy dtype kinds whose arrays :func:`encode_state` saves as raw bytes (bool, integers,
floats, complex, datetimes): their ``dtype.str`` names them whole."""


def _raw_array(data: bytes, dtype: str, shape: tuple[int, ...]) -> npt.NDArray[Any]:
    """An array saved by :func:`_reduce_array`: a writable copy, C order."""
    return np.frombuffer(data, dtype).reshape(shape).copy()


def _reduce_array(a: npt.NDArray[Any]) -> tuple[Any, ...]:
    """Pickles a plain numeric array as (bytes, dtype string, shape): a third of what
    numpy's own reduction costs for the many small arrays of the analytics state (no dtype
    object, no pickle buffer per array); any other array the usual way."""
    dtype = a.dtype
    code = _DTYPE_CODES.get(dtype)
    if code is None:
        code = dtype.str if dtype.kind in _RAW_KINDS and dtype.fields is None else ""
        if len(_DTYPE_CODES) < _MAX_DTYPE_CODES:
            _DTYPE_CODES[dtype] = code
    if code:
        return _raw_array, (a.tobytes(), code, a.shape)
    return a.__reduce_ex__(pickle.HIGHEST_PROTOCOL)


_DTYPE_CODES: dict[np.dtype, str] = {}
"""Per dtype seen, the string :func:`_reduce_array` saves it as ("" for the usual way):
looked up, not worked out, for each of a save's hundreds of small arrays, and one string
object per dtype (the pickler writes it once per save)."""
_MAX_DTYPE_CODES = 256
"""Dtypes :data:`_DTYPE_CODES` keeps at most (the state holds a handful)."""


_DISPATCH = {**copyreg.dispatch_table, np.ndarray: _reduce_array}


class FrozenCache:
    """Pickle bytes of immutable objects (configs, resolved geometry) kept from one
    checkpoint to the next, so that each is pickled once, not every few seconds.

    Args:
        types: the immutable types (exact types) whose instances are cached. An instance
            unpickles as an equal copy; objects it shares with the rest of the state are
            copied too (harmless for immutable ones).
    """

    def __init__(self, types: tuple[type, ...]) -> None:
        self.types = types
        self._blobs: dict[int, tuple[Any, bytes]] = {}  # by id: the object, its pickle
        self._used: dict[int, tuple[Any, bytes]] = {}  # ... of the encode under way

    def dispatch(self) -> dict[type, Any]:
        """The pickler's reductions for one encode (entries not used by it are dropped)."""
        self._blobs, self._used = self._used or self._blobs, {}
        return {t: self._reduce for t in self.types}

    def _reduce(self, obj: Any) -> tuple[Any, ...]:
        entry = self._blobs.get(id(obj))
        if entry is None or entry[0] is not obj:
            entry = (obj, encode_state(obj))
        self._used[id(obj)] = entry
        return pickle.loads, (entry[1],)


def encode_state(state: Any, frozen: FrozenCache | None = None) -> bytes:
    """``state`` as pickle bytes, with plain numpy arrays as raw bytes (exact type only:
    subclasses pickle as usual) and the ``frozen`` cache's objects pickled once;
    :func:`pickle.loads` reads it back.

    Example:
        >>> out = pickle.loads(encode_state({"a": np.arange(3.0)}))["a"]
        >>> out.tolist(), out.flags.writeable
        ([0.0, 1.0, 2.0], True)
    """
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH if frozen is None else {**_DISPATCH,
                                                                 **frozen.dispatch()}
    pickler.dump(state)
    return buf.getvalue()


def save_checkpoint(path: Path, state: Any) -> int:
    """Writes ``state`` atomically (temporary file, rename; not synced); returns its
    bytes.

    Raises:
        OSError: the write failed (the previous checkpoint is left as it was).
    """
    return write_checkpoint(path, encode_state(state))


def write_checkpoint(path: Path, data: bytes) -> int:
    """Writes encoded state (:func:`encode_state`) atomically (temporary file, rename; not
    synced); returns its bytes.

    Raises:
        OSError: the write failed (the previous checkpoint is left as it was).
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        try:
            f = open(tmp, "wb")  # noqa: SIM115 - closed below
        except FileNotFoundError:  # the first save: its folder is made once, not each time
            path.parent.mkdir(parents=True, exist_ok=True)
            f = open(tmp, "wb")  # noqa: SIM115
        with f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def load_checkpoint(path: Path) -> Any:
    """The state saved at ``path``, or None when there is none (or it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 - written by this run's own aggregator
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint means starting empty
        log.error("checkpoint %s unreadable (%s); starting empty", path, type(exc).__name__)
        return None


class RunLock:
    """Marks run ``run_id`` alive on its output: an exclusive ``flock`` on
    ``.checkpoints/<run_id>.lock``, held by the driver for the whole run. The kernel lets
    go of it when the driver dies however it dies, so a later run tells a dead run's
    checkpoints from a live one's (:func:`run_alive`). The file holds the run's unfinished
    cameras as the driver last noted them (:meth:`note_cameras`, :func:`run_cameras`).

    Raises:
        OSError: the lock file cannot be created.
    """

    def __init__(self, root: str | Path, run_id: str) -> None:
        self.path = Path(root) / CHECKPOINT_DIR / f"{run_id}.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def note_cameras(self, camera_ids: Iterable[str], fingerprint: str | None = None) -> None:
        """Notes the cameras whose output the driver's death would cut short, for the run
        that recovers this one (:func:`note_cameras`), and the fingerprint of its config that
        a resuming run must match (:mod:`pipeline.sinks.resume`; a run with live cameras
        is resumed only within ``run.resume_within_s``), or None."""
        if self._fd is not None:
            _write_note(self._fd, camera_ids, fingerprint)

    def release(self) -> None:
        """Deletes the lock file and lets go of it (the run ended). Safe to call twice."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None
        try:
            self.path.parent.rmdir()
        except OSError:
            pass


def _write_note(fd: int, camera_ids: Iterable[str], fingerprint: str | None = None) -> None:
    data = json.dumps({"cameras": sorted(camera_ids), "fingerprint": fingerprint}).encode()
    os.pwrite(fd, data, 0)  # then cut: a note cut short does not parse
    os.ftruncate(fd, len(data))


def note_cameras(root: str | Path, run_id: str, camera_ids: Iterable[str]) -> None:
    """Writes ``camera_ids`` into run ``run_id``'s lock file, if it still exists, without
    a fingerprint: a run being recovered is not resumed any more.

    Raises:
        OSError: the file could not be written.
    """
    try:
        fd = os.open(Path(root) / CHECKPOINT_DIR / f"{run_id}.lock", os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        _write_note(fd, camera_ids)
    finally:
        os.close(fd)


def run_note(root: str | Path, run_id: str) -> tuple[list[str], str | None] | None:
    """Run ``run_id``'s lock-file note (:meth:`RunLock.note_cameras`): its unfinished
    cameras as its driver last noted them and its resume fingerprint (None: not
    resumable); None when there is no note (or it does not parse)."""
    try:
        note = json.loads((Path(root) / CHECKPOINT_DIR / f"{run_id}.lock").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(note, dict) or not isinstance(note.get("cameras"), list):
        return None
    fingerprint = note.get("fingerprint")
    return ([str(i) for i in note["cameras"]],
            fingerprint if isinstance(fingerprint, str) else None)


def run_cameras(root: str | Path, run_id: str) -> list[str] | None:
    """The cameras run ``run_id``'s driver last noted in its lock file
    (:meth:`RunLock.note_cameras`); None when there is no note (or it does not parse)."""
    note = run_note(root, run_id)
    return None if note is None else note[0]


def run_alive(root: str | Path, run_id: str) -> bool:
    """True while the driver of run ``run_id`` holds its :class:`RunLock` on ``root``
    (a run without a lock file is not alive)."""
    path = Path(root) / CHECKPOINT_DIR / f"{run_id}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


HOLDER_WAIT_S = 30.0
"""Longest anyone waits for the process that saves a checkpoint to let go of it (a dead
controller's aggregators exit within a second or two, saving their state as they go)."""


def holder_path(path: Path) -> Path:
    """The lock file beside checkpoint ``path`` that the process saving it holds."""
    return path.with_suffix(".lock")


def hold(path: Path, timeout_s: float, poll_s: float = 0.1) -> int:
    """Takes an exclusive ``flock`` on ``path`` (created if missing) and returns its file
    descriptor (close it to let go). A process that holds it, the aggregator a new one
    replaces while the dead one's actors are still being killed, is waited for: the
    kernel lets go of its lock when it dies.

    Raises:
        TimeoutError: still held after ``timeout_s``.
        OSError: the lock file cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    return _lock(os.open(path, os.O_RDWR | os.O_CREAT, 0o600), path, timeout_s, poll_s)


def _lock(fd: int, path: Path, timeout_s: float, poll_s: float = 0.1) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise TimeoutError(f"{path} is still held after {timeout_s:.0f} s") from None
            time.sleep(poll_s)


def wait_released(path: Path, timeout_s: float = HOLDER_WAIT_S) -> None:
    """Returns once no process saves checkpoint ``path`` (its lock is free, or it has
    none): what is read next is its last state.

    Raises:
        TimeoutError: still held after ``timeout_s``.
    """
    holder = holder_path(path)
    try:
        fd = os.open(holder, os.O_RDWR)
    except FileNotFoundError:
        return
    os.close(_lock(fd, holder, timeout_s))


def drop_checkpoint(path: Path) -> None:
    """Deletes a checkpoint (after a clean close), its lock file and its run folder once
    empty."""
    path.unlink(missing_ok=True)
    holder_path(path).unlink(missing_ok=True)
    try:
        path.parent.rmdir()
        path.parent.parent.rmdir()
    except OSError:
        pass
