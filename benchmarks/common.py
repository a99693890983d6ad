"""Helpers shared by the benchmark scripts: timing loops, percentiles, the JSON report."""

from __future__ import annotations

import json
import logging
import os
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


def read_video(video: Path, num_frames: int) -> list[np.ndarray]:
    """The first ``num_frames`` frames of a video file, BGR (fewer, with a warning, when
    the file is shorter)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    frames = []
    try:
        while len(frames) < num_frames:
            ok, image = cap.read()
            if not ok:
                break
            frames.append(image)
    finally:
        cap.release()
    if len(frames) < num_frames:
        logging.getLogger("benchmarks").warning("%s: decoded %d of %d frames", video,
                                                len(frames), num_frames)
    return frames


def goal(value: float, target: float, higher_is_better: bool = True) -> dict[str, Any]:
    """One entry of a report's ``goals`` map."""
    met = value >= target if higher_is_better else value <= target
    return {"value": round(float(value), 4), "target": target, "met": bool(met)}


def spread(name: str, values: list[float], digits: int) -> dict[str, float]:
    """``{name}_mean``, ``{name}_min`` and ``{name}_max`` of ``values``, rounded."""
    return {f"{name}_mean": round(float(np.mean(values)), digits),
            f"{name}_min": round(float(min(values)), digits),
            f"{name}_max": round(float(max(values)), digits)}


def percentiles_ms(samples_s: list[float]) -> dict[str, float]:
    """p50 and p95 of latencies given in seconds, in milliseconds."""
    if not samples_s:
        return {"p50_ms": float("nan"), "p95_ms": float("nan")}
    arr = np.asarray(samples_s) * 1000
    return {"p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p95_ms": round(float(np.percentile(arr, 95)), 2)}


def rate(fn: Callable[[], int], seconds: float, warmup: int = 2) -> float:
    """Calls ``fn`` (which returns items done) repeatedly for ``seconds``; items per second."""
    for _ in range(warmup):
        fn()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += fn()
    return done / (time.perf_counter() - start)


class SessionsRun(NamedTuple):
    """What :func:`per_core_sessions` measured."""

    images_per_s: float
    """Images/s of all sessions together (wall time)."""
    cpu_ms_per_image: float
    """CPU-ms per image of one session (thread CPU time) while all run side by side."""


def per_core_sessions(frames: list[Any], sizes: list[tuple[int, int]],
                      seconds: float) -> SessionsRun:
    """One single-threaded session of the default model per core, all running ``frames``
    (one batch, model-sized) side by side, one Python thread each (ONNX Runtime releases
    the GIL while it runs), as the detector replicas of ``replicas: auto`` do: the most
    ONNX Runtime alone gets out of the machine, a stricter ceiling than one session spread
    over the cores, and the model's own CPU cost per image under that load (cores busy
    side by side cost each other CPU time: 6-17 % more per image than one session alone,
    on the 2-core development machine)."""
    from models.config import ModelConfig
    from models.deployment import cpu_cores
    from models.detector import OnnxDetector

    sessions = [OnnxDetector(ModelConfig(intra_op_threads=1)) for _ in range(cpu_cores())]
    for det in sessions:
        det.detect(frames, sizes)  # warm-up
    done = [0] * len(sessions)
    cpu_s = [0.0] * len(sessions)
    stop_at = time.perf_counter() + seconds

    def loop(i: int) -> None:
        cpu0 = time.thread_time()
        while time.perf_counter() < stop_at:
            done[i] += len(sessions[i].detect(frames, sizes))
        cpu_s[i] = time.thread_time() - cpu0

    start = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(sessions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return SessionsRun(images_per_s=sum(done) / (time.perf_counter() - start),
                       cpu_ms_per_image=1000 * sum(cpu_s) / max(1, sum(done)))


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {"cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version()}


def script_logging() -> None:
    """A benchmark script's logging: progress at INFO to stderr with times, the model's
    own messages from WARNING, and the libraries' deprecation chatter (numpy's, and the
    peer trackers' UserWarnings) left out of the report."""
    import sys
    import warnings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("models").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="trackers")


def emit(report: dict[str, Any]) -> None:
    """Prints the report as the last line of stdout (the harness contract)."""
    print(json.dumps(report, default=float), flush=True)


def part_of(doc: str | None, script: str) -> None:
    """What a benchmark's helper module does when run as a script: it is a part of
    ``script``, not a benchmark itself; ``--help`` says so, any other use exits 2."""
    import argparse

    summary = (doc or "").strip().splitlines()[0] if doc else ""
    parser = argparse.ArgumentParser(
        description=f"{summary} A part of benchmarks/{script}, not a benchmark itself: "
        f"run `python benchmarks/{script}` (see its --help).")
    parser.parse_args()
    parser.error(f"nothing to run here; run benchmarks/{script}")


if __name__ == "__main__":
    part_of(__doc__, "<benchmark>.py")
