"""Fitting the detection noise model (:mod:`benchmarks.detsim`) to a real detector's output.

:func:`observe` matches one clip's detections (at the product's detector threshold) to
its ground truth, frame by frame, and sorts every box:

1. **fused**: a box that fits the union of two overlapping people (IoU >= 0.5) and
   none of the people alone (IoU < 0.5 with each);
2. **hit**: the other boxes matched one-to-one to people (Hungarian on IoU, IoU >=
   ``MATCH_IOU``: a loose box is still that person's detection, with a large error);
3. **extra**: a box left over that overlaps a person (a partial, loose or second box);
4. **background**: a box left over that overlaps nobody.

:func:`summary` turns observations into the statistics the report compares (recall by
height and visibility, miss runs in seconds, extra, fused and background rates), and
:func:`fit` turns pooled observations into a :class:`~benchmarks.detsim.NoiseModel`:

- score: a probit of detection (recall by size, squeeze and visibility), then the scale
  of the detected people's logit scores (a truncated normal);
- the detector's non-maximum suppression threshold, from the overlap of the boxes it
  returns; people it may have suppressed are left out of the probit;
- latent timescales (score: a fast and a slow part; extra, fused: one): the shares and
  time constants on a grid whose simulated conditional event rates at lags of 1 to 32
  frames (0.04 to 1.3 s at 25 fps) come closest to the observed ones, with the fitted
  per-row probabilities, so that the slowly varying size and occlusion are not counted
  twice;
- box errors: least squares for location and log scale, the standardised residuals'
  empirical quantiles, the correlation of their normal scores, and per component the
  ``a exp(-lag / tau_s)`` closest to their autocorrelation;
- events: logistic regressions (slightly ridge-regularised: fused boxes are rare);
- background: boxes per model image, and persistence from how often one is seen again at
  the same place in the next frame.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment, minimize
from scipy.special import expit, log_ndtr, ndtri

from benchmarks.detsim import (
    EXTRA_TERMS,
    FUSED_TERMS,
    QUANTILE_POINTS,
    BackgroundModel,
    BoxErrorModel,
    Clip,
    EventModel,
    FloatArray,
    IntArray,
    LatentLayout,
    NoiseModel,
    Ranges,
    ClipFeatures,
    ScoreModel,
    Timescales,
    View,
    _clamped,
    _logit,
    _pair_design,
    box_errors,
    linear_design,
    miss_runs_s,
    prepare,
    quadratic_design,
)
from pipeline.tracking.association import iou_matrix
from pipeline.types import Detections

MATCH_IOU = 0.1
"""Least IoU of a detection and the person it is matched to (one-to-one, best total IoU)."""
FUSED_IOU = 0.5
"""Least IoU of a fused box with the union of the two people it covers."""
FUSED_MAX_SINGLE_IOU = 0.5
"""... and greatest IoU it may have with any one person (else it is that person's box)."""
BACKGROUND_STAY_IOU = 0.3
"""A background box overlapping one of the previous frame by this IoU is the same one."""
LAGS = (1, 2, 4, 8, 16, 32)
"""Lags (frames) of the conditional event rates the latent time constants are fitted to."""
MISSED, DETECTED, FUSED = 0, 1, 2
"""States of a person row."""
GRID_TAU_S = tuple(float(t) for t in np.round(np.geomspace(0.04, 20.0, 16), 3))
"""Time constants (s) tried for a one-timescale latent."""
GRID_TAU_FAST_S = (0.04, 0.08, 0.16, 0.32, 0.64)
GRID_TAU_SLOW_S = (1.5, 4.0, 10.0, 30.0)
"""Time constants (s) tried for the fast and the slow part of the score latent."""
NMS_QUANTILE = 0.999
"""The detector's suppression threshold is estimated as this quantile of the IoU of boxes
it returns in one frame (rounded up to 0.05): a few pairs lie above it where boxes were
clipped to the frame or a mosaic cell."""
FIT_SEED = 12345
"""Seed of the fit's own simulations (common random numbers across the grid)."""


@dataclass
class Observations:
    """Matched real detections of one or more clips (see the module docstring).

    Person rows (one per usable true box): ``group`` (person), ``frame``, ``time_s``,
    features ``h_model``, ``squeeze``, ``visible``, ``crowd``; ``state``
    :data:`MISSED`, :data:`DETECTED` or :data:`FUSED` (in a fused pair, without a box of
    their own); ``score`` of the detected (NaN otherwise); ``err`` (n, 4) box errors of
    the detected (NaN otherwise); ``extra`` whether an extra box lies next to them.

    Pair rows (overlapping people in one frame): ``pair_x`` design rows (FUSED_TERMS),
    ``pair_group``, ``pair_time``, ``pair_fused``. Frames are numbered in ``dt_s`` steps.

    Pools: ``extra_pool`` (m, 5) and ``fused_pool`` (k, 5) of errors relative to the
    person's (the pair's union) box and score; ``fused_members`` / ``fused_members_hit``;
    background boxes ``bg_sizes`` (model px) and ``bg_scores``, ``bg_frames`` (model
    images looked at), ``bg_prev`` / ``bg_stayed`` (boxes with a previous frame, and of
    them those seen there at the same place). ``dt_s``: frame interval. ``frames`` and
    ``false_boxes``: frames seen, and boxes that are no person's hit. ``near_box_iou``:
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
    x_lin = linear_design(*_clamped(sc.h_model, sc.squeeze,
                                    Ranges((1e-3, 1e9), (1e-3, 1e9)))[:2], 1.0 - sc.visible)
    dt = frame_dt or (float(np.median(np.diff(clip.times_s))) if clip.num_frames > 1 else 1.0)
    return Observations(
        group=sc.group, frame=np.round(sc.time_s / dt).astype(np.intp), time_s=sc.time_s, h_model=sc.h_model,
        squeeze=sc.squeeze, visible=sc.visible, crowd=sc.crowd, state=state, score=score,
        err=err, extra=extra, pair_x=_pair_design(sc, x_lin), pair_group=sc.pair_group,
        pair_time=sc.time_s[sc.pair_rows[:, 0]] if len(sc.pair_rows) else np.zeros(0),
        pair_fused=pair_fused,
        extra_pool=np.array(extra_pool, np.float64).reshape(-1, 5),
        fused_pool=np.array(fused_pool, np.float64).reshape(-1, 5),
        fused_members=int(members.sum()), fused_members_hit=int((members & (state == DETECTED)).sum()),
        bg_sizes=np.array(bg_sizes, np.float64).reshape(-1, 2),
        bg_scores=np.array(bg_scores, np.float64),
        bg_frames=clip.num_frames if background else 0, bg_prev=bg_prev, bg_stayed=bg_stayed,
        dt_s=dt,
        frames=clip.num_frames, false_boxes=false_boxes, near_box_iou=near_box_iou,
        box_pair_iou=np.concatenate(pair_ious) if pair_ious else np.zeros(0),
        weight=np.full(n, weight), pair_weight=np.full(len(sc.pair_rows), weight))


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
    out["background_per_frame"] = (round(len(obs.bg_scores) / obs.bg_frames, 4)
                                   if obs.bg_frames else None)
    return out


# --------------------------------------------------------------------------- fit


def _probit(x: FloatArray, y: npt.NDArray[np.bool_], w: FloatArray) -> FloatArray:
    """Weighted maximum likelihood of P(y) = Phi(x beta)."""
    yf = y.astype(np.float64)

    def nll(beta: FloatArray) -> tuple[float, FloatArray]:
        eta = x @ beta
        lp, lq = log_ndtr(eta), log_ndtr(-eta)
        ll = w @ (yf * lp + (1 - yf) * lq)
        dens = -0.5 * eta * eta - 0.5 * math.log(2 * math.pi)
        g = w * (yf * np.exp(dens - lp) - (1 - yf) * np.exp(dens - lq))
        return -ll, -(x.T @ g)

    prior = min(max(float(np.average(yf, weights=w)), 1e-4), 1 - 1e-4)
    start = np.zeros(x.shape[1])
    start[0] = float(ndtri(prior))
    return minimize(nll, start, jac=True, method="L-BFGS-B").x


def _score_sigma(eta: FloatArray, y: FloatArray, c: float, w: FloatArray) -> float:
    """Scale of logit(score) = c + sigma (eta + z), z standard normal, from the scores
    ``y`` (logits) of the detected (z >= -eta), by weighted maximum likelihood."""
    def nll(log_s: float) -> float:
        s = math.exp(log_s)
        r = (y - c) / s - eta
        return float(w @ (0.5 * r * r + log_s + log_ndtr(eta)))

    res = minimize(lambda v: nll(float(v[0])), np.array([0.5]), method="L-BFGS-B")
    return float(math.exp(res.x[0]))


def _logistic(x: FloatArray, y: npt.NDArray[np.bool_], w: FloatArray,
              ridge: float = 1.0) -> FloatArray:
    """Weighted logistic regression, L2 penalty ``ridge`` on all but the intercept."""
    yf = y.astype(np.float64)
    pen = np.full(x.shape[1], ridge)
    pen[0] = 0.0
    prior = min(max(float(np.average(yf, weights=w)), 1e-4), 1 - 1e-4)

    def nll(beta: FloatArray) -> tuple[float, FloatArray]:
        eta = x @ beta
        p = expit(eta)
        ll = w @ (yf * eta - np.logaddexp(0, eta)) - 0.5 * (pen * beta) @ beta
        return -ll, -(x.T @ (w * (yf - p)) - pen * beta)

    start = np.zeros(x.shape[1])
    start[0] = math.log(prior / (1 - prior))
    return minimize(nll, start, jac=True, method="L-BFGS-B").x


class _Lags:
    """Row pairs of one group ``lag`` frames apart, for each lag in :data:`LAGS`."""

    def __init__(self, group: IntArray, frame: IntArray, usable: npt.NDArray[np.bool_]) -> None:
        span = int(frame.max(initial=0)) + max(LAGS) + 2
        key = group.astype(np.int64) * span + frame
        order = np.argsort(key)
        sk = key[order]
        self.pairs = {}
        for lag in LAGS:
            pos = np.searchsorted(sk, key + lag)
            pos = np.minimum(pos, len(sk) - 1)
            found = (sk[pos] == key + lag) if len(sk) else np.zeros(0, np.bool_)
            a = np.flatnonzero(found & usable)
            b = order[pos[a]]
            ok = usable[b]
            self.pairs[lag] = (a[ok], b[ok])


def _conditional_rates(event: npt.NDArray[np.bool_], lags: _Lags) -> FloatArray:
    """(len(LAGS), 2): P(event at t + lag | event at t) and P(event at t + lag | none)."""
    out = np.full((len(LAGS), 2), np.nan)
    for k, lag in enumerate(LAGS):
        a, b = lags.pairs[lag]
        ea, eb = event[a], event[b]
        if ea.any():
            out[k, 0] = eb[ea].mean()
        if (~ea).any():
            out[k, 1] = eb[~ea].mean()
    return out


def _share_grid(parts: int) -> list[tuple[float, ...]]:
    """Shares of ``parts`` slow components on a 0.1 grid, summing to at most 1."""
    steps = np.round(np.linspace(0.0, 1.0, 11), 2)
    if parts == 1:
        return [(float(a),) for a in steps]
    return [(float(a), float(b)) for a in steps for b in steps if a + b <= 1.0 + 1e-9]


def _fit_binary_latent(groups: IntArray, times: FloatArray, frames: IntArray,
                       p_event: FloatArray, event: npt.NDArray[np.bool_],
                       usable: npt.NDArray[np.bool_], parts: int = 1
                       ) -> tuple[Timescales, dict[str, Any]]:
    """The latent timescales whose simulated conditional event rates match the observed.

    ``parts`` slow components (1: one time constant from :data:`GRID_TAU_S`; 2: a fast one
    from :data:`GRID_TAU_FAST_S` and a slow one from :data:`GRID_TAU_SLOW_S`), grid search
    with common random numbers.
    """
    if event[usable].sum() < 5 or (~event[usable]).sum() < 5:
        return (), {"note": "too few events to fit; independent frames assumed"}
    lags = _Lags(groups, frames, usable)
    target = _conditional_rates(event, lags)
    weights = np.array([[len(lags.pairs[lag][0])] for lag in LAGS], np.float64)
    layout = LatentLayout(groups, times)
    rng = np.random.default_rng(FIT_SEED)
    taus = [GRID_TAU_S] if parts == 1 else [GRID_TAU_FAST_S, GRID_TAU_SLOW_S]
    reps = []
    for _ in range(3):
        white = rng.standard_normal((layout.n, 1))
        paths = [{tau: layout.ou(tau, rng.standard_normal((layout.n, 1)))[:, 0] for tau in ts}
                 for ts in taus]
        reps.append((white[:, 0], paths))
    cut = ndtri(1.0 - np.clip(p_event, 1e-9, 1 - 1e-9))

    def rates(shares: tuple[float, ...], chosen: tuple[float, ...]) -> FloatArray:
        sims = []
        for white, paths in reps:
            z = math.sqrt(max(1.0 - sum(shares), 0.0)) * white
            for k, (a, tau) in enumerate(zip(shares, chosen, strict=True)):
                if a:
                    z = z + math.sqrt(a) * paths[k][tau]
            sims.append(_conditional_rates(z > cut, lags))
        with warnings.catch_warnings():  # a lag without pairs stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(sims, axis=0)

    best: tuple[float, Timescales] = (np.inf, ())
    combos = [(t,) for t in taus[0]] if parts == 1 else [
        (a, b) for a in taus[0] for b in taus[1]]
    for shares in _share_grid(parts):
        for chosen in (combos if any(shares) else combos[:1]):
            loss = float(np.nansum(weights * (rates(shares, chosen) - target) ** 2))
            if loss < best[0]:
                best = (loss, tuple((a, t) for a, t in zip(shares, chosen, strict=True) if a))
    timescales = best[1]
    fitted = rates(tuple(a for a, _ in timescales), tuple(t for _, t in timescales)) if (
        timescales) else rates((0.0,) * parts, combos[0])
    dt = float(np.median(np.diff(np.unique(times)))) if len(times) > 1 else 1.0
    report = {"lags_s": [round(lag * dt, 3) for lag in LAGS],
              "observed_p_event_after_event": np.round(target[:, 0], 3).tolist(),
              "fitted_p_event_after_event": np.round(fitted[:, 0], 3).tolist(),
              "observed_p_event_after_none": np.round(target[:, 1], 3).tolist(),
              "fitted_p_event_after_none": np.round(fitted[:, 1], 3).tolist()}
    return timescales, report


def _fit_correlation_decay(z: FloatArray, lags: _Lags, dt_s: float) -> Timescales:
    """The one-timescale latent whose a exp(-lag dt / tau_s) is closest to the lag
    correlations of ``z``."""
    corr, w = [], []
    for lag in LAGS:
        a, b = lags.pairs[lag]
        if len(a) < 20:
            corr.append(0.0)
            w.append(0.0)
            continue
        corr.append(float(np.corrcoef(z[a], z[b])[0, 1]))
        w.append(float(len(a)))
    corr_a, w_a = np.array(corr), np.array(w)
    lag_s = np.array(LAGS) * dt_s
    best = (np.inf, 0.0, 1.0)
    for (a,) in _share_grid(1):
        for tau in GRID_TAU_S:
            loss = float(w_a @ (a * np.exp(-lag_s / tau) - corr_a) ** 2)
            if loss < best[0]:
                best = (loss, float(a), float(tau))
    return ((best[1], best[2]),) if best[1] > 0 else ()


def _normal_scores(x: FloatArray) -> FloatArray:
    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable")
    return ndtri((ranks + 0.5) / len(x))


def fit(obs: Observations, threshold: float, model_input: tuple[int, int, str],
        source: str = "") -> NoiseModel:
    """Fits every part of the noise model to pooled observations (module docstring)."""
    ranges = Ranges((float(obs.h_model.min()), float(obs.h_model.max())),
                    (float(obs.squeeze.min()), float(obs.squeeze.max())))
    lh, lsq, _ = _clamped(obs.h_model, obs.squeeze, ranges)
    occ = 1.0 - obs.visible
    report: dict[str, Any] = {}

    # The detector's own non-maximum suppression: no two boxes it returns overlap more.
    nms_iou = float(np.clip(np.ceil(np.quantile(obs.box_pair_iou, NMS_QUANTILE) * 20) / 20,
                            0.3, 0.9)) if len(obs.box_pair_iou) else 0.6
    report["nms_iou"] = nms_iou

    # Score: probit of detection on every person row not in a fused pair and not possibly
    # suppressed (missed, and overlapped by another box beyond nms_iou: whether they were
    # seen before the suppression is unknown; the simulator suppresses them itself), then
    # the scale of the detected people's logit scores.
    use = (obs.state != FUSED) & ~((obs.state == MISSED) & (obs.near_box_iou > nms_iou))
    xs = quadratic_design(lh, lsq, occ)
    w = obs.weight
    eta_beta = _probit(xs[use], obs.hit[use], w[use])
    hit = obs.hit
    c = float(_logit(threshold))
    sigma = _score_sigma(xs[hit] @ eta_beta, _logit(obs.score[hit]), c, w[hit])
    beta = sigma * eta_beta
    beta[0] += c
    score = ScoreModel(tuple(float(b) for b in beta), sigma, ())
    p_hit = score.recall(obs.h_model, obs.squeeze, obs.visible, ranges, threshold)
    timescales, rep = _fit_binary_latent(obs.group, obs.time_s, obs.frame, 1.0 - p_hit,
                                         ~obs.hit, use, parts=2)
    score = ScoreModel(score.beta, sigma, timescales)
    report["miss_latent"] = rep

    # Box errors of hits.
    x = xs[hit]
    e = obs.err[hit]
    sw = np.sqrt(w[hit])[:, None]
    loc, log_scale, quants, zs = [], [], [], []
    for k in range(4):
        lo, hi = np.quantile(e[:, k], [0.01, 0.99])
        b, *_ = np.linalg.lstsq(x * sw, np.clip(e[:, k], lo, hi) * sw[:, 0], rcond=None)
        r = e[:, k] - x @ b
        g, *_ = np.linalg.lstsq(x * sw, np.log(np.abs(r) + 1e-3) * sw[:, 0], rcond=None)
        std = r / np.exp(x @ g)
        loc.append(b)
        log_scale.append(g)
        quants.append(np.quantile(std, np.linspace(0, 1, QUANTILE_POINTS), weights=w[hit],
                                  method="inverted_cdf"))
        zs.append(_normal_scores(std))
    zmat = np.stack(zs, 1)
    lags = _Lags(obs.group[hit], obs.frame[hit], np.ones(int(hit.sum()), np.bool_))
    decay = [_fit_correlation_decay(zmat[:, c], lags, obs.dt_s) for c in range(4)]
    box = BoxErrorModel(np.array(loc), np.array(log_scale), np.array(quants),
                        np.corrcoef(zmat.T), tuple(decay))

    # Extra boxes next to detected people.
    xe = np.concatenate([linear_design(lh, lsq, occ), obs.crowd[:, None]], 1)
    be = _logistic(xe[hit], obs.extra[hit], w[hit])
    pe = expit(xe @ be)
    te, rep = _fit_binary_latent(obs.group, obs.time_s, obs.frame, pe, obs.extra, hit)
    report["extra_latent"] = rep
    extra = EventModel(EXTRA_TERMS, tuple(float(v) for v in be), te, obs.extra_pool)

    # Fused pairs.
    px = obs.pair_x.copy()
    px[:, 2:] = np.clip(px[:, 2:], [np.log(ranges.h_model[0] / 80.0), np.log(
        ranges.squeeze[0] / 0.75)], [np.log(ranges.h_model[1] / 80.0),
                                      np.log(ranges.squeeze[1] / 0.75)])
    if len(px) and obs.pair_fused.any():
        bf = _logistic(px, obs.pair_fused, obs.pair_weight, ridge=3.0)
        pf = expit(px @ bf)
        pair_frames = np.round(obs.pair_time / obs.dt_s).astype(np.intp)
        tf, rep = _fit_binary_latent(obs.pair_group, obs.pair_time, pair_frames, pf,
                                     obs.pair_fused, np.ones(len(pf), np.bool_))
        report["fused_latent"] = rep
        members = max(obs.fused_members, 1)
        keep = obs.fused_members_hit / members
        fused = EventModel(FUSED_TERMS, tuple(float(v) for v in bf), tf, obs.fused_pool,
                           min(1.0, keep))
    else:
        fused = EventModel(FUSED_TERMS, (-20.0, 0.0, 0.0, 0.0), (), np.zeros((0, 5)), 0.0)

    # Background.
    if obs.bg_frames:
        rate = len(obs.bg_scores) / obs.bg_frames
        stay = obs.bg_stayed / obs.bg_prev if obs.bg_prev else 0.0
        tau_bg = (-obs.dt_s / math.log(stay)) if 0.0 < stay < 1.0 else (
            60.0 if stay >= 1.0 else 1e-3)
        report["background_stayed_to_next_frame"] = round(stay, 3)
    else:
        rate, tau_bg = 0.0, 1e-3
    background = BackgroundModel(rate, min(tau_bg, 60.0), obs.bg_sizes, obs.bg_scores)
    return NoiseModel(threshold, model_input, ranges, score, box, fused, extra, background,
                      nms_iou, source, report)


def expected_recall(model: NoiseModel, obs: Observations) -> FloatArray:
    """(n,) the model's P(hit) of every person row of ``obs``."""
    return model.score.recall(obs.h_model, obs.squeeze, obs.visible, model.ranges,
                              model.threshold)

