"""Where the CPU goes per analysed frame: every process of a local Ray run, by kind.

A part of benchmarks/end_to_end.py. CPU seconds (user + system, psutil) of the driver and
every process it started (GCS, raylet, workers: camera, tracker, aggregator, detector
replicas, Serve's controller and proxy, ...), read at the start and the end of a timed
window and divided by the frames analysed in it. Ray's and the stages' overhead ``o`` is
what is left after the two costs a loop without Ray pays too, measured in the same run
on the same frames:

    o = total CPU-ms per frame - model CPU-ms per frame - decode-and-resize CPU-ms per frame

The model's cost is the CPU time (``time.thread_time``) per image of single-threaded ONNX
Runtime sessions running batches of 8, one per core side by side: what the replicas of
``replicas: auto`` run, under the same load (one session alone, with the other core idle,
costs 6-17 % less per image, and that difference is not Ray's). Decoding is this process
reading the clips with OpenCV and resizing to the model's input.
"""

from __future__ import annotations

import os
import pathlib
import time
from collections import Counter
from typing import Any

KINDS = (
    ("Detector", "detector replicas"),
    ("CameraActor", "camera actors"),
    ("TrackerActor", "tracker actors"),
    ("AggregatorActor", "aggregator actors"),
    ("gcs_server", "Ray: GCS"),
    ("raylet", "Ray: raylet"),
    ("ServeController", "Serve: controller"),
    ("ProxyActor", "Serve: HTTP proxy"),
    ("HttpApi", "Serve: HTTP API replica"),
    ("PipelineController", "pipeline controller"),
)


def _kind(cmdline: str, pid: int) -> str:
    if pid == os.getpid():
        return "driver (benchmark, runner)"
    for marker, kind in KINDS:
        if marker in cmdline:
            return kind
    return "Ray: other processes (dashboard agent, log monitor, ...)"


def snapshot() -> dict[int, tuple[str, float]]:
    """Per process of this run (this one and all it started): (kind, CPU seconds)."""
    import psutil

    me = psutil.Process()
    out: dict[int, tuple[str, float]] = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            cmd = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        out[proc.pid] = (_kind(cmd, proc.pid), times.user + times.system)
    return out


def split(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
          frames: int) -> dict[str, float]:
    """CPU-ms per frame by kind between two snapshots (processes started in between count
    from zero; ones that ended in between are lost, so snapshot in steady state)."""
    by_kind: Counter[str] = Counter()
    for pid, (kind, cpu) in after.items():
        # a worker's title changes when it becomes an actor: the later name is the one
        by_kind[kind] += cpu - before.get(pid, (kind, 0.0))[1]
    per_frame = {k: round(1000 * v / max(1, frames), 2) for k, v in sorted(by_kind.items())}
    per_frame["total"] = round(sum(1000 * v for v in by_kind.values()) / max(1, frames), 2)
    return per_frame


def model_frames(det: Any, files: list[pathlib.Path], per_file: int = 16
                 ) -> tuple[list[Any], list[tuple[int, int]]]:
    """The first ``per_file`` frames of each clip, resized to ``det``'s input, with their
    original (width, height)."""
    import cv2

    from models.preprocess import prepare_frame

    smalls, sizes = [], []
    for path in files:
        cap = cv2.VideoCapture(str(path))
        for _ in range(per_file):
            ok, frame = cap.read()
            if not ok:
                break
            small, tf = prepare_frame(frame, det.input_spec)
            smalls.append(small)
            sizes.append((tf.width, tf.height))
        cap.release()
    return smalls, sizes


def model_cpu_ms(files: list[pathlib.Path], seconds: float = 1.5) -> float:
    """CPU-ms per image of single-threaded sessions of the default model, one per core side
    by side, at the replicas' batch size on CPU (``serving.max_batch_size: auto``), on real
    frames (thread CPU time, so other load on the machine does not count;
    :func:`benchmarks.common.per_core_sessions`)."""
    from benchmarks.common import per_core_sessions
    from models.config import ModelConfig, ServingConfig
    from models.detector import OnnxDetector

    batch = ServingConfig().batch_size(on_gpu=False)
    smalls, sizes = model_frames(OnnxDetector(ModelConfig(intra_op_threads=1)), files)
    return per_core_sessions(smalls[:batch], sizes[:batch], seconds).cpu_ms_per_image


def decode_cpu_ms(files: list[pathlib.Path], frames_each: int = 60) -> float:
    """CPU-ms per frame to decode the clips with OpenCV and resize to the model input."""
    import cv2

    from models.preprocess import InputSpec, prepare_frame

    spec = InputSpec(300, 300)
    done, cpu0 = 0, time.process_time()  # OpenCV may decode on threads of its own
    for path in files:
        cap = cv2.VideoCapture(str(path))
        for _ in range(frames_each):
            ok, frame = cap.read()
            if not ok:
                break
            prepare_frame(frame, spec)
            done += 1
        cap.release()
    return 1000 * (time.process_time() - cpu0) / max(1, done)


def overhead(per_frame: dict[str, float], model_ms: float, decode_ms: float,
             idle_ms_per_s: dict[str, float] | None, frames_per_s: float) -> dict[str, Any]:
    """The split with the model's and decoding's own costs taken out: ``o`` in CPU-ms per
    frame, and the part of it that the processes cost per second while idle (Ray's and
    Serve's background work, which a higher frame rate spreads thinner; None when the
    idle cost was not measured)."""
    o = per_frame["total"] - model_ms - decode_ms
    fixed = None if idle_ms_per_s is None else idle_ms_per_s["total"] / max(frames_per_s, 1e-9)
    return {"by_process_kind": per_frame, "idle_cpu_ms_per_s": idle_ms_per_s,
            "model_cpu_ms": round(model_ms, 2), "decode_cpu_ms": round(decode_ms, 2),
            "overhead_cpu_ms": round(o, 2),
            "of_which_idle_cpu_ms": None if fixed is None else round(fixed, 2),
            "per_frame_overhead_cpu_ms": None if fixed is None else round(o - fixed, 2)}


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "end_to_end.py")
