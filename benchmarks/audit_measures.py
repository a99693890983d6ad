"""Per-frame measures of the accuracy audit: matching, crowding, occlusion, intervals.

Pure numpy (and the tracker's Hungarian :func:`~pipeline.tracking.association.assign`);
:mod:`benchmarks.audit_tally` bands and tallies what these measure.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "audit.py")

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pipeline.boxes import iou_matrix
from pipeline.tracking.association import assign

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
MIN_IOU = 0.5
"""A detection matches a ground-truth box at IoU >= this (the MOTChallenge/COCO rule)."""



def match(gt_boxes: npt.ArrayLike, det_boxes: npt.ArrayLike,
          min_iou: float = MIN_IOU) -> tuple[IntArray, IntArray]:
    """Matches detections to ground truth one-to-one (Hungarian on IoU, IoU >= min_iou).

    Args:
        gt_boxes: (n, 4) xyxy pixels.
        det_boxes: (m, 4) xyxy pixels.
        min_iou: least IoU of a matched pair.

    Returns:
        (gt_index, det_index): (k,) indices of the matched pairs.
    """
    return assign(iou_matrix(np.asarray(gt_boxes).reshape(-1, 4),
                             np.asarray(det_boxes).reshape(-1, 4)), min_iou)


def _centres(boxes: FloatArray) -> FloatArray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def neighbours(boxes: npt.ArrayLike, gt_boxes: npt.ArrayLike, radius_box_heights: float,
               same: bool = False) -> IntArray:
    """How many ground-truth people stand near each box.

    Args:
        boxes: (n, 4) xyxy pixels, the boxes asked about.
        gt_boxes: (m, 4) xyxy pixels, the ground-truth people of the same frame.
        radius_box_heights: 'near' is a ground-truth box centre within this many of the
            asking box's heights of its centre.
        same: ``boxes`` are ``gt_boxes`` (each box does not count itself).

    Returns:
        (n,) counts.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    g = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    if not len(b) or not len(g):
        return np.zeros(len(b), np.intp)
    d = np.linalg.norm(_centres(b)[:, None, :] - _centres(g)[None, :, :], axis=2)
    near = d <= radius_box_heights * (b[:, 3] - b[:, 1])[:, None]
    if same:
        np.fill_diagonal(near, False)
    return near.sum(axis=1).astype(np.intp)


def covered_fraction(box: npt.ArrayLike, covers: npt.ArrayLike) -> float:
    """Share of ``box``'s area under the union of ``covers`` (exact, by coordinate grid).

    Args:
        box: (4,) xyxy pixels.
        covers: (k, 4) xyxy pixels.
    """
    x0, y0, x1, y1 = (float(v) for v in np.asarray(box, np.float64).reshape(4))
    area = (x1 - x0) * (y1 - y0)
    c = np.asarray(covers, np.float64).reshape(-1, 4)
    if area <= 0 or not len(c):
        return 0.0
    c = np.stack([np.clip(c[:, 0], x0, x1), np.clip(c[:, 1], y0, y1),
                  np.clip(c[:, 2], x0, x1), np.clip(c[:, 3], y0, y1)], axis=1)
    c = c[(c[:, 2] > c[:, 0]) & (c[:, 3] > c[:, 1])]
    if not len(c):
        return 0.0
    xs = np.unique(np.concatenate([[x0, x1], c[:, 0], c[:, 2]]))
    ys = np.unique(np.concatenate([[y0, y1], c[:, 1], c[:, 3]]))
    cx, cy = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
    # (k, rows, columns): grid cell centres inside each cover.
    in_x = (c[:, None, 0] <= cx[None, :]) & (cx[None, :] < c[:, None, 2])
    in_y = (c[:, None, 1] <= cy[None, :]) & (cy[None, :] < c[:, None, 3])
    inside = in_y[:, :, None] & in_x[:, None, :]
    cells = np.outer(np.diff(ys), np.diff(xs))
    return float((cells * inside.any(axis=0)).sum() / area)


def visible_fraction(gt_boxes: npt.ArrayLike) -> FloatArray:
    """Estimated visible share of each ground-truth box: 1 - the share covered by the
    boxes in front of it (bottom edge lower in the image, i.e. nearer the camera).

    Args:
        gt_boxes: (n, 4) xyxy pixels, all people of one frame.

    Returns:
        (n,) float64 in [0, 1].
    """
    g = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    out = np.ones(len(g))
    for i in range(len(g)):
        front = g[g[:, 3] > g[i, 3]]
        out[i] = 1.0 - covered_fraction(g[i], front)
    return out


def read_visibility(path: str | Path) -> dict[tuple[int, int], float] | None:
    """The visibility column of a MOTChallenge ground truth, by (frame, id).

    Only MOT16-style files have one (nine fields: ``..., conf, class, visibility`` with
    visibility in 0..1); MOT15 files carry world coordinates in fields 8-10 instead.

    Returns:
        ``{(frame, id): visibility}``, or None when the file has no visibility column.
    """
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append([float(p) for p in line.replace(",", " ").split()])
    if not rows or any(len(r) != 9 for r in rows):
        return None
    data = np.asarray(rows)
    if not ((data[:, 8] >= 0) & (data[:, 8] <= 1)).all():
        return None
    return {(int(r[0]), int(r[1])): float(r[8]) for r in data}


# --------------------------------------------------------------------------- tallies


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson score interval of a proportion k/n (95 % for z = 1.96); None when n = 0."""
    if n <= 0:
        return None
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))
