"""Starting and stopping the real RTSP test server (tests/rtsp_server.py, GStreamer's
gst-rtsp-server under Debian's python3) from tests in the project's virtualenv."""

from __future__ import annotations

import select
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SYSTEM_DEPS, require_system

RTSP_SERVER = Path(__file__).resolve().parent / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
SECRET = "s3cret-Pw"
"""The password of the server's user ``bob``."""


def require_rtsp_server() -> None:
    """Skips (fails in CI) unless GStreamer's RTSP server runs under Debian's python3."""
    require_system(SYSTEM_PYTHON, "the RTSP test server runs under Debian's python3")
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
         "from gi.repository import GstRtspServer"],
        capture_output=True, text=True, timeout=60,
    )
    if probe.returncode != 0:
        message = (
            "GStreamer's RTSP server is not importable from /usr/bin/python3 (apt packages "
            "python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good "
            "gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly); .ci/run installs them: "
            + probe.stderr.strip().splitlines()[-1]
        )
        if REQUIRE_SYSTEM_DEPS:
            pytest.fail(message)
        pytest.skip(message)


def start_rtsp_server(port: int) -> subprocess.Popen:
    """tests/rtsp_server.py on ``port``, path ``/cam``, user bob with :data:`SECRET`;
    returns once it listens."""
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, str(RTSP_SERVER), "--port", str(port), "--fps", "15",
         "--user", "bob", "--password", SECRET],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("READY"):
        proc.kill()
        raise AssertionError(f"RTSP server did not start: {line!r}")
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
