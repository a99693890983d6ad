"""Offline batch benchmark: many files with default settings against 8 files x N rounds.

Measured side by side in one Ray session, on the same files and detector:
  * batch: every file in one `panoray run --offline` with default settings; the
    cameras that do not fit wait in the offline batch's queue (``ray.max_concurrent_offline``
    unset: as many as the free CPUs host at the default ``placement.num_cpus``);
  * rounds: the same files 8 at a time, one run per round, with ``placement.num_cpus``
    lowered so that all 8 fit (what a user had to know before the batch existed); half
    the rounds run before the batch and half after, so that load from elsewhere on a
    shared machine weighs on both sides alike.
It reports the wall-time ratio batch / rounds (start of the run to its summary, both
sides), whether every file ended with every frame delivered and its track file
exported, and whether each file's tracks are identical on both sides (the same input
gives the same output, however many files run at once). Inputs are real clips: the demo
clip, and the MOT15 videos in ../shared when present, used in turn.
Prints one JSON object as its last line, with a ``goals`` map.

    python benchmarks/batch.py [--quick] [--files 64] [--frames 80]
"""

from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys
import threading
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.app.ray_env import apply_ray_env  # noqa: E402

apply_ray_env()  # this benchmark starts Ray: panoray's Ray and Serve settings first

from benchmarks.common import emit, goal, machine  # noqa: E402
from benchmarks.end_to_end import LINE, ZONE, clips  # noqa: E402

log = logging.getLogger("benchmarks.batch")

ROUND = 8
"""Files per round of the baseline."""
ROUND_NUM_CPUS = 0.05
"""Camera ``placement.num_cpus`` of the rounds, so that 8 fit on a 2-core machine."""
GOALS = {"wall_vs_rounds": 1.2, "files_exported": 1.0, "tracks_identical": 1.0}


def site(files: list[pathlib.Path], ids: list[int], frames: int, **camera: Any) -> Any:
    """Cameras ``file-<i>`` for ``i`` in ``ids`` over ``files`` in turn, ``frames`` each."""
    from pipeline.site_config import SiteConfig

    cams = [{"id": f"file-{i:03d}", "url": str(files[i % len(files)]), "zones": [ZONE],
             "lines": [LINE], "source": {"max_frames": frames}, **camera} for i in ids]
    return SiteConfig.model_validate({"cameras": cams,
                                      "analytics": {"window_s": 10, "window_grace_s": 5}})


def run(handle: Any, cfg: Any, out: pathlib.Path) -> tuple[float, dict[str, Any]]:
    """One offline run to its end; (wall seconds from start to summary, summary)."""
    from pipeline.app.runner import PipelineRunner, RunOptions

    runner = PipelineRunner(cfg, RunOptions(output_dir=out / "parquet", offline=True,
                                            export_tracks=out / "tracks"), detector=handle)
    start = time.perf_counter()
    try:
        runner.start()
        why = runner.wait(threading.Event())
    finally:
        summary = runner.shutdown()
    summary["ended"] = why
    return time.perf_counter() - start, summary


def check(summaries: list[dict[str, Any]], tracks: pathlib.Path, n: int) -> dict[str, Any]:
    """Every file ended with every decoded frame delivered (``--frames``, or fewer where
    the clip is shorter: TUD-Campus has 71), none dropped or failed, its tracks exported."""
    cams = {cid: c for s in summaries for cid, c in s["cameras"].items()}
    ok = [cid for cid, c in cams.items() if c["state"] == "ended"
          and c["frames_delivered"] == c["frames_decoded"] > 0
          and c["frames_dropped"] == c["frames_failed"] == 0
          and (tracks / f"{cid}.txt").is_file() and (tracks / f"{cid}.txt").stat().st_size]
    return {"files": n, "ok": len(ok),
            "frames_delivered": sum(c["frames_delivered"] for c in cams.values()),
            "frames_dropped": sum(c["frames_dropped"] for c in cams.values()),
            "not_ok": sorted(set(cams) - set(ok))[:10]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under 3 minutes)")
    parser.add_argument("--files", type=int, default=None,
                        help="files (default 64; quick: 16), a multiple of 8")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per file (default 80; quick: 40)")
    parser.add_argument("--output", default="/tmp/panoray-bench-batch", help="scratch dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    n = args.files or (16 if args.quick else 64)
    frames = args.frames or (40 if args.quick else 80)
    if n % ROUND or n < 2 * ROUND:
        parser.error(f"--files must be a multiple of {ROUND}, at least {2 * ROUND}; got {n}")
    out = pathlib.Path(args.output)
    files = clips()
    rounds = [list(range(r * ROUND, (r + 1) * ROUND)) for r in range(n // ROUND)]
    half = len(rounds) // 2

    import ray

    from models.config import ModelConfig, ServingConfig
    from pipeline.app.serving import init_ray, start_serving
    from pipeline.site_config import HttpConfig

    init_ray()  # as `panoray run`: one logical CPU per core, no dashboard
    handle = start_serving(ModelConfig(), ServingConfig(), HttpConfig(port=8766),
                           access_logs=False)
    round_walls: list[float] = []
    round_summaries: list[dict[str, Any]] = []
    try:
        def do_rounds(ids: list[list[int]]) -> None:
            for r in ids:
                wall, summary = run(handle, site(files, r, frames,
                                                 placement={"num_cpus": ROUND_NUM_CPUS}),
                                    out / "rounds")
                round_walls.append(wall)
                round_summaries.append(summary)

        do_rounds(rounds[:half])
        batch_wall, batch = run(handle, site(files, list(range(n)), frames), out / "batch")
        do_rounds(rounds[half:])
    finally:
        ray.shutdown()
    rounds_wall = sum(round_walls)
    checked = {"batch": check([batch], out / "batch" / "tracks", n),
               "rounds": check(round_summaries, out / "rounds" / "tracks", n)}
    same = sum((out / "batch" / "tracks" / f"file-{i:03d}.txt").read_bytes()
               == (out / "rounds" / "tracks" / f"file-{i:03d}.txt").read_bytes()
               for i in range(n) if (out / "batch" / "tracks" / f"file-{i:03d}.txt").is_file()
               and (out / "rounds" / "tracks" / f"file-{i:03d}.txt").is_file())
    ratio = batch_wall / rounds_wall
    emit({
        "benchmark": "batch",
        "machine": machine(),
        "inputs": [p.name for p in files],
        "files": n, "frames_per_file": frames, "round": ROUND,
        "batch": {"wall_s": round(batch_wall, 2), "ended": batch["ended"],
                  **batch.get("batch", {}),
                  "frames_per_s": round(checked["batch"]["frames_delivered"] / batch_wall, 2),
                  "check": checked["batch"]},
        "rounds": {"wall_s": round(rounds_wall, 2), "walls_s": [round(w, 2) for w in round_walls],
                   "num_cpus": ROUND_NUM_CPUS,
                   "frames_per_s": round(checked["rounds"]["frames_delivered"] / rounds_wall, 2),
                   "check": checked["rounds"]},
        "tracks_identical": same,
        "goals": {
            "wall_vs_rounds": goal(ratio, GOALS["wall_vs_rounds"], higher_is_better=False),
            "files_exported": goal(checked["batch"]["ok"] / n, GOALS["files_exported"]),
            "tracks_identical": goal(same / n, GOALS["tracks_identical"]),
        },
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
