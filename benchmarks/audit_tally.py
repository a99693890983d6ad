"""Detection accuracy broken down by who is hard to see: pure logic of the accuracy audit.

``benchmarks/audit.py`` runs the detector on labelled footage; this module and
:mod:`benchmarks.audit_measures` (the per-frame measures) do the rest without Ray, models
or files (except ``read_visibility``):

- :class:`Banding`: named bands of one number (box height in pixels, neighbours, visible
  fraction); :class:`Grid`: position of a box's anchor (bottom centre) in a grid over the
  image.
- :func:`match`: one-to-one matching of detections to ground truth, IoU >= ``min_iou``,
  Hungarian (the tracker's :func:`~pipeline.tracking.association.assign`).
- :func:`neighbours`, :func:`visible_fraction`: crowding and occlusion of each box,
  from the ground-truth boxes of the same frame.
- :class:`AuditTally`: per dimension and band, ground-truth boxes, distinct people, true
  and false positives and per-frame count errors; tallies add up (pooling sequences).

How a box gets its band: a ground-truth box by its own attributes; a matched detection
counts as a true positive in its ground-truth box's band; an unmatched detection (a false
positive) by its own box (its height, its anchor's cell, the ground-truth people near its
centre). The per-frame count error of a band is then ``|detections - ground truth|`` of
that band in that frame, which is ``|false positives - misses|``: a miss and a false alarm
in the same band and frame cancel, as they do in a count a site reads.

Visibility: the ground truth's own visibility column where it has one (MOT16 and later:
``frame, id, left, top, width, height, conf, class, visibility``); MOT15 has world
coordinates there instead, and then visibility is estimated as the share of a box not
covered by ground-truth boxes in front of it (whose bottom edge is lower in the image,
that is nearer the camera). False positives have no visibility: the dimension reports
recall only.

Example:
    >>> tally = AuditTally(AuditSpec(), key="TUD-Campus")
    >>> tally.add_frame(gt_boxes, gt_ids, det_boxes, width=640, height=480)   # doctest: +SKIP
    >>> tally.table()["height"][">=150"]["recall"]                            # doctest: +SKIP
    0.93
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "audit.py")

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.audit_measures import (
    MIN_IOU,
    FloatArray,
    IntArray,
    neighbours,
    visible_fraction,
    wilson,
)
from pipeline.boxes import iou_matrix
from pipeline.errors import InputError
from pipeline.tracking.association import assign

# Named, documented defaults of the audit (benchmarks/audit.py takes them as options).
HEIGHT_EDGES_PX = (60.0, 100.0, 150.0)
"""Box-height band edges in pixels: <60, 60-100, 100-150, >=150."""
CROWDING_EDGES = (1, 3)
"""Bands of the number of other people near a person: 0, 1-2, 3+."""
CROWDING_RADIUS_BOX_HEIGHTS = 1.0
"""'Near': another person's box centre within this many of the person's box heights."""
VISIBILITY_EDGES = (0.25, 0.5, 0.75)
"""Visible-fraction band edges: <0.25, 0.25-0.5, 0.5-0.75, >=0.75."""
GRID_COLUMNS = ("left", "centre", "right")
GRID_ROWS = ("top", "middle", "bottom")
NEAR_IOU = 0.3
"""A false positive overlapping a labelled person at IoU >= this (but unmatched) is a
badly placed box (loose, cut, or around two people), not a phantom person."""

DIMENSIONS = ("all", "height", "position", "crowding", "visibility")



def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Banding:
    """Named bands of one number, split at increasing edges.

    Band ``i`` holds values in ``[edges[i-1], edges[i])``; the first band everything below
    ``edges[0]``, the last everything from ``edges[-1]`` up.

    Attributes:
        edges: (k,) increasing band edges.
        labels: k + 1 band names; made from the edges when empty: ``<60``, ``60-100``,
            ``>=150`` for real numbers; ``0``, ``1-2``, ``3+`` for counts (``integer``).
        integer: the value is a count (changes only the made-up labels).

    Example:
        >>> b = Banding((60.0, 100.0))
        >>> b.labels, b.index(np.array([59.9, 60.0, 250.0])).tolist()
        (('<60', '60-100', '>=100'), [0, 1, 2])
    """

    edges: tuple[float, ...]
    labels: tuple[str, ...] = ()
    integer: bool = False

    def __post_init__(self) -> None:
        edges = tuple(float(e) for e in self.edges)
        if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise InputError(f"band edges must be one or more increasing numbers, got {edges}",
                             "edges")
        if not all(math.isfinite(e) for e in edges):
            raise InputError(f"band edges must be finite, got {edges}", "edges")
        labels = tuple(self.labels) or self._labels(edges)
        if len(labels) != len(edges) + 1 or len(set(labels)) != len(labels):
            raise InputError(
                f"{len(edges)} edges need {len(edges) + 1} distinct labels, got {labels}",
                "labels",
            )
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "labels", labels)

    def _labels(self, edges: tuple[float, ...]) -> tuple[str, ...]:
        if self.integer:
            if any(e != int(e) or e < 1 for e in edges):
                raise InputError(f"count band edges must be whole numbers >= 1, got {edges}",
                                 "edges")
            ints = [0, *(int(e) for e in edges)]
            middle = [str(a) if b - 1 == a else f"{a}-{b - 1}"
                      for a, b in zip(ints, ints[1:], strict=False)]
            return (*middle, f"{ints[-1]}+")
        middle = [f"{_fmt(a)}-{_fmt(b)}" for a, b in zip(edges, edges[1:], strict=False)]
        return (f"<{_fmt(edges[0])}", *middle, f">={_fmt(edges[-1])}")

    def index(self, values: npt.ArrayLike) -> IntArray:
        """(n,) band index of each value; NaN gives -1 (no band)."""
        v = np.asarray(values, np.float64).reshape(-1)
        out = np.searchsorted(np.asarray(self.edges), v, side="right").astype(np.intp)
        out[np.isnan(v)] = -1
        return out

    def labels_from(self, lowest: float) -> tuple[str, ...]:
        """The labels of the bands that lie wholly at or above ``lowest``."""
        lows = (-math.inf, *self.edges)
        return tuple(lab for lab, lo in zip(self.labels, lows, strict=True) if lo >= lowest)


@dataclass(frozen=True)
class Grid:
    """Cells of the image by a box's anchor point, its bottom centre (where the feet are).

    Attributes:
        columns: names of the columns, left to right (equal widths).
        rows: names of the rows, top to bottom (equal heights). In most camera views the
            top of the image is farther away.

    Example:
        >>> Grid().labels[:3]
        ('top-left', 'top-centre', 'top-right')
    """

    columns: tuple[str, ...] = GRID_COLUMNS
    rows: tuple[str, ...] = GRID_ROWS

    def __post_init__(self) -> None:
        if not self.columns or not self.rows:
            raise InputError(f"a grid needs at least one column and one row, got "
                             f"{self.columns} x {self.rows}", "grid")

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f"{r}-{c}" for r in self.rows for c in self.columns)

    def index(self, boxes: npt.ArrayLike, width: int, height: int) -> IntArray:
        """(n,) cell index (row-major) of each box's bottom centre, clipped into the image.

        Args:
            boxes: (n, 4) xyxy pixels.
            width: image width, pixels.
            height: image height, pixels.
        """
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        x = np.clip((b[:, 0] + b[:, 2]) / 2 / width, 0.0, 1.0 - 1e-9)
        y = np.clip(b[:, 3] / height, 0.0, 1.0 - 1e-9)
        col = (x * len(self.columns)).astype(np.intp)
        row = (y * len(self.rows)).astype(np.intp)
        return row * len(self.columns) + col


@dataclass(frozen=True)
class AuditSpec:
    """How boxes are banded and matched (defaults: the module's constants).

    Attributes:
        height: bands of box height, pixels.
        crowding: bands of the number of other ground-truth people near a box.
        crowding_radius: 'near' is a box centre within this many box heights.
        visibility: bands of the visible fraction of a ground-truth box.
        grid: cells of the anchor's position.
        min_iou: least IoU of a match.
    """

    height: Banding = field(default_factory=lambda: Banding(HEIGHT_EDGES_PX))
    crowding: Banding = field(default_factory=lambda: Banding(CROWDING_EDGES, integer=True))
    crowding_radius: float = CROWDING_RADIUS_BOX_HEIGHTS
    visibility: Banding = field(default_factory=lambda: Banding(VISIBILITY_EDGES))
    grid: Grid = field(default_factory=Grid)
    min_iou: float = MIN_IOU

    def __post_init__(self) -> None:
        if not self.crowding_radius > 0:
            raise InputError(f"crowding_radius must be > 0 box heights, got "
                             f"{self.crowding_radius}", "crowding_radius")
        if not 0 < self.min_iou <= 1:
            raise InputError(f"min_iou must be within (0, 1], got {self.min_iou}", "min_iou")

    def labels(self, dim: str) -> tuple[str, ...]:
        """The band names of a dimension (one of :data:`DIMENSIONS`)."""
        if dim == "all":
            return ("all",)
        if dim == "position":
            return self.grid.labels
        return getattr(self, dim).labels

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary of the banding."""
        return {
            "height_px": list(self.labels("height")),
            "position_anchor": "bottom centre, grid of equal cells",
            "position": list(self.labels("position")),
            "crowding": list(self.labels("crowding")),
            "crowding_radius_box_heights": self.crowding_radius,
            "visibility": list(self.labels("visibility")),
            "min_iou": self.min_iou,
        }


# --------------------------------------------------------------------------- per frame

def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


@dataclass
class _Dim:
    gt: IntArray
    tp: IntArray
    fp: IntArray
    fp_near: IntArray
    abs_err: IntArray
    signed_err: IntArray
    people: list[set[Hashable]]

    @classmethod
    def zeros(cls, k: int) -> _Dim:
        z = np.zeros(k, np.int64)
        return cls(z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z.copy(),
                   [set() for _ in range(k)])

    def __add__(self, other: _Dim) -> _Dim:
        return _Dim(self.gt + other.gt, self.tp + other.tp, self.fp + other.fp,
                    self.fp_near + other.fp_near, self.abs_err + other.abs_err,
                    self.signed_err + other.signed_err,
                    [a | b for a, b in zip(self.people, other.people, strict=True)])


class AuditTally:
    """Counts per dimension and band over frames; tallies of one spec add up.

    Args:
        spec: the banding.
        key: a name for the people of this tally (the sequence), so that pooled tallies
            count people of different sequences apart.

    Example:
        >>> t = AuditTally(AuditSpec(), key="seq")
        >>> t.add_frame(np.array([[0, 0, 50, 200]]), np.array([1]), np.zeros((0, 4)), 640, 480)
        >>> t.table()["height"][">=150"]["recall"]
        0.0
    """

    def __init__(self, spec: AuditSpec, key: Hashable = None) -> None:
        self.spec = spec
        self.key = key
        self.frames = 0
        self.visibility_source: str | None = None
        self._dims = {d: _Dim.zeros(len(spec.labels(d))) for d in DIMENSIONS}

    def __add__(self, other: AuditTally) -> AuditTally:
        if other.spec != self.spec:
            raise InputError("tallies with different banding cannot be added", "spec")
        out = AuditTally(self.spec, key=None)
        out.frames = self.frames + other.frames
        sources = {s for s in (self.visibility_source, other.visibility_source) if s}
        out.visibility_source = " + ".join(sorted(sources)) or None
        out._dims = {d: self._dims[d] + other._dims[d] for d in DIMENSIONS}
        return out

    def band_index(self, dim: str, boxes: FloatArray, gt_boxes: FloatArray, width: int,
                   height: int, same: bool, visibility: FloatArray | None = None) -> IntArray:
        """(n,) band of each box in one dimension (-1: no band, for example a false
        positive's visibility)."""
        n = len(boxes)
        if dim == "all":
            return np.zeros(n, np.intp)
        if dim == "height":
            return self.spec.height.index(boxes[:, 3] - boxes[:, 1])
        if dim == "position":
            return self.spec.grid.index(boxes, width, height)
        if dim == "crowding":
            return self.spec.crowding.index(
                neighbours(boxes, gt_boxes, self.spec.crowding_radius, same=same))
        if dim == "visibility":
            if visibility is None:
                return np.full(n, -1, np.intp)
            return self.spec.visibility.index(visibility)
        raise InputError(f"unknown dimension {dim!r}; expected one of {DIMENSIONS}", "dim")

    def add_frame(self, gt_boxes: npt.ArrayLike, gt_ids: npt.ArrayLike,
                  det_boxes: npt.ArrayLike, width: int, height: int,
                  gt_visibility: npt.ArrayLike | None = None) -> None:
        """Adds one frame.

        Args:
            gt_boxes: (n, 4) xyxy pixels, the labelled people.
            gt_ids: (n,) their ids (for counting distinct people per band).
            det_boxes: (m, 4) xyxy pixels, the detections (or tracks) to audit.
            width: image width, pixels.
            height: image height, pixels.
            gt_visibility: (n,) visible fraction from the ground truth; estimated from
                the boxes (:func:`visible_fraction`) when None.
        """
        g = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
        d = np.asarray(det_boxes, np.float64).reshape(-1, 4)
        ids = np.asarray(gt_ids).reshape(-1)
        if len(ids) != len(g):
            raise InputError(f"gt_ids has {len(ids)} entries for {len(g)} boxes", "gt_ids")
        if gt_visibility is None:
            vis = visible_fraction(g)
            self.visibility_source = self.visibility_source or "estimated"
        else:
            vis = np.asarray(gt_visibility, np.float64).reshape(-1)
            self.visibility_source = "ground truth"
        iou = iou_matrix(g, d)
        gi, di = assign(iou, self.spec.min_iou)  # what match() does, keeping the IoU
        fp_mask = np.ones(len(d), bool)
        fp_mask[di] = False
        near = iou[:, fp_mask].max(axis=0, initial=0.0) >= NEAR_IOU
        self.frames += 1
        for dim in DIMENSIONS:
            acc = self._dims[dim]
            k = len(acc.gt)
            gb = self.band_index(dim, g, g, width, height, same=True, visibility=vis)
            fb = self.band_index(dim, d[fp_mask], g, width, height, same=False)
            gt_n = np.bincount(gb[gb >= 0], minlength=k)
            tp_n = np.bincount(gb[gi][gb[gi] >= 0], minlength=k)
            fp_n = np.bincount(fb[fb >= 0], minlength=k)
            acc.gt += gt_n
            acc.tp += tp_n
            for b, person in zip(gb, ids, strict=True):
                if b >= 0:
                    acc.people[b].add((self.key, person.item()))
            if dim == "visibility":  # no band for false positives: recall only
                continue
            acc.fp += fp_n
            acc.fp_near += np.bincount(fb[near & (fb >= 0)], minlength=k)
            err = (tp_n + fp_n) - gt_n
            acc.abs_err += np.abs(err)
            acc.signed_err += err

    def totals(self, dim: str, labels: Iterable[str] | None = None) -> dict[str, int]:
        """Summed counts of some bands of one dimension (all bands when None)."""
        acc = self._dims[dim]
        names = self.spec.labels(dim)
        want = set(names if labels is None else labels)
        unknown = want - set(names)
        if unknown:
            raise InputError(f"unknown bands {sorted(unknown)} of {dim}; it has {names}", "labels")
        sel = np.array([n in want for n in names])
        return {
            "gt": int(acc.gt[sel].sum()),
            "people": len(set().union(*(p for p, s in zip(acc.people, sel, strict=True) if s))),
            "tp": int(acc.tp[sel].sum()),
            "fp": int(acc.fp[sel].sum()),
            "fp_near": int(acc.fp_near[sel].sum()),
            "abs_err": int(acc.abs_err[sel].sum()),
            "signed_err": int(acc.signed_err[sel].sum()),
        }

    def metrics(self, dim: str, labels: Iterable[str] | None = None) -> dict[str, Any]:
        """Recall, precision (with Wilson 95 % intervals) and count error of some bands.

        Keys: ``gt`` (labelled boxes), ``people`` (distinct labelled people), ``tp``,
        ``fn``, ``fp``, ``recall``, ``recall_ci95``, ``precision``, ``precision_ci95``,
        ``count_abs_error_per_frame`` (mean over frames of |detected - labelled| of the
        band), ``count_error_rel`` (those absolute errors summed over frames / labelled
        boxes), ``count_bias_rel`` ((detected - labelled) / labelled: negative is an
        undercount) and ``fp_near_person`` (the share of false positives that overlap a
        labelled person at IoU >= :data:`NEAR_IOU`: badly placed boxes rather than
        phantoms). Precision, false positives and count errors are None for visibility.
        """
        t = self.totals(dim, labels)
        has_fp = dim != "visibility"
        pos = t["tp"] + t["fp"]
        rci = wilson(t["tp"], t["gt"])
        pci = wilson(t["tp"], pos) if has_fp else None
        return {
            "gt": t["gt"],
            "people": t["people"],
            "tp": t["tp"],
            "fn": t["gt"] - t["tp"],
            "fp": t["fp"] if has_fp else None,
            "recall": _ratio(t["tp"], t["gt"]),
            "recall_ci95": [round(v, 3) for v in rci] if rci else None,
            "precision": _ratio(t["tp"], pos) if has_fp else None,
            "precision_ci95": [round(v, 3) for v in pci] if pci else None,
            "count_abs_error_per_frame": _ratio(t["abs_err"], self.frames) if has_fp else None,
            "count_error_rel": _ratio(t["abs_err"], t["gt"]) if has_fp else None,
            "count_bias_rel": _ratio(t["signed_err"], t["gt"]) if has_fp else None,
            "fp_near_person": _ratio(t["fp_near"], t["fp"]) if has_fp else None,
        }

    def table(self) -> dict[str, Any]:
        """Every dimension and band: ``{dim: {band: metrics}}`` plus ``frames`` and the
        ``visibility_source``."""
        out: dict[str, Any] = {"frames": self.frames, "visibility_source": self.visibility_source}
        for dim in DIMENSIONS:
            out[dim] = {lab: self.metrics(dim, [lab]) for lab in self.spec.labels(dim)}
        return out
