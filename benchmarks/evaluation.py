"""Tracking evaluation: MOTChallenge sequences and their HOTA, CLEAR and Identity metrics.

- :class:`MotSequence`: one sequence of boxes with ids, columnar, frames 1-based;
- :func:`read_mot`: a MOTChallenge text file (ground truth, or a run's
  ``--export-tracks`` output) as a :class:`MotSequence`;
- :func:`evaluate`: feeds ``trackeval``'s metric classes (HOTA with DetA, AssA, LocA;
  CLEAR with MOTA, MOTP, IDSW, ...; Identity with IDF1, IDP, IDR) an in-memory
  per-sequence data dict built from two sequences (no file-based dataset classes).

``trackeval`` is a test and benchmark dependency, imported only when used. Classes,
visibility and distractor regions are not used: this is person-only box tracking.
Ground-truth rows: every row counts, except rows whose ``conf`` is exactly 0, which
MOT16 and later use for "do not evaluate"; MOT15 ground truth (for example TUD-Campus and
TUD-Stadtmitte) marks every row 1, so all of its rows count.

Example:
    >>> gt = read_mot("TUD-Campus/gt/gt.txt")                           # doctest: +SKIP
    >>> evaluate(gt, read_mot("tracks/TUD-Campus.txt"))["HOTA"]          # doctest: +SKIP
    0.69...
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of other benchmarks
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "accuracy.py")

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.boxes import iou_matrix
from pipeline.errors import InputError
from pipeline.mot import xyxy_to_tlwh
from pipeline.types import Tracks

log = logging.getLogger(__name__)

_SPLIT = re.compile(r"[,\s]+")


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
        for name, column in (("frames", frames), ("ids", ids), ("tlwh", tlwh), ("confs", confs)):
            column.flags.writeable = False
            object.__setattr__(self, name, column)
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
        return cls(
            frames,
            np.concatenate([t.track_ids for _, t in items]),
            xyxy_to_tlwh(np.concatenate([t.boxes for _, t in items])),
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
