"""Exponential backoff with jitter, capped, for reconnecting to cameras.

The n-th consecutive failure waits ``min(cap, initial * multiplier**n)`` seconds, shortened
by a random fraction of up to ``jitter`` so that many cameras behind one failed switch do
not reconnect in lockstep. The wait never exceeds the cap and never falls below
``(1 - jitter)`` times the un-jittered delay.

Example:
    >>> b = Backoff(ReconnectConfig(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0))
    >>> [b.next_delay() for _ in range(5)]
    [0.5, 1.0, 2.0, 4.0, 4.0]
    >>> b.reset(); b.next_delay()
    0.5
"""

from __future__ import annotations

import random

from pipeline.ingest.config import ReconnectConfig


class Backoff:
    """Delays between reconnect attempts.

    Args:
        config: initial delay, cap, growth per failure and jitter (validated bounds).
        rng: source of randomness; pass ``random.Random(seed)`` for repeatable delays.
    """

    def __init__(self, config: ReconnectConfig, rng: random.Random | None = None) -> None:
        self.initial_s = config.initial_s
        self.max_s = config.max_s
        self.multiplier = config.multiplier
        self.jitter = config.jitter
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
