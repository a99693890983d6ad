"""What alerts cost the aggregator: track updates per second with 20 rules per camera
against the same analytics without rules, side by side in one run.

The scene is ``benchmarks/analytics.py``'s (8 cameras, 5 zones and 5 lines each, 20
people per frame at 25 fps). With alerts, every batch also goes through the aggregator's
:class:`~pipeline.alerts.feed.AlertFeed` (a snapshot every ``sample_interval_s`` of
media time) and the samples through the run's
:class:`~pipeline.alerts.runtime.AlertRuntime` (20 rules per camera: occupancy,
presence, queue wait and line flow, plus a zone group over all cameras), in the same
process. In a run the rules are checked in the alerts actor, so this counts their cost
against the aggregator: an upper bound. The two loops alternate, ``--rounds`` times each,
and the median of each is compared. A third loop samples every frame
(``sample_interval_s: 0``) to show what sampling saves (no goal).

Prints progress to stderr and ONE JSON object as the last stdout line:
    {"benchmark": "alerts", ..., "goals": {"alerts_vs_plain": {"value", "target", "met"}}}

Usage:
    python benchmarks/alerts.py [--quick] [--rounds N]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.analytics import CAMERAS, FPS, OBJECTS, camera_config, make_frames  # noqa: E402
from pipeline.alerts.config import AlertsConfig  # noqa: E402
from pipeline.alerts.feed import AlertFeed, observed_cameras  # noqa: E402
from pipeline.alerts.runtime import AlertRuntime  # noqa: E402
from pipeline.analytics.aggregator import Aggregator  # noqa: E402
from pipeline.analytics.groups import ZoneGroupConfig  # noqa: E402

TARGET_RATIO = 0.9
RULES_PER_CAMERA = 20
SAMPLE_INTERVAL_S = 0.5  # the default of alerts.sample_interval_s


def rules_for(cam: str) -> list[dict]:
    """20 rules on one camera of the scene: 10 occupancy, 4 presence, 1 queue wait,
    5 line flow."""
    rules: list[dict] = []
    for z in range(5):
        for n, threshold in enumerate((4, 8)):
            rules.append({"id": f"{cam}-occ{z}-{n}", "kind": "occupancy", "camera_id": cam,
                          "zone_id": f"zone{z}", "threshold": threshold, "for_s": 5})
    for z in range(1, 5):
        rules.append({"id": f"{cam}-presence{z}", "kind": "presence", "camera_id": cam,
                      "zone_id": f"zone{z}", "for_s": 2})
    rules.append({"id": f"{cam}-queue", "kind": "queue_wait", "camera_id": cam,
                  "zone_id": "zone0", "threshold_s": 30})
    for line in ("door_a", "door_b", "aisle_1", "aisle_2", "diag"):
        rules.append({"id": f"{cam}-flow-{line}", "kind": "line_flow", "camera_id": cam,
                      "line_id": line, "threshold_per_min": 60, "window_s": 60})
    assert len(rules) == RULES_PER_CAMERA
    return rules


def build_alerts(cameras: list[str], interval_s: float) -> tuple[AlertFeed, AlertRuntime]:
    group = ZoneGroupConfig(name="floor", zones=[{"camera_id": c, "zone_id": "zone1"}
                                                  for c in cameras])
    cfg = AlertsConfig.model_validate({
        "site": "bench", "sample_interval_s": interval_s,
        "rules": [r for c in cameras for r in rules_for(c)]
        + [{"id": "floor-full", "kind": "occupancy", "group": "floor", "threshold": 30}]})
    feed = AlertFeed(interval_s, observed_cameras(cfg, [group]))
    for c in cameras:
        feed.add_camera(c)
    return feed, AlertRuntime(cfg, [group], root=None, run_id="bench")


def timed(data: dict, frames: int, interval_s: float | None) -> dict:
    """One pass over the frames; ``interval_s`` None: analytics only."""
    cameras = list(data)
    agg = Aggregator()
    config = camera_config()
    for c in cameras:
        agg.add_camera(c, config)
    feed = runtime = None
    if interval_s is not None:
        feed, runtime = build_alerts(cameras, interval_s)
    samples = alerts = 0
    start = time.perf_counter()
    for f in range(frames):
        for c in cameras:
            batch = [data[c][f]]
            out = agg.update(batch)
            if feed is not None:
                observations = feed.collect(batch, out.events, agg.camera_snapshot)
                if observations:
                    samples += len(observations)
                    alerts += len(runtime.observe(observations))
    wall = time.perf_counter() - start
    if runtime is not None:
        runtime.close()
    updates = frames * len(cameras) * OBJECTS
    return {"wall_s": wall, "track_updates_per_s": updates / wall, "samples": samples,
            "alert_events": alerts}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="30 s of media per camera and 3 rounds (under a minute)")
    parser.add_argument("--rounds", type=int, default=None, help="passes of each loop")
    args = parser.parse_args()
    pinned = None
    if hasattr(os, "sched_setaffinity"):
        pinned = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})
    media_s = 30.0 if args.quick else 120.0
    rounds = args.rounds or (3 if args.quick else 5)
    frames = int(media_s * FPS)
    cameras = [f"cam{i}" for i in range(CAMERAS)]
    data = {c: make_frames(c, frames, seed=i) for i, c in enumerate(cameras)}
    runs: dict[str, list[dict]] = {"plain": [], "alerts": [], "every_frame": []}
    for r in range(rounds):  # alternate, so drift in the machine's speed hits both
        for name, interval in (("plain", None), ("alerts", SAMPLE_INTERVAL_S),
                               ("every_frame", 0.0)):
            res = timed(data, frames, interval)
            runs[name].append(res)
            print(f"round {r + 1}/{rounds} {name}: {res['track_updates_per_s']:,.0f} "
                  f"track updates/s, {res['samples']} samples, {res['alert_events']} alert "
                  "events", file=sys.stderr)
    med = {k: statistics.median(x["track_updates_per_s"] for x in v) for k, v in runs.items()}
    worst = min(a["track_updates_per_s"] / p["track_updates_per_s"]
                for a, p in zip(runs["alerts"], runs["plain"], strict=True))
    ratio = med["alerts"] / med["plain"]
    print(json.dumps({
        "benchmark": "alerts",
        "mode": "quick" if args.quick else "full",
        "cameras": CAMERAS,
        "rules_per_camera": RULES_PER_CAMERA,
        "group_rules": 1,
        "sample_interval_s": SAMPLE_INTERVAL_S,
        "media_s_per_camera": media_s,
        "rounds": rounds,
        "pinned_cpu": pinned,
        "track_updates_per_s_plain": round(med["plain"], 1),
        "track_updates_per_s_alerts": round(med["alerts"], 1),
        "track_updates_per_s_every_frame": round(med["every_frame"], 1),
        "ratio_worst_round": round(worst, 3),
        "ratio_every_frame": round(med["every_frame"] / med["plain"], 3),
        "samples_per_pass": runs["alerts"][0]["samples"],
        "alert_events_per_pass": runs["alerts"][0]["alert_events"],
        "goals": {"alerts_vs_plain": {"value": round(ratio, 3), "target": TARGET_RATIO,
                                      "met": ratio >= TARGET_RATIO}},
    }))


if __name__ == "__main__":
    main()
