"""The deadline that interrupts an analytics plugin's call in the aggregator actor.

A plugin runs inside the aggregator, which serves every camera placed there: a call that
never returns (a loop, a blocking read) would stall them all. The aggregator's methods
run on its process's main thread, where a wall-clock timer (``SIGALRM``) raises
:class:`~pipeline.analytics.plugins.PluginTimeout` in the plugin's code; the host then
stops that plugin alone. Code that holds the interpreter without returning to it (a C
extension's long loop) is interrupted only once it does. Off the main thread, or where
the platform lacks interval timers, calls are not interrupted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.analytics.plugins import PluginTimeout


@contextmanager
def interrupt_after(seconds: float) -> Iterator[None]:
    """Raises :class:`PluginTimeout` in the code run inside, once ``seconds`` of wall
    time have passed (:data:`~pipeline.analytics.plugins.Deadline`)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "setitimer"):
        yield
        return

    def expire(_signum: int, _frame: Any) -> None:
        raise PluginTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
