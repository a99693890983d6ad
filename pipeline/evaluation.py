"""Tracking evaluation: MOTChallenge text files, HOTA/CLEAR/Identity metrics, perturbation.

- :class:`MotSequence`: one sequence of boxes with ids, columnar, frames 1-based.
- :func:`read_mot` / :func:`write_mot`: MOTChallenge text, one row per box:
  ``frame, id, left, top, width, height, conf, x, y, z`` (pixels; frames from 1).
  :func:`read_seqinfo` reads a sequence's ``seqinfo.ini``.
- :func:`evaluate`: HOTA (with DetA, AssA, LocA), CLEAR (MOTA, MOTP, IDSW, ...) and
  Identity (IDF1, IDP, IDR) from ``trackeval``'s metric classes, fed an in-memory
  per-sequence data dict (no file-based dataset classes).
- :func:`perturb`: ground truth turned into detector-like input with a fixed seed (drops,
  jitter, false positives, occlusion-dependent scores), shared by tests and benchmarks.
- :func:`track_frames`: runs any ``update(detections, pts_s) -> Tracks`` callable over
  per-frame detections and collects a :class:`MotSequence`.

Ground-truth rows: every row counts, except rows whose ``conf`` is exactly 0, which
MOT16 and later use for "do not evaluate"; MOT15 ground truth (for example TUD-Campus and
TUD-Stadtmitte) marks every row 1, so all of its rows count. Classes, visibility and
distractor regions are not used: this is person-only box tracking.

Example:
    >>> gt = read_mot("TUD-Campus/gt/gt.txt")                           # doctest: +SKIP
    >>> frames = perturb(gt, seed=0, image_size=(640, 480))             # doctest: +SKIP
    >>> pred = track_frames(ByteTracker().update, frames, fps=25.0)     # doctest: +SKIP
    >>> evaluate(gt, pred)["HOTA"]                                      # doctest: +SKIP
    0.69...
"""

from __future__ import annotations

import configparser
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError
from pipeline.tracking.association import intersection_matrix, iou_matrix
from pipeline.types import Detections, Tracks

log = logging.getLogger(__name__)

_SPLIT = re.compile(r"[,\s]+")


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class MotSequence:
    """Boxes with ids over the frames of one sequence (ground truth or tracker output).

    Rows are kept sorted by frame, then id. Arrays are read-only.

    Attributes:
        frames: (n,) int64 frame numbers, 1-based.
        ids: (n,) int64 object or track ids; unique within a frame.
        tlwh: (n, 4) float64 left, top, width, height in pixels.
        confs: (n,) float64 the ``conf`` column (ground truth: 1 evaluate, 0 ignore).
        num_frames: frames in the sequence (>= the largest frame number), so that
            trailing frames with no boxes still count.
    """

    frames: npt.NDArray[np.int64]
    ids: npt.NDArray[np.int64]
    tlwh: npt.NDArray[np.float64]
    confs: npt.NDArray[np.float64]
    num_frames: int

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames, np.int64).reshape(-1)
        ids = np.asarray(self.ids, np.int64).reshape(-1)
        tlwh = np.asarray(self.tlwh, np.float64)
        confs = np.asarray(self.confs, np.float64).reshape(-1)
        n = len(frames)
        if tlwh.shape != (n, 4) or len(ids) != n or len(confs) != n:
            raise InputError(
                f"MotSequence expects frames (n,), ids (n,), tlwh (n, 4), confs (n,), but got "
                f"{frames.shape}, {ids.shape}, {tlwh.shape}, {confs.shape}",
                "tlwh",
            )
        if n and frames.min() < 1:
            raise InputError(f"frames are 1-based, but got frame {frames.min()}", "frames")
        if not np.isfinite(tlwh).all():
            raise InputError("tlwh must be finite, but got NaN or inf", "tlwh")
        num_frames = int(self.num_frames)
        if n and frames.max() > num_frames:
            raise InputError(
                f"num_frames is {num_frames}, but a row has frame {frames.max()}", "num_frames"
            )
        order = np.lexsort((ids, frames))
        frames, ids, tlwh, confs = frames[order], ids[order], tlwh[order], confs[order]
        dup = (np.diff(frames) == 0) & (np.diff(ids) == 0)
        if dup.any():
            i = int(np.flatnonzero(dup)[0])
            raise InputError(
                f"id {ids[i]} appears more than once in frame {frames[i]}", "ids"
            )
        object.__setattr__(self, "frames", _readonly(frames))
        object.__setattr__(self, "ids", _readonly(ids))
        object.__setattr__(self, "tlwh", _readonly(tlwh))
        object.__setattr__(self, "confs", _readonly(confs))
        object.__setattr__(self, "num_frames", num_frames)

    def __len__(self) -> int:
        return len(self.frames)

    @classmethod
    def from_tracks(cls, per_frame: Sequence[Tracks], num_frames: int | None = None) -> MotSequence:
        """Builds a sequence from one Tracks per frame (``per_frame[i]`` is frame i + 1)."""
        n = len(per_frame) if num_frames is None else num_frames
        items = [(i + 1, t) for i, t in enumerate(per_frame) if len(t)]
        if not items:
            return cls(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0), n)
        frames = np.concatenate([np.full(len(t), f) for f, t in items])
        boxes = np.concatenate([t.boxes for _, t in items]).astype(np.float64)
        tlwh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        return cls(
            frames,
            np.concatenate([t.track_ids for _, t in items]),
            tlwh,
            np.concatenate([t.scores for _, t in items]),
            n,
        )

    def boxes_xyxy(self) -> npt.NDArray[np.float64]:
        """(n, 4) float64 boxes as x1, y1, x2, y2 pixels."""
        return np.concatenate([self.tlwh[:, :2], self.tlwh[:, :2] + self.tlwh[:, 2:]], axis=1)

    def frame_rows(self, frame: int) -> slice:
        """The rows of ``frame`` (1-based) as a slice of the row arrays."""
        start, stop = np.searchsorted(self.frames, (frame, frame + 1))
        return slice(int(start), int(stop))

    def keep(self, mask: npt.NDArray[np.bool_]) -> MotSequence:
        """The rows selected by a boolean mask, same num_frames."""
        return MotSequence(
            self.frames[mask], self.ids[mask], self.tlwh[mask], self.confs[mask], self.num_frames
        )


@dataclass(frozen=True)
class SeqInfo:
    """A MOTChallenge sequence's ``seqinfo.ini``.

    Attributes:
        name: sequence name.
        fps: frame rate (frames per second).
        num_frames: sequence length in frames.
        width: image width in pixels.
        height: image height in pixels.
    """

    name: str
    fps: float
    num_frames: int
    width: int
    height: int


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Reads a MOTChallenge ``seqinfo.ini``.

    Raises:
        InputError: the file lacks a ``[Sequence]`` key or a value is not a number.
    """
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise InputError(f"{path}: cannot read seqinfo", "seqinfo")
    try:
        s = parser["Sequence"]
        return SeqInfo(
            name=s.get("name", Path(path).parent.name),
            fps=float(s["frameRate"]),
            num_frames=int(s["seqLength"]),
            width=int(s["imWidth"]),
            height=int(s["imHeight"]),
        )
    except (KeyError, ValueError) as exc:
        raise InputError(f"{path}: bad or missing seqinfo value: {exc}", "seqinfo") from None


def read_mot(path: str | Path, num_frames: int | None = None) -> MotSequence:
    """Reads a MOTChallenge text file (gt.txt or a tracker result).

    Fields are separated by commas and/or whitespace; rows need at least the six fields
    ``frame, id, left, top, width, height``; ``conf`` defaults to 1 when absent.

    Args:
        path: the text file.
        num_frames: sequence length; the largest frame number when omitted.

    Raises:
        InputError: a row is malformed; the message gives the file and line.
    """
    rows: list[list[float]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = _SPLIT.split(line)
            try:
                values = [float(p) for p in parts[:7]]
            except ValueError:
                raise InputError(
                    f"{path}:{lineno}: expected numbers (frame, id, left, top, width, "
                    f"height, conf, ...), got {line[:80]!r}",
                    "mot",
                ) from None
            if len(values) < 6:
                raise InputError(
                    f"{path}:{lineno}: expected at least 6 fields (frame, id, left, top, "
                    f"width, height), got {len(values)}",
                    "mot",
                )
            if values[0] != int(values[0]) or values[1] != int(values[1]) or values[0] < 1:
                raise InputError(
                    f"{path}:{lineno}: frame must be an integer >= 1 and id an integer, got "
                    f"frame {parts[0]} id {parts[1]}",
                    "mot",
                )
            rows.append(values if len(values) == 7 else values + [1.0])
    data = np.array(rows, np.float64).reshape(-1, 7)
    frames = data[:, 0].astype(np.int64)
    n_frames = int(frames.max(initial=0)) if num_frames is None else num_frames
    return MotSequence(frames, data[:, 1].astype(np.int64), data[:, 2:6], data[:, 6], n_frames)


def write_mot(seq: MotSequence, path: str | Path) -> None:
    """Writes a MOTChallenge text file (``frame,id,left,top,width,height,conf,-1,-1,-1``)."""
    from pipeline.sinks.mot import format_mot_rows

    with open(path, "w", encoding="utf-8") as f:
        f.write(format_mot_rows(seq.frames, seq.ids, seq.tlwh, seq.confs))


def trackeval_data(gt: MotSequence, pred: MotSequence) -> dict[str, Any]:
    """Builds trackeval's per-sequence data dict in memory.

    Ground-truth rows with ``conf == 0`` are dropped (see the module docstring). Ids are
    relabelled to 0..k-1 as trackeval expects; similarity is box IoU.

    Returns:
        ``num_timesteps``, ``num_gt_dets``, ``num_tracker_dets``, ``num_gt_ids``,
        ``num_tracker_ids``, and per timestep ``gt_ids``, ``tracker_ids`` (int arrays) and
        ``similarity_scores`` ((n_gt, n_tracker) float IoU).
    """
    if gt.num_frames != pred.num_frames:
        log.debug("gt has %d frames, prediction %d; using the larger", gt.num_frames,
                  pred.num_frames)
    gt = gt.keep(gt.confs != 0)
    num_frames = max(gt.num_frames, pred.num_frames)
    gt_uniq, gt_lab = np.unique(gt.ids, return_inverse=True)
    tr_uniq, tr_lab = np.unique(pred.ids, return_inverse=True)
    gt_boxes, tr_boxes = gt.boxes_xyxy(), pred.boxes_xyxy()
    gt_ids, tr_ids, sims = [], [], []
    for frame in range(1, num_frames + 1):
        g, p = gt.frame_rows(frame), pred.frame_rows(frame)
        gt_ids.append(gt_lab[g].astype(int))
        tr_ids.append(tr_lab[p].astype(int))
        sims.append(iou_matrix(gt_boxes[g], tr_boxes[p]))
    return {
        "num_timesteps": num_frames,
        "num_gt_dets": len(gt),
        "num_tracker_dets": len(pred),
        "num_gt_ids": len(gt_uniq),
        "num_tracker_ids": len(tr_uniq),
        "gt_ids": gt_ids,
        "tracker_ids": tr_ids,
        "similarity_scores": sims,
    }


def evaluate(gt: MotSequence, pred: MotSequence, iou_threshold: float = 0.5) -> dict[str, float]:
    """HOTA, CLEAR and Identity metrics of one tracked sequence (trackeval).

    Args:
        gt: ground truth.
        pred: tracker output on the same frames.
        iou_threshold: least IoU of a true positive for CLEAR (MOTA) and Identity (IDF1);
            HOTA averages over its own thresholds 0.05..0.95.

    Returns:
        Fractions in [0, 1] (MOTA can be negative): ``HOTA``, ``DetA``, ``AssA``,
        ``LocA``, ``DetRe``, ``DetPr``, ``AssRe``, ``AssPr``, ``MOTA``, ``MOTP``, ``IDF1``,
        ``IDP``, ``IDR``; counts: ``IDSW``, ``Frag``, ``MT``, ``PT``, ``ML``, ``TP``,
        ``FP``, ``FN``, ``num_gt_dets``, ``num_pred_dets``, ``num_gt_ids``,
        ``num_pred_ids``, ``num_frames``.
    """
    from trackeval.metrics import CLEAR, HOTA, Identity  # heavy import, only when used

    if not 0.0 < iou_threshold <= 1.0:
        raise InputError(f"iou_threshold must be within (0, 1], got {iou_threshold}",
                         "iou_threshold")
    data = trackeval_data(gt, pred)
    cfg = {"THRESHOLD": iou_threshold, "PRINT_CONFIG": False}
    hota = HOTA().eval_sequence(data)
    clear = CLEAR(dict(cfg)).eval_sequence(data)
    ident = Identity(dict(cfg)).eval_sequence(data)
    out: dict[str, float] = {
        key: float(np.mean(hota[key]))
        for key in ("HOTA", "DetA", "AssA", "LocA", "DetRe", "DetPr", "AssRe", "AssPr")
    }
    out.update({key: float(clear[key]) for key in ("MOTA", "MOTP")})
    out.update({key: float(ident[key]) for key in ("IDF1", "IDP", "IDR")})
    out.update({key: int(clear[key]) for key in ("IDSW", "Frag", "MT", "PT", "ML")})
    out.update(TP=int(clear["CLR_TP"]), FP=int(clear["CLR_FP"]), FN=int(clear["CLR_FN"]))
    out.update(
        num_gt_dets=data["num_gt_dets"],
        num_pred_dets=data["num_tracker_dets"],
        num_gt_ids=data["num_gt_ids"],
        num_pred_ids=data["num_tracker_ids"],
        num_frames=data["num_timesteps"],
    )
    return out


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

