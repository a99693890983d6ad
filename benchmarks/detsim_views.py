"""What the bundled detector sees of a labelled person: clips, views and visibility.

A :class:`Clip` is one sequence's ground truth with media times and frame size; a
:class:`View` (:class:`FullFrameView`, :class:`TiledView`, :class:`CellView`) says how big a
person is in model-input pixels (``h_model``) and how much the model's resize squeezes
people sideways (``squeeze``); :func:`visible_fraction` the share of a box neither covered
by people in front nor outside the frame. See :mod:`benchmarks.detsim` for the noise model
these feed. No Ray, no model, no files.

Example:
    >>> view = FullFrameView.for_frame(1920, 1080, model_w=300, model_h=300)
    >>> round(view.scale_y * 270, 1), round(view.squeeze, 3)   # a 270 px person
    (75.0, 0.562)
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from benchmarks.audit_measures import covered_fraction
from benchmarks.evaluation import MotSequence
from pipeline.boxes import intersection_matrix

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


CUT_TOLERANCE_PX = 2.0
"""A label's side within this many pixels of the frame's left or right edge ends at it
(MOTChallenge's 1-based boxes put a box that ends at the edge a pixel off)."""
CUT_OUTSIDE_SHARE = 0.03
"""... or beyond it by at most this share of the box height: a label that reaches further
out says how much of the person is outside, which :func:`visible_fraction` counts."""


def cut_at_side(boxes: FloatArray, width: int) -> FloatArray:
    """1 for each box (xyxy, unclipped) whose label ends at the frame's left or right edge:
    a person cut by the edge by an amount the label does not show (annotators that clip
    their boxes to the frame), else 0.

    Example:
        >>> cut_at_side(np.array([[0.0, 0, 20, 200], [-50, 0, 30, 200], [100, 0, 180, 200],
        ...                       [600, 0, 641, 200]]), 640).tolist()
        [1.0, 0.0, 0.0, 1.0]
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out_px = CUT_OUTSIDE_SHARE * (b[:, 3] - b[:, 1])
    left = (b[:, 0] <= CUT_TOLERANCE_PX) & (b[:, 0] >= -out_px)
    right = (b[:, 2] >= width - CUT_TOLERANCE_PX) & (b[:, 2] <= width + out_px)
    return (left | right).astype(np.float64)


def label_speed(groups: IntArray, times_s: FloatArray, boxes: FloatArray) -> FloatArray:
    """(n,) how fast each labelled person moves across the image: the speed of their box
    centre in their own box heights per second (central differences over the person's rows
    in time order; 0 for a person seen once).

    Args:
        groups: (n,) person of each row.
        times_s: (n,) media time of each row (unique within a person).
        boxes: (n, 4) xyxy boxes.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros(len(b))
    cx, cy, h = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, np.maximum(b[:, 3] - b[:, 1], 1.0)
    for g in np.unique(groups):
        r = np.flatnonzero(groups == g)
        r = r[np.argsort(times_s[r])]
        if len(r) > 1:
            t = times_s[r]
            out[r] = np.hypot(np.gradient(cx[r], t), np.gradient(cy[r], t)) / h[r]
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
