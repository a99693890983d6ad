"""The ``panoray`` command starts no thread before ``run`` and ``serve`` block SIGTERM.

A thread started before the block (numpy, OpenCV and pyarrow start some as they are
imported) keeps SIGTERM unblocked, so a SIGTERM sent to the process group during
``ray.init`` lands there and runs the handler Ray has set at that moment, which exits at
once (exit 15, no summary) instead of stopping the run cleanly.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not pathlib.Path("/proc/self/task").is_dir(),
                                reason="counts threads in Linux's /proc")

THREADS_AFTER_IMPORT = """
import os
import pipeline.app.cli as cli
cli.build_parser().parse_args(["run"])
print(len(os.listdir("/proc/self/task")))
"""


def test_importing_the_cli_and_parsing_a_command_starts_no_thread() -> None:
    out = subprocess.run([sys.executable, "-c", THREADS_AFTER_IMPORT], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["1"], out.stdout + out.stderr


def test_a_thread_starting_import_is_seen() -> None:
    """The check above can fail: numpy's import starts a thread on this platform."""
    code = "import numpy, cv2, pyarrow\n" + THREADS_AFTER_IMPORT
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    assert int(out.stdout.split()[0]) > 1, out.stdout + out.stderr
