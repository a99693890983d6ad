"""Reconnect backoff: exponential, capped, jittered within bounds."""

import random

import pytest
from pydantic import ValidationError

from pipeline.backoff import Backoff
from pipeline.ingest.config import ReconnectConfig


def test_grows_exponentially_up_to_the_cap_without_jitter():
    b = Backoff(initial_s=0.25, max_s=3.0, multiplier=2.0, jitter=0.0)
    assert [b.next_delay() for _ in range(7)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_reset_starts_over():
    b = Backoff(initial_s=1.0, max_s=10.0, jitter=0.0)
    b.next_delay(), b.next_delay()
    b.reset()
    assert b.failures == 0 and b.next_delay() == 1.0


@pytest.mark.parametrize("jitter", [0.0, 0.2, 0.5, 1.0])
def test_jittered_delays_stay_within_bounds(jitter):
    b = Backoff(initial_s=0.5, max_s=4.0, multiplier=3.0, jitter=jitter, rng=random.Random(7))
    for failures in range(40):
        base = b.base_delay(failures)
        delay = b.next_delay()
        assert base * (1 - jitter) <= delay <= base <= 4.0


def test_jitter_spreads_cameras_apart():
    delays = {
        round(Backoff(1.0, 1.0, jitter=0.5, rng=random.Random(seed)).next_delay(), 6)
        for seed in range(20)
    }
    assert len(delays) == 20 and min(delays) >= 0.5 and max(delays) <= 1.0


def test_seeded_rng_repeats():
    a, b = (ReconnectConfig(initial_s=1.0, max_s=8.0).backoff(random.Random(3))
            for _ in range(2))
    assert [a.next_delay() for _ in range(5)] == [b.next_delay() for _ in range(5)]


def test_huge_failure_counts_do_not_overflow():
    b = Backoff(initial_s=0.1, max_s=30.0, multiplier=10.0, jitter=0.0)
    assert b.base_delay(10_000) == 30.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial_s": 0, "max_s": 1}, "initial_s\n  Input should be greater than 0"),
        ({"initial_s": 2, "max_s": 1}, r"max_s \(1.0\) must be at least initial_s \(2.0\)"),
        ({"multiplier": 0.5}, "multiplier\n  Input should be greater than or equal to 1"),
        ({"jitter": 1.5}, "jitter\n  Input should be less than or equal to 1"),
    ],
)
def test_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        ReconnectConfig(**kwargs)
