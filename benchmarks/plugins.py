"""What an analytics plugin costs the aggregator: the flow-time example plugin, A/B.

The analytics benchmark's scene (benchmarks/analytics.py: cameras with 5 zones and 5
lines, 20 people per frame at 25 fps, tracks born, crossing and removed all the time) is
fed through the aggregator core twice per round, in alternation, in one process pinned
to one CPU: A without plugins, B with the flow-time example plugin
(examples/plugins/flowtime: zone0 to door_a) on every camera, its rows checked,
suppressed and made into Arrow tables by the plugin host as windows close (no sink: disk
time is the sinks' benchmark). The cost is 1 - rate(B) / rate(A) per round (a fresh pair
of aggregators each), reported as the median and the worst round.

Prints progress to stderr and ONE JSON object as the last stdout line:
    {"benchmark": "plugins", ..., "goals": {"plugin_cost": {"value", "target", "met"}}}

Usage:
    python benchmarks/plugins.py [--quick]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.analytics import FPS, OBJECTS, camera_config, make_frames  # noqa: E402
from benchmarks.common import emit, goal, machine  # noqa: E402
from pipeline.analytics.aggregator import Aggregator  # noqa: E402
from pipeline.analytics.config import AnalyticsConfig  # noqa: E402

TARGET_COST = 0.10
"""Most throughput the example plugin may take from the aggregator (fraction)."""
PLUGIN = {"type": "examples.plugins.flowtime.panoray_flowtime:FlowTime", "name": "flow",
          "config": {"from_zone": "zone0", "to_line": "door_a"}}


def one_round(arms: dict[str, AnalyticsConfig], cameras: list[str], data: dict
              ) -> tuple[dict[str, float], int]:
    """Feeds every camera's frames, interleaved, through one new aggregator per arm, the
    arms in lockstep (each frame to A, then to B, each call timed), so that both see the
    same machine; returns each arm's seconds and the plugin rows made."""
    aggs = {name: Aggregator() for name in arms}
    for name, agg in aggs.items():
        for c in cameras:
            agg.add_camera(c, arms[name])
    spent = dict.fromkeys(arms, 0.0)
    rows = 0
    clock = time.perf_counter
    for f in range(len(next(iter(data.values())))):
        for c in cameras:
            frame = [data[c][f]]
            for name, agg in aggs.items():
                t0 = clock()
                agg.update(frame)
                rows += sum(t.table.num_rows for t in agg.pop_plugin_tables())
                spent[name] += clock() - t0
    for agg in aggs.values():
        agg.close()
        rows += sum(t.table.num_rows for t in agg.pop_plugin_tables())
        if agg.snapshot().plugin_errors:
            raise SystemExit(f"the plugin stopped: {agg.snapshot().plugin_errors}")
    return spent, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="4 cameras x 60 s of media, 5 rounds (instead of 8 x 120 s, 7)")
    args = parser.parse_args()
    pinned = None
    if hasattr(os, "sched_setaffinity"):
        pinned = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})
    n_cameras, media_s, rounds = (4, 60.0, 5) if args.quick else (8, 120.0, 7)
    cameras = [f"cam{i}" for i in range(n_cameras)]
    data = {c: make_frames(c, int(media_s * FPS), seed=i) for i, c in enumerate(cameras)}
    base = camera_config()
    arms = {"without": base.model_copy(update={"plugins": ()}),
            "with_plugin": AnalyticsConfig.model_validate({**base.model_dump(),
                                                           "plugins": [PLUGIN]})}
    updates = len(cameras) * int(media_s * FPS) * OBJECTS
    rates: dict[str, list[float]] = {name: [] for name in arms}
    costs, plugin_rows = [], 0
    for r in range(rounds):
        spent, plugin_rows = one_round(arms, cameras, data)
        for name in arms:
            rates[name].append(updates / spent[name])
        costs.append(1.0 - spent["without"] / spent["with_plugin"])
        print(f"round {r + 1}/{rounds}: {rates['without'][-1]:,.0f} vs "
              f"{rates['with_plugin'][-1]:,.0f} track updates/s, cost {costs[-1]:+.1%}",
              file=sys.stderr)
    cost = statistics.median(costs)
    emit({
        "benchmark": "plugins", "mode": "quick" if args.quick else "full",
        "cameras": n_cameras, "media_s_per_camera": media_s, "rounds": rounds,
        "objects_per_frame": OBJECTS, "pinned_cpu": pinned, **machine(),
        "track_updates_per_s": {name: round(statistics.median(v), 1)
                                for name, v in rates.items()},
        "cost_per_round": [round(c, 4) for c in costs],
        "cost_worst": round(max(costs), 4),
        "plugin_rows": plugin_rows,
        "goals": {"plugin_cost": goal(round(cost, 4), TARGET_COST, higher_is_better=False)},
    })


if __name__ == "__main__":
    main()
