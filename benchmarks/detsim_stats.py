"""Statistics of matched detections beyond :func:`benchmarks.detsim_obs.summary`: how misses
and box errors run in time and how recall depends on a neighbour, what the calibration
compares real beside simulated, sequence by sequence (the error modes a tracker feels).

- ``recall_visible_by_neighbour_iou``: recall of people at least 75 % visible, by the
  largest IoU of their box with another person's (in front or behind);
- ``recall_cut_at_frame_side``: recall of people whose label ends at the frame's side
  (:func:`~benchmarks.detsim_views.cut_at_side`), and how many rows;
- ``person_recall_sd``: spread of recall between people (seen in 10 frames or more);
- ``p_miss_after_miss``: P(missed in the next frame | missed now), consecutive frames;
- ``score_lag1_corr`` and ``score_step_median``: the correlation of a detected person's
  logit score with the next frame's, and the median absolute change (logit units): how
  the scores run in time, which score-gated trackers feel;
- ``error_lag1_corr`` and ``error_step_median``: per box error component
  (:data:`~benchmarks.detsim_views.ERROR_NAMES`), the correlation of a detected person's
  error with the next frame's, and the median absolute change from frame to frame.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

from typing import Any

import numpy as np

from benchmarks.detsim_obs import FUSED, Observations
from benchmarks.detsim_views import ERROR_NAMES

NEIGHBOUR_BANDS = (0.0, 1e-9, 0.1, 0.3, 1.01)
"""Bands of the largest IoU with another person's box (0 alone: nobody touching)."""
MIN_ROWS = 20
"""Least rows a table cell needs to be reported."""


def temporal_summary(obs: Observations) -> dict[str, Any]:
    """The statistics of the module docstring (None where there are too few rows)."""
    scored = obs.state != FUSED
    hit = obs.hit
    out: dict[str, Any] = {}
    table = {}
    for k in range(len(NEIGHBOUR_BANDS) - 1):
        lo, hi = NEIGHBOUR_BANDS[k], NEIGHBOUR_BANDS[k + 1]
        m = scored & (obs.visible >= 0.75) & (obs.neighbour_iou >= lo) & (
            obs.neighbour_iou < hi)
        if m.sum() >= MIN_ROWS:
            label = "alone" if k == 0 else f"{lo:g}-{min(hi, 1.0):g}"
            table[label] = [round(float(hit[m].mean()), 3), int(m.sum())]
    out["recall_visible_by_neighbour_iou"] = table
    cut = scored & (obs.cut > 0)
    out["recall_cut_at_frame_side"] = ([round(float(hit[cut].mean()), 3), int(cut.sum())]
                                       if cut.sum() >= MIN_ROWS else None)
    per_person = [hit[m].mean() for g in np.unique(obs.group)
                  if (m := scored & (obs.group == g)).sum() >= 10]
    out["person_recall_sd"] = round(float(np.std(per_person)), 3) if per_person else None
    a, b = next_frame_pairs(obs.group, obs.frame)
    a, b = a[scored[a] & scored[b]], b[scored[a] & scored[b]]
    missed = ~hit[a]
    out["p_miss_after_miss"] = (round(float((~hit[b][missed]).mean()), 3)
                                if missed.sum() >= MIN_ROWS else None)
    both = hit[a] & hit[b]
    if both.sum() >= MIN_ROWS:
        la, lb = (np.log(s / (1.0 - s)) for s in (
            np.clip(obs.score[x[both]], 1e-6, 1 - 1e-6) for x in (a, b)))
        out["score_lag1_corr"] = round(float(np.corrcoef(la, lb)[0, 1]), 3)
        out["score_step_median"] = round(float(np.median(np.abs(lb - la))), 3)
    ea, eb = obs.err[a[both]], obs.err[b[both]]
    if len(ea) >= MIN_ROWS:
        out["error_lag1_corr"] = {n: round(float(np.corrcoef(ea[:, k], eb[:, k])[0, 1]), 3)
                                  for k, n in enumerate(ERROR_NAMES)}
        out["error_step_median"] = {n: round(float(np.median(np.abs(eb[:, k] - ea[:, k]))), 4)
                                    for k, n in enumerate(ERROR_NAMES)}
    return out


def next_frame_pairs(group: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (a, b): b is a's person one frame later."""
    order = np.lexsort((frame, group))
    g, f = group[order], frame[order]
    nxt = (g[1:] == g[:-1]) & (f[1:] - f[:-1] == 1)
    return order[:-1][nxt], order[1:][nxt]
