"""Aggregator checkpoints: the analytics state and unwritten output of one aggregator,
saved often enough that a crash loses at most ``checkpoint_s`` of media time. No Ray.

A checkpoint is one pickle per aggregator under the output root,
``.checkpoints/<run_id>/aggregator-<n>.pkl``, written to a temporary file and renamed into
place, so a crash of any process leaves the previous checkpoint or the new one, never half
of one. It is not synced to the disk (a save costs milliseconds, not a flush of the
device): it survives the death of the aggregator, the controller or the driver, not of
the machine, after which it may be missing or unreadable and is ignored. It holds only
what panoray itself wrote, compact (one Arrow table per buffer, folded heatmaps), and is
read back only by the aggregator that replaces the one that wrote it, by the driver when
its controller died, or by the next run on the same output when the driver died
(:mod:`pipeline.sinks.recovery`); a clean close deletes it.

Example:
    >>> import tempfile
    >>> path = checkpoint_path(tempfile.mkdtemp(), "run-1", 0)
    >>> save_checkpoint(path, {"x": 1}) > 0, load_checkpoint(path)
    (True, {'x': 1})
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHECKPOINT_DIR = ".checkpoints"


def checkpoint_path(root: str | Path, run_id: str, index: int) -> Path:
    """Where aggregator ``index`` of run ``run_id`` keeps its checkpoint under ``root``."""
    return Path(root) / CHECKPOINT_DIR / run_id / f"aggregator-{index}.pkl"


def save_checkpoint(path: Path, state: Any) -> int:
    """Writes ``state`` atomically (temporary file, rename; not synced); returns its
    bytes.

    Raises:
        OSError: the write failed (the previous checkpoint is left as it was).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
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
    checkpoints from a live one's (:func:`run_alive`).

    Raises:
        OSError: the lock file cannot be created.
    """

    def __init__(self, root: str | Path, run_id: str) -> None:
        self.path = Path(root) / CHECKPOINT_DIR / f"{run_id}.lock"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

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


def drop_checkpoint(path: Path) -> None:
    """Deletes a checkpoint (after a clean close) and its run folder once empty."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
        path.parent.parent.rmdir()
    except OSError:
        pass
