"""Which part of the simulated detections makes the calibration gap: swap one part at a time.

The calibration (:mod:`benchmarks.identity_calibration`) compares every tracker's HOTA on
the real TUD detections with its HOTA on simulated ones. This diagnostic says *which*
simulated error type the gap comes from. Each frame's detections, real and simulated, are
split into the boxes matched one to one to a labelled person (IoU >= :data:`MATCH_IOU`:
the *found* part, which carries who is missed when, the box errors and the scores) and the
rest (the *false* part: fused, extra, background and misplaced boxes). Then:

- ``as is``: real beside simulated (the calibration itself);
- ``sim with real false``: the simulated found part with the real false boxes; what is
  left of the gap is not the false boxes';
- ``sim with real found``: the real found part with the simulated false boxes; what is
  left is the false boxes';
- ``found only``, ``found only, true boxes``, ``found only, true boxes, score 0.9``: both
  sides without false boxes, then with every found box replaced by the labelled one (box
  errors gone), then every score set to 0.9 (scores gone): what is left is *which people
  are missed when*.

``diff`` is simulated minus real HOTA in points: positive, the simulator flatters that
tracker. In-process, no Ray.

Example:
    >>> import numpy as np
    >>> from pipeline.types import Detections
    >>> truth = np.array([[0.0, 0, 10, 20]])
    >>> d = Detections(np.array([[0, 0, 10, 21], [50, 50, 60, 70]], np.float32),
    ...                np.array([0.9, 0.5], np.float32), np.ones(2, np.int16))
    >>> s = split_frame(truth, d)
    >>> s.rows.tolist(), s.found.tolist(), s.false.tolist()
    ([0], [0], [1])
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from benchmarks.contenders import Runner
from benchmarks.detsim import prepare, simulate
from benchmarks.detsim_model import NoiseModel
from benchmarks.detsim_tud import TudDetections
from benchmarks.detsim_views import PERSON, Clip
from benchmarks.identity_scoring import run_all
from pipeline.boxes import iou_matrix
from pipeline.tracking.association import assign
from pipeline.types import Detections

MATCH_IOU = 0.5
"""A detection is a labelled person's (found) at this IoU, one to one (HOTA's own bar)."""
FIXED_SCORE = 0.9
"""The score every box gets in the ``score 0.9`` hybrid (above every tracker's gates)."""
SEED_BASE = 1000
"""Simulated seeds, as the calibration's."""


class FrameSplit(NamedTuple):
    """One frame's detections split against the labelled people.

    Attributes:
        rows: (k,) int64 index of the labelled person (row of the frame's truth) found.
        found: (k,) int64 index of the detection that found ``rows[i]``.
        false: (m,) int64 indices of the detections that found nobody.
    """

    rows: npt.NDArray[np.int64]
    found: npt.NDArray[np.int64]
    false: npt.NDArray[np.int64]


def split_frame(truth: npt.NDArray[np.float64], dets: Detections) -> FrameSplit:
    """Splits one frame's detections: (n, 4) xyxy labelled boxes against ``dets``."""
    none = np.zeros(0, np.int64)
    if len(dets) and len(truth):
        rows, found = assign(iou_matrix(truth, dets.boxes.astype(np.float64)), MATCH_IOU)
    else:
        rows, found = none, none
    false = np.setdiff1d(np.arange(len(dets)), found).astype(np.int64)
    return FrameSplit(np.asarray(rows, np.int64), np.asarray(found, np.int64), false)


Part = Callable[[int], tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]
"""A part of one frame's detections: frame index -> (boxes (k, 4), scores (k,))."""


class Split:
    """A clip's detections split frame by frame (:func:`split_frame`), with its parts."""

    def __init__(self, clip: Clip, dets: Sequence[Detections]) -> None:
        self.dets = list(dets)
        self.truth = clip.truth.boxes_xyxy()
        self.starts = [clip.truth.frame_rows(f + 1).start for f in range(clip.num_frames)]
        self.splits = [split_frame(self.truth[clip.truth.frame_rows(f + 1)], d)
                       for f, d in enumerate(self.dets)]

    def found(self, true_boxes: bool = False, score: float | None = None) -> Part:
        """The found boxes (``true_boxes``: the labelled ones instead), their scores (or
        ``score`` for all)."""
        def part(f: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
            s = self.splits[f]
            d = self.dets[f]
            boxes = self.truth[self.starts[f] + s.rows] if true_boxes else d.boxes[s.found]
            scores = d.scores[s.found] if score is None else np.full(len(s.found), score)
            return boxes.astype(np.float32), scores.astype(np.float32)
        return part

    def false(self) -> Part:
        """The boxes that found nobody, with their scores."""
        def part(f: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
            s = self.splits[f]
            return self.dets[f].boxes[s.false], self.dets[f].scores[s.false]
        return part


def combine(num_frames: int, parts: Sequence[Part]) -> list[Detections]:
    """Per frame, the union of ``parts``' boxes, by descending score."""
    out = []
    for f in range(num_frames):
        got = [p(f) for p in parts]
        boxes = np.concatenate([b for b, _ in got]).reshape(-1, 4).astype(np.float32)
        scores = np.concatenate([s for _, s in got]).astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        out.append(Detections(boxes[order], scores[order],
                              np.full(len(scores), PERSON, np.int16)))
    return out


HYBRIDS = ("as is", "sim with real false", "sim with real found", "found only",
           "found only, true boxes", "found only, true boxes, score 0.9")


def hybrids(clip: Clip, real: Split, sim: Split) -> dict[str, tuple[list[Detections],
                                                                      list[Detections]]]:
    """Per :data:`HYBRIDS` name, (the real side, the simulated side)."""
    n = clip.num_frames
    return {
        "as is": (real.dets, sim.dets),
        "sim with real false": (real.dets, combine(n, [sim.found(), real.false()])),
        "sim with real found": (real.dets, combine(n, [real.found(), sim.false()])),
        "found only": (combine(n, [real.found()]), combine(n, [sim.found()])),
        "found only, true boxes": (combine(n, [real.found(True)]),
                                   combine(n, [sim.found(True)])),
        "found only, true boxes, score 0.9": (combine(n, [real.found(True, FIXED_SCORE)]),
                                              combine(n, [sim.found(True, FIXED_SCORE)])),
    }


def ablate(run: TudDetections, model: NoiseModel, contenders: dict[str, Runner], seeds: int
           ) -> dict[str, Any]:
    """HOTA (points) of every contender on each hybrid of one TUD clip (full frame, its
    first cell's real detections), real beside the mean over ``seeds`` simulations."""
    clip = run.clip
    real = Split(clip, next(iter(run.cells.values())))
    feats = prepare(clip, next(iter(run.views.values())))
    sims = [Split(clip, simulate(model, feats, SEED_BASE + k)) for k in range(seeds)]
    real_hota: dict[str, dict[str, float]] = {}  # the real side does not depend on the seed
    sim_hota: dict[str, list[dict[str, float]]] = {h: [] for h in HYBRIDS}
    for sim in sims:
        for name, (r, s) in hybrids(clip, real, sim).items():
            key = name if name.startswith("found only") else "as is"
            if key not in real_hota:
                real_hota[key] = {n: 100 * v["HOTA"]
                                  for n, v in run_all(contenders, r, clip).items()}
            sim_hota[name].append({n: 100 * v["HOTA"]
                                   for n, v in run_all(contenders, s, clip).items()})
    out: dict[str, Any] = {}
    for name, rows in sim_hota.items():
        real_side = real_hota[name if name.startswith("found only") else "as is"]
        diffs = {n: round(float(np.mean([r[n] for r in rows])) - real_side[n], 1)
                 for n in contenders}
        out[name] = {"diff": diffs, "mean_diff": round(float(np.mean(list(diffs.values()))), 1),
                     "max_abs_diff": max(abs(d) for d in diffs.values())}
    return out


def print_ablation(ablation: dict[str, dict[str, Any]]) -> None:
    """Per clip and hybrid, simulated minus real HOTA per tracker (points), to stderr."""
    names = list(next(iter(next(iter(ablation.values())).values()))["diff"])
    print("\ncalibration ablation: simulated - real HOTA x 100 (full frame, 25 fps)",
          file=sys.stderr)
    print("| clip | detections | mean | " + " | ".join(names) + " |", file=sys.stderr)
    print("|---" * (len(names) + 3) + "|", file=sys.stderr)
    for clip, rows in ablation.items():
        for hybrid, r in rows.items():
            cells = " | ".join(f"{r['diff'][n]:+.1f}" for n in names)
            print(f"| {clip} | {hybrid} | {r['mean_diff']:+.1f} | {cells} |", file=sys.stderr)
