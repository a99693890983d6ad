"""The benchmarks' own measures: what the overhead goal subtracts (on the real model), and
the offline run's steady window."""

from __future__ import annotations

import numpy as np

from benchmarks.common import per_core_sessions
from models.deployment import cpu_cores


def test_per_core_sessions_cpu_per_image_fits_the_wall_rate() -> None:
    """The model's CPU per image (taken out of Ray's overhead in end_to_end.py) is thread
    CPU time of sessions running side by side: positive, and no more than the cores could
    have spent at the measured rate (a unit slip, or CPU counted twice, breaks this)."""
    frames = [np.full((300, 300, 3), 90 + 20 * i, np.uint8) for i in range(2)]
    run = per_core_sessions(frames, [(640, 480)] * 2, seconds=0.3)
    assert run.images_per_s > 0
    assert 0 < run.cpu_ms_per_image <= 1.05 * 1000 * cpu_cores() / run.images_per_s


def _samples(points: list[tuple[float, int, bool]]) -> list:
    from benchmarks.end_to_end import Sample

    return [Sample(t, delivered, running, {}) for t, delivered, running in points]


def test_steady_window_stops_before_the_first_camera_ends() -> None:
    """The offline rate is timed while every camera reads: from the first look at or after
    the opening to the last look before any camera reached its end, the tail left out."""
    from benchmarks.end_to_end import steady_window

    looks = _samples([(0.0, 100, True), (1.0, 200, True), (2.0, 300, True), (6.0, 700, True),
                      (11.0, 1200, True), (11.5, 1240, False), (20.0, 1500, False)])
    opened, closed = steady_window(looks, opens_at=1.5)
    assert (opened.t, closed.t) == (2.0, 11.0)
    assert (closed.delivered - opened.delivered) / (closed.t - opened.t) == 100.0


def test_steady_window_too_short_is_none() -> None:
    """A run whose first camera ends within MIN_STEADY_S of the opening has no steady
    window (the caller then times it to its end)."""
    from benchmarks.end_to_end import MIN_STEADY_S, steady_window

    looks = _samples([(0.0, 0, True), (2.0, 50, True), (2.0 + MIN_STEADY_S - 0.5, 90, True),
                      (12.0, 400, False)])
    assert steady_window(looks, opens_at=2.0) is None
    assert steady_window(_samples([(0.0, 0, False), (9.0, 10, False)]), 0.0) is None


def test_overhead_without_the_idle_watch() -> None:
    """--quick stops the offline run with frames flowing: no idle cost, the same overhead."""
    from benchmarks.cpu_split import overhead

    per_frame = {"total": 30.0}
    watched = overhead(per_frame, 20.0, 2.0, {"total": 100.0}, 50.0)
    unwatched = overhead(per_frame, 20.0, 2.0, None, 50.0)
    assert (watched["overhead_cpu_ms"], watched["of_which_idle_cpu_ms"],
            watched["per_frame_overhead_cpu_ms"]) == (8.0, 2.0, 6.0)
    assert (unwatched["overhead_cpu_ms"], unwatched["of_which_idle_cpu_ms"],
            unwatched["per_frame_overhead_cpu_ms"]) == (8.0, None, None)
