"""`panoray run` as a separate process for tests, with its own Ray temporary folder, and
every HTTP exchange with it kept for inspection.

Example:
    >>> run = PanorayProcess(tmp_path, {"cameras": [...]})          # doctest: +SKIP
    >>> run.wait_for("a camera", lambda: run.get("/v1/cameras").ok)  # doctest: +SKIP
    >>> run.stop(signal.SIGINT)                                      # doctest: +SKIP
    130
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from tests.conftest import free_port

ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Exchange:
    """One HTTP request to the run and what came back."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


class PanorayProcess:
    """Starts ``python -m pipeline run`` on a JSON site config (JSON is YAML).

    Ray's files (session logs, spilled objects) go to a fresh short folder
    (``RAY_TMPDIR``; Ray's socket paths must stay short), found as :attr:`ray_dir`.

    Args:
        tmp: folder for the config, the log and (by default) the output.
        config: the site config; ``http.port`` is set to a free port.
        env: extra environment variables.
        args: extra command-line arguments.
    """

    def __init__(self, tmp: pathlib.Path, config: dict[str, Any],
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out = tmp / "out"
        self.log_path = tmp / "run.log"
        self.ray_dir = pathlib.Path(tempfile.mkdtemp(prefix="pr-ray-", dir="/tmp"))
        self.exchanges: list[Exchange] = []
        config = {**config, "http": {**config.get("http", {}), "port": self.port}}
        (tmp / "site.yaml").write_text(json.dumps(config))
        environ = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        environ.update(env or {}, RAY_TMPDIR=str(self.ray_dir))
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "run", str(tmp / "site.yaml"), "--output",
             str(self.out), *args],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=environ,
        )

    def text(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        """Sends a request and keeps the exchange."""
        r = requests.request(method, f"{self.url}{path}", timeout=120, **kw)
        self.exchanges.append(Exchange(method, path, r.status_code,
                                       {k.lower(): v for k, v in r.headers.items()}, r.content))
        return r

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
        """Polls ``check`` until it returns something true; fails if the run exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the run exited\n{self.text()[-4000:]}"
            try:
                value = check()
            except (requests.RequestException, AssertionError, KeyError, ValueError):
                value = None
            if value:
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}\n{self.text()[-4000:]}")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 180.0) -> int:
        """Sends ``sig`` and waits for the clean shutdown; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        """Kills the process if it still runs (a failed test) and closes the log."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def ray_sessions(self) -> list[pathlib.Path]:
        """The Ray session folders of this run (logs, sockets, spilled objects)."""
        return sorted(p for p in (self.ray_dir / "ray").glob("session_2*") if p.is_dir())
