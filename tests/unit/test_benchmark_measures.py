"""The benchmarks' own measures, on the real model: what the overhead goal subtracts."""

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
