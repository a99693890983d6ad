"""Non-maximum suppression on numpy arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipeline.boxes import iou_matrix


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
