"""Bad command-line values are refused before anything starts: exit 2, naming the option
and the value (before, `run --port 99999` died in Serve with a traceback and
`run --duration -5` ran the demo)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--duration", "-5"], "argument --duration: expected a positive number of "
                                  "seconds, got '-5'"),
    (["run", "--duration", "nan"], "got 'nan'"),
    (["run", "--port", "99999"], "argument --port: expected a TCP port from 1 to 65535, "
                                 "got '99999'"),
    (["run", "--port", "0"], "got '0'"),
    (["serve", "--port", "http"], "got 'http'"),
])
def test_bad_values_exit_2_with_the_option(args: list[str], message: str) -> None:
    cli = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 2 and message in cli.stderr, cli.stderr
