"""The unfaulted run every fault case is compared with (once per session)."""

from __future__ import annotations

import pytest

from tests.faults.harness import RunResult, run_pipeline


@pytest.fixture(scope="session")
def baseline(serve_app: dict, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The fault config run offline without faults."""
    out = tmp_path_factory.mktemp("baseline") / "out"
    return run_pipeline(out, serve_app["handle"])
