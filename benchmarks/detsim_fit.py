"""Fitting the detection noise model (:mod:`benchmarks.detsim`) to a real detector's output.

:func:`fit` turns pooled :class:`~benchmarks.detsim_obs.Observations` (real detections
matched to ground truth) into a :class:`~benchmarks.detsim_model.NoiseModel`:

- score: a probit of detection (recall by size, squeeze and visibility), then the scale
  of the detected people's logit scores (a truncated normal);
- the detector's non-maximum suppression threshold, from the overlap of the boxes it
  returns; people it may have suppressed are left out of the probit;
- latent timescales (score: a fast and a slow part; extra, fused: one): the shares and
  time constants on a grid whose simulated conditional event rates at lags of 1 to 32
  frames (0.04 to 1.3 s at 25 fps) come closest to the observed ones, with the fitted
  per-row probabilities, so that the slowly varying size and occlusion are not counted
  twice; the score latent's also to how the detected people's scores correlate at those
  lags (:mod:`benchmarks.detsim_latent_fit`);
- box errors: least squares for location and log scale, the standardised residuals'
  empirical quantiles, the correlation of their normal scores, and per component the
  ``a exp(-lag / tau_s)`` closest to their autocorrelation;
- events: logistic regressions (slightly ridge-regularised: fused boxes are rare);
- background: boxes per model image, and persistence from how often one is seen again at
  the same place in the next frame.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit, log_ndtr, ndtri

from benchmarks.detsim import EXTRA_TERMS, FUSED_TERMS
from benchmarks.detsim_model import (
    BackgroundModel,
    BoxErrorModel,
    EventModel,
    NoiseModel,
    Ranges,
    ScoreModel,
    Timescales,
    clamped,
    _logit,
    motion_clock,
    linear_design,
    quadratic_design,
    step_design,
)
from benchmarks.detsim_latent_fit import GRID_TAU_S, LAGS, Lags, fit_binary_latent, share_grid
from benchmarks.detsim_obs import FUSED, MISSED, Observations
from benchmarks.detsim_views import QUANTILE_POINTS, FloatArray

GRID_CLOCK_S_PER_HEIGHT = (0.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Seconds per body height moved tried for the score latent's motion clock."""
MOTION_STRATA_HPS = 0.5
"""The score latent is fitted to the miss rates of people moving slower and faster than
this (body heights per second) apart: what tells how its clock runs with motion."""
NMS_QUANTILE = 0.999
"""The detector's suppression threshold is estimated as this quantile of the IoU of boxes
it returns in one frame (rounded up to 0.05): a few pairs lie above it where boxes were
clipped to the frame or a mosaic cell."""
SCORE_TIME_FIT = True
"""Whether the score latent's timescales also match how the detected people's scores
correlate in time (:func:`~benchmarks.detsim_latent_fit.fit_binary_latent`'s ``values``),
not only the miss rates."""


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


def _fit_miss_latent(score: ScoreModel, obs: Observations, p_miss: FloatArray,
                     usable: npt.NDArray[np.bool_], ranges: Ranges
                     ) -> tuple[ScoreModel, dict[str, Any]]:
    """The score latent's timescales and motion clock: of the clocks
    :data:`GRID_CLOCK_S_PER_HEIGHT`, the one whose best timescales match the observed
    conditional miss rates of slow and of fast people (:data:`MOTION_STRATA_HPS`), and
    (:data:`SCORE_TIME_FIT`) the detected people's score correlations in time, closest."""
    strata = (obs.speed >= MOTION_STRATA_HPS).astype(np.intp)
    values = None
    if SCORE_TIME_FIT:
        mu = score.mean(obs.h_model, obs.squeeze, obs.visible, ranges, obs.neighbour_iou,
                        obs.cut)
        values = np.where(obs.hit, (_logit(np.nan_to_num(obs.score, nan=0.5)) - mu)
                          / score.sigma, np.nan)
    best: tuple[float, Timescales, dict[str, Any]] | None = None
    for k in GRID_CLOCK_S_PER_HEIGHT:
        clock = motion_clock(obs.group, obs.time_s, obs.speed, k)
        ts, rep = fit_binary_latent(obs.group, obs.time_s, obs.frame, p_miss, ~obs.hit,
                                    usable, parts=2, clock=clock, strata=strata,
                                    values=values,
                                    bound=np.inf if best is None else best[2]["loss"])
        if best is None or rep["loss"] < best[2]["loss"]:
            best = (k, ts, rep)
    assert best is not None
    k, ts, rep = best
    rep = rep | {"clock_s_per_body_height": k,
                 "rows": f"lags of people slower than {MOTION_STRATA_HPS} body heights/s, "
                         "then of faster ones"}
    return dataclasses.replace(score, timescales=ts, clock_s_per_height=k), rep


def _fit_correlation_decay(z: FloatArray, lags: Lags, dt_s: float) -> Timescales:
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
    for (a,) in share_grid(1):
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
    lh, lsq, _ = clamped(obs.h_model, obs.squeeze, ranges)
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
    xn = np.concatenate([xs, step_design(obs.visible, obs.neighbour_iou, obs.cut)], 1)
    w = obs.weight
    eta_beta = _probit(xn[use], obs.hit[use], w[use])
    hit = obs.hit
    c = float(_logit(threshold))
    sigma = _score_sigma(xn[hit] @ eta_beta, _logit(obs.score[hit]), c, w[hit])
    beta = sigma * eta_beta
    beta[0] += c
    score = ScoreModel(tuple(float(b) for b in beta[:-2]), sigma, (),
                       *(float(b) for b in beta[-2:]))
    p_hit = score.recall(obs.h_model, obs.squeeze, obs.visible, ranges, threshold,
                         obs.neighbour_iou, obs.cut)
    score, report["miss_latent"] = _fit_miss_latent(score, obs, 1.0 - p_hit, use, ranges)

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
    lags = Lags(obs.group[hit], obs.frame[hit], np.ones(int(hit.sum()), np.bool_))
    decay = [_fit_correlation_decay(zmat[:, c], lags, obs.dt_s) for c in range(4)]
    box = BoxErrorModel(np.array(loc), np.array(log_scale), np.array(quants),
                        np.corrcoef(zmat.T), tuple(decay))

    # Extra boxes next to detected people.
    xe = np.concatenate([linear_design(lh, lsq, occ), obs.crowd[:, None]], 1)
    be = _logistic(xe[hit], obs.extra[hit], w[hit])
    pe = expit(xe @ be)
    te, rep = fit_binary_latent(obs.group, obs.time_s, obs.frame, pe, obs.extra, hit)
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
        tf, rep = fit_binary_latent(obs.pair_group, obs.pair_time, pair_frames, pf,
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
                              model.threshold, obs.neighbour_iou, obs.cut)
