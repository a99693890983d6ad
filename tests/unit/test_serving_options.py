"""How the detector deployment's replicas and ONNX Runtime threads follow from config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.config import ModelConfig, ServingConfig
from models.deployment import detector_options, replica_count, replica_model


@pytest.mark.parametrize(
    ("serving", "gpus", "cores", "replicas", "threads", "cpus_each"),
    [
        # auto on a 2-core CPU node: one single-threaded replica per core, which together
        # reserve the 0.5 logical CPUs one replica would
        ({}, 0.0, 2, 2, 1, 0.25),
        ({}, 0.0, 1, 1, 0, 0.5),  # one core: ONNX Runtime chooses its threads
        ({}, 0.0, 64, 8, 1, 0.0625),  # capped at auto_max_replicas
        ({"auto_max_replicas": 3}, 0.0, 64, 3, 1, 0.5 / 3),
        ({}, 1.0, 16, 1, 0, 0.5),  # GPUs: one replica, threads left to ONNX Runtime
        # GPUs asked for before an autoscaling cluster has started its GPU workers
        ({"num_gpus": 0.5}, 0.0, 16, 1, 0, 0.5),
        ({"replicas": 1}, 0.0, 16, 1, 0, 0.5),
        ({"replicas": 4}, 0.0, 2, 4, 1, 0.5),  # explicit replicas: each reserves its own
    ],
)
def test_auto_replicas_and_threads(serving, gpus, cores, replicas, threads, cpus_each) -> None:
    cfg = ServingConfig(**serving)
    assert replica_count(cfg, gpus, cores) == replicas
    options = detector_options(cfg, gpus, cores)
    assert options["num_replicas"] == replicas
    assert options["ray_actor_options"]["num_cpus"] == pytest.approx(cpus_each)
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


def test_auto_batch_size_is_small_on_cpu_and_larger_on_a_gpu() -> None:
    """``max_batch_size: auto`` runs small batches on CPU (cheaper per frame on one thread)
    and larger ones on a GPU; a number is kept; ``auto`` still needs room for a GPU batch
    among the requests a replica accepts."""
    from models.config import AUTO_BATCH_CPU, AUTO_BATCH_GPU

    auto = ServingConfig()
    assert (auto.batch_size(on_gpu=False), auto.batch_size(on_gpu=True)) == (
        AUTO_BATCH_CPU, AUTO_BATCH_GPU)
    assert AUTO_BATCH_CPU < AUTO_BATCH_GPU
    assert ServingConfig(max_batch_size=4).batch_size(on_gpu=True) == 4
    with pytest.raises(ValidationError, match="max_batch_size"):
        ServingConfig(max_ongoing_requests=AUTO_BATCH_GPU - 1)
