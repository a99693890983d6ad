"""The live per-camera status table of ``panoray run``.

On a terminal it redraws in place (rich); otherwise (logs, CI) it prints a compact line
per camera every ``plain_every_s`` seconds. An offline batch (more files than run at
once) adds its progress: files done and left, frames/s and an ETA, as the table's title
and a ``[batch]`` line.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from pipeline.control.batch import batch_progress
from pipeline.control.views import CameraRow

QUIET = frozenset({"idle", "ended", "failed", "stopped"})
"""States of a batch's files left out of the plain lines (the ``[batch]`` line counts them)."""


def _counts(row: CameraRow) -> str:
    return " ".join(
        f"{line}:" + "/".join(f"{d}={n}" for d, n in dirs.items())
        for line, dirs in row.counts.items()
    )


def _occupancy(row: CameraRow) -> str:
    parts = []
    for zone, n in row.occupancy.items():
        q = row.queues.get(zone)
        wait = ""
        if q is not None and q["est_wait_s"] is not None:
            wait = f" (wait~{q['est_wait_s']:.0f}s)"
        parts.append(f"{zone}={n}{wait}")
    return " ".join(parts)


def render(rows: list[CameraRow], progress: str = "") -> Table:
    """The status table for ``rows``, titled with the batch's ``progress`` line if any."""
    table = Table(title=f"panoray · {progress}" if progress else "panoray", expand=False)
    for name in ("camera", "state", "fps", "frames", "drops", "occupancy", "crossings"):
        table.add_column(name, no_wrap=name in ("camera", "state"))
    for r in rows:
        state = r.state if not r.reason or r.state == "streaming" else f"{r.state}: {r.reason[:40]}"
        table.add_row(r.camera_id, state, f"{r.fps:.1f}", str(r.delivered),
                      str(r.dropped), _occupancy(r), _counts(r))
    return table


class StatusDisplay:
    """Context manager that shows status rows as they come."""

    def __init__(self, plain_every_s: float = 5.0) -> None:
        self._tty = sys.stdout.isatty()
        self._live: Live | None = None
        self._plain_every_s = plain_every_s
        self._last_plain = 0.0
        self._since = time.monotonic()

    def __enter__(self) -> StatusDisplay:
        if self._tty:
            self._live = Live(render([]), console=Console(), refresh_per_second=4)
            self._live.__enter__()
        return self

    def update(self, rows: list[CameraRow]) -> None:
        """Shows the latest rows."""
        progress = batch_progress(rows, time.monotonic() - self._since)
        line = progress.line() if progress is not None else ""
        if self._live is not None:
            self._live.update(render(rows, line))
            return
        now = time.monotonic()
        if now - self._last_plain < self._plain_every_s:
            return
        self._last_plain = now
        if line:
            print(f"[batch] {line}", flush=True)
            rows = [r for r in rows if not r.batch or r.state not in QUIET]  # running files
        for r in rows:
            why = f" ({r.reason})" if r.reason else ""  # why it reconnects, failed, ...
            print(f"[{r.camera_id}] {r.state} fps={r.fps:.1f} frames={r.delivered} "
                  f"drops={r.dropped} {_occupancy(r)} {_counts(r)}".rstrip() + why, flush=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
