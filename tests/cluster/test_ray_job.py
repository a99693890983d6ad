"""`panoray run`, and a script using the Python API, as Ray jobs, for real: a cluster
started with `ray start --head` (token authentication on, as Ray 2.60 does by default),
`ray job submit --working-dir .`, Parquet output checked. The cluster is this module's
own: stopped by its process, never `ray stop` (which would stop every Ray on the machine,
the test session's included)."""

import json
import os
import pathlib
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pandas as pd
import pytest

from tests.conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"
VENV_BIN = pathlib.Path(sys.executable).parent
RAY = str(VENV_BIN / "ray")
FRAMES = 100
API_FRAMES = 30
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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node of our own, started as README says (`panoray ray-start`): (environment
    with its token, dashboard URL, temp dir)."""
    tmp = tmp_path_factory.mktemp("ray-job")
    token = secrets.token_hex(32)
    env = _env(token)
    dashboard = f"http://127.0.0.1:{free_port()}"
    head_log = open(tmp / "head.log", "w+")
    # Ray's socket paths must stay under 107 bytes: a short folder of our own under /tmp
    ray_tmp = tempfile.mkdtemp(prefix="prj-", dir="/tmp")
    head = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "ray-start", "--head", "--block",
         f"--port={free_port()}",
         f"--dashboard-port={dashboard.rsplit(':', 1)[1]}", "--dashboard-host=127.0.0.1",
         "--include-dashboard=true", "--num-cpus=4", "--object-store-memory=200000000",
         f"--ray-client-server-port={free_port()}",
         f"--dashboard-agent-listen-port={free_port()}",
         f"--temp-dir={ray_tmp}", "--disable-usage-stats"],
        stdout=head_log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=ROOT,
    )
    try:
        yield env, dashboard, ray_tmp, head, tmp / "head.log"
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` drains and stops its processes
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        head_log.close()
        shutil.rmtree(ray_tmp, ignore_errors=True)


BAD_LINE = {"id": "door", "start": [100, 100], "end": [100, 600], "units": "pixel"}
"""A pixel line that leaves the clip's 768x576 frame: the camera fails when its source
opens (the CLI's camera, beside the good one)."""


def _site(path: pathlib.Path, camera: str, frames: int,
          extra: tuple[dict, ...] = (), namespace: str = "panoray") -> pathlib.Path:
    path.write_text(json.dumps({
        "cameras": [{"id": camera, "url": str(CLIP), "mode": "offline",
                     "lines": [{"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66]}],
                     "zones": [{"id": "path-west", "points": [[0.0, 0.28], [0.5, 0.28],
                                                              [0.5, 0.62], [0.0, 0.62]]}],
                     "source": {"max_frames": frames}}, *extra],
        "analytics": {"window_s": 3, "window_grace_s": 2, "min_distinct_tracks": 1},
        "http": {"port": free_port()},
        "ray": {"namespace": namespace},
    }))
    return path


def _submit_and_wait(cluster, *command: str, limit_s: float = 150) -> str:
    """Submits ``command`` as a job (the repository as its working dir), waits for its
    end and returns its logs; fails unless it succeeded."""
    env, dashboard, _, head, head_log = cluster
    job_id = f"panoray-test-{secrets.token_hex(4)}"
    # the job agent comes up a few seconds after `ray start`; submit until it answers
    deadline = time.monotonic() + 90
    while True:
        assert head.poll() is None, head_log.read_text()[-3000:]
        submit = _ray("job", "submit", "--address", dashboard, "--submission-id", job_id,
                      "--no-wait", "--working-dir", ".", "--", *command, env=env)
        if submit.returncode == 0:
            break
        text = submit.stdout + submit.stderr
        retry = any(s in text for s in ("No available agent", "Connection refused",
                                        "Failed to connect", "502", "503"))
        assert retry and time.monotonic() < deadline, text[-3000:]
        time.sleep(2)
    # one client that follows the logs until the job ends, then says how it ended
    # (instead of a `ray job status` every 2 s: each loads Ray's CLI, on the job's cores)
    follow = _ray("job", "logs", "--address", dashboard, "--follow", job_id, env=env,
                  timeout=limit_s)
    status = _job_status(follow.stdout + follow.stderr)
    if status not in TERMINAL:  # the stream ended early: ask once
        status = _job_status(_ray("job", "status", "--address", dashboard, job_id,
                                  env=env).stdout)
    logs = _ray("job", "logs", "--address", dashboard, job_id, env=env).stdout
    assert status == "SUCCEEDED", f"job {job_id} is {status or 'unknown'}\n{logs[-4000:]}"
    return logs


def _cli_summary(logs: str) -> dict:
    """The summary `panoray run` printed (indented JSON; Ray's forwarded log lines of
    the other run's actors may follow it)."""
    return json.JSONDecoder().raw_decode(logs, logs.index("{\n"))[0]


def _api_result(logs: str) -> dict:
    """The result line examples/run_job.py printed (its last own line)."""
    return json.loads([line for line in logs.splitlines() if line.startswith('{"why"')][-1])


SERVE_APPS = """import ray
from ray import serve
from ray.serve.exceptions import RayServeException

ray.init()
try:
    apps = sorted(serve.status().applications)
except RayServeException:  # Serve is not running
    apps = []
print("apps:", apps)
"""
"""Prints the Serve applications left on the job's cluster."""


@pytest.fixture(scope="module")
def job(cluster, tmp_path_factory):
    """One job that runs `panoray run` and examples/run_job.py at once, each on its own
    site, output and Ray namespace (two runs sharing one cluster, as two sites may; one
    submission, one upload). The CLI's site has a second camera, ``bad``, whose pixel
    line does not fit the frame.

    Returns:
        {"cli": (exit code, logs, output dir), "api": (logs, output dir),
         "serve": the applications left on the cluster afterwards}
    """
    tmp = tmp_path_factory.mktemp("jobs")
    cli_out, api_out = tmp / "cli-out", tmp / "api-out"
    cli_log, api_log, code_file = tmp / "cli.log", tmp / "api.log", tmp / "cli.code"
    bad = {"id": "bad", "url": str(CLIP), "mode": "offline", "lines": [BAD_LINE],
           "source": {"max_frames": FRAMES}}
    cli_site = _site(tmp / "cli.yaml", "job-cam", FRAMES, (bad,), namespace="site-a")
    api_site = _site(tmp / "api.yaml", "api-cam", API_FRAMES, namespace="site-b")
    cli = shlex.join(["python", "-m", "pipeline", "run", str(cli_site), "--output",
                      str(cli_out)])
    api = shlex.join(["python", "examples/run_job.py", str(api_site), "--output",
                      str(api_out)])
    apps_script = tmp / "apps.py"  # tests/ is not uploaded
    apps_script.write_text(SERVE_APPS)
    script = (f"({cli} > {cli_log} 2>&1; echo $? > {code_file}) & "
              f"{api} > {api_log} 2>&1; wait; python {apps_script}")
    logs = _submit_and_wait(cluster, "sh", "-c", script, limit_s=2 * 150)
    apps = logs[logs.rindex("apps:"):].splitlines()[0] if "apps:" in logs else logs[-3000:]
    assert code_file.exists(), f"the CLI run did not end\n{cli_log.read_text()[-4000:]}"
    return {"cli": (int(code_file.read_text()), cli_log.read_text(), cli_out),
            "api": (api_log.read_text(), api_out), "serve": apps}


def test_two_runs_in_two_namespaces_share_one_cluster(job):
    """Each run has its own Serve application: the second's detector does not replace
    the first's, the one that finds the cluster's HTTP root taken runs without its API
    (and says so), each stop removes only its own application, and every frame of both
    is detected."""
    code, cli_logs, _ = job["cli"]
    api_logs, _ = job["api"]
    cli_cam = _cli_summary(cli_logs)
    api_cam = _api_result(api_logs)["cameras"]["api-cam"]
    for cam in (cli_cam["cameras"]["job-cam"], api_cam):
        assert cam["frames_failed"] == 0 and cam["state"] == "ended", (cam, cli_logs[-3000:],
                                                                      api_logs[-3000:])
    assert ("HTTP API and dashboard are not served" in cli_logs + api_logs), (
        cli_logs[-3000:], api_logs[-3000:])
    assert job["serve"] == "apps: []", job["serve"]


def test_panoray_run_as_a_ray_job(cluster, job):
    code, logs, out = job["cli"]
    assert code == 3, logs[-3000:]  # camera `bad` failed (test_pixel_geometry_...)
    # what the job ran from: the uploaded working dir, unpacked on the head
    packages = [p for p in pathlib.Path(cluster[2]).glob(
        "session_2*/runtime_resources/working_dir_files/_ray_pkg_*") if p.is_dir()]
    assert len(packages) == 1
    uploaded = sum(p.stat().st_size for p in packages[0].rglob("*") if p.is_file())
    top = {p.name for p in packages[0].iterdir()}
    assert uploaded < 40 * 2**20, f"{uploaded / 2**20:.1f} MiB uploaded: {sorted(top)}"
    assert {"pipeline", "actors", "models"} <= top
    assert not top & {".venv", ".git", "tests", "benchmarks", ".pytest_cache"}, sorted(top)

    assert "panoray: ended; shutting down cleanly" in logs, logs[-3000:]
    summary = _cli_summary(logs)
    cam = summary["cameras"]["job-cam"]
    assert cam["state"] == "ended" and cam["frames_delivered"] == FRAMES
    events = pd.read_parquet(out / "events")
    metrics = pd.read_parquet(out / "metrics")
    assert set(metrics.camera_id) == {"job-cam"} and len(metrics) > 0
    assert set(events.camera_id) <= {"job-cam"}


def test_pixel_geometry_outside_the_frame_fails_that_camera_and_the_run_exits_3(job):
    """A camera whose pixel geometry does not fit its frame fails visibly when its source
    opens, before any frame flows; the other runs on and the run exits 3."""
    code, logs, _ = job["cli"]
    assert code == 3, logs[-3000:]
    summary = _cli_summary(logs)
    bad, good = summary["cameras"]["bad"], summary["cameras"]["job-cam"]
    assert bad["state"] == "failed", bad
    assert ("lines[0]: line 'door': point (100, 600) lies outside the 768x576 frame"
            in bad["reason"]), bad
    assert bad["frames_decoded"] == 0 and bad["frames_delivered"] == 0
    assert good["state"] == "ended" and good["frames_delivered"] == FRAMES, good


def test_the_python_api_as_a_ray_job(job):
    """examples/run_job.py: `run(Site.from_yaml(...))` inside the job, the result read
    back as Arrow tables there."""
    logs, out = job["api"]
    result = _api_result(logs)
    assert result["why"] == "ended" and result["output_dir"] == str(out)
    cam = result["cameras"]["api-cam"]
    assert cam["state"] == "ended" and cam["frames_delivered"] == API_FRAMES
    metrics = pd.read_parquet(out / "metrics")
    assert result["metrics_rows"] == len(metrics) > 0
    assert set(metrics.run_id) == {result["run_id"]}
    crossings = sum(n for line in cam["crossings"].values() for n in line.values())
    assert result["events"].get("line_cross", 0) == crossings
