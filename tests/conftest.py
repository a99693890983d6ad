"""Shared fixtures: one real local Ray cluster and one real Serve instance per test session.

Unit tests (tests/unit) never touch these; cluster tests (tests/cluster) share them.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.app.ray_env import apply_ray_env

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
apply_ray_env()  # the session starts Ray: panoray's Ray and Serve settings, as the CLI does

REQUIRE_SYSTEM_DEPS = os.environ.get("PANORAY_REQUIRE_SYSTEM_DEPS") == "1"
RAY_CPUS = 4  # logical CPUs; actors take fractions, so more logical than physical is fine
OBJECT_STORE_BYTES = 400 * 1024 * 1024


PORTS_FROM = 20000
"""Test servers' ports are drawn from here up to just below the kernel's ephemeral range
(32768 on Linux), above the ports Ray's workers listen on (10002-19999 by default)."""
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now, below the
    kernel's ephemeral range: a port from that range (what binding port 0 gives) can be
    taken by any outgoing connection, and Ray opens many, before the test's server binds
    it ("Failed to bind to address"). Never the same port twice in a session."""
    low = _ephemeral_low()
    for _ in range(1000):
        port = random.randrange(PORTS_FROM, max(low, PORTS_FROM + 1000))
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {PORTS_FROM}-{low - 1}")


def merged(base: dict, overrides: dict) -> dict:
    """``base`` updated by ``overrides``, nested dicts (config groups) merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if both else value
    return out


def require_system(tool: str, why: str) -> None:
    """Skips the test when ``tool`` is not on PATH; fails instead in CI."""
    if shutil.which(tool) or os.path.exists(tool):
        return
    message = f"{tool} is not installed ({why}); .ci/run installs it"
    if REQUIRE_SYSTEM_DEPS:
        pytest.fail(message)
    pytest.skip(message)


def wait_healthy(url: str, timeout_s: float = 180, proc=None, log_path=None) -> None:
    """Polls ``url``/healthz until it answers 200; fails early if ``proc`` exits."""
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = open(log_path).read()[-3000:] if log_path else ""
            pytest.fail(f"server exited with {proc.returncode} before it was healthy\n{tail}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url}/healthz did not answer 200 within {timeout_s:.0f} s")


def run_api_app(serve_app: dict, http: Any, name: str, prefix: str) -> str:
    """Deploys app ``name`` of the HttpApi deployment (``http`` its HttpConfig; the
    deployment named ``<Name>Api``) at ``prefix`` beside the session's one, with the
    session's detector; returns its URL once healthy. The caller deletes the app."""
    from ray import serve

    from pipeline.app.http_api import HttpApi

    serve.run(HttpApi.options(name=f"{name.capitalize()}Api").bind(serve_app["handle"], http),
              name=name, route_prefix=prefix)
    url = serve_app["url"] + prefix
    wait_healthy(url, timeout_s=60)
    return url


def ensure_stopped(proc) -> None:
    """Kills ``proc`` if a failed test left it running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A real local Ray cluster shared by every cluster test."""
    import ray

    ray.init(
        num_cpus=RAY_CPUS,
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=False,
        namespace="panoray-tests",
        logging_level="WARNING",
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def serve_app(ray_session: None) -> Iterator[dict]:
    """The real panoray Serve app (Detector + HTTP API) on a free loopback port.

    Yields:
        {"handle": DeploymentHandle to the Detector, "url": "http://127.0.0.1:PORT"}
    """
    from ray import serve

    from models.config import ModelConfig, ServingConfig
    from pipeline.app.serving import start_serving
    from pipeline.site_config import HttpConfig

    port = free_port()
    # One replica: the batching tests compare counters before and after at once (with
    # several, the others' share is up to stats_interval_s old), and the suite's Ray
    # cluster stays small (`replicas: auto` runs in the `panoray run`
    # tests, tests/cluster/test_privacy.py and tests/browser).
    serving = ServingConfig(replicas=1, max_batch_size=8, batch_wait_timeout_s=0.05,
                            num_cpus=0.5)
    handle = start_serving(
        ModelConfig(), serving, HttpConfig(port=port), access_logs=False
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, timeout_s=60)
    yield {"handle": handle, "url": url}
    serve.shutdown()


def assert_no_traceback(body: str) -> None:
    """An error says what was wrong, not where in the server it was raised (the actor's
    remote traceback names source files and lines)."""
    for leak in ("Traceback", 'File "', ".py\", line", "ray::"):
        assert leak not in body, body
