"""Box overlap and optimal one-to-one assignment, vectorised.

Example:
    >>> a = np.array([[0, 0, 10, 10]], np.float32)
    >>> b = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    >>> iou_matrix(a, b).round(3).tolist()
    [[1.0, 0.333]]
    >>> rows, cols = assign(iou_matrix(a, b), min_iou=0.5)
    >>> rows.tolist(), cols.tolist()
    ([0], [0])
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

_EMPTY = np.zeros(0, np.intp)


def intersection_matrix(
    a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Overlap area of every pair of boxes.

    Args:
        a: (n, 4) xyxy pixels.
        b: (m, 4) xyxy pixels.

    Returns:
        (n, m) float64 square pixels.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)


def iou_matrix(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Intersection over union of every pair of boxes.

    Args:
        a: (n, 4) xyxy pixels.
        b: (m, 4) xyxy pixels.

    Returns:
        (n, m) float64 in [0, 1]; 0 where a box has no area.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float64)
    inter = intersection_matrix(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0.0, inter / union, 0.0)


def assign(
    similarity: npt.NDArray[np.float64], min_iou: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Matches rows to columns one-to-one, maximising total similarity (Hungarian).

    Pairs below ``min_iou`` are never matched; among the allowed pairs the assignment
    with the largest total similarity wins (scipy's ``linear_sum_assignment``).

    Args:
        similarity: (n, m) float, for example IoU of tracks (rows) and detections (columns).
        min_iou: least similarity of a matched pair.

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
    sub = np.where(allowed[row_ok][:, col_ok], sub, 0.0)
    rows, cols = linear_sum_assignment(sub, maximize=True)
    keep = sub[rows, cols] >= min_iou
    return row_ok[rows[keep]], col_ok[cols[keep]]
