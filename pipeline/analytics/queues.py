"""Queue wait estimates from arrivals and departures (Little's law).

Little's law, ``L = lambda * W``, holds for any stable queue: the mean number waiting
equals the throughput times the mean wait. So the wait of someone joining now is
estimated as ``W = L / lambda`` with ``L`` the current queue length and ``lambda`` the
departure rate (throughput) over a lookback period of media time. Without departures in
the lookback, the longest current wait is reported as a lower bound.

Example:
    >>> q = QueueRates(lookback_s=60.0)
    >>> for t in (0.0, 10.0, 20.0):
    ...     q.arrival(t)
    >>> q.departure(30.0); q.departure(40.0)
    >>> s = q.status(now_s=60.0, length=1, oldest_start_s=20.0)
    >>> s.method, round(s.est_wait_s, 1)    # 1 waiting / (2 departures per 60 s)
    ('littles_law', 30.0)
"""

from __future__ import annotations

import math
from collections import deque

from pipeline.analytics.events import QueueStatus

MAX_RATE_EVENTS = 100_000
"""Most arrival or departure times kept per queue (bounds memory at absurd rates)."""


def littles_law_wait(mean_length: float, departures: int, duration_s: float) -> float | None:
    """Returns the mean wait ``L / lambda`` in seconds, or None when it cannot be estimated.

    Args:
        mean_length: mean queue length over the period (people).
        departures: visits that ended during the period.
        duration_s: the period's length, media seconds.
    """
    if departures <= 0 or duration_s <= 0 or not math.isfinite(mean_length):
        return None
    return mean_length / (departures / duration_s)


class QueueRates:
    """Arrival and departure times of one queue within a lookback period.

    Args:
        lookback_s: media seconds of history that give the rates.
    """

    def __init__(self, lookback_s: float) -> None:
        self.lookback_s = float(lookback_s)
        self._arrivals: deque[float] = deque(maxlen=MAX_RATE_EVENTS)
        self._departures: deque[float] = deque(maxlen=MAX_RATE_EVENTS)
        self._first_s: float | None = None

    def observe(self, now_s: float) -> None:
        """Notes that the queue was observed at ``now_s`` (starts the rate clock)."""
        if self._first_s is None:
            self._first_s = now_s

    def arrival(self, pts_s: float) -> None:
        """Records a counted visit starting at ``pts_s``."""
        self.observe(pts_s)
        self._arrivals.append(pts_s)

    def departure(self, pts_s: float) -> None:
        """Records a counted visit ending at ``pts_s``."""
        self.observe(pts_s)
        self._departures.append(pts_s)

    def _trim(self, now_s: float) -> None:
        horizon = now_s - self.lookback_s
        for q in (self._arrivals, self._departures):
            while q and q[0] < horizon:
                q.popleft()

    def status(self, now_s: float, length: int, oldest_start_s: float | None) -> QueueStatus:
        """Returns the live queue state at media time ``now_s``.

        Args:
            now_s: current media time, seconds.
            length: tracks in a counted visit now.
            oldest_start_s: start of the longest current visit (media s), or None.
        """
        self._trim(now_s)
        span = min(self.lookback_s, now_s - self._first_s) if self._first_s is not None else 0.0
        per_min = 60.0 / span if span > 0 else 0.0
        arrivals = len(self._arrivals) * per_min
        departures = len(self._departures) * per_min
        if length == 0:
            return QueueStatus(length, arrivals, departures, 0.0, "empty")
        wait = littles_law_wait(float(length), len(self._departures), span)
        if wait is not None:
            return QueueStatus(length, arrivals, departures, wait, "littles_law")
        if oldest_start_s is not None:
            return QueueStatus(
                length, arrivals, departures, now_s - oldest_start_s, "oldest_in_queue"
            )
        return QueueStatus(length, arrivals, departures, None, "none")
