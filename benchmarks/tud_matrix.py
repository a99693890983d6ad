"""panoray offline on TUD at every 1st and 3rd frame, full and half size (issue 18's matrix).

The same bundled detector on the TUD videos as they are and shrunk to half size (people
half as tall), each at its own frame rate and at every 3rd frame (8.3 fps); panoray
offline (tracker and smoother, defaults) on the tiled detections a camera makes by default
(``inference.tiling: auto``) and on whole-frame ones (``tiling: null``). HOTA per cell,
against the ground truth scaled and subsampled the same way. Part of
``benchmarks/accuracy.py`` (not with ``--quick``).

Example:
    >>> cell_name("TUD-Campus", 3, 0.5, "tiled")
    'TUD-Campus/every3/half/tiled'
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "accuracy.py")

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import goal, read_video
from benchmarks.contenders import Timeline, panoray_offline
from benchmarks.detsim_views import Clip
from benchmarks.evaluation import MotSequence, read_mot
from benchmarks.identity_scoring import score
from pipeline.mot import read_seqinfo
from pipeline.types import Detections

log = logging.getLogger(__name__)

STEPS = (1, 3)
"""Every frame, and every 3rd (8.3 fps at TUD's 25)."""
SCALES = (1.0, 0.5)
"""Full size and half size."""
MODES = ("tiled", "full")
"""The product's default tiling (``inference.tiling: auto``), and the whole frame in one
model run (``tiling: null``)."""
DEFAULT_MODE = "tiled"
TARGET_HOTA = 0.55
"""Issue 18: at least this HOTA in every cell."""

DetectFn = Callable[[list[np.ndarray]], dict[str, list[Detections]]]
"""Images -> detections per mode ("tiled", "full"), boxes in the images' pixels."""


def cell_name(seq: str, step: int, scale: float, mode: str) -> str:
    return f"{seq}/every{step}/{'full' if scale == 1.0 else 'half'}/{mode}"


def tud_matrix(detect: DetectFn, data: Path, sequences: Sequence[str]) -> dict[str, float]:
    """HOTA of panoray offline per (sequence, step, scale, mode) cell."""
    import cv2

    out: dict[str, float] = {}
    for seq in sequences:
        root = data / seq
        info = read_seqinfo(root / "seqinfo.ini")
        gt = read_mot(root / "gt" / "gt.txt", num_frames=info.num_frames)
        images = read_video(root / f"{seq}.mp4", info.num_frames)
        images += [np.zeros((info.height, info.width, 3), np.uint8)] * (
            info.num_frames - len(images))
        for scale in SCALES:
            w, h = round(info.width * scale), round(info.height * scale)
            shown = images if scale == 1.0 else [
                cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images]
            dets = detect(shown)
            truth = MotSequence(gt.frames, gt.ids, gt.tlwh * scale, gt.confs, gt.num_frames)
            clip = Clip(seq, truth, np.arange(info.num_frames) / info.fps, w, h)
            for step in STEPS:
                c = clip if step == 1 else clip.every(step)
                timeline = Timeline(seq, c.times_s, c.width, c.height)
                for mode in MODES:
                    frames = panoray_offline(dets[mode][::step], timeline)
                    out[cell_name(seq, step, scale, mode)] = round(score(c, frames)["HOTA"], 3)
        log.info("%s matrix: %s", seq, {k: v for k, v in out.items() if k.startswith(seq)})
    return out


def worst_cells(cells: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Per mode, the worst cell: ``{mode: {"hota", "where"}}``."""
    out = {}
    for mode in MODES:
        mine = {k: v for k, v in cells.items() if k.endswith(f"/{mode}")}
        if mine:
            worst = min(mine, key=mine.get)
            out[mode] = {"hota": mine[worst], "where": worst}
    return out


def matrix_goals(cells: dict[str, float]) -> dict[str, Any]:
    """The goal: the worst cell of the default mode (tiled: what a camera gets with
    ``inference.tiling`` unset) against :data:`TARGET_HOTA`. The whole frame's worst cell
    is reported beside it (:func:`worst_cells`), not as a goal."""
    worst = worst_cells(cells).get(DEFAULT_MODE)
    if worst is None:
        return {}
    return {"tud_matrix.worst_hota": goal(worst["hota"], TARGET_HOTA) | {"where": worst["where"]}}
