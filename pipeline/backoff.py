"""Exponential backoff with jitter, capped: for reconnecting to cameras (and any retry).

The n-th consecutive failure waits ``min(cap, initial * multiplier**n)`` seconds, shortened
by a random fraction of up to ``jitter`` so that many cameras behind one failed switch do
not reconnect in lockstep. The wait never exceeds the cap and never falls below
``(1 - jitter)`` times the un-jittered delay.

Example:
    >>> b = Backoff(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
    >>> [b.next_delay() for _ in range(5)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    >>> b.reset(); b.next_delay()
    0.5
"""

from __future__ import annotations

import random


class Backoff:
    """Delays between attempts (reconnecting a camera, delivering to a sink).

    Args:
        initial_s: delay after the first failure (seconds, > 0).
        max_s: cap on any delay (seconds, >= initial_s).
        multiplier: growth factor per consecutive failure (>= 1).
        jitter: largest fraction (0..1) by which a delay is randomly shortened.
        rng: source of randomness; pass ``random.Random(seed)`` for repeatable delays.

    The values come from a config that has checked their bounds (for cameras,
    :class:`pipeline.ingest.config.ReconnectConfig`).
    """

    def __init__(self, initial_s: float, max_s: float, multiplier: float = 2.0,
                 jitter: float = 0.2, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.multiplier = multiplier
        self.jitter = jitter
        self.failures = 0
        self._rng = rng or random.Random()

    def base_delay(self, failures: int) -> float:
        """The un-jittered delay (seconds) after ``failures`` + 1 consecutive failures."""
        # Stop multiplying once the cap is reached, so huge failure counts cannot overflow.
        delay = self.initial_s
        for _ in range(failures):
            if delay >= self.max_s:
                break
            delay *= self.multiplier
        return min(delay, self.max_s)

    def next_delay(self) -> float:
        """Records one more failure and returns how long to wait before retrying (s)."""
        base = self.base_delay(self.failures)
        self.failures += 1
        return base * (1.0 - self.jitter * self._rng.random())

    def reset(self) -> None:
        """Forgets past failures (call once the source delivers frames again)."""
        self.failures = 0
