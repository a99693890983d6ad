"""Heatmaps of where anchors were, and their rendering to PNG.

:class:`HeatmapAccumulator` bins anchors on a coarse grid for one window, counting one
observation per track per frame and, separately, the distinct tracks per cell, so that
cells seen by fewer than k tracks can be suppressed. :func:`render_heatmap` colours a grid
over a people-blurred still (:mod:`pipeline.privacy`) and returns PNG bytes.

Example:
    >>> import numpy as np
    >>> acc = HeatmapAccumulator(rows=2, columns=2, width=100, height=100)
    >>> acc.add(np.array([10.0, 90.0]), np.array([10.0, 90.0]), np.array([1, 2]))
    >>> acc.result(min_distinct_tracks=1)[0].tolist()
    [[1, 0], [0, 1]]
    >>> render_heatmap(acc.result(1)[0], np.zeros((100, 100, 3), np.uint8))[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError
from pipeline.privacy import check_bgr

logger = logging.getLogger(__name__)

COMPACT_AFTER = 65_536
"""Buffered observations after which an accumulator folds them into its grid."""


def grid_rows(columns: int, width: int, height: int) -> int:
    """Returns the rows of a grid of ``columns`` with square-ish cells over a frame."""
    return max(1, round(columns * height / width))


class HeatmapAccumulator:
    """Anchor observations of one camera and window on a ``rows`` x ``columns`` grid.

    Memory is bounded: observations are buffered and folded into the counts and into the
    set of distinct (track, cell) pairs every :data:`COMPACT_AFTER` observations, and
    before it is pickled (an aggregator checkpoint holds the folded arrays only).

    Args:
        rows, columns: grid size.
        width, height: frame size in pixels that the grid covers.
    """

    def __init__(self, rows: int, columns: int, width: int, height: int) -> None:
        self.rows, self.columns = rows, columns
        self.width, self.height = width, height
        self._sx = columns / width
        self._sy = rows / height
        self._counts = np.zeros(rows * columns, np.int64)
        self._pairs = np.zeros(0, np.int64)  # distinct track * cells + cell, sorted
        self._cells: list[npt.NDArray[np.int64]] = []
        self._tracks: list[npt.NDArray[np.int64]] = []
        self._pending = 0

    def add(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.float64],
        track_ids: npt.NDArray[np.int64],
    ) -> None:
        """Adds one frame's anchors.

        Args:
            x, y: (n,) float64 anchor coordinates, pixels (outside points go to the edge).
            track_ids: (n,) int64 their tracks.
        """
        if not len(x):
            return
        # np.minimum/np.maximum: np.clip costs several times more on small arrays.
        cx = np.minimum(np.maximum((x * self._sx).astype(np.int64), 0), self.columns - 1)
        cy = np.minimum(np.maximum((y * self._sy).astype(np.int64), 0), self.rows - 1)
        self._cells.append(cy * self.columns + cx)
        self._tracks.append(track_ids)
        self._pending += len(x)
        if self._pending >= COMPACT_AFTER:
            self._compact()

    def _compact(self) -> None:
        if not self._cells:
            return
        cells = np.concatenate(self._cells)
        tracks = np.concatenate(self._tracks).astype(np.int64)
        self._cells, self._tracks, self._pending = [], [], 0
        self._counts += np.bincount(cells, minlength=self._counts.size)
        keys = _sorted_distinct(tracks * self._counts.size + cells)  # one per (track, cell)
        known = self._pairs
        if len(known):
            at = np.minimum(np.searchsorted(known, keys), len(known) - 1)
            keys = keys[known[at] != keys]
        if len(keys):  # sorted + a few new: a stable sort merges them in linear time
            merged = np.concatenate([known, keys])
            merged.sort(kind="stable")
            self._pairs = merged

    def __getstate__(self) -> dict:
        """Pickled folded and packed (checkpoints save it every few seconds): counts in the
        narrowest of uint16 / int32 / int64 that holds them, distinct pairs as steps from
        the first (``_pairs_first``) in the narrowest of uint16 / uint32 / int64."""
        self._compact()
        state = dict(self.__dict__)
        state.pop("_packed", None)
        state["_counts"] = _narrowest(self._counts, (np.uint16, np.int32))  # never < 0
        state["_pairs_first"], state["_pairs"] = self._packed_pairs()
        return state

    def _packed_pairs(self) -> tuple[int, npt.NDArray]:
        """The pairs as pickled, kept while the pairs stay the same array (``_compact``
        replaces it, never changes it), so a window's later checkpoints reuse them."""
        packed = self.__dict__.get("_packed")
        if packed is None or packed[0] is not self._pairs:
            pairs = self._pairs  # sorted: every step is >= 0
            first = int(pairs[0]) if len(pairs) else 0
            steps = pairs - first
            np.subtract(pairs[1:], pairs[:-1], out=steps[1:])
            packed = self._packed = (pairs, first, _narrowest(steps, (np.uint16, np.uint32)))
        return packed[1], packed[2]

    def __setstate__(self, state: dict) -> None:
        first = state.pop("_pairs_first", 0)  # absent: saved before steps were narrowed
        self.__dict__.update(state)
        self._counts = self._counts.astype(np.int64)
        self._pairs = np.cumsum(self._pairs, dtype=np.int64)
        self._pairs += first

    def result(self, min_distinct_tracks: int) -> tuple[npt.NDArray[np.int64], int]:
        """Returns the (rows, columns) int64 counts and how many cells were suppressed.

        Cells visited by between 1 and ``min_distinct_tracks - 1`` distinct tracks are
        zeroed.
        """
        self._compact()
        counts = self._counts.copy()
        distinct = np.bincount(self._pairs % counts.size, minlength=counts.size)
        hide = (distinct > 0) & (distinct < min_distinct_tracks)
        counts[hide] = 0
        out = counts.reshape(self.rows, self.columns)
        out.flags.writeable = False
        return out, int(hide.sum())


def _sorted_distinct(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``np.unique(values)`` for a few hundred values in a fifth of its time (a sort and
    a mask; the heatmaps fold at every checkpoint)."""
    values = np.sort(values)
    first = np.empty(len(values), bool)
    first[:1] = True
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return values[first]


def _narrowest(values: npt.NDArray[np.int64], dtypes: tuple[type, ...]) -> npt.NDArray:
    """Non-negative ``values`` as the first of ``dtypes`` that holds them all, else
    unchanged."""
    top = int(values.max()) if len(values) else 0
    for dtype in dtypes:
        if top <= _MAX[dtype]:
            return values.astype(dtype)
    return values


_MAX = {t: int(np.iinfo(t).max) for t in (np.uint16, np.int32, np.uint32)}


def render_heatmap(
    grid: npt.ArrayLike,
    still_bgr: npt.NDArray[np.uint8],
    alpha: float = 0.6,
    colormap: int = cv2.COLORMAP_JET,
) -> bytes:
    """Renders a heatmap grid over a (people-blurred) still and returns PNG bytes.

    Counts are scaled by ``log1p`` so that a few busy cells do not wash out the rest;
    empty cells leave the still visible.

    Args:
        grid: (rows, columns) non-negative counts.
        still_bgr: (h, w, 3) uint8 BGR background, already people-blurred (:mod:`pipeline.privacy`).
        alpha: opacity of the colours over non-empty cells, 0..1.
        colormap: an OpenCV colormap id.

    Raises:
        InputError: the grid is not 2-D and non-negative, or the still is not BGR.
    """
    check_bgr(still_bgr, "still_bgr")
    g = np.asarray(grid, np.float64)
    if g.ndim != 2 or g.size == 0 or not np.isfinite(g).all() or (g < 0).any():
        raise InputError(
            f"grid must be a non-empty 2-D array of non-negative counts, got shape {g.shape}",
            "grid",
        )
    h, w = still_bgr.shape[:2]
    scaled = np.log1p(g)
    top = scaled.max()
    level = (scaled / top * 255.0) if top > 0 else scaled
    level_img = cv2.resize(level.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    colour = cv2.applyColorMap(level_img.astype(np.uint8), colormap)
    mask = cv2.resize((g > 0).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    weight = (mask.astype(np.float32) * float(alpha))[:, :, None]
    out = still_bgr.astype(np.float32) * (1.0 - weight) + colour.astype(np.float32) * weight
    ok, png = cv2.imencode(".png", np.clip(out, 0, 255).astype(np.uint8))
    if not ok:
        raise InputError("PNG encoding of the heatmap failed", "grid")
    return png.tobytes()
