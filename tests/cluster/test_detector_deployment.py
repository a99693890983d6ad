"""The Detector deployment on real Ray Serve: batching across callers, per-item errors."""

import asyncio
import time

import numpy as np
import pytest

from models.preprocess import InputSpec, prepare_frame
from models.requests import DetectRequest
from pipeline.errors import InputError
from pipeline.types import FrameMeta
from tests.images import ASTRONAUT_PERSON_BOX, astronaut_rgb, iou

pytestmark = pytest.mark.cluster


def _request(handle, camera: str, index: int) -> DetectRequest:
    spec = InputSpec(**handle.info.remote().result()["input"])
    small, tf = prepare_frame(astronaut_rgb(), spec, color="RGB")
    return DetectRequest(small, FrameMeta(camera, index, index / 25, 0.0, tf.width, tf.height))


def test_handle_detects_the_astronaut(serve_app):
    handle = serve_app["handle"]
    result = handle.detect.remote(_request(handle, "cam-a", 7)).result()
    assert result.meta.camera_id == "cam-a" and result.meta.frame_index == 7
    assert len(result.detections) == 1 and result.detections.scores[0] > 0.5
    assert iou(result.detections.boxes[0], ASTRONAUT_PERSON_BOX) > 0.5
    assert result.inference_ms > 0


def _fire(handle, requests):
    """Sends all requests at once from one event loop (like many cameras would)."""

    async def go():
        responses = [handle.detect.remote(r) for r in requests]
        return await asyncio.gather(*responses, return_exceptions=True)

    return asyncio.run(go())


def test_frames_from_several_callers_are_batched_together(serve_app):
    handle = serve_app["handle"]
    before = handle.stats.remote().result()
    reqs = [_request(handle, f"cam-{i % 4}", i) for i in range(32)]
    results = _fire(handle, reqs)
    assert all(not isinstance(r, Exception) for r in results)
    assert [r.meta.frame_index for r in results] == list(range(32))
    after = handle.stats.remote().result()
    batches = after["batches"] - before["batches"]
    assert after["requests"] - before["requests"] == 32
    assert 32 / batches > 1, f"32 concurrent frames ran in {batches} batches: not batched"
    assert max(r.batch_size for r in results) > 1


def test_one_bad_frame_fails_only_itself(serve_app):
    handle = serve_app["handle"]
    good = [_request(handle, "cam-good", i) for i in range(7)]
    bad = DetectRequest(np.zeros((10, 10, 3), np.uint8), FrameMeta("cam-bad", 0, 0, 0, 10, 10))
    results = _fire(handle, good[:3] + [bad] + good[3:])
    err = results[3]
    assert isinstance(err, InputError), repr(err)
    assert "frame must be uint8 with shape (300, 300, 3)" in str(err)
    oks = results[:3] + results[4:]
    assert all(len(r.detections) == 1 for r in oks)
    assert max(r.batch_size for r in oks) > 1  # the good frames shared a batch
    # and the deployment keeps serving
    assert len(handle.detect.remote(good[0]).result().detections) == 1


def test_a_group_of_frames_is_one_call_with_per_frame_results(serve_app):
    handle = serve_app["handle"]
    good = [_request(handle, "cam-group", i) for i in range(5)]
    bad = DetectRequest(np.zeros((10, 10, 3), np.uint8), FrameMeta("cam-group", 99, 0, 0, 10, 10))
    before = handle.stats.remote().result()
    results = handle.detect_many.remote(good[:2] + [bad] + good[2:]).result()
    after = handle.stats.remote().result()
    assert [r.meta.frame_index for r in results[:2] + results[3:]] == list(range(5))
    assert all(len(r.detections) == 1 for r in results[:2] + results[3:])
    assert isinstance(results[2], InputError) and "frame must be uint8" in str(results[2])
    assert after["requests"] - before["requests"] == 6
    assert after["batches"] - before["batches"] < 6  # the group's frames shared batches
    with pytest.raises(InputError, match="expected a list of DetectRequest"):
        handle.detect_many.remote(good[0]).result()


def test_a_group_larger_than_grpcs_default_message_limit_goes_through(serve_app):
    # Handle calls travel over gRPC (pipeline/app/ray_env.py), whose default message limit is
    # 4 MiB: 32 frames (a camera's full group, or 8 frames of 4 tiles) are 8.6 MB.
    handle = serve_app["handle"]
    group = [_request(handle, "cam-big", i) for i in range(32)]
    assert sum(r.frame.nbytes for r in group) > 2 * 4 * 2**20
    results = handle.detect_many.remote(group).result()
    assert [r.meta.frame_index for r in results] == list(range(32))
    assert all(len(r.detections) == 1 for r in results)


def test_bad_per_request_settings_are_per_item_errors(serve_app):
    handle = serve_app["handle"]
    req = _request(handle, "cam", 0)
    odd = DetectRequest(req.frame, req.meta, classes=("unicorn",))
    with pytest.raises(InputError, match=r"unknown classes \['unicorn'\]"):
        handle.detect.remote(odd).result()
    with pytest.raises(InputError, match="expected a DetectRequest, got dict"):
        handle.detect.remote({"frame": req.frame}).result()


def test_stats_report_provider_and_counters(serve_app):
    stats = serve_app["handle"].stats.remote().result()
    assert stats["provider"] in ("cpu", "cuda", "tensorrt")
    assert stats["requests"] >= stats["batches"] > 0
    assert stats["errors"] >= 1
    assert sum(stats["batch_sizes"].values()) == stats["batches"]


def test_stats_sum_over_replicas(serve_app):
    # A second app of two replicas: whichever answers, the counters cover both.
    from ray import serve

    from models.config import ModelConfig, ServingConfig
    from models.deployment import Detector

    serving = ServingConfig(replicas=2, stats_interval_s=0.2, num_cpus=0.1)
    app = Detector.options(num_replicas=2, ray_actor_options={"num_cpus": 0.1}).bind(
        ModelConfig(intra_op_threads=1), serving)
    handle = serve.run(app, name="stats-pair", route_prefix=None)
    try:
        requests = [_request(handle, f"cam-{i % 4}", i) for i in range(40)]
        assert all(not isinstance(r, Exception) for r in _fire(handle, requests))
        deadline = time.monotonic() + 30
        while True:
            stats = handle.stats.remote().result()
            per = stats["replicas"]
            if len(per) == 2 and stats["requests"] == 40 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(per) == 2, per
        assert all(r["requests"] > 0 for r in per.values()), per  # both served
        assert stats["requests"] == sum(r["requests"] for r in per.values()) == 40
        assert stats["batches"] == sum(r["batches"] for r in per.values())
        assert sum(stats["batch_sizes"].values()) == stats["batches"]
        assert stats["replica"] in per
    finally:
        serve.delete("stats-pair")
