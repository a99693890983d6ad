"""A constant-velocity Kalman filter for boxes, batched over tracks and driven by media time.

State per track: box centre ``cx, cy``, width ``w`` and height ``h`` in pixels
(``pos``, (n, 4)), and their velocities in pixels per second (``vel``, (n, 4)). A
prediction moves the state by the elapsed media time ``dt`` (seconds), so a skipped or
dropped frame is just a longer step, not a broken motion model.

Noise is relative to box size (x and w scale with the width, y and h with the height) and
given per second: process noise is a random walk whose variance grows linearly with
``dt``. The measurement is the box itself (``H = [I 0]``). The velocities' process
variance is multiplied per coordinate by :attr:`BoxKalman.velocity_gain` (1 unless the
tracker raises it, :mod:`pipeline.tracking.motion_noise`).

Because the transition, the measurement and every noise term act on each coordinate
separately, the 8-state filter factorises exactly into four independent 2-state filters
(value, velocity), one per coordinate. The covariance is therefore stored as its four
2x2 blocks, ``cov`` (n, 3, 4) holding ``[var(value), cov(value, velocity),
var(velocity)]`` per coordinate, and predict and correct are a handful of elementwise
operations over all tracks: no matrix products or inversions, and the same numbers as
the full 8x8 filter.

The filter holds only parameters; the caller owns the state arrays, which keeps the
tracker's per-track state in a few contiguous arrays that are cheap to filter.

Example:
    >>> kf = BoxKalman(measurement_std=0.05, position_noise=0.3, velocity_noise=1.0,
    ...                initial_velocity_std=1.0)
    >>> pos, vel, cov = kf.initiate(np.array([[0, 0, 10, 20]], np.float32))
    >>> pos, cov = kf.predict(pos, vel, cov, dt=0.04)
    >>> pos, vel, cov = kf.update(pos, vel, cov, np.array([[1, 0, 11, 20]], np.float32))
    >>> boxes_xyxy(pos).round(2).tolist()
    [[0.86, 0.0, 10.86, 20.0]]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MIN_SIDE_PX = 1.0
"""Smallest width/height (pixels) a predicted box is given, so that noise scales and
IoUs stay defined when a coasting track's size velocity would shrink it to nothing."""

Array = npt.NDArray[np.float64]


def xyxy_to_cxcywh(boxes: npt.NDArray[np.floating]) -> Array:
    """Converts (n, 4) xyxy pixel boxes to (n, 4) float64 centre-x, centre-y, width, height."""
    b = np.asarray(boxes, np.float64)
    wh = b[:, 2:] - b[:, :2]
    return np.concatenate([b[:, :2] + 0.5 * wh, wh], axis=1)


def boxes_xyxy(pos: Array) -> Array:
    """Returns the (n, 4) float64 xyxy pixel boxes of (n, 4) cx, cy, w, h; sides >= 1 px."""
    half = 0.5 * np.maximum(pos[:, 2:], MIN_SIDE_PX)
    return np.concatenate([pos[:, :2] - half, pos[:, :2] + half], axis=1)


def _scales(pos: Array) -> Array:
    """(n, 4) size scale of each coordinate: w, h, w, h (pixels, at least 1)."""
    wh = np.maximum(pos[:, 2:], MIN_SIDE_PX)
    return np.concatenate([wh, wh], axis=1)


class BoxKalman:
    """Parameters and batched steps of the constant-velocity box filter.

    Args:
        measurement_std: detector noise, fraction of box width/height (one sigma).
        position_noise: process noise of cx, cy, w, h in box sizes per sqrt(second).
        velocity_noise: process noise of the velocities in box sizes per second per
            sqrt(second).
        initial_velocity_std: velocity uncertainty of a new track, box sizes per second.

    Attributes:
        velocity_gain: (4,) float64 multiplier of the velocities' process variance for
            cx, cy, w, h; ones at first. The caller may set it between steps.
    """

    def __init__(
        self,
        measurement_std: float,
        position_noise: float,
        velocity_noise: float,
        initial_velocity_std: float,
    ) -> None:
        self.measurement_var = float(measurement_std) ** 2
        self.position_var_rate = float(position_noise) ** 2
        self.velocity_var_rate = float(velocity_noise) ** 2
        self.initial_velocity_var = float(initial_velocity_std) ** 2
        self.velocity_gain = np.ones(4)

    def initiate(self, boxes: npt.NDArray[np.floating]) -> tuple[Array, Array, Array]:
        """Starts tracks at measured boxes, at rest.

        Args:
            boxes: (n, 4) xyxy pixels.

        Returns:
            pos (n, 4) cx, cy, w, h pixels; vel (n, 4) pixels/s (zero); cov (n, 3, 4).
        """
        pos = xyxy_to_cxcywh(boxes)
        s2 = _scales(pos) ** 2
        cov = np.empty((len(pos), 3, 4), np.float64)
        cov[:, 0] = 4.0 * self.measurement_var * s2  # twice the measurement sigma
        cov[:, 1] = 0.0
        cov[:, 2] = self.initial_velocity_var * s2
        return pos, np.zeros_like(pos), cov

    def predict(self, pos: Array, vel: Array, cov: Array, dt: float) -> tuple[Array, Array]:
        """Moves states ``dt`` media seconds forward (returns new arrays; vel is unchanged).

        Args:
            pos: (n, 4) cx, cy, w, h pixels.
            vel: (n, 4) pixels per second.
            cov: (n, 3, 4) covariance blocks.
            dt: elapsed media time in seconds, >= 0.

        Returns:
            Predicted pos (n, 4) and cov (n, 3, 4).
        """
        if len(pos) == 0 or dt == 0.0:
            return pos, cov
        pos = pos + dt * vel
        pp, pv, vv = cov[:, 0], cov[:, 1], cov[:, 2]
        s2dt = _scales(pos) ** 2 * dt
        out = np.empty_like(cov)
        out[:, 0] = pp + dt * (2.0 * pv + dt * vv) + self.position_var_rate * s2dt
        out[:, 1] = pv + dt * vv
        out[:, 2] = vv + self.velocity_var_rate * self.velocity_gain * s2dt
        return pos, out

    def update(
        self, pos: Array, vel: Array, cov: Array, boxes: npt.NDArray[np.floating]
    ) -> tuple[Array, Array, Array]:
        """Corrects states with one measured box each (returns new arrays).

        Args:
            pos: (k, 4) predicted cx, cy, w, h pixels.
            vel: (k, 4) predicted velocities, pixels per second.
            cov: (k, 3, 4) predicted covariance blocks.
            boxes: (k, 4) measured xyxy pixels, row i for state i.

        Returns:
            Corrected pos (k, 4), vel (k, 4) and cov (k, 3, 4).
        """
        if len(pos) == 0:
            return pos, vel, cov
        return self._correct(pos, vel, cov, boxes)[:3]

    def update_measured(
        self, pos: Array, vel: Array, cov: Array, boxes: npt.NDArray[np.floating]
    ) -> tuple[Array, Array, Array, Array]:
        """:meth:`update`, which also returns how far each box was from its prediction.

        Returns:
            Corrected pos, vel and cov as :meth:`update`, and the (k, 4) normalised
            innovation: the squared difference between measured and predicted box per
            coordinate, in units of its predicted variance (dimensionless; about 1 on
            average where the filter's noise fits the motion, more where the motion is
            less predictable than it assumes).
        """
        if len(pos) == 0:
            return pos, vel, cov, np.zeros((0, 4))
        pos, vel, cov, residual, innovation_var = self._correct(pos, vel, cov, boxes)
        return pos, vel, cov, residual * residual / innovation_var

    def _correct(self, pos: Array, vel: Array, cov: Array, boxes: npt.NDArray[np.floating]
                 ) -> tuple[Array, Array, Array, Array, Array]:
        """The correction of :meth:`update` (k >= 1 rows), with the (k, 4) residual and its
        predicted variance."""
        pp, pv, vv = cov[:, 0], cov[:, 1], cov[:, 2]
        innovation_var = pp + self.measurement_var * _scales(pos) ** 2
        gain_p = pp / innovation_var
        gain_v = pv / innovation_var
        residual = xyxy_to_cxcywh(boxes) - pos
        out = np.empty_like(cov)
        out[:, 0] = pp * (1.0 - gain_p)
        out[:, 1] = pv * (1.0 - gain_p)
        out[:, 2] = vv - gain_v * pv
        return (pos + gain_p * residual, vel + gain_v * residual, out, residual,
                innovation_var)
