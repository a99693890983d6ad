"""Optimal one-to-one assignment of tracks to detections, and the direction cue, vectorised.

Example:
    >>> rows, cols = assign(np.array([[1.0, 0.333]]), min_iou=0.5)  # IoU of 1 track, 2 boxes
    >>> rows.tolist(), cols.tolist()
    ([0], [0])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

_EMPTY = np.zeros(0, np.intp)


SimilarityFn = Callable[
    [npt.NDArray[np.float64], npt.NDArray[np.intp], npt.NDArray[np.intp]],
    npt.NDArray[np.float64],
]
"""(similarity (r, c), row indices (r,), column indices (c,)) -> adjusted (r, c) scores."""

MIN_ALLOWED_SCORE = 1e-6
"""Floor of an allowed pair's adjusted score, so that it still beats every disallowed pair
(0) in the Hungarian assignment."""


def assign(
    similarity: npt.NDArray[np.float64],
    min_iou: float,
    adjust: SimilarityFn | None = None,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Matches rows to columns one-to-one, maximising total similarity (Hungarian).

    Pairs below ``min_iou`` are never matched; among the allowed pairs the assignment
    with the largest total similarity wins (scipy's ``linear_sum_assignment``).

    Args:
        similarity: (n, m) float, for example IoU of tracks (rows) and detections (columns).
        min_iou: least similarity of a matched pair.
        adjust: optional extra cue for the contested pairs: called only when some row or
            column has more than one allowed pair, with the similarity of the rows and
            columns that take part and their indices; returns the scores to maximise
            instead. Which pairs are allowed does not change.

    Returns:
        (rows, cols): (k,) index arrays of the matched pairs, sorted by row.
    """
    n, m = similarity.shape
    if n == 0 or m == 0:
        return _EMPTY, _EMPTY
    allowed = similarity >= min_iou
    per_row = allowed.sum(axis=1)
    per_col = allowed.sum(axis=0)
    if per_row.max() <= 1 and per_col.max() <= 1:
        # No detection is wanted by two tracks nor a track by two detections (the usual
        # case): every allowed pair is in the optimal assignment.
        rows, cols = allowed.nonzero()
        return rows, cols
    # Only rows and columns with at least one allowed pair take part: smaller problem.
    row_ok = per_row.nonzero()[0]
    col_ok = per_col.nonzero()[0]
    sub = similarity[row_ok][:, col_ok]
    sub_allowed = allowed[row_ok][:, col_ok]
    if adjust is not None:
        sub = np.maximum(adjust(sub, row_ok, col_ok), MIN_ALLOWED_SCORE)
    sub = np.where(sub_allowed, sub, 0.0)
    # SciPy loads at the first contested assignment, not with this module: every process
    # holding a tracker actor's handle imports the actor's module (Ray loads the class of
    # each handle it unpickles), and a camera actor would pay 0.4 CPU-s and 32 MB for it.
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(sub, maximize=True)
    keep = sub_allowed[rows, cols]
    return row_ok[rows[keep]], col_ok[cols[keep]]


MIN_STEP_PX = 1.0
"""A step shorter than this (pixels) has no direction to speak of: its agreement is 0
rather than the angle of a rounding error."""


def direction_agreement(
    pos: npt.NDArray[np.float64],
    vel: npt.NDArray[np.float64],
    boxes: npt.NDArray[np.floating],
    window_s: float,
    min_speed: float,
) -> npt.NDArray[np.float64]:
    """How well each detection agrees with each track's direction of motion (after OC-SORT).

    The step to a detection's centre is measured from where the track's motion model puts
    the track ``window_s`` earlier (its centre minus velocity x window), and compared with
    the track's velocity: straight ahead gives +0.5, straight behind -0.5, across 0
    (``asin(cos angle) / pi``). Tracks slower than ``min_speed`` and steps shorter than
    ``MIN_STEP_PX`` have no direction and give 0.

    The step starts from the model rather than from an observed box (OC-SORT uses the
    observation a few frames back) so that every track measures direction over the same
    span: from a coasting track's last observed box, any detection further along its path
    agrees strongly while a tracked neighbour's short, jittery step does not, and an
    occluded person walking head-on would take the visible person's detections.

    Args:
        pos: (r, 4) track state ``cx, cy, w, h`` in pixels (predicted to this frame).
        vel: (r, 4) their velocities, pixels per second.
        boxes: (c, 4) detection boxes, xyxy pixels.
        window_s: span of the step, media seconds.
        min_speed: least speed with a direction, box heights per second.

    Returns:
        (r, c) float64 in [-0.5, 0.5].

    Example:
        >>> pos = np.array([[100.0, 100.0, 40.0, 100.0]])
        >>> vel = np.array([[50.0, 0.0, 0.0, 0.0]])  # moving right, 0.5 heights/s
        >>> boxes = np.array([[90, 50, 130, 150], [50, 50, 90, 150], [70, 0, 110, 100]])
        >>> direction_agreement(pos, vel, boxes, 0.2, 0.1).round(2).tolist()
        [[0.5, -0.5, 0.0]]
    """
    speed = np.hypot(vel[:, 0], vel[:, 1])
    moving = speed > min_speed * np.maximum(pos[:, 3], 1.0)
    start = pos[:, :2] - vel[:, :2] * window_s
    b = np.asarray(boxes, np.float64)
    step_x = 0.5 * (b[None, :, 0] + b[None, :, 2]) - start[:, 0:1]
    step_y = 0.5 * (b[None, :, 1] + b[None, :, 3]) - start[:, 1:2]
    length = np.hypot(step_x, step_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (step_x * vel[:, 0:1] + step_y * vel[:, 1:2]) / (length * speed[:, None])
    agree = np.arcsin(np.clip(np.nan_to_num(cos), -1.0, 1.0)) / np.pi
    agree[~moving] = 0.0
    agree[length < MIN_STEP_PX] = 0.0
    return agree
