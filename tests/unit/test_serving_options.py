"""How the detector deployment's replicas and ONNX Runtime threads follow from config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.deployment import detector_options, replica_count, replica_model
from pipeline.config import ModelConfig, ServingConfig


@pytest.mark.parametrize(
    ("serving", "gpus", "cores", "replicas", "threads"),
    [
        ({}, 0.0, 2, 2, 1),  # auto on a 2-core CPU node: one single-threaded replica per core
        ({}, 0.0, 1, 1, 0),  # one core: one replica with ONNX Runtime's own thread choice
        ({}, 0.0, 64, 8, 1),  # capped at auto_max_replicas
        ({"auto_max_replicas": 3}, 0.0, 64, 3, 1),
        ({}, 1.0, 16, 1, 0),  # GPUs: one replica, threads left to ONNX Runtime
        ({"replicas": 1}, 0.0, 16, 1, 0),
        ({"replicas": 4}, 0.0, 2, 4, 1),  # explicit replicas sharing CPU cores
    ],
)
def test_auto_replicas_and_threads(serving, gpus, cores, replicas, threads) -> None:
    cfg = ServingConfig(**serving)
    assert replica_count(cfg, gpus, cores) == replicas
    assert detector_options(cfg, gpus, cores)["num_replicas"] == replicas
    assert replica_model(ModelConfig(), cfg, gpus, cores).intra_op_threads == threads


def test_explicit_threads_and_autoscaling() -> None:
    # threads set by the user are kept
    assert replica_model(ModelConfig(intra_op_threads=2), ServingConfig(), 0.0, 8
                         ).intra_op_threads == 2
    scaled = ServingConfig(autoscaling=True, min_replicas=1, max_replicas=4)
    options = detector_options(scaled, 0.0, 8)
    assert "num_replicas" not in options and options["autoscaling_config"]["max_replicas"] == 4
    assert replica_model(ModelConfig(), scaled, 0.0, 8).intra_op_threads == 1


@pytest.mark.parametrize("bad", [0, -1, "all", 1.5])
def test_bad_replicas_name_the_field(bad) -> None:
    with pytest.raises(ValidationError, match="replicas"):
        ServingConfig(replicas=bad)
