"""End-to-end benchmark: panoray against the bare model and a naive loop, in one run.

Measured side by side on the same machine and inputs:
  * bare ceiling: ONNX Runtime alone on frames already decoded and resized, the best of
    one session at batch 1, 4 and 8 and of one single-threaded session per core at the
    replicas' batch size (``serving.max_batch_size: auto``: ``AUTO_BATCH_CPU`` on CPU), as they run;
  * naive loop: one process round-robining over the same N files with OpenCV decode,
    resize, ONNX Runtime and the same tracker;
  * panoray offline over the same N files (N = 1, 4, 8): frames/s and ratios to both,
    in steady state: while all N cameras read (they start, and so end, one after
    another; ``to_end`` also times the run from the last start to its end, tail included;
    --quick stops the run after a 30 s steady window, without ``to_end``);
  * panoray live at 50% and 90% of its measured capacity: p50/p95 latency from frame
    capture to tracks, and drops;
  * memory: resident memory of the Ray processes over a soak at 50% load, and its slope;
  * where the CPU goes per analysed frame offline, by kind of process, and Ray's and the
    stages' overhead once the model's and decoding's own costs are taken out
    (benchmarks/cpu_split.py; the model's cost is the bare per-core sessions' CPU per
    image, measured with the bare ceiling; --quick leaves the idle part out).
panoray's cameras detect on the whole frame (``inference.tiling: null``; the default
cuts each frame into 2 tiles plus the whole frame, 3 model runs): the bare model and the
naive loop run the model once per frame, and the overhead is per model run.
The bare ceiling and the naive loop are measured before and after panoray's runs and
averaged, so that load from elsewhere on a shared machine weighs on both sides alike.
Inputs are real clips: the demo clip, and the MOT15 videos in ../shared when present.
Prints one JSON object as its last line, with a ``goals`` map.

    python benchmarks/end_to_end.py [--quick] [--cameras 1,4,8] [--soak-s 600]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import pathlib
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.app.ray_env import apply_ray_env  # noqa: E402

apply_ray_env()  # this benchmark starts Ray: panoray's Ray and Serve settings first

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import cpu_split  # noqa: E402
from benchmarks.common import emit, goal, machine, per_core_sessions, rate  # noqa: E402
from models.config import ModelConfig, ServingConfig  # noqa: E402
from models.detector import OnnxDetector  # noqa: E402
from pipeline.tracking.config import TrackerConfig  # noqa: E402
from pipeline.tracking.tracker import ByteTracker  # noqa: E402

log = logging.getLogger("benchmarks.end_to_end")

DEMO_CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
MOT15 = ROOT.parent / "shared" / "data" / "mot15"
GOALS = {"offline_8_vs_naive": 1.0, "offline_8_vs_bare": 0.85, "live_50_p95_ms": 150.0,
         "soak_rss_growth": 0.05, "overhead_cpu_ms_per_frame": 5.0}
WHOLE_FRAME = {"tiling": None}
"""One model run per frame, as the bare model and the naive loop do (module docstring)."""
IDLE_S = 4.0  # seconds the pipeline's processes are watched idle after an offline run
POLL_S = 1.0
"""Seconds between two looks at the cameras' counters (and CPU times) in an offline run."""
SETTLE_S = 2.0
"""Seconds after the last camera started before the steady window opens."""
MIN_STEADY_S = 8.0
"""Shortest steady window that counts (shorter, the run is timed to its end instead):
cameras deliver in groups of up to 32 frames, so a window's count is off by up to a group
per camera at each end, about 3 % over 8 s of 8 cameras here."""
QUICK_STEADY_S = 30.0
"""--quick: an offline run stops once its steady window is this long (its tail, cameras
ending one after another, and its idle watch are left out)."""
LINE = {"id": "mid", "start": [0.5, 0.1], "end": [0.5, 0.9]}
ZONE = {"id": "left", "points": [[0.0, 0.2], [0.5, 0.2], [0.5, 0.9], [0.0, 0.9]]}


def clips() -> list[pathlib.Path]:
    """The demo clip plus the MOT15 videos when ../shared has them."""
    found = [DEMO_CLIP]
    if MOT15.is_dir():
        found += sorted(MOT15.glob("*/*.mp4"))
    return found


def clip_fps(path: pathlib.Path) -> float:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    return fps


# -- baselines -------------------------------------------------------------------------
def bare_ceiling(det: OnnxDetector, files: list[pathlib.Path], seconds: float) -> dict[str, Any]:
    """ONNX Runtime alone on pre-decoded, pre-resized real frames; images/s per batch."""
    smalls, sizes = cpu_split.model_frames(det, files)
    out = {}
    for bs in (1, 4, 8):
        batch, bsizes = smalls[:bs], sizes[:bs]
        out[str(bs)] = round(rate(lambda: len(det.detect(batch, bsizes)), seconds), 2)
    # one single-threaded session per core at the replicas' batch size, as they run
    batch = ServingConfig().batch_size(on_gpu=det.provider != "cpu")
    per_core = per_core_sessions(smalls[:batch], sizes[:batch], seconds)
    return {"images_per_s_by_batch": out,
            "best": max(*out.values(), round(per_core.images_per_s, 2)),
            "per_core_sessions_batch": batch,
            "per_core_sessions_images_per_s": round(per_core.images_per_s, 2),
            "per_core_sessions_cpu_ms_per_image": round(per_core.cpu_ms_per_image, 2)}


def naive_loop(det: OnnxDetector, files: list[pathlib.Path], frames_each: int) -> float:
    """What a user would write: one process, round-robin decode, resize, infer, track."""
    caps = [cv2.VideoCapture(str(f)) for f in files]
    fps = [c.get(cv2.CAP_PROP_FPS) or 25.0 for c in caps]
    trackers = [ByteTracker(TrackerConfig()) for _ in files]
    done, counts = 0, [0] * len(files)
    start = time.perf_counter()
    while min(counts) < frames_each:
        for i, cap in enumerate(caps):
            if counts[i] >= frames_each:
                continue
            ok, frame = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = cap.read()
            dets = det.detect_image(frame)
            trackers[i].update(dets, counts[i] / fps[i])
            counts[i] += 1
            done += 1
    elapsed = time.perf_counter() - start
    for cap in caps:
        cap.release()
    return done / elapsed


def baselines(files: list[pathlib.Path], naive_counts: list[int], frames_each: int,
              seconds: float) -> dict[str, Any]:
    """The bare ceiling and the naive loop for each camera count, measured now."""
    det = OnnxDetector(ModelConfig())
    out = {"bare": bare_ceiling(det, files, seconds),
           "naive_frames_per_s": {str(n): round(naive_loop(
               det, [files[i % len(files)] for i in range(n)], frames_each), 2)
               for n in naive_counts}}
    del det
    return out


def mean_baselines(before: dict[str, Any], after: dict[str, Any]
                   ) -> tuple[dict[str, Any], dict[str, float]]:
    """Baselines measured before and after panoray's runs, averaged: load that comes and
    goes on a shared machine then weighs on both sides of each ratio alike."""
    by_batch = {k: round((v + after["bare"]["images_per_s_by_batch"][k]) / 2, 2)
                for k, v in before["bare"]["images_per_s_by_batch"].items()}
    naive = {k: round((v + after["naive_frames_per_s"][k]) / 2, 2)
             for k, v in before["naive_frames_per_s"].items()}
    per_core = {k: round((before["bare"][k] + after["bare"][k]) / 2, 2)
                for k in ("per_core_sessions_images_per_s", "per_core_sessions_cpu_ms_per_image")}
    return {"images_per_s_by_batch": by_batch,
            "best": max(*by_batch.values(), per_core["per_core_sessions_images_per_s"]),
            "per_core_sessions_batch": before["bare"]["per_core_sessions_batch"],
            **per_core}, naive


# -- panoray ---------------------------------------------------------------------------
def _site(files: list[pathlib.Path], n: int, site: dict[str, Any] | None = None,
          **camera: Any) -> Any:
    from pipeline.site_config import SiteConfig

    camera = {"inference": WHOLE_FRAME} | camera
    cams = [{"id": f"cam-{i}", "url": str(files[i % len(files)]), "zones": [ZONE],
             "lines": [LINE], **camera} for i in range(n)]
    return SiteConfig.model_validate({"cameras": cams, **(site or {}),
                                      "analytics": {"window_s": 10, "window_grace_s": 5}})


@dataclass(frozen=True)
class Sample:
    """One look at an offline run: when (perf_counter s), frames delivered by all cameras,
    whether every camera was still reading, and every process's CPU times."""

    t: float
    delivered: int
    all_running: bool
    cpu: dict[int, tuple[str, float]]


def sample(runner: Any, frames_each: int) -> Sample:
    """The cameras' counters and the processes' CPU times now."""
    from pipeline.ingest.health import CameraState

    before = time.perf_counter()
    stats = runner.camera_stats()
    t = (before + time.perf_counter()) / 2
    running = all(st.frames_delivered < frames_each and not CameraState(st.state).terminal
                  for st in stats.values())
    return Sample(t, sum(st.frames_delivered for st in stats.values()), running,
                  cpu_split.snapshot())


def steady_window(samples: list[Sample], opens_at: float) -> tuple[Sample, Sample] | None:
    """The window in which every camera reads: from the first sample at ``opens_at`` or
    later to the last one before any camera reached its file's end; None when shorter
    than :data:`MIN_STEADY_S`."""
    inside = [s for s in samples if s.t >= opens_at]
    last = next((i for i, s in enumerate(inside) if not s.all_running), len(inside)) - 1
    if last < 1 or inside[last].t - inside[0].t < MIN_STEADY_S:
        return None
    return inside[0], inside[last]


def run_offline(handle: Any, files: list[pathlib.Path], n: int, frames_each: int,
                out: pathlib.Path, site: dict[str, Any] | None = None,
                inference: dict[str, Any] | None = None,
                steady_s: float | None = None) -> dict[str, Any]:
    """panoray offline over ``n`` cameras of ``frames_each`` frames. Timed in steady state:
    frames/s and CPU per frame while every camera reads, from :data:`SETTLE_S` after the
    last one started until the first reaches its file's end (cameras start one after
    another and end one after another, so the run's start and tail are not ``n``
    cameras); ``to_end``: from the last camera's start to the run's end, tail included.
    ``site``: top-level site settings over the defaults (e.g. ``{"serving": {...}}``);
    ``inference``: the cameras' (default :data:`WHOLE_FRAME`). ``steady_s``: stop the
    run once the steady window is that long (--quick); ``to_end`` and the idle cost are
    then not measured (None)."""
    from pipeline.app.runner import PipelineRunner, RunOptions

    cfg = _site(files, n, site, source={"max_frames": frames_each, "loop": True},
                **({} if inference is None else {"inference": inference}))
    runner = PipelineRunner(cfg, RunOptions(output_dir=out / f"offline-{n}", offline=True),
                            detector=handle)
    runner.start()
    samples = [sample(runner, frames_each)]
    ended, stop = threading.Event(), threading.Event()

    def watch() -> None:
        while not ended.wait(POLL_S):
            samples.append(sample(runner, frames_each))
            if steady_s is not None and samples[-1].all_running and (
                    samples[-1].t - samples[0].t - SETTLE_S >= steady_s):
                stop.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    why = runner.wait(stop)
    ended.set()
    watcher.join()
    last = sample(runner, frames_each)
    first, idle, to_end = samples[0], None, None
    if not stop.is_set():
        # the same processes with no frame flowing (every camera at its file's end): what
        # they cost per second whatever the frame rate
        time.sleep(IDLE_S)
        idle = cpu_split.split(last.cpu, cpu_split.snapshot(), 1)
    summary = runner.shutdown()
    delivered = sum(c["frames_delivered"] for c in summary["cameras"].values())
    dropped = sum(c["frames_dropped"] for c in summary["cameras"].values())
    if not stop.is_set():
        to_end = {"frames": delivered - first.delivered, "seconds": round(last.t - first.t, 2),
                  "frames_per_s": round((delivered - first.delivered) / (last.t - first.t),
                                        2)}
    window = steady_window(samples, first.t + SETTLE_S)
    if window is None:
        log.warning("offline %d cameras: no steady window of %.0f s (too few frames per "
                    "camera); timed to the run's end", n, MIN_STEADY_S)
    opened, closed = window or (first, last)
    timed = closed.delivered - opened.delivered
    return {"cameras": n, "frames": delivered, "dropped": dropped, "ended": why,
            "timed": "steady" if window else "to_end", "frames_timed": timed,
            "seconds": round(closed.t - opened.t, 2),
            "frames_per_s": round(timed / (closed.t - opened.t), 2), "to_end": to_end,
            "cpu_ms_per_frame": cpu_split.split(opened.cpu, closed.cpu, timed),
            "idle_cpu_ms_per_s": None if idle is None else {
                k: round(v / IDLE_S, 2) for k, v in idle.items()}}


def run_live(handle: Any, total_fps: float, seconds: float, out: pathlib.Path, tag: str,
             rss_every_s: float | None = None) -> dict[str, Any]:
    """panoray live at ``total_fps`` frames/s over as few cameras as the clips allow."""
    from pipeline.app.runner import PipelineRunner, RunOptions

    clip = max(clips(), key=clip_fps)  # the fastest clip needs the fewest cameras
    source_fps = clip_fps(clip)
    n = max(1, math.ceil(total_fps / source_fps))
    per_camera = total_fps / n
    cfg = _site([clip], n, mode="live", target_fps=per_camera, source={"loop": True})
    runner = PipelineRunner(cfg, RunOptions(output_dir=out / f"live-{tag}"), detector=handle)
    runner.start()
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    next_sample = start
    while time.perf_counter() - start < seconds:
        now = time.perf_counter()
        if rss_every_s is not None and now >= next_sample:
            samples.append((now - start, ray_rss_mb()))
            next_sample = now + rss_every_s
        time.sleep(0.5)
    stats = runner.camera_stats()
    summary = runner.shutdown()
    delivered = sum(c["frames_delivered"] for c in summary["cameras"].values())
    decoded = sum(c["frames_decoded"] for c in summary["cameras"].values())
    dropped = sum(c["frames_dropped"] for c in summary["cameras"].values())
    result = {
        "cameras": n, "target_fps_total": round(total_fps, 2),
        "delivered_fps": round(delivered / seconds, 2),
        "latency_p50_ms": round(float(np.median([s.latency_p50_ms for s in stats.values()])), 1),
        "latency_p95_ms": round(max(s.latency_p95_ms for s in stats.values()), 1),
        "dropped": dropped, "drop_rate": round(dropped / max(1, decoded), 4),
    }
    if rss_every_s is not None:
        result["rss_samples"] = samples
    return result


def ray_rss_mb() -> float:
    """Resident memory (MB) of this driver and every Ray process on the machine."""
    import psutil

    total = 0
    for proc in psutil.process_iter(["name", "cmdline", "memory_info"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            name = proc.info["name"] or ""
            if proc.pid == os.getpid() or "ray" in name or "ray::" in cmd or "raylet" in cmd \
                    or "gcs_server" in cmd or "default_worker.py" in cmd:
                total += proc.info["memory_info"].rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, TypeError):
            continue
    return total / 2**20


def soak_summary(samples: list[tuple[float, float]], warmup_fraction: float) -> dict[str, Any]:
    """RSS after warm-up vs at the end, and the slope (MB/min) of a linear fit after it."""
    cut = samples[0][0] + warmup_fraction * (samples[-1][0] - samples[0][0])
    after = [(t, m) for t, m in samples if t >= cut]
    if len(after) < 2:
        return {"growth": float("nan"), "slope_mb_per_min": float("nan")}
    t, m = np.array(after).T
    slope = float(np.polyfit(t, m, 1)[0]) * 60
    return {"start_mb": round(float(m[0]), 1), "end_mb": round(float(m[-1]), 1),
            "growth": round(float((m[-1] - m[0]) / m[0]), 4),
            "slope_mb_per_min": round(slope, 2), "samples": len(samples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under 3 minutes)")
    parser.add_argument("--cameras", default=None,
                        help="camera counts for offline runs (default 1,4,8; quick: 8)")
    parser.add_argument("--soak-s", type=float, default=None, help="soak length (s)")
    parser.add_argument("--live-s", type=float, default=None, help="each live run (s)")
    parser.add_argument("--output", default="/tmp/panoray-bench", help="scratch output dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    counts = [int(c) for c in (args.cameras or ("8" if args.quick else "1,4,8")).split(",")]
    # offline runs are timed while every camera reads (run_offline), so each camera needs
    # more frames than the last one's start takes (8 cameras, 4 at a time, over several s),
    # and the window must outlast the 32-frame groups' steps; the naive loop settles at once
    frames_each = 800 if args.quick else 1000
    naive_each = 60 if args.quick else 200
    seconds = 1.5 if args.quick else 8.0
    live_s = args.live_s or (8.0 if args.quick else 60.0)
    soak_s = args.soak_s or (20.0 if args.quick else 600.0)
    out = pathlib.Path(args.output)
    files = clips()

    naive_counts = counts if not args.quick else [max(counts)]
    before = baselines(files, naive_counts, naive_each, seconds)
    decode_ms = cpu_split.decode_cpu_ms(files)

    import ray
    from ray import serve

    from pipeline.app.serving import init_ray, start_serving
    from pipeline.site_config import HttpConfig

    # panoray's own local Ray settings (no spilling, a bounded task-event store), so that
    # the soak measures what `panoray run` runs.
    init_ray(num_cpus=max(4, max(counts) // 2 + 3))  # no dashboard, as `panoray run`
    handle = start_serving(ModelConfig(), ServingConfig(), HttpConfig(port=8765),
                           access_logs=False)
    try:
        # --quick stops each offline run once its steady window is QUICK_STEADY_S long
        offline = {str(n): run_offline(handle, files, n, frames_each, out,
                                       steady_s=QUICK_STEADY_S if args.quick else None)
                   for n in counts}
        capacity = max(r["frames_per_s"] for r in offline.values())
        # --quick: the soak runs at 50 % load: its latency stands for the 50 % run
        live = {f"{int(load * 100)}%": run_live(handle, load * capacity, live_s, out, str(load))
                for load in ((0.9,) if args.quick else (0.5, 0.9))}
        soak_run = run_live(handle, 0.5 * capacity, soak_s, out, "soak", rss_every_s=2.0)
        if args.quick:
            live = {"50%": {k: v for k, v in soak_run.items() if k != "rss_samples"}, **live}
    finally:
        serve.shutdown()
        ray.shutdown()
    after = baselines(files, naive_counts, naive_each, seconds)
    bare, naive = mean_baselines(before, after)
    # the model's own cost: the bare sessions' CPU per image, one per core side by side as
    # the replicas run, before and after panoray's runs
    model_ms = bare["per_core_sessions_cpu_ms_per_image"]
    soak = soak_summary(soak_run.pop("rss_samples"), warmup_fraction=0.25)
    top = str(max(counts))
    vs_naive = offline[top]["frames_per_s"] / naive.get(top, max(naive.values()))
    vs_bare = offline[top]["frames_per_s"] / bare["best"]
    split = {n: cpu_split.overhead(r["cpu_ms_per_frame"], model_ms, decode_ms,
                                   r["idle_cpu_ms_per_s"], r["frames_per_s"])
             for n, r in offline.items()}
    emit({
        "benchmark": "end_to_end",
        "machine": machine(),
        "inputs": [p.name for p in files],
        "frames_per_camera": {"offline": frames_each, "naive": naive_each},
        "bare": bare,
        "naive_frames_per_s": naive,
        "baselines_before_and_after": [before, after],
        "offline": offline,
        "ratios": {f"offline_{n}": {
            "vs_naive": round(offline[str(n)]["frames_per_s"] / naive[str(n)], 3)
            if str(n) in naive else None,
            "vs_bare": round(offline[str(n)]["frames_per_s"] / bare["best"], 3),
            "vs_per_core_sessions": round(
                offline[str(n)]["frames_per_s"] / bare["per_core_sessions_images_per_s"], 3)}
            for n in counts},
        "cpu_split": split,
        "capacity_frames_per_s": capacity,
        "live": live,
        "soak": {"seconds": soak_s, **soak_run, **soak},
        "goals": {
            f"offline_{top}_vs_naive": goal(vs_naive, GOALS["offline_8_vs_naive"]),
            f"offline_{top}_vs_bare": goal(vs_bare, GOALS["offline_8_vs_bare"]),
            "live_50_p95_ms": goal(live["50%"]["latency_p95_ms"], GOALS["live_50_p95_ms"],
                                   higher_is_better=False),
            "soak_rss_growth": goal(soak["growth"], GOALS["soak_rss_growth"],
                                    higher_is_better=False),
            f"overhead_{top}_cpu_ms_per_frame": goal(
                split[top]["overhead_cpu_ms"], GOALS["overhead_cpu_ms_per_frame"],
                higher_is_better=False),
        },
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
