"""Synthetic detector input for the tracking benchmarks and tests, reproducibly.

- :func:`perturb`: ground truth turned into detector-like input with a fixed seed (drops,
  jitter, false positives, occlusion-dependent scores).
- :func:`jitter_detections`: a reproducible variant of real detections.
- :func:`track_frames`: runs any ``update(detections, pts_s) -> Tracks`` callable over
  per-frame detections and collects a :class:`~benchmarks.evaluation.MotSequence`.

Example:
    >>> frames = perturb(read_mot("TUD-Campus/gt/gt.txt"), seed=0)      # doctest: +SKIP
    >>> pred = track_frames(ByteTracker().update, frames, fps=25.0)     # doctest: +SKIP
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "accuracy.py")

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from benchmarks.evaluation import MotSequence
from pipeline.boxes import intersection_matrix
from pipeline.errors import InputError
from pipeline.types import Detections, Tracks


def _occluded_fraction(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(n,) fraction of each xyxy box covered by boxes in front of it (lower bottom edge),

    approximated as the sum of pairwise overlaps, capped at 1.
    """
    inter = intersection_matrix(boxes, boxes)
    in_front = boxes[None, :, 3] > boxes[:, None, 3]  # j in front of i: feet lower in image
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    return np.minimum((inter * in_front).sum(axis=1) / area, 1.0)


def perturb(
    gt: MotSequence,
    *,
    seed: int,
    drop: float = 0.10,
    jitter: float = 0.05,
    false_positives: float = 0.05,
    image_size: tuple[int, int] | None = None,
    score_range: tuple[float, float] = (0.6, 1.0),
    false_positive_score_range: tuple[float, float] = (0.1, 0.7),
    min_score: float = 0.05,
) -> list[Detections]:
    """Turns ground truth into detector-like input, reproducibly.

    - ``drop``: this fraction of the boxes (exactly, rounded) is removed at random
      (missed detections).
    - ``jitter``: each kept box's centre moves by a normal offset whose standard deviation
      is this fraction of the box's width (x) and height (y).
    - ``false_positives``: this many extra boxes per ground-truth box, each in a random
      frame, with the size of a random ground-truth box, placed uniformly in the image.
    - Scores: a true box scores ``U(score_range) * (1 - occluded)``, where ``occluded`` is
      the fraction of it covered by ground-truth boxes in front of it (lower bottom edge),
      at least ``min_score``; so partly hidden people score low, as with a real detector
      (what ByteTrack's low-score stage is for). False positives score
      ``U(false_positive_score_range)``.

    Args:
        gt: ground truth; rows with conf 0 are not used.
        seed: seed of the random generator; the same seed gives the same output.
        drop: fraction of boxes removed, 0..1.
        jitter: centre noise, fraction of box size (one standard deviation).
        false_positives: false boxes per ground-truth box.
        image_size: (width, height) pixels for placing false positives; the extent of the
            ground-truth boxes when omitted.
        score_range: (low, high) range of a fully visible true box's score.
        false_positive_score_range: (low, high) range of a false positive's score.
        min_score: least score of a true box.

    Returns:
        One Detections per frame (``result[i]`` is frame i + 1), boxes xyxy float32
        pixels, class 0, rows sorted by descending score.
    """
    for name, value in (("drop", drop), ("jitter", jitter), ("false_positives", false_positives)):
        if not (math.isfinite(value) and value >= 0) or (name == "drop" and value > 1):
            raise InputError(f"{name} must be within 0..{'1' if name == 'drop' else 'inf'}, "
                             f"got {value}", name)
    rng = np.random.default_rng(seed)
    gt = gt.keep(gt.confs != 0)
    n = len(gt)
    boxes = gt.boxes_xyxy()
    occluded = np.zeros(n)
    for frame in range(1, gt.num_frames + 1):
        rows = gt.frame_rows(frame)
        occluded[rows] = _occluded_fraction(boxes[rows])
    scores = rng.uniform(*score_range, size=n) * (1.0 - occluded)
    scores = np.maximum(scores, min_score)
    wh = gt.tlwh[:, 2:]
    centres = boxes[:, :2] + 0.5 * wh + rng.normal(0.0, 1.0, size=(n, 2)) * jitter * wh
    moved = np.concatenate([centres - 0.5 * wh, centres + 0.5 * wh], axis=1)
    keep = np.ones(n, np.bool_)
    keep[rng.choice(n, size=int(round(drop * n)), replace=False)] = False
    frames = gt.frames[keep]
    moved, scores = moved[keep], scores[keep]

    n_fp = int(round(false_positives * n))
    if n_fp:
        if image_size is None:
            width, height = float(boxes[:, 2].max()), float(boxes[:, 3].max())
        else:
            width, height = float(image_size[0]), float(image_size[1])
        fp_wh = wh[rng.integers(0, n, size=n_fp)]
        fp_wh = np.minimum(fp_wh, [width, height])
        left = rng.uniform(0.0, 1.0, size=n_fp) * (width - fp_wh[:, 0])
        top = rng.uniform(0.0, 1.0, size=n_fp) * (height - fp_wh[:, 1])
        fp_boxes = np.stack([left, top, left + fp_wh[:, 0], top + fp_wh[:, 1]], axis=1)
        frames = np.concatenate([frames, rng.integers(1, gt.num_frames + 1, size=n_fp)])
        moved = np.concatenate([moved, fp_boxes])
        scores = np.concatenate([scores, rng.uniform(*false_positive_score_range, size=n_fp)])

    order = np.lexsort((-scores, frames))
    frames, moved, scores = frames[order], moved[order], scores[order]
    starts = np.searchsorted(frames, np.arange(1, gt.num_frames + 2))
    out = []
    for i in range(gt.num_frames):
        s = slice(starts[i], starts[i + 1])
        k = s.stop - s.start
        out.append(Detections(moved[s], scores[s], np.zeros(k, np.int16)))
    return out


def jitter_detections(
    frames: Sequence[Detections], *, seed: int, drop: float = 0.05, jitter: float = 0.02
) -> list[Detections]:
    """A reproducible variant of real detections, to see how much a score rests on luck.

    On a short sequence one identity swap, turned on or off by a pixel of box noise, moves
    HOTA by several points; the mean over a few seeds of this variant is the steadier
    figure. Each box is dropped with probability ``drop``, and each kept box's corners
    move by a normal offset whose standard deviation is ``jitter`` of its width (x) and
    height (y). Scores and classes are kept.

    Args:
        frames: one Detections per frame, boxes xyxy pixels.
        seed: seed of the random generator; the same seed gives the same output.
        drop: probability that a box is removed, 0..1.
        jitter: corner noise, fraction of box size (one standard deviation).

    Returns:
        One Detections per frame, the same length as ``frames``.
    """
    if not (math.isfinite(drop) and 0.0 <= drop <= 1.0):
        raise InputError(f"drop must be within 0..1, got {drop}", "drop")
    if not (math.isfinite(jitter) and jitter >= 0.0):
        raise InputError(f"jitter must be 0 or more, got {jitter}", "jitter")
    rng = np.random.default_rng(seed)
    out = []
    for dets in frames:
        if not len(dets):
            out.append(dets)
            continue
        keep = rng.random(len(dets)) >= drop
        boxes = dets.boxes.astype(np.float64)
        size = np.tile(boxes[:, 2:] - boxes[:, :2], 2)
        boxes += rng.normal(0.0, 1.0, boxes.shape) * jitter * size
        out.append(Detections(boxes[keep].astype(np.float32), dets.scores[keep],
                              dets.class_ids[keep]))
    return out


def track_frames(
    update: Callable[[Detections, float], Tracks], frames: Sequence[Detections], fps: float
) -> MotSequence:
    """Runs a tracker over per-frame detections and collects its output.

    Args:
        update: ``update(detections, pts_s) -> Tracks``, for example ``ByteTracker().update``.
        frames: one Detections per frame (``frames[i]`` is frame i + 1).
        fps: frame rate; frame k (1-based) is given media time ``(k - 1) / fps`` seconds.

    Returns:
        The tracker's output as a MotSequence with ``len(frames)`` frames.
    """
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}", "fps")
    return MotSequence.from_tracks(
        [update(d, i / fps) for i, d in enumerate(frames)], num_frames=len(frames)
    )

