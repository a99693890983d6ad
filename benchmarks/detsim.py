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

- **Score and misses**: a latent normal ``z`` per person; the detector's score is
  ``sigmoid(mu + sigma z)`` with ``mu`` a quadratic in ``log h_model``, ``log squeeze``
  and ``1 - visible`` (:class:`ScoreModel`); the person is detected when the score
  reaches the detector threshold. ``mu`` is fitted as a probit of detection (so recall is
  what the fit matches first) and ``sigma`` to the scores of the detected, so recall and
  the score distribution come from one latent.
- **Time**: every latent is a sum of Ornstein-Uhlenbeck processes with time constants
  *in media seconds* (for the score a fast and a slow one: a person missed now tends to
  be missed a moment later, and some people stay hard to see) and white noise. Misses
  therefore come in runs whose length in seconds does not depend on the frame rate, and
  subsampling a sequence to 7 fps keeps them right (:func:`latent`).
- **Box errors** of a detected person (:class:`BoxErrorModel`): centre offsets relative to
  width and height, log width and height ratios; each a location plus a scale (both
  linear in the features) times a standardised residual drawn from the fitted empirical
  distribution (heavy tails kept), correlated across the four and in time.
- **Fused boxes** (:class:`EventModel`): two overlapping people returned as one box
  around both (only pairs for which such a box differs from either person's,
  :data:`FUSABLE_UNION_IOU`); probability logistic in their IoU and size; the individual
  boxes mostly dropped.
- **Extra boxes** next to a detected person (a loose, partial or second box that matches
  nobody), probability logistic in the features; shape relative to the person's box from
  the fitted pool.
- **Background false positives** (:class:`BackgroundModel`): a rate per model image, sizes
  in model pixels, and a persistence time (static clutter fires at one place for a while).
- **Suppression**: the detector's non-maximum suppression at the fitted ``nms_iou``, so
  that of two people close together often only the one scoring higher in that frame is
  returned (which one can change from frame to frame, as with the real detector).

Example:
    >>> view = FullFrameView.for_frame(1920, 1080, model_w=300, model_h=300)
    >>> round(view.scale_y * 270, 1), round(view.squeeze, 3)   # a 270 px person
    (75.0, 0.562)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy.special import expit, ndtr, ndtri

from pipeline.evaluation import MotSequence
from pipeline.evaluation_audit import covered_fraction
from pipeline.tracking.association import intersection_matrix, iou_matrix
from pipeline.types import Detections

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

PERSON = 1
"""Class id of "person" in the bundled model's label map (what the detector returns)."""
REFERENCE_HEIGHT = 80.0
"""Model-input pixels at which ``log h_model`` is 0 in the regressions."""
REFERENCE_SQUEEZE = 0.75
"""The squeeze of a 4:3 frame, where ``log squeeze`` is 0 in the regressions."""
ERROR_NAMES = ("dcx", "dcy", "dlw", "dlh")
"""Box error components: centre offset / width, centre offset / height, log width ratio,
log height ratio (detected over true)."""
QUANTILE_POINTS = 201
"""Points of each stored empirical distribution (inverse CDF on an even grid of 0..1)."""
FUSABLE_UNION_IOU = 0.7
"""Two overlapping people can be returned as one fused box only when each of their boxes
has IoU below this with the box around both: otherwise a box around both is one person's
box (someone mostly hidden behind another), not a fused one."""


# --------------------------------------------------------------------------- clips, views


@dataclass(frozen=True)
class Clip:
    """Ground truth of one sequence as the simulator and the trackers take it.

    Attributes:
        name: sequence name (and variant).
        truth: every labelled row, also those with conf 0 (people nobody is scored on:
            they are still in the scene, hide others and get detected); frames 1..n.
        times_s: (n,) media time of each frame, seconds.
        width: frame width, pixels.
        height: frame height, pixels.
    """

    name: str
    truth: MotSequence
    times_s: FloatArray
    width: int
    height: int

    @property
    def num_frames(self) -> int:
        return self.truth.num_frames

    @property
    def fps(self) -> float:
        """Frames per second (from the median frame interval)."""
        if len(self.times_s) < 2:
            return 1.0
        return float(1.0 / np.median(np.diff(self.times_s)))

    def every(self, step: int, name: str | None = None) -> Clip:
        """Every ``step``-th frame (from the first), frames renumbered 1..m, times kept."""
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        picked = np.arange(0, self.num_frames, step)
        old_to_new = np.full(self.num_frames + 1, 0, np.int64)
        old_to_new[picked + 1] = np.arange(1, len(picked) + 1)
        keep = np.isin(self.truth.frames, picked + 1)
        t = self.truth
        truth = MotSequence(old_to_new[t.frames[keep]], t.ids[keep], t.tlwh[keep],
                            t.confs[keep], len(picked))
        return Clip(name or f"{self.name}/{step}", truth, self.times_s[picked], self.width,
                    self.height)


class View(Protocol):
    """How the detector sees boxes of a frame (xyxy frame pixels, (n, 4))."""

    def model_scale(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(n,), (n,) model pixels per frame pixel, horizontally and vertically, of the
        view that sees each box."""
        ...

    def features(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(n,) h_model (model pixels) and (n,) squeeze of each box."""
        ...

    def frame_scale(self) -> tuple[float, float]:
        """Model pixels per frame pixel (x, y) of the view of the whole frame."""
        ...


@dataclass(frozen=True)
class FullFrameView:
    """The whole frame resized to the model input: one scale per axis.

    Attributes:
        scale_x: model pixels per frame pixel, horizontally.
        scale_y: model pixels per frame pixel, vertically.
    """

    scale_x: float
    scale_y: float

    @classmethod
    def for_frame(cls, width: int, height: int, model_w: int, model_h: int,
                  resize: str = "plain") -> FullFrameView:
        """The view of a ``width`` x ``height`` frame through a model input of
        ``model_w`` x ``model_h`` (``plain`` stretches, ``letterbox`` keeps the aspect)."""
        from models.preprocess import FrameTransform, InputSpec

        tf = FrameTransform.for_frame(InputSpec(model_w, model_h, resize), width, height)
        return cls(tf.scale_x, tf.scale_y)

    @property
    def squeeze(self) -> float:
        return self.scale_x / self.scale_y

    def model_scale(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        n = len(boxes)
        return np.full(n, self.scale_x), np.full(n, self.scale_y)

    def features(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        return _features(self, boxes)

    def frame_scale(self) -> tuple[float, float]:
        return self.scale_x, self.scale_y


def _features(view: View, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
    sx, sy = view.model_scale(boxes)
    return (boxes[:, 3] - boxes[:, 1]) * sy, sx / sy


@dataclass(frozen=True)
class TiledView:
    """Tiles plus (optionally) the full frame: each box is seen by the view that shows it
    largest among those that hold it whole (the full frame holds every box).

    Attributes:
        rects: (k, 4) x0, y0, x1, y1 of each tile, frame pixels.
        scales: (k, 2) model pixels per frame pixel (x, y) of each tile.
        full: the full frame's view.
    """

    rects: FloatArray
    scales: FloatArray
    full: FullFrameView

    @classmethod
    def for_frame(cls, width: int, height: int, tiling: Any, model_w: int, model_h: int,
                  resize: str = "plain") -> TiledView:
        """The views of a frame tiled by ``tiling`` (a :class:`models.tiling.TilingConfig`)."""
        from models.preprocess import FrameTransform, InputSpec
        from models.tiling import plan_tiles

        spec = InputSpec(model_w, model_h, resize)
        tiles = [r for r in plan_tiles(width, height, tiling) if not r.full]
        rects = np.array([[r.x0, r.y0, r.x1, r.y1] for r in tiles], np.float64)
        scales = []
        for r in tiles:
            tf = FrameTransform.for_frame(spec, r.width, r.height)
            scales.append((tf.scale_x, tf.scale_y))
        full = FullFrameView.for_frame(width, height, model_w, model_h, resize)
        if not tiling.include_full_frame:
            # Without the full frame a box no tile holds whole is seen cut; take the tile
            # scale anyway (the merge joins the halves).
            full = FullFrameView(float(np.min([s[0] for s in scales])),
                                 float(np.min([s[1] for s in scales])))
        return cls(rects, np.array(scales, np.float64), full)

    def model_scale(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        sx, sy = self.full.model_scale(boxes)
        sx, sy = sx.copy(), sy.copy()
        for (x0, y0, x1, y1), (tx, ty) in zip(self.rects, self.scales, strict=True):
            inside = ((boxes[:, 0] >= x0) & (boxes[:, 1] >= y0) & (boxes[:, 2] <= x1)
                      & (boxes[:, 3] <= y1))
            better = inside & (ty * tx > sy * sx)
            sx[better], sy[better] = tx, ty
        return sx, sy

    def features(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        return _features(self, boxes)

    def frame_scale(self) -> tuple[float, float]:
        return self.full.frame_scale()


@dataclass(frozen=True)
class CellView:
    """A frame shrunk into one cell of a larger image (a mosaic) that the detector sees
    through ``inner``: boxes given in the frame's own pixels.

    Attributes:
        inner: the view of the whole mosaic.
        scale: mosaic pixels per frame pixel.
        offset: (x, y) of the cell's top-left corner in the mosaic, pixels.
    """

    inner: Any
    scale: float
    offset: tuple[float, float]

    def model_scale(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        ox, oy = self.offset
        sx, sy = self.inner.model_scale(boxes * self.scale + np.array([ox, oy, ox, oy]))
        return sx * self.scale, sy * self.scale

    def features(self, boxes: FloatArray) -> tuple[FloatArray, FloatArray]:
        return _features(self, boxes)

    def frame_scale(self) -> tuple[float, float]:
        sx, sy = self.inner.frame_scale()
        return sx * self.scale, sy * self.scale


def clip_to_frame(boxes: FloatArray, width: int, height: int) -> FloatArray:
    """(n, 4) xyxy boxes clipped to the frame."""
    out = np.asarray(boxes, np.float64).copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0.0, width)
    out[:, 1::2] = np.clip(out[:, 1::2], 0.0, height)
    return out


def visible_fraction(boxes: FloatArray, width: int, height: int) -> FloatArray:
    """Share of each box (one frame's people, xyxy, unclipped) that is inside the frame and
    not covered by a box in front of it (bottom edge lower: nearer the camera).

    Returns:
        (n,) float64 in [0, 1].
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros(len(b))
    if not len(b):
        return out
    big = 1e6
    outside = np.array([[-big, -big, 0, big], [width, -big, big, big],
                        [-big, -big, big, 0], [-big, height, big, big]], np.float64)
    inter = intersection_matrix(b, b)
    for i in range(len(b)):
        front = (b[:, 3] > b[i, 3]) & (inter[i] > 0)
        out[i] = 1.0 - covered_fraction(b[i], np.concatenate([b[front], outside]))
    return np.clip(out, 0.0, 1.0)


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


def _clamped(h_model: FloatArray, squeeze: FloatArray, ranges: Ranges
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
    """

    beta: tuple[float, ...]
    sigma: float
    timescales: Timescales

    def mean(self, h_model: FloatArray, squeeze: FloatArray, visible: FloatArray,
             ranges: Ranges) -> FloatArray:
        """Mean logit score. Below the fitted height range it continues along the tangent
        in log height at the range's edge; above it, and outside the squeeze range, it
        stays at the edge value."""
        lh, lsq, lh_raw = _clamped(h_model, squeeze, ranges)
        occ = 1.0 - np.clip(visible, 0.0, 1.0)
        b = np.asarray(self.beta)
        mu = quadratic_design(lh, lsq, occ) @ b
        below = lh_raw < lh
        slope = b[1] + 2 * b[2] * lh + b[7] * occ + b[8] * lsq
        return mu + np.where(below, slope * (lh_raw - lh), 0.0)

    def recall(self, h_model: FloatArray, squeeze: FloatArray, visible: FloatArray,
               ranges: Ranges, threshold: float) -> FloatArray:
        """P(score >= threshold) of each box."""
        mu = self.mean(h_model, squeeze, visible, ranges)
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
    pairs, pair_iou = [], []
    starts = np.searchsorted(frame, np.arange(clip.num_frames + 1))
    for f in range(clip.num_frames):
        rows = np.arange(starts[f], starts[f + 1])
        if len(rows) < 2:
            continue
        iou = iou_matrix(b[rows], b[rows])
        i, j = np.triu_indices(len(rows), 1)
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
                        visible[idx], crowd, pair_rows, pair_group.astype(np.intp), piou,
                        view.frame_scale())


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
    lh, lsq, _ = _clamped(scene.h_model, scene.squeeze, ranges)
    occ = 1.0 - scene.visible
    x_lin = linear_design(lh, lsq, occ)

    # Scores and misses.
    mu = model.score.mean(scene.h_model, scene.squeeze, scene.visible, ranges)
    z = latent(scene.group, scene.time_s, model.score.timescales, rng)[:, 0]
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
