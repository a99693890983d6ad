"""Non-maximum suppression on numpy arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def iou_matrix(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> np.ndarray:
    """Pairwise IoU of (n, 4) and (m, 4) xyxy boxes; returns (n, m) float32."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(
    boxes: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    iou_threshold: float,
    class_ids: npt.NDArray[np.integer] | None = None,
    max_keep: int | None = None,
) -> npt.NDArray[np.int64]:
    """Greedy NMS; class-aware when ``class_ids`` is given.

    Args:
        boxes: (n, 4) xyxy pixels.
        scores: (n,) confidences.
        iou_threshold: a box is suppressed by a higher-scoring one overlapping it by more.
        class_ids: (n,) classes; boxes of different classes never suppress each other.
        max_keep: keep at most this many (highest scores first).

    Returns:
        (k,) int64 indices of the kept boxes, by descending score.
    """
    boxes = np.asarray(boxes, np.float32)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    if class_ids is not None:
        # Shift each class into its own region so that classes never overlap.
        offset = float(np.abs(boxes).max()) + 1.0
        boxes = boxes + (np.asarray(class_ids, np.float32) * offset)[:, None]
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    limit = len(order) if max_keep is None else max_keep
    while order.size and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        ious = iou_matrix(boxes[i : i + 1], boxes[order[1:]])[0]
        order = order[1:][ious <= iou_threshold]
    return np.asarray(keep, np.int64)
