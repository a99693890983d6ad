"""`panoray serve` as a user runs it: its own local Ray, real HTTP, Ctrl-C stops it cleanly."""

import os
import signal
import subprocess
import sys
import time

import requests

from tests.conftest import ensure_stopped, free_port, wait_healthy
from tests.images import astronaut_rgb, encode


def test_panoray_serve_answers_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, 180, proc, tmp_path / "serve.log")
        r = requests.post(f"{url}/v1/detect", data=encode(astronaut_rgb()),
                          headers={"content-type": "image/jpeg"}, timeout=60)
        assert r.status_code == 200 and len(r.json()["detections"]) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
    finally:
        ensure_stopped(proc)
    out = open(tmp_path / "serve.log").read()
    assert "serving ssdlite-mobilenetv2-person on http://127.0.0.1" in out
    assert "shutting down" in out


def test_ctrl_c_while_the_detector_deploys_stops_without_serving(tmp_path):
    """Ctrl-C once Ray runs, while the replicas load: the server stops at once (not after
    the deploy), never says it serves, and exits 0."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    path = tmp_path / "serve.log"
    log = open(path, "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while "detector:" not in path.read_text():  # start_serving's first line
            assert proc.poll() is None and time.monotonic() < deadline, path.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
    finally:
        ensure_stopped(proc)
    out = path.read_text()
    assert "Ctrl-C stops" not in out and "shutting down" in out, out[-2000:]
