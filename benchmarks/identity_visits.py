"""Where the static sequences' analytics errors come from: an oracle ladder, and joins.

``python benchmarks/identity.py --quick --analytics-ladder`` runs this on panoray's
output (offline and live) for the static sequences. Each track box is matched one to one
with the labelled people of its frame (IoU at least :data:`MATCH_IOU`); each track is
named after the person it mostly covers (:func:`majority`). Then the same tracks go
through the same analytics (:func:`benchmarks.scene_analytics.run_analytics`, the
tracker's config) with one kind of error taken out at a time, each rung keeping the
fixes above it (:func:`ladder`):

- ``as_is``: the tracker's output;
- ``no_false_tracks``: tracks that cover no labelled person are dropped;
- ``fragments_merged``: every track is renamed after the person it mostly covers, so a
  person's broken track is one track (breaks fixed, swaps inside a track kept);
- ``swaps_fixed``: every box is named after the person it matches in its frame, boxes
  matching nobody dropped (identity perfect; what was never tracked still missing);
- ``true_boxes``: the same, with the labelled box in place of the tracked one (box
  errors gone: only the frames the tracker covered remain);
- and the truth (labelled tracks, guards off) they are compared against.

The visit joins of :mod:`pipeline.analytics.continuity` are judged against the same
naming (:func:`join_outcomes`): a join is right when both tracks mostly cover the same
person. ``oracle_joins`` keeps only the right joins, ``no_joins`` turns joining off:
how much better joining could make the figures.

Example:
    >>> import numpy as np
    >>> truth = np.array([7, 7, -1]); tracks = np.array([3, 3, 3])
    >>> {k: v for k, v in majority_of(tracks, truth).items()}
    {3: 7}
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.detsim_views import Clip
from benchmarks.scene_analytics import run_analytics, truth_frames
from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.continuity import TrackEnds
from pipeline.boxes import iou_matrix
from pipeline.tracking.association import assign
from pipeline.types import TrackedFrame, Tracks

MATCH_IOU = 0.3
"""A track box covers a labelled person at this IoU (one to one per frame): looser than
the 0.5 of scoring, so that a box that is off by a third of a width still names them."""
MAJORITY_SHARE = 0.2
"""A track is named after the person it matches most often when that is at least this
share of its boxes; otherwise it is a false track (-1)."""
RUNGS = ("as_is", "no_false_tracks", "fragments_merged", "swaps_fixed", "true_boxes")
SPARE_ID = 1 << 40
"""Added to a track id that must not collide with the labelled ids it is renamed into."""

IntArray = npt.NDArray[np.int64]


def match_boxes(clip: Clip, frames: Sequence[TrackedFrame]) -> tuple[list[IntArray],
                                                                      list[IntArray]]:
    """Per frame, the labelled id and truth row each track box matches (-1: none)."""
    gb = clip.truth.boxes_xyxy()
    ids, rows = [], []
    for i, f in enumerate(frames):
        r = clip.truth.frame_rows(i + 1)
        pb = f.tracks.boxes.astype(np.float64)
        tid = np.full(len(pb), -1, np.int64)
        trow = np.full(len(pb), -1, np.int64)
        if len(pb) and r.stop > r.start:
            gi, pi = assign(iou_matrix(gb[r], pb), MATCH_IOU)
            tid[pi] = clip.truth.ids[r][gi]
            trow[pi] = r.start + gi
        ids.append(tid)
        rows.append(trow)
    return ids, rows


def majority_of(track_ids: IntArray, truth_ids: IntArray) -> dict[int, int]:
    """Per track id, the labelled id its boxes match most often (-1: under
    :data:`MAJORITY_SHARE` of its boxes, or none), from flat (n,) arrays of both."""
    out = {}
    for t in np.unique(track_ids).tolist():
        mine = truth_ids[track_ids == t]
        hit = mine[mine >= 0]
        if not len(hit):
            out[t] = -1
            continue
        vals, counts = np.unique(hit, return_counts=True)
        k = int(np.argmax(counts))
        out[t] = int(vals[k]) if counts[k] >= MAJORITY_SHARE * len(mine) else -1
    return out


def majority(frames: Sequence[TrackedFrame], truth_ids: Sequence[IntArray]) -> dict[int, int]:
    """:func:`majority_of` over a whole run."""
    tracks = [f.tracks.track_ids for f in frames]
    return majority_of(np.concatenate(tracks) if tracks else np.zeros(0, np.int64),
                       np.concatenate(list(truth_ids)) if tracks else np.zeros(0, np.int64))


def renamed(frames: Sequence[TrackedFrame], new_ids: Sequence[IntArray],
            boxes: Sequence[npt.NDArray[Any]] | None = None) -> list[TrackedFrame]:
    """The frames with each box's id replaced by ``new_ids`` (-1: box dropped), each id
    removed in the frame after its last one; ``boxes`` replaces the boxes too."""
    last: dict[int, int] = {}
    for i, ids in enumerate(new_ids):
        for t in ids[ids >= 0].tolist():
            last[t] = i
    gone: dict[int, list[int]] = {}
    for t, i in last.items():
        gone.setdefault(i + 1, []).append(t)
    out = []
    for i, (f, ids) in enumerate(zip(frames, new_ids, strict=True)):
        k = ids >= 0
        b = (f.tracks.boxes if boxes is None else boxes[i])[k].astype(np.float32)
        n = int(k.sum())
        tracks = Tracks(b, np.ones(n, np.float32), f.tracks.class_ids[k], ids[k])
        out.append(TrackedFrame(f.meta, tracks, np.array(sorted(gone.get(i, [])), np.int64)))
    return out


def one_per_person(ids: IntArray, truth_ids: IntArray, track_ids: IntArray) -> IntArray:
    """``ids`` with repeats in one frame resolved: the box that matches the person keeps
    the name (else the first), the others keep their own track id (plus SPARE_ID)."""
    ids = ids.copy()
    vals, counts = np.unique(ids[ids >= 0], return_counts=True)
    for d in vals[counts > 1].tolist():
        w = np.flatnonzero(ids == d)
        good = w[truth_ids[w] == d]
        keep = good[0] if len(good) else w[0]
        ids[w[w != keep]] = track_ids[w[w != keep]] + SPARE_ID
    return ids


def rung_frames(clip: Clip, frames: Sequence[TrackedFrame]) -> dict[str, list[TrackedFrame]]:
    """The tracker's frames at every rung of :data:`RUNGS`."""
    tid, trow = match_boxes(clip, frames)
    maj = majority(frames, tid)
    own = [f.tracks.track_ids for f in frames]
    named = [np.array([maj[t] for t in o.tolist()], np.int64) for o in own]
    gb = clip.truth.boxes_xyxy()
    return {
        "as_is": list(frames),
        "no_false_tracks": renamed(frames, [np.where(n >= 0, o, -1)
                                            for n, o in zip(named, own, strict=True)]),
        "fragments_merged": renamed(frames, [
            one_per_person(np.where(n >= 0, n, o + SPARE_ID), t, o)
            for n, o, t in zip(named, own, tid, strict=True)]),
        "swaps_fixed": renamed(frames, tid),
        "true_boxes": renamed(frames, tid, [
            np.where((r >= 0)[:, None], gb[np.maximum(r, 0)], f.tracks.boxes)
            for f, r in zip(frames, trow, strict=True)]),
    }


def ladder(clip: Clip, frames: Sequence[TrackedFrame], config: AnalyticsConfig,
           truth: dict[str, Any]) -> dict[str, Any]:
    """The analytics of every rung (:func:`rung_frames`) and of the join variants, beside
    ``truth`` (the labelled tracks' analytics), and the joins' outcomes."""
    out: dict[str, Any] = {"truth": truth}
    for name, fr in rung_frames(clip, frames).items():
        out[name] = run_analytics(fr, config, clip.width, clip.height, clip.fps)
    tid, _ = match_boxes(clip, frames)
    maj = majority(frames, tid)
    joins: list[tuple[int, int, bool]] = []
    run_analytics(frames, config, clip.width, clip.height, clip.fps,
                  recording(joins.append))
    out["joins"] = join_outcomes(joins, maj)
    out["oracle_joins"] = run_analytics(
        frames, config, clip.width, clip.height, clip.fps,
        recording(lambda j: None, lambda a, b: maj.get(a, -1) >= 0 and maj[a] == maj.get(b)))
    off = config.model_copy(update={"continuity": config.continuity.model_copy(
        update={"max_gap_s": 0.0})})
    out["no_joins"] = run_analytics(frames, off, clip.width, clip.height, clip.fps)
    return out


def join_outcomes(joins: Sequence[tuple[int, int, bool]], maj: dict[int, int]
                  ) -> dict[str, int]:
    """Counts of ``(lost track id, new track id, a zone visit went on)`` joins: all, those
    whose both tracks cover someone, and of those the right ones (same person); the same
    for the joins that carried a zone visit on."""
    out = {"joins": 0, "judged": 0, "right": 0, "zone_joins": 0, "zone_judged": 0,
           "zone_right": 0}
    for a, b, zone in joins:
        judged = maj.get(a, -1) >= 0 and maj.get(b, -1) >= 0
        right = judged and maj[a] == maj[b]
        for prefix, on in (("", True), ("zone_", zone)):
            out[prefix + "joins"] += on
            out[prefix + "judged"] += on and judged
            out[prefix + "right"] += on and right
    return out


Keep = Callable[[int, int], bool]


def recording(note: Callable[[tuple[int, int, bool]], None], keep: Keep | None = None
              ) -> Callable[..., CameraAnalytics]:
    """A :class:`CameraAnalytics` factory whose visit joins are passed to ``note`` as
    ``(lost track id, new track id, a zone visit went on)``, and with ``keep`` only
    those joins made that ``keep(lost id, new id)`` allows."""

    class Recording(CameraAnalytics):
        def reset(self) -> None:
            super().reset()
            owner, base = self, self._ends

            class Ends(TrackEnds):
                def link(self, slots, new, boxes, last_seen, pts_s):  # type: ignore[no-untyped-def]
                    pred, succ = super().link(slots, new, boxes, last_seen, pts_s)
                    ids = owner._slots.track_id
                    if keep is not None and len(pred):
                        ok = np.array([keep(a, b) for a, b in zip(ids[pred].tolist(),
                                                                  ids[succ].tolist())], bool)
                        self.linked[pred[~ok]] = False
                        pred, succ = pred[ok], succ[ok]
                    before = owner._zones.tracklets[succ].sum(axis=1)
                    owner._pending_joins = (ids[pred].tolist(), ids[succ].tolist(), succ,
                                            before)
                    return pred, succ

            ends = Ends.__new__(Ends)
            ends.__dict__.update(base.__dict__)
            self._ends = ends

        def _continue_lost(self, slots, new, boxes, inside, classes, pts):  # type: ignore[no-untyped-def]
            self._pending_joins = ([], [], np.zeros(0, np.int64), np.zeros(0, np.int64))
            super()._continue_lost(slots, new, boxes, inside, classes, pts)
            a, b, succ, before = self._pending_joins
            if a:
                went_on = self._zones.tracklets[succ].sum(axis=1) > before
                for x, y, z in zip(a, b, went_on.tolist(), strict=True):
                    note((x, y, bool(z)))

    return Recording


def truth_analytics(clip: Clip, truth_config: AnalyticsConfig) -> dict[str, Any]:
    """The labelled tracks' analytics (the ruler)."""
    return run_analytics(truth_frames(clip.truth, clip.times_s), truth_config, clip.width,
                         clip.height, clip.fps)


def errors(got: dict[str, Any], truth: dict[str, Any]) -> dict[str, float]:
    """Zone visits and mean dwell (relative) and the worst line direction
    (:func:`~benchmarks.scene_analytics.count_error`) of one run's analytics."""
    from benchmarks.scene_analytics import count_error, rel_error

    return {
        "visits": rel_error(got["zone"]["visits"], truth["zone"]["visits"]),
        "dwell": rel_error(got["zone"]["mean_dwell_s"], truth["zone"]["mean_dwell_s"]),
        "line_worst": max(count_error(got[el][d], truth[el][d])
                          for el in ("head_on", "along") for d in truth[el]),
    }


STEPS = (*RUNGS, "oracle_joins", "no_joins")


def aggregate_ladder(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per step: the mean over seeds of :func:`errors` and of the zone visits and dwell;
    the joins' outcomes summed over seeds."""
    truth = per_seed[0]["truth"]
    out: dict[str, Any] = {"truth": {"visits": truth["zone"]["visits"],
                                     "mean_dwell_s": truth["zone"]["mean_dwell_s"]}}
    for step in STEPS:
        errs = [errors(s[step], s["truth"]) for s in per_seed]
        out[step] = {k: round(float(np.mean([e[k] for e in errs])), 3) for k in errs[0]}
        out[step]["visits_mean"] = round(float(np.mean([s[step]["zone"]["visits"]
                                                        for s in per_seed])), 2)
        out[step]["dwell_mean_s"] = round(float(np.mean([s[step]["zone"]["mean_dwell_s"]
                                                         for s in per_seed])), 2)
    out["joins"] = {k: int(sum(s["joins"][k] for s in per_seed)) for k in per_seed[0]["joins"]}
    return out


def print_ladder(reports: Sequence[dict[str, Any]]) -> None:
    """The ladder per static sequence and tracker, on stderr: visits, dwell and worst
    line direction errors at each step, and the joins right / judged."""
    import sys

    err = sys.stderr
    print("\nWhere the static analytics errors come from (mean over seeds): visits / dwell / "
          "worst line direction error at each step; joins right of judged (zone joins)",
          file=err)
    print(f"  {'sequence':<22}{'tracker':<9}" + "".join(f"{s[:16]:>18}" for s in STEPS)
          + "   joins", file=err)
    for r in reports:
        for vname, lad in r.get("analytics_ladder", {}).items():
            for who, a in lad.items():
                cells = "".join(f"{a[s]['visits']:>6.2f}/{a[s]['dwell']:.2f}/"
                                f"{a[s]['line_worst']:.2f}" for s in STEPS)
                j = a["joins"]
                print(f"  {r['sequence'] + '/' + vname:<22}{who[8:]:<9}{cells}   "
                      f"{j['right']}/{j['judged']} ({j['zone_right']}/{j['zone_judged']})",
                      file=err)
