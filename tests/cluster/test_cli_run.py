"""`panoray run` and `panoray validate` as a user runs them: separate processes, own Ray."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

import pandas as pd
import pytest

from tests.conftest import ensure_stopped, free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "pipeline" / "demo" / "vtest.mp4"


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}


def _panoray(*args: str, timeout: float = 60, env: dict | None = None
             ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                          text=True, timeout=timeout, env=env or _env(), cwd=ROOT)


NOISE = re.compile(r"\b(WARNING|WARN|ERROR|Error|Traceback|failed|killed)\b")
"""What a user reads as something gone wrong."""


BAD = """\
cameras:
  - id: a
    url: {clip}
  - id: b
    url: {clip}
    zones:
      - id: entrance
        points: [[0, 0], [1, 1]]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BAD, "cameras[1].zones[0].points (line 8): a polygon needs at least 3 points, got 2"),
        ("cameras:\n  - {{id: a, url: {clip}}}\n  - {{id: a, url: {clip}}}\n",
         "camera id 'a' is used by more than one camera"),
        ("cameras:\n  - id: a\n    url: {clip}\n    lines: [{{id: l, start: [0.1, 0.1], end: [0.1, 0.1]}}]\n",
         "cameras[0].lines[0] (line 4): line 'l': start and end are the same point"),
        ("cameras:\n  - {{id: a, url: {clip}}}\nmodel: {{name: yolo-nonexistent}}\n",
         "model (line 3): unknown model 'yolo-nonexistent'"),
        ("cameras:\n  - {{id: a, url: {clip}, source: {{fps: -1}}}}\n",
         "cameras[0].source.fps (line 2)"),
    ],
)
def test_config_errors_exit_2_with_the_key_path(tmp_path, text, message):
    path = tmp_path / "site.yaml"
    path.write_text(text.format(clip=CLIP))
    for command in ("validate", "run"):
        result = _panoray(command, str(path))
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert message in result.stderr, (command, result.stderr)


def test_validate_accepts_the_demo_config():
    result = _panoray("validate", str(ROOT / "pipeline" / "demo" / "demo.yaml"))
    assert result.returncode == 0, result.stderr
    assert "ok (3 cameras" in result.stdout


def test_sigterm_mid_live_run_leaves_complete_parquet(tmp_path):
    cfg = tmp_path / "live.yaml"
    cfg.write_text(
        "cameras:\n"
        + "".join(
            f"  - {{id: live-{i}, url: {CLIP}, mode: live, source: {{loop: true}}, zones: "
            "[{id: z, points: [[0, 0.28], [0.5, 0.28], [0.5, 0.62], [0, 0.62]]}]}\n"
            for i in range(2)
        )
        + "analytics: {window_s: 4, window_grace_s: 2, min_distinct_tracks: 1}\n"
    )
    out = tmp_path / "out"
    log = open(tmp_path / "run.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "run", str(cfg), "--output", str(out),
         "--port", str(free_port())],
        stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not list(out.glob("metrics/*/*/*.parquet")):
            assert proc.poll() is None, open(tmp_path / "run.log").read()[-3000:]
            time.sleep(1)
        assert list(out.glob("metrics/*/*/*.parquet")), "no window closed within 180 s"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    finally:
        ensure_stopped(proc)
    text = open(tmp_path / "run.log").read()
    assert "stopped; shutting down cleanly" in text
    leftovers = [p for p in out.rglob(".*") if p.is_file()]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    events = pd.read_parquet(out / "events")
    metrics = pd.read_parquet(out / "metrics")
    assert set(events.camera_id) <= {"live-0", "live-1"} and len(metrics) > 0
    assert set(metrics.camera_id) == {"live-0", "live-1"}
    # the windows open at SIGTERM were written too, marked incomplete
    assert (~metrics.complete).any()


def test_the_embedded_demo_runs_to_completion(tmp_path):
    out = tmp_path / "demo-out"
    started = time.monotonic()
    user_shell = {k: v for k, v in _env().items() if k != "RAY_AUTH_MODE"}  # as a user runs it
    ray_dir = pathlib.Path(tempfile.mkdtemp(prefix="pr-ray-", dir="/tmp"))  # sockets: short
    result = _panoray("run", "--output", str(out), "--port", str(free_port()), timeout=240,
                      env={**user_shell, "RAY_TMPDIR": str(ray_dir)})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    noise = [line for line in (result.stdout + result.stderr).splitlines() if NOISE.search(line)]
    assert not noise, noise  # a clean run prints nothing a user cannot act on
    assert "running demo: 3 cameras" in result.stdout
    assert '"events_total"' in result.stdout
    events = pd.read_parquet(out / "events")
    assert {"line_cross", "zone_enter", "zone_exit"} <= set(events.kind)
    assert len(list((out / "heatmaps").rglob("*.png"))) >= 3
    # Ray's dashboard is off by default (ray.dashboard): none of its module processes
    # (dashboard_NodeHead, dashboard_StateHead, ...) started; its minimal head runs
    logs = [p.name for p in ray_dir.rglob("session_2*/logs/*")]
    assert "dashboard.log" in logs, f"no Ray session logs under {ray_dir}: {logs}"
    assert not [n for n in logs if re.fullmatch(r"dashboard_\w+Head\.log", n)], logs
    print(f"demo took {elapsed:.0f} s")
