"""`panoray run` as a Ray job, for real: a cluster started with `ray start --head` (token
authentication on, as Ray 2.60 does by default), `ray job submit --working-dir .`, Parquet
output checked. The cluster is this test's own: stopped by its process, never `ray stop`
(which would stop every Ray on the machine, the test session's included)."""

import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pandas as pd

from tests.conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
VENV_BIN = pathlib.Path(sys.executable).parent
RAY = str(VENV_BIN / "ray")
FRAMES = 100
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def _env(token: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    env.update(
        RAY_AUTH_MODE="token",      # explicit: the head and every client use the same mode
        RAY_AUTH_TOKEN=token,       # and the same token, without touching ~/.ray/auth_token
        RAY_USAGE_STATS_ENABLED="0",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",  # the job's `python` is the venv's
    )
    return env


def _ray(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


def _job_status(text: str) -> str:
    """The status `ray job status` printed: "Job 'x' succeeded", "Status for job 'x': RUNNING"."""
    ended = re.search(r"Job '[^']+' (succeeded|failed|was stopped)", text)
    if ended:
        return {"succeeded": "SUCCEEDED", "failed": "FAILED", "was stopped": "STOPPED"}[ended[1]]
    running = re.search(r"Status for job '[^']+': (\w+)", text)
    return running[1] if running else ""


def test_panoray_run_as_a_ray_job(tmp_path):
    token = secrets.token_hex(32)
    env = _env(token)
    dashboard = f"http://127.0.0.1:{free_port()}"
    head_log = open(tmp_path / "head.log", "w+")
    # Ray's socket paths must stay under 107 bytes: a short folder of our own under /tmp
    ray_tmp = tempfile.mkdtemp(prefix="prj-", dir="/tmp")
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", f"--port={free_port()}",
         f"--dashboard-port={dashboard.rsplit(':', 1)[1]}", "--dashboard-host=127.0.0.1",
         "--include-dashboard=true", "--num-cpus=4", "--object-store-memory=200000000",
         f"--ray-client-server-port={free_port()}",
         f"--dashboard-agent-listen-port={free_port()}",
         f"--temp-dir={ray_tmp}", "--disable-usage-stats"],
        stdout=head_log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    out = tmp_path / "out"
    config = tmp_path / "site.yaml"
    config.write_text(json.dumps({
        "cameras": [{"id": "job-cam", "url": str(CLIP), "mode": "offline",
                     "lines": [{"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66]}],
                     "zones": [{"id": "path-west", "points": [[0.0, 0.28], [0.5, 0.28],
                                                              [0.5, 0.62], [0.0, 0.62]]}],
                     "source": {"max_frames": FRAMES}}],
        "analytics": {"window_s": 3, "window_grace_s": 2, "min_distinct_tracks": 1},
        "http": {"port": free_port()},
    }))
    job_id = f"panoray-test-{secrets.token_hex(4)}"
    started = time.monotonic()
    try:
        # the job agent comes up a few seconds after `ray start`; submit until it answers
        deadline = time.monotonic() + 90
        while True:
            assert head.poll() is None, (tmp_path / "head.log").read_text()[-3000:]
            submit = _ray("job", "submit", "--address", dashboard, "--submission-id", job_id,
                          "--no-wait", "--working-dir", ".", "--",
                          "python", "-m", "pipeline", "run", str(config), "--output", str(out),
                          env=env)
            if submit.returncode == 0:
                break
            text = submit.stdout + submit.stderr
            retry = any(s in text for s in ("No available agent", "Connection refused",
                                            "Failed to connect", "502", "503"))
            assert retry and time.monotonic() < deadline, text[-3000:]
            time.sleep(2)

        status = ""
        while time.monotonic() - started < 150:
            result = _ray("job", "status", "--address", dashboard, job_id, env=env)
            status = _job_status(result.stdout + result.stderr)
            if status in TERMINAL:
                break
            time.sleep(2)
        logs = _ray("job", "logs", "--address", dashboard, job_id, env=env).stdout
        assert status == "SUCCEEDED", f"job {job_id} is {status or 'unknown'}\n{logs[-4000:]}"
        # what the job ran from: the uploaded working dir, unpacked on the head
        [package] = [p for p in pathlib.Path(ray_tmp).glob(
            "session_2*/runtime_resources/working_dir_files/_ray_pkg_*") if p.is_dir()]
        uploaded = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
        top = {p.name for p in package.iterdir()}
        assert uploaded < 40 * 2**20, f"{uploaded / 2**20:.1f} MiB uploaded: {sorted(top)}"
        assert {"pipeline", "actors", "models"} <= top
        assert not top & {".venv", ".git", "tests", "benchmarks", ".pytest_cache"}, sorted(top)
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` drains and stops its processes
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        head_log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)

    assert "panoray: ended; shutting down cleanly" in logs, logs[-3000:]
    summary = json.loads(logs[logs.index("{\n"):logs.rindex("}") + 1])
    cam = summary["cameras"]["job-cam"]
    assert cam["state"] == "ended" and cam["frames_delivered"] == FRAMES
    events = pd.read_parquet(out / "events")
    metrics = pd.read_parquet(out / "metrics")
    assert set(metrics.camera_id) == {"job-cam"} and len(metrics) > 0
    assert set(events.camera_id) <= {"job-cam"}
    assert time.monotonic() - started < 150
