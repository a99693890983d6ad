"""Throughput of the analytics: track updates per second on one core.

8 cameras, each with 5 zones (one a queue) and 5 lines, 20 people per frame at 25 fps,
walking with jitter; people leave and are replaced, so tracks are born, cross lines,
visit zones and are removed all the time. Trajectories are generated before timing; the
timed loop feeds every camera's frames, interleaved, through the aggregator core (no Ray,
no sink) in one process pinned to one CPU.

Then the aggregator actor's update path with and without checkpoints, side by side
(:mod:`benchmarks.analytics_checkpoint`): the same 8 cameras at 10 fps, in batches of 3
frames, each actor writing Parquet; the goal ``checkpoint_cost`` is the throughput with
checkpoints over that without.

Prints progress to stderr and ONE JSON object as the last stdout line:
    {"benchmark": "analytics", ..., "goals": {"track_updates_per_s": {...},
     "checkpoint_cost": {"value", "target", "met"}}}

Usage:
    python benchmarks/analytics.py [--quick] [--profile]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.analytics_checkpoint import checkpoint_cost  # noqa: E402
from pipeline.analytics.aggregator import Aggregator  # noqa: E402
from pipeline.analytics.config import AnalyticsConfig  # noqa: E402
from pipeline.types import FrameMeta, TrackedFrame, Tracks  # noqa: E402

TARGET_UPDATES_PER_S = 20_000.0
TARGET_CHECKPOINT_RATIO = 0.9
"""Aggregator throughput with checkpoints over without (the update path, Parquet output)."""
CHECKPOINT_FPS = 10.0
"""Frame rate of the checkpoint comparison: a live camera analysed at 10 fps."""
CAMERAS = 8
OBJECTS = 20
FPS = 25.0
WIDTH, HEIGHT = 1920, 1080


def camera_config() -> AnalyticsConfig:
    """5 zones (a 3 x 2 grid of rectangles minus one, one a queue) and 5 lines."""
    zones = []
    for i, (cx, cy) in enumerate([(0.2, 0.3), (0.5, 0.3), (0.8, 0.3), (0.3, 0.75), (0.7, 0.75)]):
        zones.append(
            {
                "id": f"zone{i}",
                "queue": i == 0,
                "points": [
                    [cx - 0.12, cy - 0.15],
                    [cx + 0.12, cy - 0.15],
                    [cx + 0.12, cy + 0.15],
                    [cx, cy + 0.2],
                    [cx - 0.12, cy + 0.15],
                ],
            }
        )
    lines = [
        {"id": "door_a", "start": [0.1, 0.5], "end": [0.45, 0.5]},
        {"id": "door_b", "start": [0.55, 0.5], "end": [0.9, 0.5]},
        {"id": "aisle_1", "start": [0.33, 0.05], "end": [0.33, 0.95]},
        {"id": "aisle_2", "start": [0.66, 0.05], "end": [0.66, 0.95]},
        {"id": "diag", "start": [0.1, 0.9], "end": [0.9, 0.1]},
    ]
    return AnalyticsConfig(zones=zones, lines=lines, min_distinct_tracks=5)


def make_frames(camera_id: str, frames: int, seed: int, fps: float = FPS) -> list[TrackedFrame]:
    """Random walkers: OBJECTS people per frame, replaced when they leave the frame."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform([0, 0], [WIDTH, HEIGHT], size=(OBJECTS, 2))
    vel = rng.normal(0, 6, size=(OBJECTS, 2))
    ids = np.arange(OBJECTS, dtype=np.int64)
    next_id = OBJECTS
    h = rng.uniform(120, 300, OBJECTS)
    out = []
    for f in range(frames):
        vel += rng.normal(0, 0.8, size=vel.shape)
        np.clip(vel, -12, 12, out=vel)
        pos += vel + rng.normal(0, 1.5, size=pos.shape)  # detector jitter
        gone = (
            (pos[:, 0] < -50)
            | (pos[:, 0] > WIDTH + 50)
            | (pos[:, 1] < -50)
            | (pos[:, 1] > HEIGHT + 50)
        )
        removed = ids[gone].tolist()
        if gone.any():
            k = int(gone.sum())
            pos[gone] = rng.uniform([0, 0], [WIDTH, HEIGHT], size=(k, 2))
            vel[gone] = rng.normal(0, 6, size=(k, 2))
            h[gone] = rng.uniform(120, 300, k)
            ids[gone] = np.arange(next_id, next_id + k)
            next_id += k
        boxes = np.stack([pos[:, 0] - h / 6, pos[:, 1] - h, pos[:, 0] + h / 6, pos[:, 1]], axis=1)
        tracks = Tracks(
            boxes.astype(np.float32),
            np.full(OBJECTS, 0.9, np.float32),
            np.zeros(OBJECTS, np.int16),
            ids.copy(),
        )
        pts = f / fps
        out.append(TrackedFrame(FrameMeta(camera_id, f, pts, 1.8e9 + pts, WIDTH, HEIGHT), tracks,
                                removed))
    return out


def run(frames_per_camera: int, profile: bool) -> dict:
    cameras = [f"cam{i}" for i in range(CAMERAS)]
    t0 = time.perf_counter()
    data = {c: make_frames(c, frames_per_camera, seed=i) for i, c in enumerate(cameras)}
    print(
        f"generated {frames_per_camera} frames x {CAMERAS} cameras in "
        f"{time.perf_counter() - t0:.1f}s",
        file=sys.stderr,
    )
    agg = Aggregator()
    config = camera_config()
    for c in cameras:
        agg.add_camera(c, config)
    profiler = cProfile.Profile() if profile else None
    events = windows = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    if profiler:
        profiler.enable()
    for f in range(frames_per_camera):
        for c in cameras:
            out = agg.update([data[c][f]])
            events += len(out.events)
            windows += len(out.windows)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    windows += len(agg.close())
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    updates = frames_per_camera * CAMERAS * OBJECTS
    return {
        "track_updates": updates,
        "frames": frames_per_camera * CAMERAS,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "track_updates_per_s": round(updates / wall, 1),
        "track_updates_per_cpu_s": round(updates / cpu, 1),
        "frames_per_s": round(frames_per_camera * CAMERAS / wall, 1),
        "us_per_frame": round(wall / (frames_per_camera * CAMERAS) * 1e6, 1),
        "events": events,
        "windows_closed": windows,
        "objects_per_frame": OBJECTS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="90 s of media per camera (windows close inside the timed loop) instead of 300 s",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary to stderr")
    args = parser.parse_args()
    pinned = None
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = cpu
    media_s = 90.0 if args.quick else 300.0
    result = run(int(media_s * FPS), args.profile)
    rate = result["track_updates_per_s"]
    frames = {f"cam{i}": make_frames(f"cam{i}", int(media_s * CHECKPOINT_FPS), seed=i,
                                     fps=CHECKPOINT_FPS) for i in range(CAMERAS)}
    cost = checkpoint_cost(frames, camera_config())
    print(f"checkpoint cost: {cost}", file=sys.stderr)
    out = {
        "benchmark": "analytics",
        "mode": "quick" if args.quick else "full",
        "cameras": CAMERAS,
        "zones_per_camera": 5,
        "lines_per_camera": 5,
        "media_s_per_camera": media_s,
        "pinned_cpu": pinned,
        **result,
        "checkpoint": cost,
        "goals": {
            "track_updates_per_s": {
                "value": rate,
                "target": TARGET_UPDATES_PER_S,
                "met": rate >= TARGET_UPDATES_PER_S,
            },
            "checkpoint_cost": {
                "value": cost["throughput_ratio"],
                "target": TARGET_CHECKPOINT_RATIO,
                "met": cost["throughput_ratio"] >= TARGET_CHECKPOINT_RATIO,
            },
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
