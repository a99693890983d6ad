"""Ray's and the stages' overhead per analysed frame, A/B: Ray and Serve settings side by side.

Runs end_to_end.py's offline part (8 cameras, its CPU split and idle watch) once per
variant and round, each in a fresh Ray session started by a child process with that
variant's environment, variants interleaved round by round (their order reversed every
other round, so that no variant always runs first) so that load from elsewhere on a shared
machine weighs on each alike. The model's and decoding's own costs are measured once here
and taken out of every run (benchmarks/cpu_split.py). A variant names the environment
variables it sets, whether Ray's dashboard runs and site settings over the defaults
(``serving`` ones reach the detector's replicas too); ``before`` is what panoray ran with
before, so the comparison stays meaningful after the defaults change.

    python benchmarks/overhead_ab.py [--quick] [--rounds 2] [--variants before,after]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import cpu_split  # noqa: E402
from benchmarks.common import emit, goal, machine  # noqa: E402

GOAL_OVERHEAD_CPU_MS = 5.0
TASK_EVENTS_QUIET = {  # Ray's own periodic work, less often (measured, not kept)
    "RAY_task_events_report_interval_ms": "5000",
    "RAY_event_stats": "0",
}
CORE_QUIET = {  # more of Ray's periodic work, less often (measured, not kept)
    **TASK_EVENTS_QUIET,
    "RAY_raylet_report_resources_period_milliseconds": "1000",
    "RAY_memory_monitor_refresh_ms": "1000",
    "RAY_raylet_death_check_interval_milliseconds": "5000",
    "RAY_grpc_client_check_connection_status_interval_milliseconds": "5000",
    "RAY_io_context_event_loop_lag_collection_interval_ms": "60000",
    "RAY_core_worker_internal_heartbeat_ms": "5000",
}
VARIANTS: dict[str, dict[str, Any]] = {
    # `panoray run` before ray.dashboard existed: a local instance started Ray's dashboard
    "before": {"env": {}, "dashboard": True, "site": {"serving": {"direct_calls": False}}},
    "after": {"env": {}, "dashboard": False},  # panoray's defaults now
    "core_quiet": {"env": CORE_QUIET, "dashboard": False},
    "task_events_quiet": {"env": TASK_EVENTS_QUIET, "dashboard": False},
    "router_same_loop": {"env": {"RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0"},
                         "dashboard": False, "site": {"serving": {"direct_calls": False}}},
    # cameras' frames through Serve's router, as before actors/replicas.py
    "serve_handle": {"env": {}, "dashboard": False,
                     "site": {"serving": {"direct_calls": False}}},
    # other batch sizes on CPU (serving.max_batch_size: auto gives 2 there)
    "batch1": {"env": {}, "dashboard": False, "site": {"serving": {"max_batch_size": 1}}},
    "batch8": {"env": {}, "dashboard": False, "site": {"serving": {"max_batch_size": 8}}},
}
"""Each variant: the environment variables it sets over panoray's (pipeline/app/ray_env.py),
whether the local Ray instance starts its dashboard (``ray.dashboard``) and site settings
over the defaults (``site``)."""


def child(frames_each: int, out: pathlib.Path, dashboard: bool,
          site: dict[str, Any] | None = None) -> None:
    """One Ray session: Serve, 8 offline cameras; prints the run's JSON as its last line."""
    from pipeline.app.ray_env import apply_ray_env

    apply_ray_env()
    import ray
    from ray import serve

    from benchmarks.end_to_end import clips, run_offline
    from models.config import ModelConfig, ServingConfig
    from pipeline.app.serving import init_ray, start_serving
    from pipeline.site_config import HttpConfig

    init_ray(num_cpus=7, dashboard=dashboard)
    # the replicas are deployed here, not by the run: the variant's serving settings too
    serving = ServingConfig.model_validate((site or {}).get("serving", {}))
    handle = start_serving(ModelConfig(), serving, HttpConfig(port=8765), access_logs=False)
    try:
        result = run_offline(handle, clips(), 8, frames_each, out, site)
        stats = handle.stats.remote().result()
        result["detector"] = {k: stats[k] for k in ("max_batch_size", "mean_batch_size")}
        result["processes"] = _census()
    finally:
        serve.shutdown()
        ray.shutdown()
    print(json.dumps(result))


def _census(seconds: float = 4.0) -> dict[str, float]:
    """CPU-ms per second of each process of the session (command line, shortened) with
    Serve up and no camera: Ray's and Serve's own background cost, process by process."""
    import time

    import psutil

    def cpu() -> dict[int, tuple[str, float]]:
        out = {}
        for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
            try:
                t = proc.cpu_times()
                out[proc.pid] = (" ".join(proc.cmdline())[:80], t.user + t.system)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return out

    before = cpu()
    time.sleep(seconds)
    after = cpu()
    rows = {f"{pid} {cmd}": round(1000 * (c - before.get(pid, (cmd, 0.0))[1]) / seconds, 1)
            for pid, (cmd, c) in after.items()}
    return dict(sorted(rows.items(), key=lambda kv: -kv[1]))


def run_variant(name: str, frames_each: int, out: pathlib.Path) -> dict[str, Any]:
    env = {**os.environ, **VARIANTS[name]["env"]}
    flags = ["--dashboard"] if VARIANTS[name]["dashboard"] else []
    flags += ["--site", json.dumps(VARIANTS[name].get("site", {}))]
    proc = subprocess.run([sys.executable, __file__, "--child", "--frames", str(frames_each),
                           "--output", str(out / name), *flags], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"variant {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round (under 3 minutes)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 2)")
    parser.add_argument("--variants", default="before,after", help="comma-separated names")
    parser.add_argument("--frames", type=int, default=None,
                        help="frames per camera (default 800, as end_to_end.py --quick, "
                             "timed in steady state; quick: 160, timed to the run's end)")
    parser.add_argument("--output", default="/tmp/panoray-overhead-ab")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dashboard", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--site", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.output)
    args.frames = args.frames or (160 if args.quick else 800)
    if args.child:
        child(args.frames, out, args.dashboard, json.loads(args.site))
        return 0
    from benchmarks.end_to_end import clips

    files = clips()
    model_ms, decode_ms = cpu_split.model_cpu_ms(files), cpu_split.decode_cpu_ms(files)
    names = args.variants.split(",")
    rounds = args.rounds or (1 if args.quick else 2)
    runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:  # neither side always goes first
            r = run_variant(name, args.frames, out)
            r["cpu_split"] = cpu_split.overhead(r.pop("cpu_ms_per_frame"), model_ms, decode_ms,
                                                r.pop("idle_cpu_ms_per_s"), r["frames_per_s"])
            runs[name].append(r)
            print(json.dumps({"variant": name, "frames_per_s": r["frames_per_s"],
                              "detector": r["detector"],
                              **{k: r["cpu_split"][k] for k in (
                                  "overhead_cpu_ms", "of_which_idle_cpu_ms")},
                              "idle_ms_per_s": r["cpu_split"]["idle_cpu_ms_per_s"]}),
                  file=sys.stderr, flush=True)
    mean = {n: round(sum(r["cpu_split"]["overhead_cpu_ms"] for r in rs) / len(rs), 2)
            for n, rs in runs.items()}
    emit({"benchmark": "overhead_ab", "machine": machine(), "variants": VARIANTS,
          "model_cpu_ms": round(model_ms, 2), "decode_cpu_ms": round(decode_ms, 2),
          "runs": runs, "mean_overhead_cpu_ms": mean,
          "goals": {f"overhead_{names[-1]}_cpu_ms_per_frame": goal(
              mean[names[-1]], GOAL_OVERHEAD_CPU_MS, higher_is_better=False)}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
