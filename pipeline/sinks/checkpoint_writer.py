"""Saves one aggregator's checkpoints with the file write off the update path. No Ray.

A save encodes the state on the caller's thread (:func:`~pipeline.sinks.checkpoint.
encode_state`): the bytes are a consistent snapshot, taken between two calls of the
actor. Then either the caller writes them itself (``wait=True``: on the disk, renamed into
place, when :meth:`CheckpointWriter.save` returns) or a writer thread does (``wait=False``:
the periodic saves of the update path). Every write is a temporary file renamed into place
(:func:`~pipeline.sinks.checkpoint.write_checkpoint`), so a crash at any moment leaves a
whole checkpoint, the previous one or the new one. At most one snapshot waits for the
thread: a newer one replaces it, and a snapshot never lands over a newer one (a waited
save first takes the queued one's place, then waits for the one being written).

What this adds to the loss bound: a periodic snapshot not yet written when the process
dies is lost with it, so the checkpoint on disk may be one write (about a millisecond)
older than ``checkpoint_s``. A background write that fails is logged and reported by
:attr:`CheckpointWriter.failed` until a later write succeeds (the aggregator saves again
at once).

Example:
    >>> import tempfile
    >>> from pipeline.sinks.checkpoint import checkpoint_path, load_checkpoint
    >>> writer = CheckpointWriter(checkpoint_path(tempfile.mkdtemp(), "run-1", 0))
    >>> writer.save({"x": 1}) > 0
    True
    >>> writer.close(); load_checkpoint(writer.path)
    {'x': 1}
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from pipeline.sinks.checkpoint import FrozenCache, encode_state, write_checkpoint

log = logging.getLogger(__name__)


class CheckpointWriter:
    """Writes one checkpoint file, from the caller's thread or a writer thread.

    Args:
        path: the checkpoint (see :func:`~pipeline.sinks.checkpoint.checkpoint_path`).
        frozen: immutable types of the state (configs), each instance pickled once
            (:class:`~pipeline.sinks.checkpoint.FrozenCache`).

    Attributes:
        failed: the last background write failed (cleared by the next one that succeeds).
        write_s: seconds the writer thread spent writing, in all (for benchmarks).
    """

    def __init__(self, path: Path, frozen: tuple[type, ...] = ()) -> None:
        self.path = path
        self._frozen = FrozenCache(frozen)
        self.failed = False
        self.write_s = 0.0
        self._cond = threading.Condition()
        self._queued: bytes | None = None  # the newest snapshot waiting for the thread
        self._busy = False  # the thread is writing
        self._stop = False
        self._thread: threading.Thread | None = None

    def save(self, state: Any, wait: bool = False) -> int:
        """Snapshots ``state`` now; returns its bytes. ``wait``: written before this
        returns; else the writer thread writes it soon.

        Raises:
            OSError: a waited write failed (the previous checkpoint stays).
        """
        data = encode_state(state, self._frozen)
        if wait:
            with self._cond:  # held while writing: the thread starts no write meanwhile
                self._queued = None  # older than this one: never written now
                self._cond.wait_for(lambda: not self._busy)
                write_checkpoint(self.path, data)
            return len(data)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="checkpoint-writer",
                                                daemon=True)
                self._thread.start()
            self._queued = data
            self._cond.notify_all()
        return len(data)

    def drain(self) -> None:
        """Returns once every snapshot taken so far is written (or failed)."""
        with self._cond:
            self._cond.wait_for(lambda: self._queued is None and not self._busy)

    def close(self) -> None:
        """Writes what is queued and stops the thread. Safe to call twice."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queued is not None or self._stop)
                data, self._queued = self._queued, None
                if data is None:  # stopped with nothing left
                    return
                self._busy = True
            t0 = time.perf_counter()
            try:
                write_checkpoint(self.path, data)
                self.failed = False
            except OSError as exc:  # the previous checkpoint stays; saved again next update
                self.failed = True
                log.error("checkpoint not saved: %s", exc)
            finally:
                self.write_s += time.perf_counter() - t0
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
