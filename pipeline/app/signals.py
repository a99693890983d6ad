"""Keeping the Ray processes a run starts alive through a SIGTERM sent to its whole
process group, so that the driver can still stop the run cleanly.

systemd (``KillMode=control-group``) and container runtimes send SIGTERM to every process
of a service, not just the driver. A local Ray instance's GCS, raylet and workers are the
driver's children: on SIGTERM they exit at once, and the driver's clean shutdown then has
nothing to talk to. Ray starts its processes with SIGINT blocked (so Ctrl-C reaches only
the driver); :func:`shielded_from_sigterm` does the same for SIGTERM while ``ray.init``
starts them (a blocked signal stays blocked across ``exec``). The driver itself handles
SIGTERM as before once the block ends; Ray's processes are stopped by ``ray.shutdown``
(SIGKILL after its grace period) or die with the driver.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def shielded_from_sigterm() -> Iterator[None]:
    """Blocks SIGTERM in the calling thread (and so in the processes it starts) for the
    ``with`` body; a SIGTERM received meanwhile is delivered when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
