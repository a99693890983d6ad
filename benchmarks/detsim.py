"""Simulated person detections from ground truth, with a noise model of a real detector.

The identity benchmark (``benchmarks/identity.py``) has long ground-truth trajectories but
no video. This module turns ground truth into what the bundled detector would have
returned, frame by frame, from a :class:`NoiseModel` whose parameters are fitted to that
detector's real output (:mod:`benchmarks.detsim_fit`). No Ray, no model, no files.

How the detector sees a person (:class:`View`): the bundled SSDLite resizes every image to
its 300 x 300 input, so what drives its errors is a person's size *in model-input pixels*
(``h_model``: box height x model height / frame or tile height) and how much the resize
squeezes people sideways (``squeeze``: horizontal over vertical scale; 0.75 for a 4:3
frame, 0.56 for 16:9, 0.3 for a 3.3:1 KITTI frame). Both follow from the frame size and
the detection mode (full frame, or the best tile of a tiled frame), so a model fitted on
640 x 480 TUD frames transfers to 1920 x 1080 or 1242 x 375 ones. ``visible`` is the
share of a person's box that is neither covered by people in front (a lower bottom edge)
nor outside the frame.

What the model draws, per person and frame (rows of the ground truth):

- **Score and misses** (:class:`ScoreModel`): the score is ``sigmoid(mu + sigma z)``,
  ``z`` a latent normal per person, ``mu`` a quadratic in ``log h_model``, ``log
  squeeze`` and ``1 - visible`` plus steps for the largest IoU with another person and
  for a label that ends at the frame's side (:func:`cut_at_side`); detected when the
  score reaches the threshold. ``mu`` is fitted as a probit of detection, ``sigma`` to
  the detected's scores: recall and scores come from one latent.
- **Time**: every latent is a sum of Ornstein-Uhlenbeck processes with time constants
  *in media seconds* and white noise, so miss runs keep their length in seconds at any
  frame rate (:func:`latent`). The score latent's clock also runs with the person's
  motion across the image (:func:`motion_clock`): someone standing still stays missed,
  someone walking past changes their look against the background, missed in short runs.
- **Box errors** of a detected person (:class:`BoxErrorModel`): centre offsets relative to
  width and height, log width and height ratios; each a location plus a scale (both
  linear in the features) times a standardised residual drawn from the fitted empirical
  distribution (heavy tails kept), correlated across the four and in time.
- **Fused boxes** (:class:`EventModel`): two overlapping people as one box around both
  (pairs whose union differs from either box, :data:`FUSABLE_UNION_IOU`); probability
  logistic in their IoU and size; the individual boxes mostly dropped.
- **Extra boxes** next to a detected person (a loose, partial or second box that matches
  nobody), probability logistic in the features; shape relative to the person's box from
  the fitted pool.
- **Background false positives** (:class:`BackgroundModel`): a rate per model image, sizes
  in model pixels, and a persistence time (static clutter fires at one place for a while).
- **Suppression**: the detector's non-maximum suppression at the fitted ``nms_iou``, so
  that of two people close together often only the one scoring higher in that frame is
  returned (which one can change from frame to frame, as with the real detector).

The parts live in :mod:`benchmarks.detsim_views` (clips, views, visibility) and
:mod:`benchmarks.detsim_model` (the model, latents); this module draws from them.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import expit, ndtr, ndtri

from benchmarks.detsim_model import (
    LINEAR_TERMS,
    BackgroundModel,
    EventModel,
    NoiseModel,
    clamped,
    latent,
    linear_design,
    motion_clock,
    quadratic_design,
)
from benchmarks.detsim_views import (
    FUSABLE_UNION_IOU,
    PERSON,
    Clip,
    FloatArray,
    IntArray,
    View,
    clip_to_frame,
    cut_at_side,
    label_speed,
    visible_fraction,
)
from pipeline.boxes import intersection_matrix, iou_matrix
from pipeline.types import Detections

# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class ClipFeatures:
    """A clip's ground truth prepared for simulation through one view (seed-independent).

    Attributes:
        clip: the clip.
        frame: (n,) 0-based frame index of each usable row (a box with area in the frame).
        group: (n,) person index of each row.
        time_s: (n,) media time of each row.
        boxes: (n, 4) true boxes clipped to the frame.
        h_model, squeeze, visible: (n,) features.
        crowd: (n,) 1 where another person's box overlaps this one.
        neighbour_iou: (n,) the largest IoU of this box with another person's (in front
            or behind).
        cut: (n,) 1 where the label ends at the frame's side (:func:`cut_at_side`).
        speed: (n,) the label's speed in body heights per second (:func:`label_speed`).
        pair_rows: (p, 2) row indices of overlapping people in the same frame.
        pair_group: (p,) index of each pair of people (same two people, same group).
        pair_iou: (p,) their IoU.
        scale_xy: (2,) model pixels per frame pixel of the whole frame (background boxes).
    """

    clip: Clip
    frame: IntArray
    group: IntArray
    time_s: FloatArray
    boxes: FloatArray
    h_model: FloatArray
    squeeze: FloatArray
    visible: FloatArray
    crowd: FloatArray
    neighbour_iou: FloatArray
    cut: FloatArray
    speed: FloatArray
    pair_rows: IntArray
    pair_group: IntArray
    pair_iou: FloatArray
    scale_xy: tuple[float, float]


def prepare(clip: Clip, view: View, visible: FloatArray | None = None) -> ClipFeatures:
    """Features of every true box of ``clip`` as ``view`` shows them.

    Args:
        clip: the clip.
        view: the detector's view.
        visible: (rows of clip.truth,) precomputed :func:`visible_fraction`, else computed.
    """
    t = clip.truth
    raw = t.boxes_xyxy()
    if visible is None:
        visible = clip_visibility(clip)
    boxes = clip_to_frame(raw, clip.width, clip.height)
    usable = ((boxes[:, 2] - boxes[:, 0]) >= 1.0) & ((boxes[:, 3] - boxes[:, 1]) >= 1.0)
    idx = np.flatnonzero(usable)
    frame = (t.frames[idx] - 1).astype(np.intp)
    _, group = np.unique(t.ids[idx], return_inverse=True)
    b = boxes[idx]
    h_model, squeeze = view.features(b)
    crowd = np.zeros(len(idx))
    neighbour = np.zeros(len(idx))
    pairs, pair_iou = [], []
    starts = np.searchsorted(frame, np.arange(clip.num_frames + 1))
    for f in range(clip.num_frames):
        rows = np.arange(starts[f], starts[f + 1])
        if len(rows) < 2:
            continue
        iou = iou_matrix(b[rows], b[rows])
        i, j = np.triu_indices(len(rows), 1)
        neighbour[rows] = np.where(np.eye(len(rows), dtype=np.bool_), 0.0, iou).max(axis=1)
        over = iou[i, j] > 0
        crowd[rows[i[over]]] = 1.0
        crowd[rows[j[over]]] = 1.0
        bi, bj = b[rows[i]], b[rows[j]]
        union = np.concatenate([np.minimum(bi[:, :2], bj[:, :2]),
                                np.maximum(bi[:, 2:], bj[:, 2:])], 1)
        distinct = (_paired_iou(bi, union) < FUSABLE_UNION_IOU) & (
            _paired_iou(bj, union) < FUSABLE_UNION_IOU)
        ok = over & distinct
        if ok.any():
            pairs.append(np.stack([rows[i[ok]], rows[j[ok]]], 1))
            pair_iou.append(iou[i[ok], j[ok]])
    pair_rows = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.intp)
    piou = np.concatenate(pair_iou) if pair_iou else np.zeros(0)
    key = group[pair_rows[:, 0]] * (group.max(initial=0) + 1) + group[pair_rows[:, 1]]
    _, pair_group = np.unique(key, return_inverse=True)
    return ClipFeatures(clip, frame, group, clip.times_s[frame], b, h_model, squeeze,
                        visible[idx], crowd, neighbour, cut_at_side(raw[idx], clip.width),
                        label_speed(group, clip.times_s[frame], raw[idx]), pair_rows,
                        pair_group.astype(np.intp), piou, view.frame_scale())


def _paired_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """(n,) IoU of a[k] with b[k]."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def clip_visibility(clip: Clip) -> FloatArray:
    """:func:`visible_fraction` of every row of the clip's truth (frame by frame)."""
    t = clip.truth
    raw = t.boxes_xyxy()
    out = np.zeros(len(t))
    for f in range(1, clip.num_frames + 1):
        rows = t.frame_rows(f)
        out[rows] = visible_fraction(raw[rows], clip.width, clip.height)
    return out


def apply_errors(ref: FloatArray, err: FloatArray) -> FloatArray:
    """Boxes from reference boxes (n, 4) xyxy and errors (n, 4) :data:`ERROR_NAMES`."""
    w, h = ref[:, 2] - ref[:, 0], ref[:, 3] - ref[:, 1]
    cx = (ref[:, 0] + ref[:, 2]) / 2 + err[:, 0] * w
    cy = (ref[:, 1] + ref[:, 3]) / 2 + err[:, 1] * h
    nw, nh = w * np.exp(err[:, 2]), h * np.exp(err[:, 3])
    return np.stack([cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2], 1)


def box_errors(det: FloatArray, ref: FloatArray) -> FloatArray:
    """Errors (n, 4) :data:`ERROR_NAMES` of boxes ``det`` against ``ref`` (both xyxy)."""
    w, h = ref[:, 2] - ref[:, 0], ref[:, 3] - ref[:, 1]
    return np.stack([((det[:, 0] + det[:, 2]) - (ref[:, 0] + ref[:, 2])) / 2 / w,
                     ((det[:, 1] + det[:, 3]) - (ref[:, 1] + ref[:, 3])) / 2 / h,
                     np.log((det[:, 2] - det[:, 0]) / w), np.log((det[:, 3] - det[:, 1]) / h)],
                    1)


def _event(model: EventModel, x: FloatArray, groups: IntArray, times: FloatArray,
           rng: np.random.Generator) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """Which rows have the event, and a slowly varying uniform per row (to pick from the
    pool so that one person's extra box keeps its shape for a while)."""
    if not len(x):
        return np.zeros(0, np.bool_), np.zeros(0)
    p = model.probability(x)
    z = latent(groups, times, model.timescales, rng, dims=2)
    return z[:, 0] > ndtri(1.0 - np.clip(p, 1e-9, 1 - 1e-9)), ndtr(z[:, 1])


def hold_per_episode(groups: IntArray, times_s: FloatArray, event: npt.NDArray[np.bool_],
                     u: FloatArray) -> FloatArray:
    """``u`` with every row of an episode (a run of consecutive rows of one group, in
    time order, that all have the event) set to the episode's first value.

    An extra or fused box keeps the shape it was drawn with for as long as it lasts, as
    the real detector's do (a false box the tracker can follow for several frames);
    drawing each frame's shape anew from the pool breaks it into flicker that no tracker
    confirms.

    Args:
        groups: (n,) person or pair of each row.
        times_s: (n,) media time of each row.
        event: (n,) whether the row has the event.
        u: (n,) the per-row values (uniforms picking from a pool).
    """
    out = np.asarray(u, np.float64).copy()
    order = np.lexsort((times_s, groups))
    g, e = np.asarray(groups)[order], np.asarray(event, np.bool_)[order]
    start = e.copy()
    start[1:] &= ~(e[:-1] & (g[1:] == g[:-1]))
    episode = np.cumsum(start) - 1
    first = order[np.flatnonzero(start)]
    held = np.flatnonzero(e)
    out[order[held]] = out[first[episode[held]]]
    return out


def _pick(pool: FloatArray, u: FloatArray) -> FloatArray:
    """Rows of ``pool`` (sorted by its first column) at uniforms ``u``."""
    order = np.argsort(pool[:, 0], kind="stable")
    k = np.minimum((u * len(pool)).astype(np.intp), len(pool) - 1)
    return pool[order][k]


def simulate(model: NoiseModel, scene: ClipFeatures, seed: int) -> list[Detections]:
    """Detections of every frame of ``scene.clip`` as the modelled detector returns them.

    Returns:
        One Detections per frame (class :data:`PERSON`), boxes xyxy float32 frame pixels
        clipped to the frame, scores >= ``model.threshold``, by descending score.
    """
    rng = np.random.default_rng(seed)
    clip, n = scene.clip, len(scene.frame)
    ranges = model.ranges
    lh, lsq, _ = clamped(scene.h_model, scene.squeeze, ranges)
    occ = 1.0 - scene.visible
    x_lin = linear_design(lh, lsq, occ)

    # Scores and misses.
    mu = model.score.mean(scene.h_model, scene.squeeze, scene.visible, ranges,
                          scene.neighbour_iou, scene.cut)
    clock = motion_clock(scene.group, scene.time_s, scene.speed, model.score.clock_s_per_height)
    z = latent(scene.group, clock, model.score.timescales, rng)[:, 0]
    scores = expit(mu + model.score.sigma * z)
    hit = scores >= model.threshold

    # Box errors of the detected.
    u = np.concatenate([
        latent(scene.group, scene.time_s, model.box.timescales[c], rng) for c in range(4)],
        axis=1)
    boxes = apply_errors(scene.boxes, model.box.errors(quadratic_design(lh, lsq, occ), u))

    out_f: list[IntArray] = [scene.frame[hit]]
    out_b: list[FloatArray] = [boxes[hit]]
    out_s: list[FloatArray] = [scores[hit]]

    # Fused pairs: one box around both, the individual boxes (mostly) gone.
    if len(scene.pair_rows) and len(model.fused.pool):
        pr = scene.pair_rows
        xf = _pair_design(scene, x_lin)
        fused, uf = _event(model.fused, xf, scene.pair_group, scene.time_s[pr[:, 0]], rng)
        uf = hold_per_episode(scene.pair_group, scene.time_s[pr[:, 0]], fused, uf)
        used = np.zeros(n, np.bool_)
        keep = np.ones(n, np.bool_)
        idx = []
        for k in np.flatnonzero(fused)[np.argsort(-scene.pair_iou[fused], kind="stable")]:
            i, j = pr[k]
            if used[i] or used[j]:
                continue
            used[i] = used[j] = True
            idx.append(k)
            keep[i] = rng.random() < model.fused.keep_individual
            keep[j] = rng.random() < model.fused.keep_individual
        if idx:
            k = np.array(idx)
            i, j = pr[k, 0], pr[k, 1]
            union = np.stack([np.minimum(scene.boxes[i, 0], scene.boxes[j, 0]),
                              np.minimum(scene.boxes[i, 1], scene.boxes[j, 1]),
                              np.maximum(scene.boxes[i, 2], scene.boxes[j, 2]),
                              np.maximum(scene.boxes[i, 3], scene.boxes[j, 3])], 1)
            drawn = _pick(model.fused.pool, uf[k])
            out_f.append(scene.frame[i])
            out_b.append(apply_errors(union, drawn[:, :4]))
            out_s.append(drawn[:, 4])
        drop = hit & ~keep
        if drop.any():
            sel = keep[hit]
            out_f[0], out_b[0], out_s[0] = out_f[0][sel], out_b[0][sel], out_s[0][sel]

    # Extra boxes next to people.
    if len(model.extra.pool):
        xe = np.concatenate([x_lin, scene.crowd[:, None]], 1)
        extra, ue = _event(model.extra, xe, scene.group, scene.time_s, rng)
        extra &= hit
        ue = hold_per_episode(scene.group, scene.time_s, extra, ue)
        if extra.any():
            drawn = _pick(model.extra.pool, ue[extra])
            out_f.append(scene.frame[extra])
            out_b.append(apply_errors(scene.boxes[extra], drawn[:, :4]))
            out_s.append(drawn[:, 4])

    bf, bb, bs = _background(model.background, scene, rng)
    out_f.append(bf)
    out_b.append(bb)
    out_s.append(bs)
    return _per_frame(np.concatenate(out_f), np.concatenate(out_b), np.concatenate(out_s),
                      clip, model.threshold, model.nms_iou)


def _pair_design(scene: ClipFeatures, x_lin: FloatArray) -> FloatArray:
    """Design rows of the fused-pair logistic: [1, pair IoU, mean lh, mean lsq]."""
    pr = scene.pair_rows
    return np.stack([np.ones(len(pr)), scene.pair_iou,
                     (x_lin[pr[:, 0], 1] + x_lin[pr[:, 1], 1]) / 2,
                     (x_lin[pr[:, 0], 2] + x_lin[pr[:, 1], 2]) / 2], 1)


FUSED_TERMS = ("1", "pair_iou", "lh_mean", "lsq_mean")
EXTRA_TERMS = (*LINEAR_TERMS, "crowd")


BACKGROUND_TRIES = 10
"""Places tried for a new background box before it is given up: it must overlap nobody
(what the fit counted as background; boxes next to people are extra boxes)."""


def _background(model: BackgroundModel, scene: ClipFeatures,
                rng: np.random.Generator) -> tuple[IntArray, FloatArray, FloatArray]:
    """Background boxes: births each frame where nobody is, each staying (at its place,
    with a little jitter) to the next frame with probability exp(-dt/tau)."""
    clip, (scale_x, scale_y) = scene.clip, scene.scale_xy
    if model.rate_per_frame <= 0 or not len(model.scores):
        return np.zeros(0, np.intp), np.zeros((0, 4)), np.zeros(0)
    frames, boxes, scores = [], [], []
    alive: list[tuple[FloatArray, float]] = []
    times = clip.times_s
    starts = np.searchsorted(scene.frame, np.arange(clip.num_frames + 1))
    for f in range(clip.num_frames):
        dt = times[f] - times[f - 1] if f else np.inf
        stay = math.exp(-dt / max(model.tau_s, 1e-9)) if np.isfinite(dt) else 0.0
        alive = [(b, s) for b, s in alive if rng.random() < stay]
        people = scene.boxes[starts[f]:starts[f + 1]]
        for _ in range(rng.poisson(model.rate_per_frame * (1.0 - stay))):
            k = rng.integers(len(model.scores))
            w = min(model.sizes_model[k, 0] / scale_x, clip.width - 1.0)
            h = min(model.sizes_model[k, 1] / scale_y, clip.height - 1.0)
            for _ in range(BACKGROUND_TRIES):
                x0 = rng.uniform(0, clip.width - w)
                y0 = rng.uniform(0, clip.height - h)
                b = np.array([x0, y0, x0 + w, y0 + h])
                if not len(people) or intersection_matrix(b[None], people).max() <= 0:
                    alive.append((b, float(model.scores[k])))
                    break
        for b, s in alive:
            wh = np.tile(b[2:] - b[:2], 2)
            frames.append(f)
            boxes.append(b + rng.normal(0, 0.02, 4) * wh)
            scores.append(s)
    if not frames:
        return np.zeros(0, np.intp), np.zeros((0, 4)), np.zeros(0)
    return np.array(frames, np.intp), np.array(boxes), np.array(scores)


def _per_frame(frames: IntArray, boxes: FloatArray, scores: FloatArray, clip: Clip,
               threshold: float, nms_iou: float) -> list[Detections]:
    from models.nms import nms

    boxes = clip_to_frame(boxes, clip.width, clip.height)
    ok = ((boxes[:, 2] - boxes[:, 0]) >= 1.0) & ((boxes[:, 3] - boxes[:, 1]) >= 1.0) & (
        scores >= threshold)
    frames, boxes, scores = frames[ok], boxes[ok], scores[ok]
    order = np.lexsort((-scores, frames))
    frames, boxes, scores = frames[order], boxes[order], scores[order]
    starts = np.searchsorted(frames, np.arange(clip.num_frames + 1))
    out = []
    for f in range(clip.num_frames):
        s = slice(starts[f], starts[f + 1])
        keep = nms(boxes[s], scores[s], nms_iou)
        out.append(Detections(boxes[s][keep].astype(np.float32),
                              scores[s][keep].astype(np.float32),
                              np.full(len(keep), PERSON, np.int16)))
    return out


def miss_runs_s(groups: IntArray, times_s: FloatArray, hit: npt.NDArray[np.bool_]
                ) -> FloatArray:
    """Durations (seconds) of every run of consecutive misses of one person that ends in a
    detection: frames missed times the frame interval (runs cut by the end of the track
    are left out: their length is unknown)."""
    order = np.lexsort((times_s, groups))
    g, t, h = groups[order], times_s[order], hit[order]
    runs = []
    length = 0
    for k in range(len(g)):
        if k and g[k] != g[k - 1]:
            length = 0
        if not h[k]:
            length += 1
        else:
            if length:
                runs.append(length * (t[k] - t[k - 1]))
            length = 0
    return np.array(runs)
