"""Whether a camera is still, judged from the people it tracks: no images needed.

Longer gaps keep identity through long occlusions on a still camera, but on a camera that
moves forward (carried by a walker, on a car) they join two different people: everyone's
image moves, and a track coasting for seconds lands on whoever is there. Three settings
take their longer ``still_*`` value only while this judge says the camera is still
(:func:`in_force`): the tracker's lost buffer (``still_lost_buffer_s``, 2 s instead of
0.7), live mode's coasting output (``still_coast_output_s``, 0.5 s instead of 0.2) and
the smoother's longest gap (``still_max_gap_s``, 1.5 s instead of 0.7).

What it reads: each confirmed track's rate of growth, d(log height)/dt (1/s), from its
motion model. On a still camera people grow or shrink only as they walk towards or away
from it, in every direction at once, so the median over the tracks is small; a camera
moving forward makes the people ahead grow together, and the median moves away from 0.
An update with at least ``min_tracks`` such tracks is *calm* when their median rate lies
within ``max_scale_rate`` of 0. The camera is judged still while more than half of the
informative updates of the last ``window_s`` media seconds were calm, with at least
``min_samples`` of them (the median over the window below the threshold, kept as a
running count: constant work per update). With too few tracks it is not judged still
(the shorter, safer gaps apply).

Measured on the identity benchmark's eight MOT15 sequences (simulated detections,
development seeds 1-3, a 3 s window, threshold 0.10): frames judged still on the static
cameras ADL-Rundle-6 0.69, Venice-2 0.89-0.94, KITTI-17 0.38; on the forward-moving
ETH-Bahnhof 0.08-0.11, ETH-Sunnyday 0.30-0.42, KITTI-13 0.00; but also 0.57-0.67 on
ADL-Rundle-8 and 0.74-0.79 on ETH-Pedcross2 (slow or stopping cameras, where the longer
gaps cost little). It separates the cameras that move forward, not every moving camera.

State is bounded: at most ``window_s`` of values, and never more than ``MAX_SAMPLES``.

Example:
    >>> judge = StillCameraJudge(window_s=3.0, max_scale_rate=0.1, min_tracks=2,
    ...                          min_samples=3)
    >>> for t in (0.0, 0.1, 0.2):
    ...     _ = judge.observe(t, np.array([0.02, -0.05, 0.01]))
    >>> judge.still
    True
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

from pipeline.tracking.small_median import median_of_few

MAX_SAMPLES = 4096
"""Most values kept however high the frame rate (bounds memory)."""


def in_force(base: float, still_value: float | None, still: bool) -> float:
    """The value a ``still_*`` setting gives now: ``still_value`` while the camera is
    judged ``still``, if set and longer, else ``base`` (media seconds)."""
    return max(base, still_value) if still_value is not None and still else base


class StillCameraJudge:
    """Judges from tracked people's growth rates whether the camera is still.

    Args:
        window_s: media seconds of updates the judgement looks back over.
        max_scale_rate: the camera is still while the windowed median of
            ``|median growth rate|`` stays below this (1/s).
        min_tracks: updates with fewer tracks' rates say nothing.
        min_samples: fewer values in the window: not judged still.
    """

    def __init__(self, window_s: float, max_scale_rate: float, min_tracks: int,
                 min_samples: int) -> None:
        self.window_s = float(window_s)
        self.max_scale_rate = float(max_scale_rate)
        self.min_tracks = max(int(min_tracks), 1)
        self.min_samples = max(int(min_samples), 1)
        self._times: deque[float] = deque()
        self._calm: deque[bool] = deque()
        self._calm_count = 0
        self._still = False

    @property
    def still(self) -> bool:
        """The judgement after the last :meth:`observe`."""
        return self._still

    def reset(self) -> None:
        """Forgets everything (a new stream): not still until judged again."""
        self._times.clear()
        self._calm.clear()
        self._calm_count = 0
        self._still = False

    def observe(self, pts_s: float, rates: npt.NDArray[np.float64]) -> bool:
        """Takes one update's growth rates and returns the new judgement.

        Args:
            pts_s: the update's media time, seconds (not decreasing).
            rates: (n,) d(log height)/dt of the confirmed tracks seen in this update, 1/s.
        """
        n = len(rates)
        if n >= self.min_tracks:
            calm = bool(abs(median_of_few(rates)) < self.max_scale_rate)
            if len(self._times) >= MAX_SAMPLES:
                self._drop_oldest()
            self._times.append(float(pts_s))
            self._calm.append(calm)
            self._calm_count += calm
        while self._times and self._times[0] < pts_s - self.window_s:
            self._drop_oldest()
        kept = len(self._times)
        self._still = kept >= self.min_samples and 2 * self._calm_count > kept
        return self._still

    def _drop_oldest(self) -> None:
        self._times.popleft()
        self._calm_count -= self._calm.popleft()
