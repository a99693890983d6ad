"""The bundled detector on the TUD videos, seen at many sizes: what the detection noise model
(:mod:`benchmarks.detsim`) is fitted and checked on.

The TUD people are 130-300 px tall in 640 x 480 frames (80-190 px in the 300 x 300 model
input), the long sequences of the identity benchmark have people of 25-170 model pixels,
and their frames are 4:3, 16:9 or 3.3:1 (KITTI), which the model's square input squeezes
sideways by 0.75, 0.56 or 0.3. To see the detector in those conditions, each TUD frame is
also shrunk into a cell of a mosaic (:class:`Layout`): ``rows`` x ``cols`` cells of
``1/rows`` of the frame's size, some filled with the frame and the rest left black, the
mosaic detected as one image. A person in a ``rows x cols`` mosaic is ``1/rows`` of their
height in model pixels and squeezed by ``0.75 rows / cols``. Every filled cell shows the
same frame (a copy at another place of the image, so the copies' detections differ a
little), and each cell's detections, mapped back to the frame's pixels, are one clip of
real detections with the frame's ground truth.

This is a controlled size and shape test, not footage of a far or wide camera (no
perspective, haze or long-lens compression; the black cells are not a street).

Example:
    >>> Layout("2x3", 2, 3, (0, 2, 4)).canvas_size(640, 480)
    (960, 480)
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.detsim_obs import Observations, concat, observe
from benchmarks.detsim_views import CellView, Clip, FullFrameView, TiledView, View
from pipeline.types import Detections


@dataclass(frozen=True)
class Layout:
    """A mosaic of copies of one frame (see the module docstring).

    Attributes:
        name: e.g. ``2x3``.
        rows: cells down; a cell is 1/rows of the frame's width and height.
        cols: cells across.
        cells: filled cells, row-major indices.
    """

    name: str
    rows: int
    cols: int
    cells: tuple[int, ...]

    def canvas_size(self, width: int, height: int) -> tuple[int, int]:
        cw, ch = width // self.rows, height // self.rows
        return cw * self.cols, ch * self.rows

    def cell_origin(self, k: int, width: int, height: int) -> tuple[int, int]:
        r, c = divmod(k, self.cols)
        return c * (width // self.rows), r * (height // self.rows)

    @property
    def scale(self) -> float:
        """Mosaic pixels per frame pixel."""
        return 1.0 / self.rows

    @property
    def filled(self) -> bool:
        """Every cell shows the frame (no black area: background false positives count)."""
        return len(self.cells) == self.rows * self.cols

    def compose(self, image: np.ndarray) -> np.ndarray:
        """The mosaic of one (H, W, 3) frame."""
        import cv2

        h, w = image.shape[:2]
        if self.rows == 1:
            small = image
        else:
            small = cv2.resize(image, (w // self.rows, h // self.rows),
                               interpolation=cv2.INTER_AREA)
        cw, ch = self.canvas_size(w, h)
        canvas = np.zeros((ch, cw, 3), np.uint8)
        sh, sw = small.shape[:2]
        for k in self.cells:
            x0, y0 = self.cell_origin(k, w, h)
            canvas[y0:y0 + sh, x0:x0 + sw] = small
        return canvas

    def view(self, k: int, width: int, height: int, model_input: tuple[int, int, str],
             tiling: Any = None) -> View:
        """How the detector (input ``(width, height, resize)``) sees the frame in cell
        ``k``, tiled or not (boxes in the frame's pixels)."""
        cw, ch = self.canvas_size(width, height)
        inner: View = (FullFrameView.for_frame(cw, ch, *model_input) if tiling is None
                       else TiledView.for_frame(cw, ch, tiling, *model_input))
        x0, y0 = self.cell_origin(k, width, height)
        return CellView(inner, self.scale, (float(x0), float(y0)))

    def split(self, dets: Detections, width: int, height: int) -> dict[int, Detections]:
        """The mosaic's detections per filled cell, in the frame's pixels (a box belongs to
        the cell of its centre and is clipped to it)."""
        b = dets.boxes.astype(np.float64)
        cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        sw, sh = width // self.rows, height // self.rows
        out = {}
        for k in self.cells:
            x0, y0 = self.cell_origin(k, width, height)
            m = (cx >= x0) & (cx < x0 + sw) & (cy >= y0) & (cy < y0 + sh)
            cb = b[m].copy()
            cb[:, 0::2] = np.clip(cb[:, 0::2], x0, x0 + sw) - x0
            cb[:, 1::2] = np.clip(cb[:, 1::2], y0, y0 + sh) - y0
            out[k] = Detections((cb / self.scale).astype(np.float32), dets.scores[m],
                                dets.class_ids[m])
        return out


LAYOUTS = (
    Layout("1x1", 1, 1, (0,)),
    Layout("2x2", 2, 2, (0, 1, 2, 3)),
    Layout("1x2", 1, 2, (0, 1)),
    Layout("1x3", 1, 3, (0, 1, 2)),
    Layout("2x3", 2, 3, (0, 2, 4)),
    Layout("3x3", 3, 3, (0, 4, 8)),
    Layout("4x4", 4, 4, (0, 5, 10, 15)),
)
"""Mosaics the full-frame model is fitted on: people from 20 to 190 model pixels tall,
squeezed by 0.25 to 0.75 (at most 4 copies per image, so that the model's 100 boxes per
image are never the limit)."""
QUICK_LAYOUTS = ("1x1", "2x3", "1x3", "3x3")
"""--quick: still three squeezes (0.75, 0.5, 0.25: the quadratic in log squeeze needs
three) and heights down to 1/3."""
TILED_LAYOUTS = ("1x1", "2x2", "2x3", "1x3", "3x3")
"""Mosaics the tiled model is fitted on (each costs one model run per tile): people of 25
to 190 model pixels, squeezed by 0.44 (a 2 x 1 tiled 3.3:1 frame) to 1.31 (a tiled 4:3
frame)."""


@dataclass
class TudDetections:
    """Real detections of one TUD sequence through one layout, per filled cell.

    Attributes:
        clip: the sequence's ground truth.
        layout: the mosaic.
        tiled: the tiling config, or None for the full frame.
        cells: per filled cell, one Detections per frame (frame pixels).
        views: per filled cell, the detector's view of the frame.
        seconds: detector time.
        frame_dt: the source's frame interval (s).
    """

    clip: Clip
    layout: Layout
    tiled: Any
    cells: dict[int, list[Detections]]
    views: dict[int, View]
    seconds: float
    frame_dt: float

    def observations(self, threshold: float) -> Observations:
        """All cells matched to the ground truth, each weighing 1 / cells in the fits
        (frames numbered at the source's frame interval)."""
        weight = 1.0 / len(self.cells)
        return concat([observe(self.clip, dets, self.views[k], threshold,
                               background=self.layout.filled, weight=weight,
                               frame_dt=self.frame_dt)
                       for k, dets in self.cells.items()])


def detect_layout(detector: Any, images: list[np.ndarray], clip: Clip, layout: Layout,
                  tiling: Any = None, every: int = 1) -> TudDetections:
    """Runs the detector on the mosaic of every ``every``-th frame (tiled when ``tiling``
    is given); the result's clip is the frames detected."""
    import time

    from models.tiling import merge, plan_tiles, prepare_tiles

    h, w = images[0].shape[:2]
    spec = detector.input_spec
    frame_dt = float(np.median(np.diff(clip.times_s)))
    cells: dict[int, list[Detections]] = {k: [] for k in layout.cells}
    t0 = time.perf_counter()
    if every > 1:
        clip = clip.every(every, clip.name)
        images = images[::every]
    for image in images:
        canvas = layout.compose(image)
        if tiling is None:
            dets = detector.detect_image(canvas)
        else:
            rects = plan_tiles(canvas.shape[1], canvas.shape[0], tiling)
            tiles = prepare_tiles(canvas, spec, rects)
            dets = merge(detector.detect(tiles, [(r.width, r.height) for r in rects]), rects,
                         tiling)
        for k, d in layout.split(dets, w, h).items():
            cells[k].append(d)
    seconds = time.perf_counter() - t0
    model_input = (spec.width, spec.height, spec.resize)
    views = {k: layout.view(k, w, h, model_input, tiling) for k in layout.cells}
    return TudDetections(clip, layout, tiling, cells, views, seconds, frame_dt)
