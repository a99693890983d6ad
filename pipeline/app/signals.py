"""Keeping the Ray processes a run starts alive through a SIGTERM sent to its whole
process group, so that the driver can still stop the run cleanly.

systemd (``KillMode=control-group``) and container runtimes send SIGTERM to every process
of a service, not just the driver. A local Ray instance's GCS, raylet and workers are the
driver's children: on SIGTERM they exit at once, and the driver's clean shutdown then has
nothing to talk to. Ray starts its processes with SIGINT blocked (so Ctrl-C reaches only
the driver); :func:`block_sigterm` does the same for SIGTERM from before Ray is imported
until panoray's own handler is in place after ``ray.init`` (a blocked signal stays
blocked in the threads and processes started meanwhile, across ``exec``). The driver itself handles
SIGTERM as before once the block ends; Ray's processes are stopped by ``ray.shutdown``
(SIGKILL after its grace period) or die with the driver.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


def block_sigterm() -> set[signal.Signals] | None:
    """Blocks SIGTERM in the calling (main) thread, and so in every thread and process it
    starts from now on; returns the old mask for :func:`restore_mask` (None off the main
    thread, where nothing is done). Call it before anything starts threads (importing
    and starting Ray does), or those threads could take the signal and run whatever
    Python handler is set at that moment (``ray.init`` sets one that exits at once)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def restore_mask(old: set[signal.Signals] | None) -> None:
    """Ends :func:`block_sigterm`; a SIGTERM received meanwhile is delivered now."""
    if old is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def shielded_from_sigterm() -> Iterator[None]:
    """:func:`block_sigterm` for the ``with`` body."""
    old = block_sigterm()
    try:
        yield
    finally:
        restore_mask(old)
