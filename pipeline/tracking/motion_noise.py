"""How predictable the tracked people's motion is on one camera, and the velocity noise
that follows from it: no images needed.

The tracker's motion model keeps each person's velocity and lets it drift by
``velocity_noise`` (box sizes per second per square root of a second). That fits people
walking in front of a still or slowly moving camera. A camera that turns or passes people
(on a car, carried) moves everyone in the image in ways a steady velocity does not
foresee: the predicted boxes land beside the people, a track coasting through a miss
drifts off its person, and the next person there takes over the track.

The filter itself says when this happens. For each confirmed track matched in two updates
in a row, the squared difference between its detected and predicted centre, divided by
the variance the filter predicted for it (the normalised innovation), is about 1 on
average where the noise fits the motion (a chi-square of one degree of freedom: median
0.45). :class:`VelocityNoiseAdapter` keeps a gain on the centre's velocity process
variance: after each update it is multiplied by ``(median / target_nis) ** (dt /
time_constant_s)``, the median taken over that update's tracks, and held between 1 and
``max_gain``. While the median stays above ``target_nis`` the noise rises until the
predictions' errors fit it again; when the scene calms it falls back to
``velocity_noise``. The target lies above what people walking in front of a still or
forward-moving camera give, so those keep the noise they were tuned with
(docs/identity-history.md, fourteenth round).

State: two floats per camera.

Example:
    >>> adapter = VelocityNoiseAdapter(target_nis=2.5, time_constant_s=2.0, max_gain=16)
    >>> for _ in range(20):  # 2 s of updates whose centres miss by 10x the variance
    ...     gain = adapter.observe(np.full((3, 2), 10.0), dt=0.1)
    >>> round(gain[0], 6), gain[1] == gain[0]
    (4.0, True)
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipeline.tracking.small_median import median_of_few

MIN_TRACKS = 2
"""Fewer tracks in an update say nothing about the scene: the median of one track's error
is that person's own step, not the camera's."""


class VelocityNoiseAdapter:
    """A gain on the velocity process variance of the box centre (cx, cy), from the
    normalised innovations of the tracks matched in two updates in a row.

    Args:
        target_nis: the median normalised innovation above which the gain rises.
        time_constant_s: media seconds over which the gain moves by the factor
            ``median / target_nis``.
        max_gain: the largest gain (variance multiplier, >= 1).
    """

    def __init__(self, target_nis: float, time_constant_s: float, max_gain: float) -> None:
        self.target_nis = float(target_nis)
        self.time_constant_s = float(time_constant_s)
        self.max_gain = max(float(max_gain), 1.0)
        self._gain = (1.0, 1.0)

    @property
    def gain(self) -> tuple[float, float]:
        """The multipliers of the cx and cy velocity variance, each in [1, max_gain]."""
        return self._gain

    def reset(self) -> None:
        """Forgets the scene (a new stream): the configured noise again."""
        self._gain = (1.0, 1.0)

    def observe(self, nis: npt.NDArray[np.float64], dt: float) -> tuple[float, float]:
        """Takes one update's normalised innovations and returns the new gain.

        Args:
            nis: (k, 2) the normalised innovations of cx and cy of the tracks matched in this
                update and the one before (dimensionless).
            dt: media seconds since the previous update.

        Returns:
            The gain, as :attr:`gain`.
        """
        n = len(nis)
        if n >= MIN_TRACKS and dt > 0.0:
            median_x, median_y = median_of_few(nis).tolist()
            power = dt / self.time_constant_s
            self._gain = (self._step(self._gain[0], median_x, power),
                          self._step(self._gain[1], median_y, power))
        return self._gain

    def _step(self, gain: float, median: float, power: float) -> float:
        """One coordinate's gain after an update whose median innovation was ``median``."""
        step = (max(median, 1e-9) / self.target_nis) ** power
        return min(max(gain * step, 1.0), self.max_gain)
