"""Losing a node mid-run, on a real multi-node Ray cluster on this machine.

Run by tests/cluster/test_multinode.py as its own process: ``ray.cluster_utils.Cluster``
starts several raylets and must not share a process with the test session's Ray.

The cluster: a head node (detector, HTTP API, pipeline controller, tracker, aggregator:
the driver's node) and three worker nodes offering the custom resource ``camera-host``.
Three live cameras require ``camera-host`` and are spread over the workers, one each.
Once analytics windows have been written, the worker node of one camera is killed (as a
machine that dies: no graceful drain); the controller re-creates that camera on a
remaining worker, where it resumes. The run then stops cleanly.

Prints one JSON object (the last line of stdout) with what happened; the test asserts on it.

    python tests/cluster/multinode_scenario.py --out /tmp/out
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import socket
import sys
import time
from typing import Any

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_AUTH_MODE"] = "disabled"  # a throwaway local cluster; no token needed

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline.app.ray_env import apply_ray_env  # noqa: E402

apply_ray_env()  # this script starts Ray: panoray's Ray and Serve settings first

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from models.config import ModelConfig, ServingConfig  # noqa: E402
from pipeline.app.runner import PipelineRunner, RunOptions  # noqa: E402
from pipeline.app.serving import start_serving  # noqa: E402
from pipeline.site_config import HttpConfig, SiteConfig  # noqa: E402

CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
MB = 1024 * 1024
WORKERS = 3
CAMERAS = 3
FAST_NODE_DEATH = {  # notice a killed node in about 2 s instead of about 15 s
    "health_check_initial_delay_ms": 1000,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 4,
}

log = logging.getLogger("multinode")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def files(root: pathlib.Path) -> dict[str, tuple[int, int]]:
    """Every finished output file with its size and modification time. Hidden files and
    folders are not output: writes in progress (the sink writes ``.name.<token>.tmp`` and
    renames it into place) and the aggregators' checkpoints (``.checkpoints/``)."""
    out = {}
    for p in root.rglob("*"):
        if any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        try:
            st = p.stat()
        except FileNotFoundError:  # renamed or removed while listing
            continue
        if p.is_file():
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def site_config() -> SiteConfig:
    zone = {"id": "path-west", "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]}
    line = {"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66]}
    return SiteConfig.model_validate({
        "cameras": [{"id": f"cam-{i}", "url": str(CLIP), "mode": "live", "target_fps": 4,
                     "zones": [zone], "lines": [line], "source": {"loop": True},
                     "placement": {"resources": {"camera-host": 1}}} for i in range(CAMERAS)],
        "analytics": {"window_s": 4, "window_grace_s": 2, "min_distinct_tracks": 1},
        "ray": {"camera_placement": "spread", "camera_check_interval_s": 1.0},
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory of the run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = pathlib.Path(args.out)
    started = time.monotonic()
    result: dict[str, Any] = {}

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "object_store_memory": 200 * MB, "include_dashboard": False,
        "_system_config": FAST_NODE_DEATH,
    })
    try:
        ray.init(address=cluster.address, namespace="panoray", logging_level=logging.WARNING)
        # Serve first, while the head is the only node: the detector and API stay there.
        detector = start_serving(
            ModelConfig(), ServingConfig(max_batch_size=8, batch_wait_timeout_s=0.02),
            HttpConfig(port=free_port()), access_logs=False,
        )
        workers = [cluster.add_node(num_cpus=1, object_store_memory=100 * MB,
                                    resources={"camera-host": 4}) for _ in range(WORKERS)]
        cluster.wait_for_nodes()
        worker_ids = {w.node_id: w for w in workers}
        head_id = cluster.head_node.node_id

        runner = PipelineRunner(site_config(), RunOptions(output_dir=out), detector=detector)
        runner.start()
        ctl = runner.controller

        def cameras() -> dict[str, dict[str, Any]]:
            return {c["id"]: c for c in ray.get(ctl.cameras.remote(), timeout=60)}

        wait_until("every camera streaming and a window written", lambda: all(
            c["state"] == "streaming" and c["frames_delivered"] > 0
            for c in cameras().values()) and list(out.glob("metrics/*/*/*.parquet")), 120)
        before = cameras()
        result["nodes_before"] = {cid: c["node_id"] for cid, c in before.items()}
        result["head_node"] = head_id
        result["worker_nodes"] = sorted(worker_ids)
        victim_cam = sorted(before)[0]
        victim_node = before[victim_cam]["node_id"]
        result["victim_camera"], result["victim_node"] = victim_cam, victim_node
        lost = [cid for cid, c in before.items() if c["node_id"] == victim_node]
        result["cameras_on_victim"] = lost
        files_before = files(out)
        result["files_before"] = len(files_before)
        delivered_before = {cid: c["frames_delivered"] for cid, c in before.items()}

        log.info("removing node %s (cameras %s)", victim_node, lost)
        removed_at = time.monotonic()
        cluster.remove_node(worker_ids[victim_node], allow_graceful=False)

        def recovered() -> dict[str, dict[str, Any]] | None:
            now = cameras()
            ok = all(now[cid]["restarts"] >= 1 and now[cid]["state"] == "streaming"
                     and now[cid]["node_id"] not in (None, victim_node)
                     and now[cid]["frames_delivered"] > delivered_before[cid] + 8
                     for cid in lost)
            return now if ok else None

        after = wait_until("the lost cameras to resume elsewhere", recovered, 90)
        result["recovery_s"] = round(time.monotonic() - removed_at, 1)
        others_during = cameras()
        result["others_kept_running"] = all(
            others_during[cid]["restarts"] == 0 and others_during[cid]["state"] == "streaming"
            and others_during[cid]["frames_delivered"] > delivered_before[cid]
            for cid in before if cid not in lost)
        time.sleep(6)  # let the resumed camera close a window or two
        final_views = cameras()
        result["after"] = {cid: {k: c[k] for k in ("node_id", "restarts", "state",
                                                   "frames_delivered", "reason")}
                           for cid, c in final_views.items()}
        result["recovered_view"] = {cid: after[cid]["node_id"] for cid in lost}
        summary = runner.shutdown()
        result["summary"] = summary["cameras"]

        files_after = files(out)
        result["files_after"] = len(files_after)
        result["files_lost_or_changed"] = sorted(
            p for p, meta in files_before.items()
            if not p.startswith("heatmaps") and files_after.get(p) != meta)
        result["heatmaps_lost_or_changed"] = sorted(
            p for p, meta in files_before.items()
            if p.startswith("heatmaps") and files_after.get(p) != meta)
        import pandas as pd

        metrics = pd.read_parquet(out / "metrics")
        events = pd.read_parquet(out / "events")
        per_cam = metrics.groupby("camera_id").window_start_s.agg(["min", "max", "count"])
        result["metrics_windows"] = {cid: {k: float(v) for k, v in row.items()}
                                     for cid, row in per_cam.iterrows()}
        result["event_cameras"] = sorted(set(events.camera_id))
        dup = metrics.duplicated(subset=["camera_id", "element_id", "window_start_s"])
        result["duplicate_windows"] = int(dup.sum())
    finally:
        result["wall_s"] = round(time.monotonic() - started, 1)
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
