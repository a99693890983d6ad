"""`panoray run` and `panoray validate` as a user runs them: separate processes, own Ray."""

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import pandas as pd
import pytest

from tests.conftest import free_port

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
        ("cameras:\n  - id: a\n    url: {clip}\n"
         "    lines: [{{id: l, start: [0.1, 0.1], end: [0.1, 0.1]}}]\n",
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


DEMO_S = 25.0
"""How long the demo test plays the demo (``--duration``): a whole 20 s window and a
piece of the next, where the campus clip already has crossings, zone entries and exits.
The minute the demo plays by itself adds nothing the test checks but time; a file
camera's end ending the run is checked offline (tests/cluster/test_api_run.py) and with
its exit code (tests/cluster/test_ray_job.py)."""


def test_the_embedded_demo_runs_live_and_stops_cleanly(tmp_path):
    out = tmp_path / "demo-out"
    started = time.monotonic()
    user_shell = {k: v for k, v in _env().items() if k != "RAY_AUTH_MODE"}  # as a user runs it
    ray_dir = pathlib.Path(tempfile.mkdtemp(prefix="pr-ray-", dir="/tmp"))  # sockets: short
    result = _panoray("run", "--output", str(out), "--port", str(free_port()),
                      "--duration", str(DEMO_S), timeout=240,
                      env={**user_shell, "RAY_TMPDIR": str(ray_dir)})
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    noise = [line for line in (result.stdout + result.stderr).splitlines() if NOISE.search(line)]
    assert not noise, noise  # a clean run prints nothing a user cannot act on
    assert "running demo: 3 cameras" in result.stdout
    assert "panoray: duration; shutting down cleanly" in result.stdout
    assert '"events_total"' in result.stdout
    events = pd.read_parquet(out / "events")
    assert {"line_cross", "zone_enter", "zone_exit"} <= set(events.kind)
    assert set(events.camera_id) == {"campus-a", "campus-b", "campus-c"}
    assert len(list((out / "heatmaps").rglob("*.png"))) >= 3
    # Ray's dashboard is off by default (ray.dashboard): none of its module processes
    # (dashboard_NodeHead, dashboard_StateHead, ...) started; its minimal head runs
    logs = [p.name for p in ray_dir.rglob("session_2*/logs/*")]
    assert "dashboard.log" in logs, f"no Ray session logs under {ray_dir}: {logs}"
    assert not [n for n in logs if re.fullmatch(r"dashboard_\w+Head\.log", n)], logs
    print(f"demo took {elapsed:.0f} s")
