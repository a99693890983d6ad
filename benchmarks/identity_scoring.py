"""Scoring for the identity benchmark: one clip, every tracker, trackeval and analytics.

- :func:`load_clip`: a MOTChallenge sequence folder as a :class:`~benchmarks.detsim_views.Clip`;
- :func:`score`: HOTA and friends of one tracker's output, people labelled "ignore"
  (conf 0) handled as MOTChallenge does (:func:`drop_ignored`);
- :func:`run_all`: every contender on the same detections, with analytics errors;
- :func:`aggregate`: means and worst over seeds.
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.contenders import Runner, Timeline, as_mot
from benchmarks.detsim_views import Clip
from benchmarks.evaluation import MotSequence, evaluate, read_mot
from benchmarks.scene_analytics import count_error, rel_error, run_analytics
from pipeline.boxes import iou_matrix
from pipeline.mot import read_seqinfo
from pipeline.tracking.association import assign
from pipeline.types import Detections, TrackedFrame

LINE_IDS = ("head_on", "along")
"""The lines of :func:`benchmarks.scene_analytics.place_scene`'s scenes."""
IGNORE_IOU = 0.5
"""A tracker box matched at this IoU to a person labelled conf 0 ("ignore") is dropped
before scoring (MOTChallenge's rule for distractors)."""


def load_clip(root: Path, name: str | None = None) -> Clip:
    """A MOTChallenge sequence folder (``seqinfo.ini``, ``gt/gt.txt``) as a Clip."""
    info = read_seqinfo(root / "seqinfo.ini")
    truth = read_mot(root / "gt" / "gt.txt", num_frames=info.num_frames)
    return Clip(name or root.name, truth, np.arange(info.num_frames) / info.fps, info.width,
                info.height)


def drop_ignored(truth: MotSequence, pred: MotSequence) -> MotSequence:
    """``pred`` without the boxes matched (IoU >= IGNORE_IOU, one-to-one with every
    labelled person) to a person labelled conf 0."""
    if not (truth.confs == 0).any() or not len(pred):
        return pred
    gb, pb = truth.boxes_xyxy(), pred.boxes_xyxy()
    keep = np.ones(len(pred), np.bool_)
    for f in np.unique(truth.frames[truth.confs == 0]):
        g, p = truth.frame_rows(int(f)), pred.frame_rows(int(f))
        if p.stop == p.start:
            continue
        gi, pi = assign(iou_matrix(gb[g], pb[p]), IGNORE_IOU)
        ignored = truth.confs[g][gi] == 0
        keep[p.start + pi[ignored]] = False
    return pred.keep(keep)


def score(clip: Clip, frames: Sequence[TrackedFrame]) -> dict[str, Any]:
    """trackeval metrics of one tracker's output (HOTA etc. as fractions) and its ids."""
    pred = as_mot(frames, clip.times_s)
    ids = int(len(np.unique(pred.ids)))
    m = evaluate(clip.truth, drop_ignored(clip.truth, pred))
    out = {k: round(m[k], 4) for k in ("HOTA", "DetA", "AssA", "AssRe", "AssPr", "IDF1",
                                        "MOTA")}
    out.update({k: m[k] for k in ("IDSW", "Frag", "MT", "ML")})
    out["ids"] = ids
    return out


def run_all(contenders: dict[str, Runner], dets: list[Detections], clip: Clip,
            analytics: tuple[Any, dict[str, Any]] | None = None,
            keep: dict[str, list[TrackedFrame]] | None = None) -> dict[str, dict[str, Any]]:
    """Every contender on the same detections: metrics, and (given ``(config, truth)``)
    analytics and their errors against the truth's. The output of the contenders named
    in ``keep`` is stored there."""
    timeline = Timeline(clip.name, clip.times_s, clip.width, clip.height)
    out = {}
    for name, runner in contenders.items():
        frames = runner(dets, timeline)
        if keep is not None and name in keep:
            keep[name] = frames
        row = score(clip, frames)
        if analytics is not None:
            config, truth = analytics
            got = run_analytics(frames, config, clip.width, clip.height, clip.fps)
            row["analytics"] = got
            row["analytics_error"] = {f"{el}.{k}": round(rel_error(v, truth[el][k]), 3)
                                      for el, vals in got.items() for k, v in vals.items()}
            row["line_count_error"] = {f"{el}.{k}": round(count_error(v, truth[el][k]), 3)
                                       for el, vals in got.items() if el in LINE_IDS
                                       for k, v in vals.items()}
        out[name] = row
    return out


def aggregate(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per tracker: HOTA mean and worst (points), other metrics' means, analytics means."""
    out = {}
    for name in per_seed[0]:
        rows = [s[name] for s in per_seed]
        hota = [100 * r["HOTA"] for r in rows]
        agg: dict[str, Any] = {"HOTA_mean": round(float(np.mean(hota)), 1),
                               "HOTA_worst": round(float(np.min(hota)), 1)}
        for k in ("DetA", "AssA", "AssRe", "AssPr", "IDF1", "MOTA"):
            agg[k] = round(100 * float(np.mean([r[k] for r in rows])), 1)
        for k in ("IDSW", "Frag", "MT", "ML", "ids"):
            agg[k] = round(float(np.mean([r[k] for r in rows])), 1)
        if "analytics" in rows[0]:
            agg["analytics_mean"] = {
                el: {k: round(float(np.mean([r["analytics"][el][k] for r in rows])), 3)
                     for k in vals} for el, vals in rows[0]["analytics"].items()}
            agg["analytics_error_mean"] = {
                k: round(float(np.mean([r["analytics_error"][k] for r in rows])), 3)
                for k in rows[0]["analytics_error"]}
            agg["line_count_error_mean"] = {
                k: round(float(np.mean([r["line_count_error"][k] for r in rows])), 3)
                for k in rows[0]["line_count_error"]}
        out[name] = agg
    return out
