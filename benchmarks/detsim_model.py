"""The detection noise model's parts and its latent processes in media time.

:class:`NoiseModel` holds what :mod:`benchmarks.detsim_fit` fits and
:func:`benchmarks.detsim.simulate` draws from: the score model (recall and scores),
box errors, fused and extra boxes, background false positives and the detector's NMS.
:func:`latent` draws sums of Ornstein-Uhlenbeck processes with time constants in seconds.
See :mod:`benchmarks.detsim` for the whole model. No Ray, no model, no files.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit, ndtr

from benchmarks.detsim_views import (
    ERROR_NAMES,
    REFERENCE_HEIGHT,
    REFERENCE_SQUEEZE,
    FloatArray,
    FullFrameView,
    TiledView,
    View,
)

# --------------------------------------------------------------------------- latents


class LatentLayout:
    """Rows grouped into independent processes (a person, a pair), ordered in time, ready
    to draw :func:`latent` values for many parameter settings.

    Args:
        groups: (n,) group of each row (int).
        times_s: (n,) media time of each row, seconds; unique within a group.
    """

    def __init__(self, groups: npt.ArrayLike, times_s: npt.ArrayLike) -> None:
        g = np.asarray(groups, np.int64).reshape(-1)
        t = np.asarray(times_s, np.float64).reshape(-1)
        self.n = len(g)
        order = np.lexsort((t, g))
        self.order = order
        gs, ts = g[order], t[order]
        start = np.ones(self.n, np.bool_)
        start[1:] = gs[1:] != gs[:-1]
        dt = np.full(self.n, np.inf)
        dt[1:] = np.where(start[1:], np.inf, np.diff(ts))
        self.dt = dt
        # Rank of each (sorted) row within its group: rows of rank k depend on rank k-1.
        first = np.flatnonzero(start)
        rank = np.arange(self.n) - np.repeat(first, np.diff(np.append(first, self.n)))
        by_rank = np.argsort(rank, kind="stable")
        counts = np.bincount(rank) if self.n else np.zeros(0, np.int64)
        self.buckets = np.split(by_rank, np.cumsum(counts)[:-1]) if self.n else []

    def ou(self, tau_s: float, eps: FloatArray) -> FloatArray:
        """(n, d) Ornstein-Uhlenbeck paths of unit variance, time constant ``tau_s``, from
        (n, d) standard normal draws (original row order in and out)."""
        u = np.empty_like(eps)
        rho = np.exp(-self.dt / max(tau_s, 1e-9))[:, None]
        step = np.sqrt(np.clip(1.0 - rho * rho, 0.0, 1.0))
        e = eps[self.order]
        for k, rows in enumerate(self.buckets):
            if k == 0:
                u[rows] = e[rows]
            else:
                u[rows] = rho[rows] * u[rows - 1] + step[rows] * e[rows]
        out = np.empty_like(u)
        out[self.order] = u
        return out

    def sample(self, timescales: Timescales, eps: Sequence[FloatArray]) -> FloatArray:
        """(n, d) latent standard normals from ``len(timescales) + 1`` arrays of (n, d)
        standard normal draws (the last one for the white part)."""
        out = math.sqrt(max(1.0 - sum(a for a, _ in timescales), 0.0)) * eps[-1]
        for (a, tau), e in zip(timescales, eps, strict=False):
            out = out + math.sqrt(a) * self.ou(tau, e)
        return out


def motion_clock(groups: npt.ArrayLike, times_s: npt.ArrayLike, speed_hps: npt.ArrayLike,
                 s_per_height: float) -> FloatArray:
    """(n,) a latent's clock: media time plus ``s_per_height`` seconds per body height the
    person has moved since their first row (speed integrated over their rows by the
    trapezoid rule). With 0 it is media time; either way it does not depend on the frame
    rate.

    Example:
        >>> motion_clock([0, 0, 0, 1], [0.0, 1.0, 2.0, 0.5], [1.0, 1.0, 3.0, 2.0], 0.5).tolist()
        [0.0, 1.5, 3.5, 0.5]
    """
    g = np.asarray(groups, np.int64).reshape(-1)
    t = np.asarray(times_s, np.float64).reshape(-1)
    if not s_per_height or not len(t):
        return t.copy()
    v = np.asarray(speed_hps, np.float64).reshape(-1)
    order = np.lexsort((t, g))
    gs, ts, vs = g[order], t[order], v[order]
    same = np.zeros(len(gs), np.bool_)
    same[1:] = gs[1:] == gs[:-1]
    step = np.zeros(len(gs))
    step[1:] = np.where(same[1:], np.diff(ts) * (vs[1:] + vs[:-1]) / 2, 0.0)
    cum = np.cumsum(step)
    first = np.maximum.accumulate(np.where(same, 0, np.arange(len(gs))))
    out = np.empty(len(gs))
    out[order] = ts + s_per_height * (cum - cum[first])
    return out


Timescales = tuple[tuple[float, float], ...]
"""A latent's slow parts: ((share, tau_s), ...), shares summing to at most 1; the rest of
its variance is white (independent from frame to frame)."""


def latent(groups: npt.ArrayLike, times_s: npt.ArrayLike, timescales: Timescales,
           rng: np.random.Generator, dims: int = 1) -> FloatArray:
    """(n, dims) standard normal latents, correlated in time within each group.

    ``z = sum_k sqrt(a_k) u_k + sqrt(1 - sum_k a_k) w``: each ``u_k`` an
    Ornstein-Uhlenbeck process of unit variance and time constant ``tau_k`` (media
    seconds), ``w`` white noise; so corr(z_s, z_t) = sum_k a_k exp(-|t - s| / tau_k) at
    any frame rate.
    """
    layout = LatentLayout(groups, times_s)
    return layout.sample(timescales, [rng.standard_normal((layout.n, dims))
                                      for _ in range(len(timescales) + 1)])


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Ranges:
    """Feature ranges the fit saw; outside them the model is extrapolated (see
    :meth:`ScoreModel.mean`) or held at the edge."""

    h_model: tuple[float, float]
    squeeze: tuple[float, float]


def clamped(h_model: FloatArray, squeeze: FloatArray, ranges: Ranges
             ) -> tuple[FloatArray, FloatArray, FloatArray]:
    h = np.clip(h_model, *ranges.h_model)
    s = np.clip(squeeze, *ranges.squeeze)
    return np.log(h / REFERENCE_HEIGHT), np.log(s / REFERENCE_SQUEEZE), np.log(
        np.maximum(h_model, 1e-3) / REFERENCE_HEIGHT)


QUADRATIC_TERMS = ("1", "lh", "lh^2", "lsq", "lsq^2", "occ", "occ^2", "lh*occ", "lh*lsq",
               "lsq*occ")


def quadratic_design(lh: FloatArray, lsq: FloatArray, occ: FloatArray) -> FloatArray:
    """(n, 10) design matrix of the score mean and the box errors, terms
    :data:`QUADRATIC_TERMS`; ``lh`` is log(h_model / 80), ``lsq`` log(squeeze / 0.75),
    ``occ`` 1 - visible."""
    return np.stack([np.ones_like(lh), lh, lh * lh, lsq, lsq * lsq, occ, occ * occ, lh * occ,
                     lh * lsq, lsq * occ], axis=1)


STEP_TERMS = ("neighbour_iou", "cut")


def step_design(visible: FloatArray, neighbour_iou: FloatArray | None = None,
                cut: FloatArray | None = None) -> FloatArray:
    """(n, 2) the score mean's terms beyond the quadratic, :data:`STEP_TERMS`: the largest
    IoU with another person, and the label cut at the frame's side (None: 0 for either)."""
    n = len(np.asarray(visible).reshape(-1))
    nb = np.zeros(n) if neighbour_iou is None else np.clip(neighbour_iou, 0.0, 1.0)
    c = np.zeros(n) if cut is None else np.asarray(cut, np.float64)
    return np.stack([nb, c], 1)


LINEAR_TERMS = ("1", "lh", "lsq", "occ")


def linear_design(lh: FloatArray, lsq: FloatArray, occ: FloatArray) -> FloatArray:
    """(n, 4) design matrix of the event models, terms :data:`LINEAR_TERMS`."""
    return np.stack([np.ones_like(lh), lh, lsq, occ], axis=1)


@dataclass(frozen=True)
class ScoreModel:
    """logit(score) = X beta + sigma z: a censored (Tobit) regression in logit space.

    Attributes:
        beta: coefficients of :data:`QUADRATIC_TERMS`.
        sigma: residual standard deviation (logit units).
        timescales: the residual latent's slow parts (:data:`Timescales`).
        neighbour: coefficient of the largest IoU of the person's box with another
            person's, whoever is in front (:attr:`ClipFeatures.neighbour_iou`): a person
            standing against someone else is harder to find even when fully visible.
        cut: coefficient of a label that ends at the frame's left or right edge
            (:attr:`ClipFeatures.cut`): the person is cut by the edge by an amount the
            label does not show, which ``visible`` cannot count.
        clock_s_per_height: seconds the residual latent's clock advances per body height
            the person moves across the image, beyond media time (:func:`motion_clock`).
    """

    beta: tuple[float, ...]
    sigma: float
    timescales: Timescales
    neighbour: float = 0.0
    cut: float = 0.0
    clock_s_per_height: float = 0.0

    def mean(self, h_model: FloatArray, squeeze: FloatArray, visible: FloatArray,
             ranges: Ranges, neighbour_iou: FloatArray | None = None,
             cut: FloatArray | None = None) -> FloatArray:
        """Mean logit score. Below the fitted height range it continues along the tangent
        in log height at the range's edge; above it, and outside the squeeze range, it
        stays at the edge value. ``neighbour_iou`` (n,) in [0, 1]; None: 0 (nobody
        near). ``cut`` (n,) 0 or 1; None: 0 (not at the frame's side)."""
        lh, lsq, lh_raw = clamped(h_model, squeeze, ranges)
        occ = 1.0 - np.clip(visible, 0.0, 1.0)
        b = np.asarray(self.beta)
        mu = quadratic_design(lh, lsq, occ) @ b
        mu = mu + step_design(visible, neighbour_iou, cut) @ np.array(
            [self.neighbour, self.cut])
        below = lh_raw < lh
        slope = b[1] + 2 * b[2] * lh + b[7] * occ + b[8] * lsq
        return mu + np.where(below, slope * (lh_raw - lh), 0.0)

    def recall(self, h_model: FloatArray, squeeze: FloatArray, visible: FloatArray,
               ranges: Ranges, threshold: float,
               neighbour_iou: FloatArray | None = None,
               cut: FloatArray | None = None) -> FloatArray:
        """P(score >= threshold) of each box."""
        mu = self.mean(h_model, squeeze, visible, ranges, neighbour_iou, cut)
        return ndtr((mu - _logit(threshold)) / self.sigma)


@dataclass(frozen=True)
class BoxErrorModel:
    """Errors of a detected box against the true one, per :data:`ERROR_NAMES` component:
    ``loc(x) + exp(log_scale(x)) * Q(Phi(z))``.

    Attributes:
        loc: (4, 10) coefficients of :data:`QUADRATIC_TERMS` per component (location).
        log_scale: (4, 10) coefficients per component (log of the residual scale).
        quantiles: (4, QUANTILE_POINTS) inverse CDF of each standardised residual.
        corr: (4, 4) correlation of the components' normal scores in one frame.
        timescales: each component's latent slow parts (:data:`Timescales`).
    """

    loc: FloatArray
    log_scale: FloatArray
    quantiles: FloatArray
    corr: FloatArray
    timescales: tuple[Timescales, ...]

    def errors(self, x: FloatArray, z: FloatArray) -> FloatArray:
        """(n, 4) errors for design rows ``x`` (n, 10) and latent normals ``z`` (n, 4)."""
        u = ndtr(z @ np.linalg.cholesky(self.corr).T)
        grid = np.linspace(0.0, 1.0, self.quantiles.shape[1])
        resid = np.stack([np.interp(u[:, c], grid, self.quantiles[c]) for c in range(4)], 1)
        return x @ self.loc.T + np.exp(x @ self.log_scale.T) * resid


@dataclass(frozen=True)
class EventModel:
    """An occasional extra box (fused pair, or extra box next to a person).

    Attributes:
        terms: names of the logistic's terms.
        beta: its coefficients: P(event) = sigmoid(X beta).
        timescales: the event latent's slow parts (:data:`Timescales`).
        pool: (m, 5) observed events: the box relative to the reference box (``dcx, dcy,
            dlw, dlh`` as in :data:`ERROR_NAMES`) and the score; drawn from in simulation.
        keep_individual: P(a person of a fused pair is also detected on their own).
    """

    terms: tuple[str, ...]
    beta: tuple[float, ...]
    timescales: Timescales
    pool: FloatArray
    keep_individual: float = 0.0

    def probability(self, x: FloatArray) -> FloatArray:
        return expit(x @ np.asarray(self.beta))


@dataclass(frozen=True)
class BackgroundModel:
    """False positives away from every person.

    Attributes:
        rate_per_frame: mean boxes per model image (per frame in full-frame mode).
        tau_s: a box's persistence: it stays (same place, small jitter) to the next frame
            with probability exp(-dt / tau_s).
        sizes_model: (m, 2) observed (width, height) in model-input pixels.
        scores: (m,) observed scores.
    """

    rate_per_frame: float
    tau_s: float
    sizes_model: FloatArray
    scores: FloatArray


@dataclass(frozen=True)
class NoiseModel:
    """Everything the simulator draws from (see the module docstring).

    Attributes:
        threshold: detector score threshold the detections are cut at.
        model_input: (width, height, resize) of the detector input.
        ranges: feature ranges of the fit.
        score, box, fused, extra, background: the parts.
        nms_iou: the detector's non-maximum suppression: of two boxes overlapping more
            than this, the lower-scoring one is dropped (so that of two people close
            together often only one is returned, the one scoring higher in that frame).
        source: what it was fitted on (free text, for the report).
    """

    threshold: float
    model_input: tuple[int, int, str]
    ranges: Ranges
    score: ScoreModel
    box: BoxErrorModel
    fused: EventModel
    extra: EventModel
    background: BackgroundModel
    nms_iou: float = 0.6
    source: str = ""
    fit_report: dict[str, Any] = field(default_factory=dict)

    def view(self, width: int, height: int, tiling: Any = None) -> View:
        """The detector's view of a ``width`` x ``height`` frame, tiled or not."""
        w, h, resize = self.model_input
        if tiling is None:
            return FullFrameView.for_frame(width, height, w, h, resize)
        return TiledView.for_frame(width, height, tiling, w, h, resize)

    def describe(self) -> dict[str, Any]:
        """The fitted parameters as JSON-ready numbers (pools summarised by quantiles)."""
        q = [0.05, 0.25, 0.5, 0.75, 0.95]

        def pool(p: FloatArray) -> dict[str, Any]:
            if not len(p):
                return {"n": 0}
            names = (*ERROR_NAMES, "score")
            return {"n": len(p), **{n: np.quantile(p[:, k], q).round(3).tolist()
                                   for k, n in enumerate(names)}}

        grid = np.linspace(0, 1, self.box.quantiles.shape[1])
        return {
            "source": self.source,
            "threshold": self.threshold,
            "nms_iou": self.nms_iou,
            "model_input": list(self.model_input),
            "fit_range": {"h_model_px": [round(v, 1) for v in self.ranges.h_model],
                          "squeeze": [round(v, 3) for v in self.ranges.squeeze]},
            "score": {"terms": QUADRATIC_TERMS, "beta": _r(self.score.beta),
                      "neighbour_iou_beta": round(self.score.neighbour, 3),
                      "cut_at_frame_side_beta": round(self.score.cut, 3),
                      "latent_clock_s_per_body_height": self.score.clock_s_per_height,
                      "sigma_logit": round(self.score.sigma, 3),
                      "latent_share_tau_s": _r(self.score.timescales)},
            "box_error": {
                "components": ERROR_NAMES, "terms": QUADRATIC_TERMS,
                "loc": _r(self.box.loc), "log_scale": _r(self.box.log_scale),
                "residual_quantiles_5_25_50_75_95": [
                    np.interp(q, grid, self.box.quantiles[c]).round(3).tolist()
                    for c in range(4)],
                "corr": _r(self.box.corr),
                "latent_share_tau_s": [_r(t) for t in self.box.timescales]},
            "fused": {"terms": self.fused.terms, "beta": _r(self.fused.beta),
                      "latent_share_tau_s": _r(self.fused.timescales),
                      "keep_individual": round(self.fused.keep_individual, 3),
                      "pool_quantiles_5_25_50_75_95": pool(self.fused.pool)},
            "extra": {"terms": self.extra.terms, "beta": _r(self.extra.beta),
                      "latent_share_tau_s": _r(self.extra.timescales),
                      "pool_quantiles_5_25_50_75_95": pool(self.extra.pool)},
            "background": {
                "rate_per_frame": round(self.background.rate_per_frame, 4),
                "tau_s": round(self.background.tau_s, 3),
                "n": len(self.background.scores),
                "height_model_px_quantiles": (
                    np.quantile(self.background.sizes_model[:, 1], q).round(1).tolist()
                    if len(self.background.scores) else []),
                "score_quantiles": (np.quantile(self.background.scores, q).round(3).tolist()
                                    if len(self.background.scores) else [])},
        }


def _r(x: Any, digits: int = 3) -> Any:
    return np.round(np.asarray(x, np.float64), digits).tolist()


def _logit(p: float | FloatArray) -> Any:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
