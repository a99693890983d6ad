"""The dashboard while a run starts: its cameras are being placed, none runs yet.

One `panoray run` process (its own Ray) whose only camera asks for a Ray resource no node
has, so it waits for room on the cluster (``ray.camera_start_timeout_s``) for the whole
module: the page must say that camera is starting, not that no camera runs. The run is
stopped with SIGTERM during its start-up. A screenshot goes to ``$PANORAY_SCREENSHOTS``
when set."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import pytest
import requests

from tests.conftest import free_port, wait_healthy

ROOT = pathlib.Path(__file__).resolve().parents[2]
PASSWORD = "s3cr3t"
CAMERA = {"id": "waits", "url": f"rtsp://user:{PASSWORD}@127.0.0.1:9/x",
          "placement": {"resources": {"no-such-node": 1}},  # never placed
          "zones": [{"id": "till", "queue": True,
                     "points": [[0.1, 0.5], [0.4, 0.5], [0.4, 0.9], [0.1, 0.9]]}]}
WAIT_MS = 90_000


@pytest.fixture(scope="module")
def run(chromium, tmp_path_factory):
    """(base URL, process, log path) of a run whose camera waits to be placed."""
    tmp = tmp_path_factory.mktemp("startup")
    port = free_port()
    config = {"cameras": [CAMERA], "ray": {"camera_start_timeout_s": 600},
              "http": {"port": port}}
    (tmp / "site.yaml").write_text(json.dumps(config))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    log_path = tmp / "run.log"
    with open(log_path, "w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(tmp / "site.yaml"), "--output",
             str(tmp / "out")], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, timeout_s=240, proc=proc, log_path=log_path)
            yield url, proc, log_path
            proc.send_signal(signal.SIGTERM)  # during start-up: a clean stop
            assert proc.wait(timeout=120) == 128 + signal.SIGTERM, log_path.read_text()[-4000:]
            assert PASSWORD not in log_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_cameras_page_says_a_camera_is_starting_while_it_is_placed(chromium, run):
    url, _, _ = run
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    bodies: list[bytes] = []

    def keep(response) -> None:
        try:
            bodies.append(response.body())
        except Exception:  # noqa: BLE001 - a 304 or redirect has no body
            pass

    page.on("response", keep)
    try:
        page.goto(f"{url}/")
        tile = page.locator('article.tile[data-camera="waits"]')
        page.wait_for_function(  # its tile, marked starting, once the controller answers
            "() => document.querySelector('article.tile[data-camera=\"waits\"] .state')"
            "?.textContent === 'starting'")
        assert page.locator("#empty").is_hidden()  # not "No camera is running"
        assert "1 starting" in page.locator("#summary").inner_text()
        assert "placed" in tile.locator(".reason").inner_text()
        assert tile.locator("button.remove").is_disabled()
        assert tile.locator('svg.overlay polygon[data-zone="till"]').count() == 1
        note = tile.locator(".charts .no-data")
        note.wait_for()
        assert "starting" in note.inner_text()
        # what the page reads: the camera is not listed yet, it is starting
        state = requests.get(f"{url}/v1/dashboard", timeout=30).json()
        assert state["cameras"] == [] and [c["id"] for c in state["starting"]] == ["waits"]
        assert state["starting"][0]["state"] == "starting"
        assert requests.get(f"{url}/v1/cameras", timeout=30).json()["cameras"] == []
        assert not [b[:200] for b in bodies if PASSWORD.encode() in b]
        assert PASSWORD not in page.content()
        assert not errors, errors
        if shots := os.environ.get("PANORAY_SCREENSHOTS"):
            pathlib.Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(pathlib.Path(shots) / "dashboard-starting.png"))
    finally:
        context.close()
