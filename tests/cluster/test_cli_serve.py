"""`panoray serve` as a user runs it: its own local Ray, real HTTP, Ctrl-C stops it cleanly."""

import os
import signal
import subprocess
import sys
import time

import requests

from tests.conftest import free_port
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
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, open(tmp_path / "serve.log").read()[-3000:]
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        r = requests.post(f"{url}/v1/detect", data=encode(astronaut_rgb()),
                          headers={"content-type": "image/jpeg"}, timeout=60)
        assert r.status_code == 200 and len(r.json()["detections"]) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = open(tmp_path / "serve.log").read()
    assert "serving ssdlite-mobilenetv2-person on http://127.0.0.1" in out
    assert "shutting down" in out
