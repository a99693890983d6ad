"""`panoray ray-start` builds `ray start` with panoray's settings, and an http(s)://
address (the dashboard's job API) is refused wherever a cluster address is given."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from pipeline.app.ray_env import SYSTEM_CONFIG, ray_start_command
from pipeline.errors import ConfigError
from pipeline.site_config import RayConfig, check_ray_address


def test_a_head_gets_the_system_config_a_worker_does_not() -> None:
    head = ray_start_command(["--head", "--port=6379"])
    assert head[:4] == [sys.executable, "-m", "ray.scripts.scripts", "start"]
    assert head[4:6] == ["--head", "--port=6379"]
    assert json.loads(head[-1].removeprefix("--system-config=")) == SYSTEM_CONFIG
    worker = ray_start_command(["--address=10.0.0.1:6379"])
    assert not any(a.startswith("--system-config") for a in worker)


def test_a_system_config_given_is_kept() -> None:
    for given in (["--system-config={}"], ["--system-config", "{}"]):
        command = ray_start_command(["--head", *given])
        assert [a for a in command if a.startswith("--system-config")] == [given[0]]


@pytest.mark.parametrize("address", ["http://127.0.0.1:8265", "HTTPS://head:8265"])
def test_an_http_address_is_refused_everywhere(address: str) -> None:
    with pytest.raises(ConfigError, match=r"^ray.address: an http\(s\):// address is the "
                       r"Ray dashboard's job API"):
        check_ray_address(address, "ray.address")
    with pytest.raises(ValidationError, match="job API"):
        RayConfig(address=address)
    cli = subprocess.run([sys.executable, "-m", "pipeline", "run", "--address", address],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and "--address: an http(s):// address" in cli.stderr, cli.stderr


@pytest.mark.parametrize("address", [None, "", "auto", "10.0.0.1:6379", "ray://head:10001"])
def test_cluster_addresses_pass(address: str | None) -> None:
    check_ray_address(address, "--address")
    assert RayConfig(address=address).address == address


def test_ray_start_runs_ray_with_the_arguments() -> None:
    """The subcommand execs Ray's own CLI: an option `ray start` lacks gets its error
    (nothing starts)."""
    proc = subprocess.run([sys.executable, "-m", "pipeline", "ray-start", "--no-such-option"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "No such option '--no-such-option'" in proc.stderr
    assert "ray.scripts.scripts start" in proc.stderr, proc.stderr


def test_bench_passes_its_options_on() -> None:
    """`panoray bench --OPTION`: the option reaches benchmarks/end_to_end.py (here its
    own parser's error), not panoray's parser (which refused every option before)."""
    proc = subprocess.run([sys.executable, "-m", "pipeline", "bench", "--no-such-option"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "end_to_end.py: error: unrecognized arguments: --no-such-option" in proc.stderr
