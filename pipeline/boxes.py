"""Box maths on (n, 4) xyxy pixel arrays: overlap areas and IoU, vectorised.

Beside :mod:`pipeline.types` so that every layer (models, tracking, analytics,
evaluation) shares one implementation without importing another layer.

Example:
    >>> a = np.array([[0, 0, 10, 10]], np.float32)
    >>> b = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)
    >>> iou_matrix(a, b).round(3).tolist()
    [[1.0, 0.333]]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


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
