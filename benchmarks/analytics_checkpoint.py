"""What aggregator checkpoints cost: the actor's update path with and without, side by side.

Two aggregator actors' classes, run in this process without Ray (the same code as on Ray,
less the call overhead, so the checkpoint's share is measured at its largest), each host
the same cameras and write Parquet to their own temporary folder; one also checkpoints
(every ``run.checkpoint_s`` of media time, the default, and before every write). A
throwaway pair of the same actors is run first, untimed (:func:`warm_up`), so that what
a process pays once, at its first event table or Parquet file, lands in neither arm. Every
batch of frames goes to both, in alternating order, and each call is timed; the ratio of
their throughputs is the cost. Each save is timed on the update path (the snapshot, and the
write when it waits for it) and its bytes counted; the writer thread's time is reported
beside it (the process is pinned to one CPU, so that thread's time is spent on the same
core, inside or between the timed calls).
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "analytics.py")

import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import actors.aggregator_actor as aggregator_module
from pipeline.analytics.config import AnalyticsConfig
from pipeline.site_config import RunConfig
from pipeline.sinks import ParquetSinkConfig
from pipeline.sinks.checkpoint import checkpoint_path
from pipeline.sinks.checkpoint_writer import CheckpointWriter
from pipeline.types import TrackedFrame

BATCH_FRAMES = 3
"""Frames per update call: what a tracker forwards at once from a camera at ~10 fps."""
WARM_UP_FRAMES = 60
"""Frames of one camera that :func:`warm_up` feeds each throwaway actor (then closes it:
events, windows and checkpoints written)."""


class SaveMeter:
    """Wraps :meth:`CheckpointWriter.save`: times each save on the caller's side, counts
    its bytes and whether it waited for the write."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.bytes: list[int] = []
        self.waited = 0
        self._save: Callable[..., int] = CheckpointWriter.save

    def __enter__(self) -> SaveMeter:
        save = self._save

        def timed(writer: CheckpointWriter, state: Any, wait: bool = False) -> int:
            t0 = time.perf_counter()
            n = save(writer, state, wait)
            self.seconds.append(time.perf_counter() - t0)
            self.bytes.append(n)
            self.waited += bool(wait)
            return n

        CheckpointWriter.save = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        CheckpointWriter.save = self._save  # type: ignore[method-assign]


def warm_up(actor_class: Any, frames: dict[str, list[TrackedFrame]],
            config: AnalyticsConfig, folder: Path) -> None:
    """Runs one camera's first :data:`WARM_UP_FRAMES` frames through a throwaway actor
    without checkpoints and one with, and closes both, untimed: first-use costs are paid
    here, not by whichever timed arm meets them first (pyarrow imports pandas at the first
    table it builds, about 0.2 s, which fell in the arm with checkpoints). Then collects
    garbage, so that no full collection of what was built
    before (the frames) falls in one arm."""
    cid, seq = next(iter(frames.items()))
    for name, options in (("warm-plain", {}), ("warm-saved", {
            "checkpoint": str(checkpoint_path(folder / "warm-saved", "bench", 0))})):
        actor = actor_class([ParquetSinkConfig(root=folder / name)], "bench", **options)
        actor.add_camera(cid, config)
        for start in range(0, WARM_UP_FRAMES, BATCH_FRAMES):
            actor.update(seq[start:start + BATCH_FRAMES])
        actor.close()
    gc.collect()


def checkpoint_cost(frames: dict[str, list[TrackedFrame]], config: AnalyticsConfig) -> dict:
    """Feeds every camera's frames, ``BATCH_FRAMES`` at a time, interleaved, to an
    aggregator without checkpoints and to one with; returns both throughputs (frames per
    second of update time), their ratio and the saves' bytes and milliseconds."""
    actor_class = aggregator_module.AggregatorActor.__ray_actor_class__
    folder = Path(tempfile.mkdtemp(prefix="panoray-ckpt-bench-"))
    run_s = RunConfig().checkpoint_s
    try:
        warm_up(actor_class, frames, config, folder)
        plain = actor_class([ParquetSinkConfig(root=folder / "plain")], "bench")
        saved = actor_class([ParquetSinkConfig(root=folder / "saved")], "bench",
                            checkpoint=str(checkpoint_path(folder / "saved", "bench", 0)),
                            checkpoint_s=run_s)
        for cid in frames:
            plain.add_camera(cid, config)
            saved.add_camera(cid, config)
        spent = {"plain": 0.0, "saved": 0.0}
        count = len(next(iter(frames.values())))
        with SaveMeter() as meter:
            for k, start in enumerate(range(0, count, BATCH_FRAMES)):
                for cid, seq in frames.items():
                    batch = seq[start:start + BATCH_FRAMES]
                    order = (("plain", plain), ("saved", saved))
                    for name, actor in order if k % 2 else order[::-1]:
                        t0 = time.perf_counter()
                        actor.update(batch)
                        spent[name] += time.perf_counter() - t0
            plain.close()
            saved.close()
            writer_s = saved._writer.write_s  # the thread stopped with the close
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    total = count * len(frames)
    fps = {k: total / v for k, v in spent.items()}
    saves = len(meter.seconds)
    return {
        "checkpoint_s": run_s,
        "batch_frames": BATCH_FRAMES,
        "update_fps_without": round(fps["plain"], 1),
        "update_fps_with": round(fps["saved"], 1),
        "ms_per_batch_without": round(spent["plain"] / (total / BATCH_FRAMES) * 1e3, 3),
        "saves": saves,
        "saves_waited": meter.waited,
        "save_ms_mean": round(sum(meter.seconds) / max(saves, 1) * 1e3, 2),
        "save_ms_max": round(max(meter.seconds, default=0.0) * 1e3, 2),
        "save_kb_mean": round(sum(meter.bytes) / max(saves, 1) / 1024, 1),
        "save_kb_max": round(max(meter.bytes, default=0) / 1024, 1),
        "writer_thread_ms": round(writer_s * 1e3, 1),
        "throughput_ratio": round(fps["saved"] / fps["plain"], 3),
    }
