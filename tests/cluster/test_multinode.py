"""Several Ray nodes on this machine, one of them lost mid-run: its camera is re-created on
another node and resumes; the others never stop; nothing already written is lost.

The scenario runs in its own process (tests/cluster/multinode_scenario.py): a
``ray.cluster_utils.Cluster`` must not share a process with the test session's Ray."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "cluster" / "multinode_scenario.py"


def test_a_lost_node_s_cameras_restart_elsewhere_and_resume(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    proc = subprocess.run([sys.executable, str(SCENARIO), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    tail = (proc.stdout + proc.stderr)[-5000:]
    assert proc.returncode == 0, tail
    r = json.loads(proc.stdout.strip().splitlines()[-1])

    # spread: one camera per worker node, none on the head
    before = r["nodes_before"]
    assert sorted(before.values()) == r["worker_nodes"], r
    assert r["head_node"] not in before.values()

    victim = r["victim_camera"]
    assert r["cameras_on_victim"] == [victim]
    after = r["after"]
    assert after[victim]["restarts"] == 1 and after[victim]["state"] == "streaming"
    assert after[victim]["node_id"] in r["worker_nodes"]
    assert after[victim]["node_id"] != r["victim_node"]
    assert r["others_kept_running"], r
    for cid, view in after.items():
        if cid != victim:
            assert view["restarts"] == 0 and view["node_id"] == before[cid]
    assert r["recovery_s"] < 60

    # counters add up over the restart; the summary says how often the camera restarted
    assert r["summary"][victim]["restarts"] == 1
    assert r["summary"][victim]["frames_delivered"] >= after[victim]["frames_delivered"]

    # nothing written before the loss changed or vanished, heatmaps included; the resumed
    # camera's windows continue its timeline (no window written twice)
    assert r["files_before"] > 0 and r["files_after"] > r["files_before"]
    assert r["files_lost_or_changed"] == [] and r["heatmaps_lost_or_changed"] == []
    assert r["duplicate_windows"] == 0
    assert set(r["metrics_windows"]) == set(before) and set(r["event_cameras"]) <= set(before)
    print(f"multi-node scenario: {r['wall_s']} s, recovery {r['recovery_s']} s")
