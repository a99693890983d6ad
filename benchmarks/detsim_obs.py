"""Real detections matched to ground truth: what the detection noise model is fitted to.

:func:`observe` matches one clip's detections (at the product's detector threshold) to
its ground truth, frame by frame, and sorts every box:

1. **fused**: a box that fits the union of two overlapping people (IoU >= 0.5) and
   none of the people alone (IoU < 0.5 with each);
2. **hit**: the other boxes matched one-to-one to people (Hungarian on IoU, IoU >=
   ``MATCH_IOU``: a loose box is still that person's detection, with a large error);
3. **extra**: a box left over that overlaps a person (a partial, loose or second box);
4. **background**: a box left over that overlaps nobody.

:func:`summary` turns observations into the statistics the report compares (recall by
height and visibility, miss runs in seconds, extra, fused and background rates);
:func:`concat` pools clips. :mod:`benchmarks.detsim_fit` fits the model to them.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from benchmarks.detsim import ClipFeatures, _pair_design, box_errors, miss_runs_s, prepare
from benchmarks.detsim_model import Ranges, clamped, linear_design
from benchmarks.detsim_views import Clip, FloatArray, IntArray, View
from pipeline.boxes import iou_matrix
from pipeline.types import Detections

MATCH_IOU = 0.1
"""Least IoU of a detection and the person it is matched to (one-to-one, best total IoU)."""
FUSED_IOU = 0.5
"""Least IoU of a fused box with the union of the two people it covers."""
FUSED_MAX_SINGLE_IOU = 0.5
"""... and greatest IoU it may have with any one person (else it is that person's box)."""
BACKGROUND_STAY_IOU = 0.3
"""A background box overlapping one of the previous frame by this IoU is the same one."""
PERSISTENT_IOU = 0.5
PERSISTENT_FRAMES = 3
"""A false box (no person's hit) overlapping a false box of the previous frame by
PERSISTENT_IOU continues its chain; boxes of chains of PERSISTENT_FRAMES frames or more
are *persistent*: what a tracker confirms into a false track (short flicker it does
not)."""
MISSED, DETECTED, FUSED = 0, 1, 2
"""States of a person row."""


@dataclass
class Observations:
    """Matched real detections of one or more clips (see the module docstring).

    Person rows (one per usable true box): ``group`` (person), ``frame``, ``time_s``,
    features ``h_model``, ``squeeze``, ``visible``, ``crowd``, ``neighbour_iou``,
    ``cut``, ``speed``; ``state`` :data:`MISSED`, :data:`DETECTED` or :data:`FUSED` (in
    a fused pair, without a box of their own); ``score`` of the detected (NaN
    otherwise); ``err`` (n, 4) box errors of the detected (NaN otherwise); ``extra``
    whether an extra box lies next to them.

    Pair rows (overlapping people in one frame): ``pair_x`` design rows (FUSED_TERMS),
    ``pair_group``, ``pair_time``, ``pair_fused``. Frames are numbered in ``dt_s`` steps.

    Pools: ``extra_pool`` (m, 5) and ``fused_pool`` (k, 5) of errors relative to the
    person's (the pair's union) box and score; ``fused_members`` / ``fused_members_hit``;
    background boxes ``bg_sizes`` (model px) and ``bg_scores``, ``bg_frames`` (model
    images looked at), ``bg_prev`` / ``bg_stayed`` (boxes with a previous frame, and of
    them those seen there at the same place). ``dt_s``: frame interval. ``frames`` and
    ``false_boxes``: frames seen, and boxes that are no person's hit;
    ``false_persistent``: of those, the boxes in chains of at least
    :data:`PERSISTENT_FRAMES` frames (:data:`PERSISTENT_IOU`). ``near_box_iou``:
    per person row, the largest IoU of their true box with a box that is not theirs (a
    missed person overlapped that much by another box may have been suppressed by the
    detector's non-maximum suppression); ``box_pair_iou``: IoU of every pair of boxes
    returned in one frame (their maximum shows the suppression threshold). ``weight`` and
    ``pair_weight``: weight of each person and pair row in the fits (a clip seen as k
    near-identical copies, as in a mosaic, weighs 1/k each).
    """

    group: IntArray
    frame: IntArray
    time_s: FloatArray
    h_model: FloatArray
    squeeze: FloatArray
    visible: FloatArray
    crowd: FloatArray
    neighbour_iou: FloatArray
    cut: FloatArray
    speed: FloatArray
    state: npt.NDArray[np.int8]
    score: FloatArray
    err: FloatArray
    extra: npt.NDArray[np.bool_]
    pair_x: FloatArray
    pair_group: IntArray
    pair_time: FloatArray
    pair_fused: npt.NDArray[np.bool_]
    extra_pool: FloatArray
    fused_pool: FloatArray
    fused_members: int
    fused_members_hit: int
    bg_sizes: FloatArray
    bg_scores: FloatArray
    bg_frames: int
    bg_prev: int
    bg_stayed: int
    dt_s: float
    frames: int
    false_boxes: int
    false_persistent: int
    near_box_iou: FloatArray
    box_pair_iou: FloatArray
    weight: FloatArray
    pair_weight: FloatArray

    @property
    def hit(self) -> npt.NDArray[np.bool_]:
        return self.state == DETECTED


def observe(clip: Clip, detections: list[Detections], view: View, threshold: float,
            background: bool = True, scene: ClipFeatures | None = None,
            weight: float = 1.0, frame_dt: float | None = None) -> Observations:
    """Sorts the detections of every frame of ``clip`` (see the module docstring).

    Args:
        clip: ground truth.
        detections: one Detections per frame, scores >= some fit threshold below
            ``threshold``.
        view: how the detector saw the frames (features of each person).
        threshold: the product's detector threshold.
        background: count background boxes (False for clips whose model image is partly
            blank, e.g. a mosaic with empty cells).
        scene: ``prepare(clip, view)`` when already computed.
        weight: weight of these rows in the fits.
        frame_dt: the interval (s) frames are numbered in (``frame = time / frame_dt``),
            so that clips subsampled from one source pool with it; default: the clip's.
    """
    sc = scene if scene is not None else prepare(clip, view)
    n = len(sc.frame)
    state = np.zeros(n, np.int8)
    score = np.full(n, np.nan)
    err = np.full((n, 4), np.nan)
    extra = np.zeros(n, np.bool_)
    pair_fused = np.zeros(len(sc.pair_rows), np.bool_)
    extra_pool, fused_pool, bg_sizes, bg_scores = [], [], [], []
    bg_prev = bg_stayed = false_boxes = 0
    prev_bg = np.zeros((0, 4))
    chains = _Chains()
    fused_member = np.zeros(n, np.bool_)
    near_box_iou = np.zeros(n)
    pair_ious: list[FloatArray] = []
    starts = np.searchsorted(sc.frame, np.arange(clip.num_frames + 1))
    pair_frame = sc.frame[sc.pair_rows[:, 0]] if len(sc.pair_rows) else np.zeros(0, np.intp)
    pstarts = np.searchsorted(pair_frame, np.arange(clip.num_frames + 1))
    sx, sy = sc.scale_xy
    for f in range(clip.num_frames):
        rows = np.arange(starts[f], starts[f + 1])
        g = sc.boxes[rows]
        d = detections[f]
        high = d.scores >= threshold
        db, ds = d.boxes[high].astype(np.float64), d.scores[high].astype(np.float64)
        free = np.ones(len(db), np.bool_)
        # 1. fused boxes
        pk = np.arange(pstarts[f], pstarts[f + 1])
        if len(pk) and len(db):
            pr = sc.pair_rows[pk]
            b = sc.boxes
            union = np.stack([np.minimum(b[pr[:, 0], 0], b[pr[:, 1], 0]),
                              np.minimum(b[pr[:, 0], 1], b[pr[:, 1], 1]),
                              np.maximum(b[pr[:, 0], 2], b[pr[:, 1], 2]),
                              np.maximum(b[pr[:, 0], 3], b[pr[:, 1], 3])], 1)
            iu = iou_matrix(db, union)
            single = iou_matrix(db, g).max(axis=1) if len(g) else np.zeros(len(db))
            for j in np.argsort(-iu.max(axis=1)):
                k = int(np.argmax(np.where(pair_fused[pk], -1.0, iu[j])))
                if (iu[j, k] < FUSED_IOU or single[j] >= FUSED_MAX_SINGLE_IOU
                        or pair_fused[pk[k]]):
                    continue
                pair_fused[pk[k]] = True
                free[j] = False
                fused_member[pr[k]] = True
                fused_pool.append([*box_errors(db[j:j + 1], union[k:k + 1])[0], ds[j]])
        # 2. hits
        hit_det = np.full(len(rows), -1)
        fd = np.flatnonzero(free)
        if len(rows) and len(fd):
            iou = iou_matrix(g, db[fd])
            ri, ci = linear_sum_assignment(-iou)
            ok = iou[ri, ci] >= MATCH_IOU
            hit_det[ri[ok]] = fd[ci[ok]]
            free[fd[ci[ok]]] = False
        hr = hit_det >= 0
        state[rows[hr]] = DETECTED
        if len(db) and len(rows):
            iou = iou_matrix(g, db)
            iou[np.flatnonzero(hr), hit_det[hr]] = 0.0
            near_box_iou[rows] = iou.max(axis=1)
        if len(db) > 1:
            i, j = np.triu_indices(len(db), 1)
            pair_ious.append(iou_matrix(db, db)[i, j])
        score[rows[hr]] = ds[hit_det[hr]]
        if hr.any():
            err[rows[hr]] = box_errors(db[hit_det[hr]], g[hr])
        # 3./4. extra and background
        fd = np.flatnonzero(free)
        false_boxes += len(db) - int(hr.sum())
        is_hit = np.zeros(len(db), np.bool_)
        is_hit[hit_det[hr]] = True
        chains.step(db[~is_hit])
        bg = []
        for j in fd:
            ov = iou_matrix(db[j:j + 1], g)[0] if len(g) else np.zeros(0)
            if len(ov) and ov.max() > 0:
                i = int(np.argmax(ov))
                extra[rows[i]] = True
                extra_pool.append([*box_errors(db[j:j + 1], g[i:i + 1])[0], ds[j]])
            else:
                bg.append(j)
        if background:
            for j in bg:
                bg_sizes.append([(db[j, 2] - db[j, 0]) * sx, (db[j, 3] - db[j, 1]) * sy])
                bg_scores.append(ds[j])
            cur = db[bg] if bg else np.zeros((0, 4))
            if f:
                bg_prev += len(cur)
                if len(cur) and len(prev_bg):
                    bg_stayed += int((iou_matrix(cur, prev_bg).max(axis=1)
                                      >= BACKGROUND_STAY_IOU).sum())
            prev_bg = cur
    members = fused_member
    state[members & (state != DETECTED)] = FUSED
    x_lin = linear_design(*clamped(sc.h_model, sc.squeeze,
                                    Ranges((1e-3, 1e9), (1e-3, 1e9)))[:2], 1.0 - sc.visible)
    dt = frame_dt or (float(np.median(np.diff(clip.times_s))) if clip.num_frames > 1 else 1.0)
    return Observations(
        group=sc.group, frame=np.round(sc.time_s / dt).astype(np.intp), time_s=sc.time_s,
        h_model=sc.h_model,
        squeeze=sc.squeeze, visible=sc.visible, crowd=sc.crowd,
        neighbour_iou=sc.neighbour_iou, cut=sc.cut, speed=sc.speed, state=state, score=score,
        err=err, extra=extra, pair_x=_pair_design(sc, x_lin), pair_group=sc.pair_group,
        pair_time=sc.time_s[sc.pair_rows[:, 0]] if len(sc.pair_rows) else np.zeros(0),
        pair_fused=pair_fused,
        extra_pool=np.array(extra_pool, np.float64).reshape(-1, 5),
        fused_pool=np.array(fused_pool, np.float64).reshape(-1, 5),
        fused_members=int(members.sum()),
        fused_members_hit=int((members & (state == DETECTED)).sum()),
        bg_sizes=np.array(bg_sizes, np.float64).reshape(-1, 2),
        bg_scores=np.array(bg_scores, np.float64),
        bg_frames=clip.num_frames if background else 0, bg_prev=bg_prev, bg_stayed=bg_stayed,
        dt_s=dt,
        frames=clip.num_frames, false_boxes=false_boxes,
        false_persistent=chains.persistent(), near_box_iou=near_box_iou,
        box_pair_iou=np.concatenate(pair_ious) if pair_ious else np.zeros(0),
        weight=np.full(n, weight), pair_weight=np.full(len(sc.pair_rows), weight))


class _Chains:
    """Chains of false boxes from frame to frame (see :data:`PERSISTENT_FRAMES`)."""

    def __init__(self) -> None:
        self.prev = np.zeros((0, 4))
        self.length = np.zeros(0, np.int64)
        self.done: list[int] = []

    def step(self, boxes: FloatArray) -> None:
        """The next frame's false boxes (m, 4) xyxy."""
        length = np.ones(len(boxes), np.int64)
        ended = np.ones(len(self.prev), np.bool_)
        if len(boxes) and len(self.prev):
            iou = iou_matrix(boxes, self.prev)
            ri, ci = linear_sum_assignment(-iou)
            ok = iou[ri, ci] >= PERSISTENT_IOU
            length[ri[ok]] = self.length[ci[ok]] + 1
            ended[ci[ok]] = False
        self.done.extend(self.length[ended].tolist())
        self.prev, self.length = boxes, length

    def persistent(self) -> int:
        """Boxes in chains of at least PERSISTENT_FRAMES frames so far."""
        lengths = np.array(self.done + self.length.tolist(), np.int64)
        return int(lengths[lengths >= PERSISTENT_FRAMES].sum())


def concat(parts: list[Observations]) -> Observations:
    """Pools observations of several clips (groups and pair groups kept apart; frames
    offset so that lags never span two clips)."""
    if len(parts) == 1:
        return parts[0]
    dts = {round(p.dt_s, 6) for p in parts}
    if len(dts) != 1:
        raise ValueError(f"observations to pool must share one frame interval, got {dts}")
    out: dict[str, Any] = {}
    g_off = pg_off = f_off = 0
    groups, pgroups, frames, times, ptimes = [], [], [], [], []
    for p in parts:
        groups.append(p.group + g_off)
        pgroups.append(p.pair_group + pg_off)
        frames.append(p.frame + f_off)
        span = (p.frame.max(initial=0) + 100)
        times.append(p.time_s + f_off * p.dt_s)
        ptimes.append(p.pair_time + f_off * p.dt_s)
        g_off += int(p.group.max(initial=-1)) + 1
        pg_off += int(p.pair_group.max(initial=-1)) + 1
        f_off += int(span)
    for fd in fields(Observations):
        vals = [getattr(p, fd.name) for p in parts]
        if fd.name == "group":
            out[fd.name] = np.concatenate(groups)
        elif fd.name == "pair_group":
            out[fd.name] = np.concatenate(pgroups)
        elif fd.name == "frame":
            out[fd.name] = np.concatenate(frames)
        elif fd.name == "time_s":
            out[fd.name] = np.concatenate(times)
        elif fd.name == "pair_time":
            out[fd.name] = np.concatenate(ptimes)
        elif fd.name == "dt_s":
            out[fd.name] = parts[0].dt_s
        elif isinstance(vals[0], np.ndarray):
            out[fd.name] = np.concatenate(vals)
        else:
            out[fd.name] = sum(vals)
    return Observations(**out)


# --------------------------------------------------------------------------- summary


HEIGHT_BANDS = (0.0, 30.0, 45.0, 70.0, 110.0, 1e9)
"""Bands of model-input height (px) the report's recall tables use."""
VISIBLE_BANDS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.01)


def _band_label(edges: tuple[float, ...], k: int) -> str:
    lo, hi = edges[k], edges[k + 1]
    if k == 0:
        return f"<{hi:g}"
    if k == len(edges) - 2:
        return f">={lo:g}"
    return f"{lo:g}-{hi:g}"


def summary(obs: Observations) -> dict[str, Any]:
    """The statistics of matched detections the calibration report compares."""
    scored = obs.state != FUSED
    hit = obs.hit
    out: dict[str, Any] = {"boxes": int(scored.sum()),
                           "recall": round(float(hit[scored].mean()), 3) if scored.any() else None}
    for name, values, edges in (("recall_by_h_model", obs.h_model, HEIGHT_BANDS),
                                ("recall_by_visible", obs.visible, VISIBLE_BANDS)):
        table = {}
        for k in range(len(edges) - 1):
            m = scored & (values >= edges[k]) & (values < edges[k + 1])
            if m.sum() >= 20:
                table[_band_label(edges, k)] = [round(float(hit[m].mean()), 3), int(m.sum())]
        out[name] = table
    runs = miss_runs_s(obs.group[scored], obs.time_s[scored], hit[scored])
    out["miss_run_s"] = ({"n": len(runs), "mean": round(float(runs.mean()), 3),
                          "p50": round(float(np.median(runs)), 3),
                          "p90": round(float(np.quantile(runs, 0.9)), 3)}
                         if len(runs) else {"n": 0})
    hs = obs.score[hit]
    out["hit_score_quantiles_10_50_90"] = (np.quantile(hs, [0.1, 0.5, 0.9]).round(3).tolist()
                                           if len(hs) else [])
    e = obs.err[hit]
    out["error_iqr"] = ({n: round(float(np.subtract(*np.quantile(e[:, k], [0.75, 0.25]))), 3)
                         for k, n in enumerate(("dcx", "dcy", "dlw", "dlh"))} if len(e) else {})
    out["extra_per_detected_person"] = (round(float(obs.extra[hit].mean()), 4)
                                        if hit.any() else 0.0)
    out["fused_per_overlapping_pair"] = (round(float(obs.pair_fused.mean()), 4)
                                         if len(obs.pair_fused) else 0.0)
    out["false_boxes_per_frame"] = round(obs.false_boxes / max(obs.frames, 1), 3)
    out["persistent_false_boxes_per_frame"] = round(obs.false_persistent / max(obs.frames, 1),
                                                    3)
    out["background_per_frame"] = (round(len(obs.bg_scores) / obs.bg_frames, 4)
                                   if obs.bg_frames else None)
    return out
