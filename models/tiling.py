"""Tiled inference: split a frame into overlapping tiles, detect on each, merge. No Ray.

Choosing the grid: tiles should be taller than the tallest person the camera sees (people
cut by a tile row are found only in pieces), and as small as that allows: on 640x480
footage of people 130 to 300 px tall, 2 x 1 tiles plus the full frame (README's Accuracy
section has the recall it gains); for far, small people (a wide view, 1080p) 2 x 2 or
3 x 2 is the place to start.

A 300x300 detector sees a 640x480 frame at under half its size, and a person 60 pixels
tall becomes 35 model pixels: below what the bundled SSDLite finds reliably. Cutting the
frame into overlapping tiles and sending each tile at the model's input size doubles (2x2)
or triples (3x3) the pixels per person, at the cost of one model run per tile. The camera
actor sends every tile of a frame to the detector as its own request, all at once, so the
Serve deployment batches them (with other cameras' tiles); :func:`merge` maps each tile's
boxes back to frame pixels and fuses the duplicates:

1. A box reaching (within ``border_margin`` of the tile's side) an edge of its tile that
   is *inside* the frame (not the frame's own border) is *cut*: the tile saw only part of
   the person.
2. Two cut boxes from different tiles that are cut on the edges they share, overlap, and
   span the same rows (or columns) are one person split by the tile border: they are
   replaced by their union (score: the higher of the two).
3. Class-aware greedy NMS over all boxes, whole boxes ranked before cut ones: a box is
   suppressed by a kept one of its class when their IoU exceeds ``merge_iou``, and a cut
   box also when ``cut_containment`` of its area lies inside a kept box (the part of a
   person that another tile, or the full frame, saw whole).

Example:
    >>> cfg = TilingConfig(columns=2, rows=1, overlap=0.25, include_full_frame=False)
    >>> [(r.x0, r.y0, r.x1, r.y1) for r in plan_tiles(700, 100, cfg)]
    [(0, 0, 400, 100), (300, 0, 700, 100)]
    >>> whole = Detections(np.array([[350, 10, 380, 90]], np.float32),
    ...                    np.array([0.9], np.float32), np.array([1], np.int16))
    >>> in_tile_2 = Detections(np.array([[50, 10, 80, 90]], np.float32),
    ...                        np.array([0.8], np.float32), np.array([1], np.int16))
    >>> merge([whole, in_tile_2], plan_tiles(700, 100, cfg), cfg).boxes.tolist()
    [[350.0, 10.0, 380.0, 90.0]]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from models.preprocess import InputSpec, prepare_frame
from pipeline.boxes import iou_matrix
from pipeline.config import StrictModel
from pipeline.errors import InputError
from pipeline.types import DetectedFrame, Detections, FrameMeta

MAX_TILES = 64
"""Most tiles (including the full frame) one frame may be split into."""


class TilingConfig(StrictModel):
    """How one camera's frames are split into tiles for detection, and merged back.

    Cost: each frame takes ``columns x rows`` model runs, plus one with
    ``include_full_frame``; README's Accuracy section reports the recall it gains.
    """

    columns: int = Field(
        2, ge=1, le=8,
        description="Tiles across the frame. 2 doubles the pixels a person gets in the "
        "model input (on a 300x300 model, a 640-wide frame).",
    )
    rows: int = Field(2, ge=1, le=8, description="Tiles down the frame.")
    overlap: float = Field(
        0.25, ge=0.0, le=0.75,
        description="Fraction of a tile's width (height) shared with its right (lower) "
        "neighbour. A person narrower than the overlap appears whole in some tile; wider "
        "people are cut by every tile and need the full frame or the cut-pair union.",
    )
    include_full_frame: bool = Field(
        True,
        description="Also detect on the whole frame (one more model run): people too big "
        "for any tile, and a score no tile border can spoil.",
    )
    merge_iou: float = Field(
        0.5, gt=0.0, le=1.0,
        description="IoU above which the lower-ranked of two same-class boxes (from "
        "different tiles or the full frame) is dropped as a duplicate. Lower merges more "
        "(fewer duplicates, more people standing close together lost).",
    )
    border_margin: float = Field(
        0.05, ge=0.0, le=0.25,
        description="A box edge within this fraction of the tile's side (height for top "
        "and bottom edges, width for left and right) of a tile edge that lies inside the "
        "frame marks the box as cut by that tile. The detector's box of a person cut by a "
        "tile border often stops a few pixels short of the border, so 0 misses most cuts.",
    )
    cut_containment: float = Field(
        0.5, gt=0.0, le=1.0,
        description="A cut box is dropped when at least this fraction of its area lies "
        "inside a kept box of the same class (the person seen whole elsewhere).",
    )
    cut_pair_overlap: float = Field(
        0.5, gt=0.0, le=1.0,
        description="Two boxes cut on the edges their tiles share are one person (and "
        "become their union) when their extents along that edge overlap by at least this "
        "1-D IoU.",
    )

    @model_validator(mode="after")
    def _check(self) -> TilingConfig:
        n = self.tiles_per_frame
        if n > MAX_TILES:
            raise ValueError(
                f"tiling: {self.columns} x {self.rows} tiles"
                f"{' plus the full frame' if self.include_full_frame else ''} make {n} model "
                f"runs per frame; at most {MAX_TILES}"
            )
        if self.columns * self.rows == 1 and self.include_full_frame:
            raise ValueError(
                "tiling: 1 x 1 tiles plus the full frame runs the same image twice; set "
                "include_full_frame: false or use more tiles"
            )
        return self

    @property
    def tiles_per_frame(self) -> int:
        """Model runs per frame: the tiles plus the full frame when included."""
        return self.columns * self.rows + int(self.include_full_frame)


@dataclass(frozen=True)
class TileRect:
    """A crop of the frame, in frame pixels: columns ``x0..x1-1``, rows ``y0..y1-1``.

    Attributes:
        x0, y0: top-left corner (inclusive), pixels.
        x1, y1: bottom-right corner (exclusive), pixels.
        full: True for the full-frame "tile".
    """

    x0: int
    y0: int
    x1: int
    y1: int
    full: bool = False

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def crop(self, frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The (height, width, C) view of ``frame`` this tile covers (no copy)."""
        return frame[self.y0 : self.y1, self.x0 : self.x1]


def _spans(length: int, count: int, overlap: float) -> list[tuple[int, int]]:
    """``count`` spans of equal size covering 0..length, neighbours sharing ``overlap``."""
    if count == 1:
        return [(0, length)]
    size = length / (count - (count - 1) * overlap)
    step = size * (1.0 - overlap)
    side = min(length, math.ceil(size))
    out = []
    for k in range(count):
        start = min(round(k * step), length - side)
        out.append((start, start + side))
    return out


InferMany = Callable[[list[npt.NDArray[np.uint8]], list[FrameMeta]],
                     Awaitable[Sequence[DetectedFrame | BaseException]]]
"""Sends several model-sized RGB images (a frame's tiles) with their FrameMeta to the
detector at once; results in the same order, an image's error in its place (as the
detector's ``detect_many`` returns them)."""

AUTO = "auto"
"""A camera's ``inference.tiling`` that leaves the grid to :func:`auto_tiling`."""


@functools.lru_cache(maxsize=16)
def auto_tiling(width: int, height: int) -> TilingConfig | None:
    """The default tiling of a ``width`` x ``height`` frame: its longer side cut in two
    halves that overlap by 25 %, plus the full frame (3 model runs per frame); None (the
    whole frame) for a frame under 2 pixels on its longer side, which cannot be cut.

    Measured on the TUD videos with the bundled 300x300 detector (README, Accuracy):
    recall 0.68 -> 0.76 and 0.71 -> 0.79, HOTA 0.56 -> 0.72 and 0.47 -> 0.57, and every
    cell of the 1st/3rd-frame, full/half-size matrix at least 0.566 (whole frame: 0.457),
    for 3 model runs per frame (2.4-2.8x fewer frames/s on a CPU-only node). Two halves
    keep each tile's shape near the model's square input (a 16:9 frame squeezed into it
    makes people 0.56 as wide as they are; a half, 0.98) and the tiles taller than nearly
    everyone in them (cutting the shorter side too cut most TUD people in half); the full
    frame finds whoever a seam still cuts.

    Example:
        >>> (auto_tiling(1920, 1080).columns, auto_tiling(1920, 1080).rows)
        (2, 1)
        >>> (auto_tiling(480, 640).columns, auto_tiling(480, 640).rows)
        (1, 2)
        >>> auto_tiling(1, 1) is None
        True
    """
    if max(width, height) < 2:
        return None
    wide = width >= height
    return TilingConfig(columns=2 if wide else 1, rows=1 if wide else 2, overlap=0.25,
                        include_full_frame=True)


def plan_tiles(width: int, height: int, config: TilingConfig) -> list[TileRect]:
    """The tiles of a ``width`` x ``height`` frame: the full frame first (if included),
    then row by row, left to right.

    Tiles of one frame all have the same size and together cover every pixel.

    Raises:
        InputError: the frame is smaller than one pixel per tile.
    """
    if width < config.columns or height < config.rows:
        raise InputError(
            f"a {width}x{height} frame cannot be split into {config.columns} x "
            f"{config.rows} tiles",
            "frame.size",
        )
    rects = [TileRect(0, 0, width, height, full=True)] if config.include_full_frame else []
    for y0, y1 in _spans(height, config.rows, config.overlap):
        for x0, x1 in _spans(width, config.columns, config.overlap):
            rects.append(TileRect(x0, y0, x1, y1))
    return rects


def prepare_tiles(
    frame: npt.NDArray[np.uint8], spec: InputSpec, rects: Sequence[TileRect],
    color: str = "BGR",
) -> list[npt.NDArray[np.uint8]]:
    """Crops and resizes each tile of ``frame`` to the model's input.

    Args:
        frame: (H, W, 3) uint8 full frame, channel order ``color``.
        spec: the model's input spec.
        rects: the frame's tiles (:func:`plan_tiles`).
        color: ``BGR`` (OpenCV decoding) or ``RGB``.

    Returns:
        One (spec.height, spec.width, 3) uint8 RGB array per tile; detect each with the
        tile's (width, height) as its original size.
    """
    return [prepare_frame(r.crop(frame), spec, color)[0] for r in rects]  # type: ignore[arg-type]


async def detect_tiles(infer_many: InferMany, tiles: list[npt.NDArray[np.uint8]],
                       rects: Sequence[TileRect], meta: FrameMeta, config: TilingConfig
                       ) -> DetectedFrame:
    """A frame's detections from its ``tiles`` (:func:`prepare_tiles` of ``rects``).

    Each tile's request carries the tile's own width and height in its FrameMeta, so the
    detector maps boxes to tile pixels; :func:`merge` offsets them into the frame and fuses
    the duplicates. Times and batch size are the largest of the tiles' (sent at once, they
    usually share a batch).

    Raises:
        Exception: the first tile's error that came back in place of its result.
    """
    metas = [dataclasses.replace(meta, width=r.width, height=r.height) for r in rects]
    outs = list(await infer_many(tiles, metas))
    for out in outs:
        if isinstance(out, BaseException):
            raise out
    merged = merge([o.detections for o in outs], rects, config)
    return DetectedFrame(meta, merged, max(o.inference_ms for o in outs),
                         max(o.queue_ms for o in outs), max(o.batch_size for o in outs))


def _cut_flags(
    boxes: npt.NDArray[np.float32], rects: list[TileRect], tile_of: npt.NDArray[np.intp],
    width: int, height: int, margin: float,
) -> npt.NDArray[np.bool_]:
    """(n, 4) bool: box cut at its left, top, right, bottom by an inner tile edge.

    ``margin`` is a fraction of the tile's width (left, right) or height (top, bottom).
    """
    r = np.array([[t.x0, t.y0, t.x1, t.y1] for t in rects], np.float32)[tile_of]
    mx = margin * (r[:, 2] - r[:, 0])
    my = margin * (r[:, 3] - r[:, 1])
    inner = np.stack([r[:, 0] > 0, r[:, 1] > 0, r[:, 2] < width, r[:, 3] < height], axis=1)
    near = np.stack([boxes[:, 0] <= r[:, 0] + mx, boxes[:, 1] <= r[:, 1] + my,
                     boxes[:, 2] >= r[:, 2] - mx, boxes[:, 3] >= r[:, 3] - my], axis=1)
    return inner & near


def _span_iou(a0, a1, b0, b1):  # noqa: ANN001, ANN202 - elementwise on arrays
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0.0, None)
    union = np.maximum(a1, b1) - np.minimum(a0, b0)
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _join_cut_pairs(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, cut: np.ndarray,
    tile_of: np.ndarray, min_overlap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Replaces pairs of cut boxes that are one person split by a tile border by their
    union; greedy by summed score, each box joined at most once per call."""
    n = len(boxes)
    if n < 2 or not cut.any():
        return boxes, scores, classes, cut, tile_of
    b = boxes
    i, j = np.triu_indices(n, 1)
    same = (classes[i] == classes[j]) & (tile_of[i] != tile_of[j])
    overlap_x = np.minimum(b[i, 2], b[j, 2]) > np.maximum(b[i, 0], b[j, 0])
    overlap_y = np.minimum(b[i, 3], b[j, 3]) > np.maximum(b[i, 1], b[j, 1])
    # i cut on its right and j on its left (or the reverse), spanning the same rows.
    horizontal = ((cut[i, 2] & cut[j, 0]) | (cut[i, 0] & cut[j, 2])) & (
        _span_iou(b[i, 1], b[i, 3], b[j, 1], b[j, 3]) >= min_overlap)
    vertical = ((cut[i, 3] & cut[j, 1]) | (cut[i, 1] & cut[j, 3])) & (
        _span_iou(b[i, 0], b[i, 2], b[j, 0], b[j, 2]) >= min_overlap)
    pair = same & overlap_x & overlap_y & (horizontal | vertical)
    if not pair.any():
        return boxes, scores, classes, cut, tile_of
    pi, pj = i[pair], j[pair]
    order = np.argsort(-(scores[pi] + scores[pj]), kind="stable")
    used = np.zeros(n, np.bool_)
    new_boxes, new_scores, new_classes, new_cut, new_tile = [], [], [], [], []
    for k in order:
        a, c = int(pi[k]), int(pj[k])
        if used[a] or used[c]:
            continue
        used[a] = used[c] = True
        new_boxes.append(np.concatenate([np.minimum(b[a, :2], b[c, :2]),
                                         np.maximum(b[a, 2:], b[c, 2:])]))
        new_scores.append(max(scores[a], scores[c]))
        new_classes.append(classes[a])
        # The union is cut where either part is cut on its outer side, not on the seam.
        seam = np.zeros(4, np.bool_)
        if cut[a, 2] and cut[c, 0] or cut[a, 0] and cut[c, 2]:
            seam[[0, 2]] = True
        if cut[a, 3] and cut[c, 1] or cut[a, 1] and cut[c, 3]:
            seam[[1, 3]] = True
        outer = (cut[a] | cut[c]) & ~seam
        new_cut.append(outer)
        new_tile.append(-1 - len(new_tile))  # a joined box belongs to no single tile
    keep = ~used
    return (
        np.concatenate([b[keep], np.array(new_boxes, np.float32)]),
        np.concatenate([scores[keep], np.array(new_scores, np.float32)]),
        np.concatenate([classes[keep], np.array(new_classes, np.int16)]),
        np.concatenate([cut[keep], np.array(new_cut, np.bool_)]),
        np.concatenate([tile_of[keep], np.array(new_tile, np.intp)]),
    )


def merge(
    per_tile: Sequence[Detections], rects: Sequence[TileRect], config: TilingConfig,
) -> Detections:
    """Fuses the detections of a frame's tiles into the frame's detections.

    Args:
        per_tile: one Detections per tile, boxes (n, 4) float32 xyxy in that *tile's*
            pixels (the detector maps to the tile's size when the request's FrameMeta
            carries the tile's width and height).
        rects: the tiles, as returned by :func:`plan_tiles` (same order).
        config: merge thresholds.

    Returns:
        Boxes (n, 4) float32 xyxy in frame pixels, by descending score.

    Raises:
        InputError: ``per_tile`` and ``rects`` differ in length.
    """
    if len(per_tile) != len(rects):
        raise InputError(
            f"merge needs one Detections per tile: got {len(per_tile)} for {len(rects)} tiles",
            "per_tile",
        )
    rects = list(rects)
    if not rects or not any(len(d) for d in per_tile):
        return Detections.empty()
    width = max(r.x1 for r in rects)
    height = max(r.y1 for r in rects)
    offsets = np.array([[r.x0, r.y0, r.x0, r.y0] for r in rects], np.float32)
    boxes = np.concatenate([d.boxes + offsets[k] for k, d in enumerate(per_tile)])
    scores = np.concatenate([d.scores for d in per_tile])
    classes = np.concatenate([d.class_ids for d in per_tile])
    tile_of = np.concatenate([np.full(len(d), k, np.intp) for k, d in enumerate(per_tile)])
    cut = _cut_flags(boxes, rects, tile_of, width, height, config.border_margin)
    boxes, scores, classes, cut, tile_of = _join_cut_pairs(
        boxes, scores, classes, cut, tile_of, config.cut_pair_overlap)
    # A joined box is still a reconstruction from parts: it ranks after whole boxes and
    # is dropped when a whole box contains it.
    is_cut = cut.any(axis=1) | (tile_of < 0)
    keep = _suppress(boxes, scores, classes, is_cut, config.merge_iou, config.cut_containment)
    return Detections(boxes[keep], scores[keep], classes[keep])


def _suppress(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, is_cut: np.ndarray,
    merge_iou: float, containment: float,
) -> npt.NDArray[np.int64]:
    """Greedy class-aware NMS, whole boxes before cut ones; returns kept indices by score."""
    order = np.lexsort((-scores, is_cut))
    iou = iou_matrix(boxes, boxes)
    iw = np.clip(np.minimum(boxes[:, None, 2], boxes[None, :, 2])
                 - np.maximum(boxes[:, None, 0], boxes[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(boxes[:, None, 3], boxes[None, :, 3])
                 - np.maximum(boxes[:, None, 1], boxes[None, :, 1]), 0, None)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    inside = (iw * ih) / area[None, :]  # [i, j]: fraction of j's area inside i
    same = classes[:, None] == classes[None, :]
    kills = same & ((iou > merge_iou) | ((inside >= containment) & is_cut[None, :]))
    alive = np.ones(len(boxes), np.bool_)
    kept = []
    for i in order:
        if not alive[i]:
            continue
        kept.append(i)
        alive &= ~kills[i]
    kept_arr = np.array(kept, np.int64)
    return kept_arr[np.argsort(-scores[kept_arr], kind="stable")]
