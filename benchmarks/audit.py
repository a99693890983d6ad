"""Accuracy audit: whom the detector finds and whom it misses, by size, place and crowding.

For each MOTChallenge sequence with ground truth under ``--data`` (TUD-Campus and
TUD-Stadtmitte from MOT15; a sequence whose video or ``gt/gt.txt`` is absent is skipped
with a message), in-process and without Ray:

1. Detection with the bundled SSDLite person model and exactly the settings of
   ``benchmarks/accuracy.py`` (threshold, tiling; its :func:`~benchmarks.accuracy.detect`
   runs both the tiled and the full-frame detector on each frame). ``tiled`` is the
   configuration the accuracy benchmark recommends; ``full_frame`` is what a camera gets
   with ``tiling`` unset (the default).
2. ``tracked``: the tiled detections through the tracker and the offline smoother
   (:func:`~benchmarks.accuracy.track_panoray`), the boxes the analytics count.
3. ``rescaled_tiled`` / ``rescaled_full_frame``: nobody in these sequences is under
   100 px tall, so the audited frames are also shrunk into 2 x 2 and 3 x 3 mosaics of the
   original size (each of n * n consecutive audited frames at 1/n: the same people at
   1/2 and 1/3 of their height, about 40-155 px) and detected the same two ways. This is
   a controlled size test, not footage of a far camera (no perspective, haze or long-lens
   compression; a box cut by the frame edge is clipped to its cell); position, crowding
   across cell borders and per-frame counts of a mosaic mean little.
4. Each source is matched to the ground truth frame by frame (IoU >= 0.5, Hungarian) and
   tallied by :mod:`benchmarks.audit_tally` per dimension and band: person height in
   pixels, position of the feet in a 3 x 3 grid, crowding (other people within one box
   height), visibility (the ground truth's column where it has one, else estimated from
   the boxes in front). Per band: labelled boxes, distinct people, recall and precision
   with Wilson 95 % intervals, and the per-frame count error |detected - labelled|.

The intervals treat boxes as independent. They are not (the same few people over
consecutive frames: see ``people``), so the real uncertainty is wider.

Prints progress and plain-text tables to stderr, one JSON object per sequence, then (last
stdout line) one JSON object with the pooled tables and a ``goals`` map {name: {"value",
"target", "met"}} on the pooled tiled detections (and the tracked count).

Usage:
    python benchmarks/audit.py [--quick | --every N] [--data ../shared/data/mot15]
                               [--sequences A,B] [--height-edges 60,100,150]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import accuracy  # noqa: E402
from benchmarks.audit_measures import FloatArray, read_visibility  # noqa: E402
from benchmarks.audit_tally import (  # noqa: E402
    CROWDING_EDGES,
    CROWDING_RADIUS_BOX_HEIGHTS,
    DIMENSIONS,
    HEIGHT_EDGES_PX,
    AuditSpec,
    AuditTally,
    Banding,
)
from benchmarks.common import goal, machine, read_video, script_logging  # noqa: E402
from benchmarks.evaluation import read_mot  # noqa: E402
from pipeline.errors import InputError  # noqa: E402
from pipeline.mot import read_seqinfo  # noqa: E402

log = logging.getLogger("benchmarks.audit")

SOURCES = ("tiled", "full_frame", "tracked", "rescaled_tiled", "rescaled_full_frame")
RESCALE_GRIDS = (2, 3)
"""Rescaled sources: the audited frames in 2 x 2 and 3 x 3 mosaics (people at 1/2, 1/3)."""
QUICK_EVERY = 3
"""--quick audits every third frame (the tracker then sees 8.3 fps)."""

# Goals, set before measuring, on the pooled tiled detections. A count a site can act on
# needs most people found: recall 0.8 per band and precision 0.9 give counts within about
# 20 %; crowding may cost at most a fifth of the recall of people standing alone.
RELIABLE_RECALL = 0.8
TARGETS = {
    "recall_per_height_band": RELIABLE_RECALL,
    "recall_h_ge_100": RELIABLE_RECALL,
    "precision": 0.9,
    "count_error_rel_h_ge_100": 0.2,
    "recall_crowded_over_alone": 0.8,
    "recall_visible_ge_75pct": RELIABLE_RECALL,
    "tracked_count_error_rel": 0.2,
}


def mosaic(images: Sequence[npt.NDArray[np.uint8]], boxes: Sequence[npt.ArrayLike],
           n: int) -> tuple[npt.NDArray[np.uint8], list[FloatArray]]:
    """n x n frames, each shrunk by 1/n, side by side in one frame of the same size.

    The same people at 1/n of their height, in an image of the same resolution: what a
    camera n times farther away would see of them (without the perspective, haze and
    compression of a real far view). Row-major: frame k goes to row k // n, column k % n.

    Args:
        images: n * n (H, W, 3) uint8 frames of one size.
        boxes: per frame, (m_k, 4) xyxy pixels of that frame.
        n: frames per side, >= 1.

    Returns:
        (canvas, per-frame boxes in canvas pixels, clipped to the frame's cell).
    """
    import cv2

    if n < 1 or len(images) != n * n or len(boxes) != n * n:
        raise InputError(f"a {n} x {n} mosaic needs {n * n} images and box arrays, got "
                         f"{len(images)} and {len(boxes)}", "images")
    h, w = images[0].shape[:2]
    canvas = np.zeros_like(images[0])
    out = []
    for k, (image, b) in enumerate(zip(images, boxes, strict=True)):
        if image.shape[:2] != (h, w):
            raise InputError(f"mosaic images must share one size, got {image.shape[:2]} "
                             f"and {(h, w)}", "images")
        r, c = divmod(k, n)
        x0, x1 = c * w // n, (c + 1) * w // n
        y0, y1 = r * h // n, (r + 1) * h // n
        canvas[y0:y1, x0:x1] = cv2.resize(image, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        sb = np.asarray(b, np.float64).reshape(-1, 4) * np.array(
            [(x1 - x0) / w, (y1 - y0) / h] * 2) + np.array([x0, y0, x0, y0])
        sb[:, 0::2] = np.clip(sb[:, 0::2], x0, x1)
        sb[:, 1::2] = np.clip(sb[:, 1::2], y0, y1)
        out.append(sb)
    return canvas, out


def slug(label: str) -> str:
    """A band label as part of a goal name: ``<60`` -> ``lt_60``, ``60-100`` -> ``60_100``,
    ``>=150`` -> ``ge_150``, ``3+`` -> ``3_plus``."""
    s = label.replace(">=", "ge_").replace("<", "lt_").replace("+", "_plus")
    return re.sub(r"[^A-Za-z0-9_.]", "_", s)


def format_table(title: str, table: dict[str, Any],
                 dims: Sequence[str] = DIMENSIONS) -> str:
    """A plain-text rendering of :meth:`AuditTally.table` for people (stderr, docs)."""
    lines = [f"{title} ({table['frames']} frames; visibility {table['visibility_source']})",
             f"  {'band':<22}{'gt':>6}{'people':>7}{'recall':>8}{'  95% CI':<15}"
             f"{'precision':>10}{'fp':>5}{'near':>6}{'count err':>10}{'bias':>7}"]

    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}"

    for dim in dims:
        for band, m in table[dim].items():
            ci = "" if m["recall_ci95"] is None else "  {:.2f}-{:.2f}".format(*m["recall_ci95"])
            lines.append(f"  {dim + ' ' + band:<22}{m['gt']:>6}{m['people']:>7}"
                         f"{num(m['recall']):>8}{ci:<15}{num(m['precision']):>10}"
                         f"{'-' if m['fp'] is None else m['fp']:>5}{num(m['fp_near_person']):>6}"
                         f"{num(m['count_error_rel']):>10}{num(m['count_bias_rel']):>7}")
    return "\n".join(lines)


def sequence_present(root: Path) -> str | None:
    """None when the sequence's video and ground truth are there, else why not."""
    seq = root.name
    if (root / f"{seq}.mp4").is_file() and (root / "gt" / "gt.txt").is_file():
        return None
    return f"{root / (seq + '.mp4')} or its gt/gt.txt is absent"


def audit_sequence(detector: Any, root: Path, spec: AuditSpec, every: int) -> dict[str, Any]:
    """Detects, tracks and tallies every ``every``-th frame of one sequence, and the
    rescaled mosaics of those frames.

    Returns:
        ``{"sequence", "frames", "frames_audited", "mosaics", "every", "cost", "tallies"}``,
        the tallies (one :class:`AuditTally` per source) not yet turned into tables.
    """
    seq = root.name
    info = read_seqinfo(root / "seqinfo.ini")
    gt_path = root / "gt" / "gt.txt"
    gt = read_mot(gt_path, num_frames=info.num_frames)
    visibility = read_visibility(gt_path)
    t0 = time.perf_counter()
    images = read_video(root / f"{seq}.mp4", info.num_frames)
    blank = np.zeros((info.height, info.width, 3), np.uint8)
    picked = list(range(0, info.num_frames, every))
    frames = [images[i] if i < len(images) else blank for i in picked]
    boxes = gt.boxes_xyxy()
    rows = [gt.frame_rows(i + 1) for i in picked]

    # The same frames shrunk into n x n mosaics: the same people at 1/n of their height.
    mosaics, mosaic_gt = [], []
    for n in RESCALE_GRIDS:
        for start in range(0, len(picked) - n * n + 1, n * n):
            group = range(start, start + n * n)
            canvas, scaled = mosaic([frames[k] for k in group], [boxes[rows[k]] for k in group], n)
            mosaics.append(canvas)
            mosaic_gt.append((np.concatenate(scaled),
                              np.concatenate([gt.ids[rows[k]] for k in group])))
    det = accuracy.detect(detector, frames)
    det_rescaled = accuracy.detect(detector, mosaics)
    log.info("%s: detected %d frames and %d mosaics in %.1f s", seq, len(picked),
             len(mosaics), time.perf_counter() - t0)

    fps = info.fps / every
    tracked = accuracy.to_mot(
        accuracy.track_panoray(seq, det["tiled"], fps, info.width, info.height, smooth=True),
        fps, len(picked))
    tracked_boxes = tracked.boxes_xyxy()
    tallies = {s: AuditTally(spec, key=seq) for s in SOURCES}
    for j, i in enumerate(picked):
        ids = gt.ids[rows[j]]
        vis = None if visibility is None else [visibility[(i + 1, int(k))] for k in ids]
        found = {"tiled": det["tiled"][j].boxes, "full_frame": det["full"][j].boxes,
                 "tracked": tracked_boxes[tracked.frame_rows(j + 1)]}
        for source, boxes_found in found.items():
            tallies[source].add_frame(boxes[rows[j]], ids, boxes_found, info.width,
                                      info.height, vis)
    for j, (g, ids) in enumerate(mosaic_gt):
        for source, key in (("rescaled_tiled", "tiled"), ("rescaled_full_frame", "full")):
            tallies[source].add_frame(g, ids, det_rescaled[key][j].boxes, info.width,
                                      info.height)
    return {"sequence": seq, "frames": info.num_frames, "frames_audited": len(picked),
            "mosaics": len(mosaics), "every": every,
            "cost": det["cost"], "tallies": tallies}


def tables(tallies: dict[str, AuditTally]) -> dict[str, Any]:
    return {source: t.table() for source, t in tallies.items()}


def goals(pooled: dict[str, AuditTally]) -> dict[str, Any]:
    """The goals map on the pooled tallies (empty when nothing was audited).

    Per height band with ground truth: recall of the tiled detector on the real frames,
    and for the bands below 100 px, where the real frames have nobody, on the rescaled
    mosaics (``rescaled.`` names).
    """
    tiled = pooled.get("tiled")
    if tiled is None or not tiled.frames:
        return {}
    spec = tiled.spec
    out: dict[str, Any] = {}

    def put(name: str, value: float | None, target: float, higher: bool = True,
            note: str | None = None) -> None:
        if value is None:
            return  # no ground truth in the band: nothing to claim either way
        out[name] = goal(value, target, higher_is_better=higher)
        if note:
            out[name]["note"] = note

    for prefix, tally in (("", tiled), ("rescaled.", pooled.get("rescaled_tiled"))):
        if tally is None:
            continue
        for band in spec.labels("height"):
            if prefix and band in spec.height.labels_from(100.0):
                continue  # people of 100 px and more: the real frames speak for them
            m = tally.metrics("height", [band])
            put(f"{prefix}recall_h_{slug(band)}", m["recall"], TARGETS["recall_per_height_band"],
                note=f"{m['gt']} boxes of {m['people']} people")
    big = spec.height.labels_from(100.0)
    if big:
        put("recall_h_ge_100", tiled.metrics("height", big)["recall"],
            TARGETS["recall_h_ge_100"], note=f"bands {', '.join(big)}")
        put("count_error_rel_h_ge_100", tiled.metrics("height", big)["count_error_rel"],
            TARGETS["count_error_rel_h_ge_100"], higher=False,
            note="sum over frames of |detected - labelled| / labelled")
    put("precision", tiled.metrics("all")["precision"], TARGETS["precision"])
    crowd = spec.labels("crowding")
    alone, crowded = tiled.metrics("crowding", crowd[:1]), tiled.metrics("crowding", crowd[-1:])
    if alone["recall"] and crowded["recall"] is not None:
        put("recall_crowded_over_alone", round(crowded["recall"] / alone["recall"], 3),
            TARGETS["recall_crowded_over_alone"],
            note=f"recall with {crowd[-1]} others near / with {crowd[0]}")
    top = spec.labels("visibility")[-1]
    put("recall_visible_ge_75pct", tiled.metrics("visibility", [top])["recall"],
        TARGETS["recall_visible_ge_75pct"], note=f"visibility {tiled.visibility_source}")
    if "tracked" in pooled:
        put("tracked_count_error_rel", pooled["tracked"].metrics("all")["count_error_rel"],
            TARGETS["tracked_count_error_rel"], higher=False,
            note="tracker + offline smoother; per-frame people count")
    return out


def _edges(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"audit every {QUICK_EVERY}rd frame (< 3 min)")
    parser.add_argument("--every", type=int, default=None,
                        help="audit every N-th frame (default 1; --quick: 3)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "mot15",
                        help="MOT15 folder with <seq>/<seq>.mp4, gt/gt.txt, seqinfo.ini")
    parser.add_argument("--sequences", type=lambda t: tuple(t.split(",")),
                        default=accuracy.SEQUENCES,
                        help="comma-separated sequence folders under --data, each with "
                        "<name>.mp4, gt/gt.txt and seqinfo.ini (default: the two TUD ones); "
                        "label a few minutes of your own cameras and audit them the same way")
    parser.add_argument("--height-edges", type=_edges, default=HEIGHT_EDGES_PX,
                        help="box-height band edges, pixels (default 60,100,150)")
    parser.add_argument("--crowding-edges", type=_edges, default=CROWDING_EDGES,
                        help="bands of people nearby (default 1,3: 0, 1-2, 3+)")
    parser.add_argument("--crowding-radius", type=float, default=CROWDING_RADIUS_BOX_HEIGHTS,
                        help="'nearby' radius in box heights (default 1)")
    args = parser.parse_args(argv)
    every = args.every if args.every is not None else (QUICK_EVERY if args.quick else 1)
    if every < 1:
        parser.error(f"--every must be >= 1, got {every}")
    try:
        spec = AuditSpec(height=Banding(args.height_edges),
                         crowding=Banding(args.crowding_edges, integer=True),
                         crowding_radius=args.crowding_radius)
    except InputError as exc:
        parser.error(str(exc))
    script_logging()
    t0 = time.perf_counter()

    skipped: dict[str, str] = {}
    roots = []
    for seq in args.sequences:
        why = sequence_present(args.data / seq)
        if why:
            skipped[seq] = why
            log.warning("%s skipped: %s", seq, why)
        else:
            roots.append(args.data / seq)
    pooled: dict[str, AuditTally] = {}
    sequences = []
    if roots:
        from models.config import ModelConfig
        from models.detector import OnnxDetector

        detector = OnnxDetector(ModelConfig(threshold=accuracy.DETECTOR_THRESHOLD))
        for root in roots:
            res = audit_sequence(detector, root, spec, every)
            tallies = res.pop("tallies")
            report = res | {"tables": tables(tallies)}
            print(json.dumps(report), flush=True)
            sequences.append(report)
            pooled = tallies if not pooled else {s: pooled[s] + tallies[s] for s in SOURCES}
            print(format_table(f"{res['sequence']}: tiled", report["tables"]["tiled"]),
                  file=sys.stderr)
        for source in SOURCES:
            # Position and counts of a mosaic are those of n x n views side by side.
            dims = ("all", "height", "crowding", "visibility") if source.startswith(
                "rescaled") else DIMENSIONS
            print(format_table(f"pooled: {source}", pooled[source].table(), dims),
                  file=sys.stderr)
    summary = {
        "benchmark": "audit",
        "quick": args.quick,
        "every": every,
        "machine": machine(),
        "config": {
            "detector_threshold": accuracy.DETECTOR_THRESHOLD,
            "tiling": "auto (the product default; models.tiling.auto_tiling)",
            "sources": {"tiled": "bundled detector, tiled as a camera is by default (tiling: auto)",
                        "full_frame": "bundled detector, whole frame (tiling: null)",
                        "tracked": "tiled + tracker + offline smoother",
                        "rescaled_tiled": "tiled, on n x n mosaics of the audited frames "
                                          f"(people at 1/n height), n in {RESCALE_GRIDS}",
                        "rescaled_full_frame": "whole frame, on the same mosaics"},
            "banding": spec.describe(),
            "targets": TARGETS,
        },
        "skipped": skipped,
        "sequences": {r["sequence"]: {"frames_audited": r["frames_audited"],
                                      "mosaics": r["mosaics"], "cost": r["cost"]}
                      for r in sequences},
        "pooled": tables(pooled),
        "goals": goals(pooled),
        "elapsed_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
