"""A full disk: writes pause, analysis goes on, buffers stay bounded. No Ray.

When a write fails because the disk (or the user's quota) is full, or the output cannot
be written in (a read-only mount, permissions changed under the run), the sink keeps every
unwritten row and heatmap in memory and stops trying for :data:`RETRY_S` seconds; events
and closed windows keep arriving and are buffered. Each later write tries again; the
first that succeeds writes everything buffered, so nothing is lost once space returns.
Past ``max_paused_rows`` buffered rows the oldest events are dropped and counted
(``dropped_rows``): the sink's memory stays bounded however long the disk stays full.
The aggregator exports the state as metrics and the status shows it.

Example:
    >>> disk = DiskState(max_paused_rows=10)
    >>> disk.full(OSError(28, "No space left on device"))
    True
"""

from __future__ import annotations

import errno
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

RETRY_S = 2.0
"""Seconds between write attempts while the disk is full."""
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskState:
    """Whether a sink's writes are paused by a full disk, and what that cost.

    Args:
        max_paused_rows: most event and metric rows kept in memory while paused.
    """

    def __init__(self, max_paused_rows: int) -> None:
        self.max_paused_rows = max_paused_rows
        self.paused = False
        self.reason = ""
        self.dropped_rows = 0
        self.pauses = 0
        self._next_try = 0.0

    @staticmethod
    def full(exc: BaseException) -> bool:
        """True when ``exc`` (or what caused it) says the disk or quota is full."""
        while exc is not None:
            if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
                return True
            exc = exc.__cause__
        return False

    def pause(self, exc: BaseException) -> None:
        """A write failed (a full disk, or a folder that cannot be written in: read-only,
        permissions): pause writes for :data:`RETRY_S`."""
        why = "disk full" if self.full(exc) else "cannot write"
        if not self.paused:
            self.pauses += 1
            log.error("output paused, %s (%s); analysis goes on and rows wait in memory "
                      "(at most %d)", why, exc, self.max_paused_rows)
        self.paused, self.reason = True, f"{why}: {exc}"
        self._next_try = time.monotonic() + RETRY_S

    def retry_due(self) -> bool:
        return time.monotonic() >= self._next_try

    def resume(self) -> None:
        """A write succeeded."""
        if self.paused:
            log.warning("output resumed: writes succeed again (%d rows dropped while "
                        "paused)", self.dropped_rows)
        self.paused, self.reason = False, ""

    def bound(self, sink: Any) -> None:
        """Drops the oldest unwritten events of ``sink`` (a ParquetSink) beyond the bound."""
        over = sink.buffered_rows() - self.max_paused_rows
        if over > 0:
            self.dropped_rows += sink.drop_oldest_events(over)

    def health(self) -> dict[str, Any]:
        """JSON-ready state for metrics and the status."""
        return {"paused": self.paused, "reason": self.reason, "pauses": self.pauses,
                "dropped_rows": self.dropped_rows}
