"""Tracking evaluation: HOTA, CLEAR and Identity metrics of a tracked sequence.

:func:`evaluate` feeds ``trackeval``'s metric classes (HOTA with DetA, AssA, LocA; CLEAR
with MOTA, MOTP, IDSW, ...; Identity with IDF1, IDP, IDR) an in-memory per-sequence data
dict built from two :class:`~pipeline.mot.MotSequence` (no file-based dataset classes).
``trackeval`` is a test and benchmark dependency, imported only when used. Classes,
visibility and distractor regions are not used: this is person-only box tracking.

Example:
    >>> gt = read_mot("TUD-Campus/gt/gt.txt")                           # doctest: +SKIP
    >>> evaluate(gt, read_mot("tracks/TUD-Campus.txt"))["HOTA"]          # doctest: +SKIP
    0.69...
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pipeline.boxes import iou_matrix
from pipeline.errors import InputError
from pipeline.mot import MotSequence

log = logging.getLogger(__name__)


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
