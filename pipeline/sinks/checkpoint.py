"""Aggregator checkpoints: the analytics state and unwritten output of one aggregator,
saved often enough that a crash loses at most ``checkpoint_s`` of media time. No Ray.

A checkpoint is one pickle per aggregator under the output root,
``.checkpoints/<run_id>/aggregator-<n>.pkl``, written to a temporary file, synced and
renamed into place, so a crash leaves the previous checkpoint or the new one, never half
of one. It holds only what panoray itself wrote, and is read back only by the aggregator
that replaces the one that wrote it (or by a later shutdown that writes its open windows);
a clean close deletes it.

Example:
    >>> import tempfile
    >>> path = checkpoint_path(tempfile.mkdtemp(), "run-1", 0)
    >>> save_checkpoint(path, {"x": 1}); load_checkpoint(path)
    {'x': 1}
"""

from __future__ import annotations

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
    """Writes ``state`` atomically (temporary file, fsync, rename); returns its bytes.

    Raises:
        OSError: the write failed (the previous checkpoint is left as it was).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
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


def drop_checkpoint(path: Path) -> None:
    """Deletes a checkpoint (after a clean close) and its run folder once empty."""
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
        path.parent.parent.rmdir()
    except OSError:
        pass
