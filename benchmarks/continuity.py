"""Track continuity on footage nobody labelled: panoray and its peers, breaks per minute.

The identity benchmark scores trackers on simulated detections, the accuracy benchmark on
two short labelled clips. Neither is the footage a site has. This one runs on any video,
without labels: the bundled detector finds people (the product's default tiling, and the
whole frame unless ``--quick``), on the frames as they are and at half size (people half
as tall, as from a camera twice as far; not with ``--quick``), and panoray (offline:
tracker and smoother; live: the tracker alone, defaults) and every motion-only peer track
the same detections, at the clip's own frame rate and subsampled by media time (7 and 5
frames/s by default). For each it counts probable breaks, tracks that end inside the
frame and that a new track nearby continues within 3 s
(:mod:`benchmarks.continuity_measures`), per minute of tracks shown.

The default clip is the demo's (OpenCV's ``vtest.avi``: a still camera over a campus, 10
frames/s, 80 s, people 60-190 px tall who cross in groups and stand at a sign post),
which shipped with panoray and was never tuned on. ``--video`` takes your own.

**How far to trust it.** With ``../shared/data`` present it checks itself on the identity
benchmark's simulated detections of eight labelled MOT15 sequences: how trackers rank by
breaks per tracked minute against how they rank by HOTA (Spearman), and whether the two
agree on panoray against its best peer. Without ground truth a swap is invisible, and a
tracker that shows nobody where detection is hard breaks less: read the figures as a
direction, not a score.

Goals (last line): panoray's breaks per tracked minute, offline and live, at most the best
peer's (the worst ratio over sizes, detection modes and frame rates).

    python benchmarks/continuity.py [--quick] [--video PATH] [--rates native,7,5]
                                    [--scales 1,0.5]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import emit, goal, machine, script_logging  # noqa: E402
from benchmarks.contenders import PANORAY, Runner, Timeline, available_peers  # noqa: E402
from benchmarks.continuity_measures import (  # noqa: E402
    EDGE_MARGIN,
    REJOIN_HEIGHTS,
    REJOIN_S,
    SETTLE_S,
    continuity,
)
from benchmarks.parallel import run_tasks  # noqa: E402
from pipeline.ingest.pacing import FrameSubsampler  # noqa: E402

log = logging.getLogger("benchmarks.continuity")

DEMO_CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
DETECTOR_THRESHOLD = 0.4
"""The bundled model's default threshold, as a site runs it."""
TARGET_RATIO = 1.0
"""Goal: panoray's breaks per tracked minute at most this times the best peer's."""
MAX_FRAMES = 100_000
"""Frames read from a clip at most (about an hour at 25 frames/s); only their detections
are kept."""


def subsample(times_s: np.ndarray, fps: float | None) -> np.ndarray:
    """Indices of the frames a camera with ``target_fps: fps`` keeps (None: all), by
    media time (:class:`~pipeline.ingest.pacing.FrameSubsampler`)."""
    keeper = FrameSubsampler(fps)
    return np.asarray([i for i, t in enumerate(times_s) if keeper.keep(float(t))], np.int64)


def clip_fps(video: Path) -> float:
    """The file's frame rate (its container's), 10 when it does not say."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()
    return fps if 0.0 < fps < 1000.0 else 10.0


def detect_clip(video: Path, whole_frame: bool, scale: float = 1.0
                ) -> tuple[dict[str, list[Any]], int, int]:
    """Tiled (and with ``whole_frame``, whole-frame) detections of each frame of ``video``
    (the first :data:`MAX_FRAMES`), resized by ``scale`` (0.5: people half as tall, as
    from a camera twice as far), and the frames' size; frames are read one at a time."""
    import cv2

    from benchmarks.accuracy import detect
    from models.config import ModelConfig
    from models.detector import OnnxDetector

    size: list[int] = []

    def frames() -> Iterator[np.ndarray]:
        cap = cv2.VideoCapture(str(video))
        try:
            for _ in range(MAX_FRAMES):
                ok, image = cap.read()
                if not ok:
                    return
                if scale != 1.0:
                    image = cv2.resize(image, (round(image.shape[1] * scale),
                                               round(image.shape[0] * scale)),
                                       interpolation=cv2.INTER_AREA)
                size[:] = image.shape[1], image.shape[0]
                yield image
        finally:
            cap.release()

    out = detect(OnnxDetector(ModelConfig(threshold=DETECTOR_THRESHOLD)), frames(),
                 whole_frame)
    if not size:
        raise SystemExit(f"{video}: no frame could be decoded")
    return {"tiled": out["tiled"], "full": out["full"]}, size[0], size[1]


def run_contenders(contenders: dict[str, Runner], frames: Sequence[Any], times_s: np.ndarray,
                   width: int, height: int) -> dict[str, dict[str, Any]]:
    """Each contender on the same detections: its continuity figures."""
    timeline = Timeline("clip", times_s, width, height)
    return {name: continuity([f.tracks for f in run(frames, timeline)], times_s, width, height)
            for name, run in contenders.items()}


def ratio_to_best_peer(rows: dict[str, dict[str, Any]], name: str) -> float:
    """``name``'s breaks per tracked minute over the lowest of the peers' (1.0 when both
    are 0, inf when only the peers' is)."""
    ours = rows[name]["breaks_per_tracked_min"]
    best = min(v["breaks_per_tracked_min"] for k, v in rows.items() if k not in PANORAY)
    if best <= 0:
        return 1.0 if ours <= 0 else float("inf")
    return ours / best


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    sys.stderr.write(f"\n{title}\n{'tracker':<16}{'tracks':>7}{'median s':>9}"
                     f"{'tracked min':>12}{'breaks':>7}{'per min':>8}{'s/break':>8}\n")
    for name, r in rows.items():
        sys.stderr.write(f"{name:<16}{r['tracks']:>7}{r['median_track_s']:>9}"
                         f"{r['tracked_min']:>12}{r['probable_breaks']:>7}"
                         f"{r['breaks_per_tracked_min']:>8}{r['tracked_s_per_break'] or '-':>8}\n")


def _validate_sequence(data: Path, quick: bool, contenders: dict[str, Runner],
                       models: dict[str, Any], k: int, seq: str) -> list[dict[str, Any]]:
    """:func:`validate`'s rows of one sequence (its simulation seeded by ``k``)."""
    from scipy.stats import spearmanr

    from benchmarks.detsim import clip_visibility, prepare, simulate
    from benchmarks.identity import detection_tiling, variants
    from benchmarks.identity_report import STATIC
    from benchmarks.identity_scoring import load_clip, score

    rows = []
    clip = load_clip(data / "mot15-gt" / seq)
    tiling = detection_tiling(clip.width, clip.height)
    model = models["full_frame" if tiling is None else "tiled"]
    view = model.view(clip.width, clip.height, tiling)
    for vname, c in variants(clip)[:1] if quick else variants(clip):
        dets = simulate(model, prepare(c, view, clip_visibility(c)), 100 * k)
        timeline = Timeline(c.name, c.times_s, c.width, c.height)
        proxy, hota = {}, {}
        for name, run in contenders.items():
            frames = run(dets, timeline)
            hota[name] = score(c, frames)["HOTA"]
            proxy[name] = continuity([f.tracks for f in frames], c.times_s, c.width,
                                     c.height)["breaks_per_tracked_min"]
        names = list(contenders)
        rho = float(spearmanr([proxy[n] for n in names], [-hota[n] for n in names])[0])
        peers = [n for n in names if n not in PANORAY]
        agrees = {ours: (proxy[ours] <= min(proxy[p] for p in peers))
                  == (hota[ours] >= max(hota[p] for p in peers)) for ours in PANORAY}
        rows.append({"sequence": f"{seq}/{vname}",
                     "camera": "still" if seq in STATIC else "moving",
                     "spearman": round(rho, 2), "agrees": agrees,
                     "hota": {n: round(v, 3) for n, v in hota.items()},
                     "breaks_per_tracked_min": proxy})
    log.info("validation: %s done", seq)
    return rows


def validate(data: Path, quick: bool, contenders: dict[str, Runner],
             models: dict[str, Any]) -> dict[str, Any]:
    """The proxy against HOTA on simulated detections of the labelled long sequences
    (``models``: the noise models of ``identity_sweep.fitted_models``); the sequences
    side by side, one per core."""
    from benchmarks.identity import LONG

    per_variant = [v for part in run_tasks([
        lambda k=k, seq=seq: _validate_sequence(data, quick, contenders, models, k, seq)
        for k, seq in enumerate(LONG)]) for v in part]
    summary = {}
    for camera in ("still", "moving"):
        mine = [v for v in per_variant if v["camera"] == camera]
        rhos = [v["spearman"] for v in mine if np.isfinite(v["spearman"])]
        summary[camera] = {
            "spearman_mean": round(float(np.mean(rhos)), 2) if rhos else None,
            "spearman_min": round(float(np.min(rhos)), 2) if rhos else None,
            "agrees_on_panoray_vs_best_peer": {
                n: f"{sum(v['agrees'][n] for v in mine)} of {len(mine)}" for n in PANORAY},
        }
    return {
        "what": "simulated detections (identity.py's noise model, seed 0) of the labelled "
                "long MOT15 sequences: trackers ranked by breaks per tracked minute against "
                "ranked by HOTA (Spearman; 1 = the same order), and whether the two agree "
                "on panoray against its best peer; still and moving cameras apart (the "
                "measure assumes people come and go at the frame's edges)",
        **summary,
        "sequences": per_variant,
    }


def number_list(flag: str, low: float, high: float, words: dict[str, Any] | None = None
                ) -> Callable[[str], list[Any]]:
    """An argparse type for ``--flag a,b,...``: each item a number within [low, high] or
    one of ``words`` (mapped to its value)."""
    words = words or {}

    def parse(text: str) -> list[Any]:
        out = []
        for part in (p.strip() for p in text.split(",")):
            if part in words:
                out.append(words[part])
                continue
            try:
                value = float(part)
            except ValueError:
                names = " or ".join([repr(w) for w in words] + ["a number"])
                raise argparse.ArgumentTypeError(f"{flag}: {part!r} is not {names}")
            if not low <= value <= high:
                raise argparse.ArgumentTypeError(f"{flag}: {part} is not within [{low:g}, "
                                                 f"{high:g}]")
            out.append(value)
        return out

    return parse


parse_rates = number_list("--rates", 0.1, 120.0, {"native": None})
"""``native,7,5`` -> [None, 7.0, 5.0] (frames/s; None: every frame)."""
parse_scales = number_list("--scales", 0.05, 1.0)
"""``1,0.5`` -> [1.0, 0.5] (fractions of the frame size)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiled detections only, native rate and 7 fps, validation on "
                             "each sequence's own rate (< 3 min)")
    parser.add_argument("--video", type=Path, default=DEMO_CLIP,
                        help="the clip to measure (default: the demo clip)")
    parser.add_argument("--fps", type=float, default=None,
                        help="the clip's frame rate (default: what the file says)")
    parser.add_argument("--rates", type=parse_rates, default=None,
                        help="frame rates to track at, 'native' for every frame "
                             "(default native,7,5; --quick native,7)")
    parser.add_argument("--scales", type=parse_scales, default=None,
                        help="frame sizes to detect at, as fractions (default 1,0.5: the "
                             "clip as it is and at half size; --quick 1)")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder with mot15/ and mot15-gt/ for the validation "
                             "(skipped when absent)")
    args = parser.parse_args(argv)
    if not args.video.is_file():
        parser.error(f"--video: {args.video} is not a file")
    if args.fps is not None and not 0.0 < args.fps <= 1000.0:
        parser.error(f"--fps: {args.fps} is not within (0, 1000]")
    script_logging()
    t0 = time.perf_counter()
    rates = args.rates or ([None, 7.0] if args.quick else [None, 7.0, 5.0])
    modes = ["tiled"] if args.quick else ["tiled", "full"]
    scales = args.scales or ([1.0] if args.quick else [1.0, 0.5])
    fps = args.fps or clip_fps(args.video)
    peers = available_peers()
    if not peers:
        raise SystemExit("no peer tracker could be imported: install the benchmarks' "
                         "extra dependencies (bash scripts/setup.sh --bench)")
    contenders = {**PANORAY, **peers}
    runs, ratios = [], {name: [] for name in PANORAY}
    total_frames = 0
    validating = (args.data / "mot15-gt").is_dir() and (args.data / "mot15").is_dir()
    detected: dict[float, Any] = {}
    models: dict[str, Any] = {}
    t1 = time.perf_counter()
    if validating:  # the clip's first detection and the noise models' fit, side by side
        from benchmarks.identity_sweep import fitted_models

        detected[scales[0]], models = run_tasks([
            lambda: detect_clip(args.video, "full" in modes, scales[0]),
            lambda: fitted_models(args.data)])
    for scale in scales:
        detections, width, height = (detected.pop(scale) if scale in detected
                                     else detect_clip(args.video, "full" in modes, scale))
        log.info("%s: %d frames, %dx%d at %.1f fps, detected in %.0f s", args.video.name,
                 len(detections["tiled"]), width, height, fps, time.perf_counter() - t1)
        t1 = time.perf_counter()
        total_frames = len(detections["tiled"])
        times = np.arange(total_frames) / fps
        for mode in modes:
            for rate in rates:
                keep = subsample(times, rate if rate is None or rate < fps else None)
                rows = run_contenders(contenders, [detections[mode][i] for i in keep],
                                      times[keep], width, height)
                label = (f"{mode}, {'native' if rate is None else f'{rate:g} fps'}"
                         + ("" if scale == 1.0 else f", {scale:g} size"))
                print_table(label, rows)
                for name in PANORAY:
                    ratios[name].append((ratio_to_best_peer(rows, name), label))
                runs.append({"detections": mode, "scale": scale, "size": [width, height],
                             "fps": round(fps if rate is None else rate, 2),
                             "frames": len(keep), "trackers": rows})
    validation: dict[str, Any] = {
        "skipped": f"{args.data / 'mot15-gt'} or {args.data / 'mot15'} is absent"}
    if validating:
        validation = validate(args.data, args.quick, contenders, models)
    goals = {}
    for name, values in ratios.items():
        worst, where = max(values)
        goals[f"{name.removeprefix('panoray_')}_breaks_vs_best_peer"] = {
            **goal(worst, TARGET_RATIO, higher_is_better=False), "worst": where,
            "mean": round(float(np.mean([v for v, _ in values])), 3)}
    emit({
        "benchmark": "continuity",
        "quick": args.quick,
        "machine": machine(),
        "clip": {"video": args.video.name, "frames": total_frames, "fps": round(fps, 2)},
        "config": {"detector_threshold": DETECTOR_THRESHOLD, "tracker": "defaults",
                   "edge_margin": EDGE_MARGIN, "settle_s": SETTLE_S, "rejoin_s": REJOIN_S,
                   "rejoin_heights": REJOIN_HEIGHTS},
        "runs": runs,
        "validation": validation,
        "seconds": round(time.perf_counter() - t0, 1),
        "goals": goals,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
