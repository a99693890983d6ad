"""Detector counters summed over replicas (models/stats_board.py), without Ray."""

import pytest
from pydantic import ValidationError

from models.config import ServingConfig
from models.stats_board import DetectorStats, merge_replicas


def _stats(*batches: tuple[int, int, float, float]) -> DetectorStats:
    s = DetectorStats()
    for b in batches:
        s.record_batch(*b)
        s.record_rejected(b[0] - b[1])  # each refused request its own image
    return s


def test_totals_are_sums_and_means_are_recomputed_from_them():
    a = _stats((8, 8, 0.8, 0.16), (8, 7, 0.4, 0.14))  # 16 requests, 1 rejected, 2 batches
    b = _stats((2, 2, 0.0, 0.02))
    out = merge_replicas("a", a.raw(), {"b": (b.raw(), 0.5)})
    assert (out["requests"], out["errors"], out["batches"]) == (18, 1, 3)
    assert out["mean_batch_size"] == pytest.approx(17 / 3)  # not the mean of the means
    assert out["mean_queue_ms"] == pytest.approx(1000 * 1.2 / 18)
    assert out["mean_inference_ms"] == pytest.approx(1000 * 0.32 / 3)
    assert out["batch_sizes"] == {"2": 1, "7": 1, "8": 1}
    assert out["replicas"]["a"] == {"requests": 16, "batches": 2, "mean_batch_size": 7.5,
                                    "age_s": 0.0}
    assert out["replicas"]["b"]["age_s"] == 0.5


def test_the_answering_replica_counts_once_with_its_fresh_counters():
    stale = _stats((1, 1, 0.0, 0.01))
    fresh = _stats((1, 1, 0.0, 0.01), (4, 4, 0.0, 0.03))
    out = merge_replicas("a", fresh.raw(), {"a": (stale.raw(), 3.0)})
    assert out["requests"] == 5 and list(out["replicas"]) == ["a"]
    assert out["replicas"]["a"]["age_s"] == 0.0


def test_a_lone_replica_reads_as_before():
    own = _stats((3, 2, 0.3, 0.05))
    out = merge_replicas("a", own.raw(), {})
    assert {k: v for k, v in out.items() if k != "replicas"} == own.snapshot()


def test_raw_counters_survive_a_round_trip_through_json_types():
    s = _stats((8, 8, 0.1, 0.2), (3, 3, 0.0, 0.1))
    raw = {**s.raw(), "batch_sizes": {str(k): v for k, v in s.raw()["batch_sizes"].items()}}
    assert DetectorStats.total([raw]).snapshot() == s.snapshot()


def test_forgetting_must_outlast_posting():
    with pytest.raises(ValidationError, match="stats_forget_after_s"):
        ServingConfig(stats_interval_s=5, stats_forget_after_s=5)
