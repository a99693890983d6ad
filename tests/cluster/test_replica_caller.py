"""Cameras' detector calls go straight to the Serve replicas, and fall back to the handle."""

import asyncio

import pytest
import ray

from actors.replicas import REPLICA_NAME_PREFIX, ReplicaCaller
from pipeline.errors import InputError
from tests.cluster.test_detector_deployment import _request

pytestmark = pytest.mark.cluster


def test_calls_reach_the_replica_actor_and_answer_as_the_handle(serve_app):
    handle = serve_app["handle"]
    request = _request(handle, "cam-direct", 3)
    before = handle.stats.remote().result()["requests"]
    caller = ReplicaCaller(handle)

    async def go():
        return await caller.call("detect", request), await caller.call("detect_many", [request])

    one, many = asyncio.run(go())
    assert caller.replicas and all(
        n.startswith(f"{REPLICA_NAME_PREFIX}panoray#Detector#") for n in caller.replicas)
    assert caller.fallbacks == 0
    assert handle.stats.remote().result()["requests"] - before == 2
    via_handle = handle.detect.remote(request).result()
    for got in (one, many[0]):
        assert got.meta == via_handle.meta
        assert (got.detections.boxes == via_handle.detections.boxes).all()


def test_malformed_calls_raise_what_the_handle_raises(serve_app):
    handle = serve_app["handle"]
    caller = ReplicaCaller(handle)
    with pytest.raises(InputError, match="expected a list of DetectRequest"):
        asyncio.run(caller.call("detect_many", _request(handle, "cam-direct", 0)))
    assert caller.fallbacks == 1 and caller.replicas  # the replica is still used


@ray.remote(num_cpus=0)
class _Gone:
    """Stands for a replica actor that dies."""

    def ping(self) -> int:
        return 1

    def handle_request(self, *args):
        return None


def test_a_dead_replica_is_dropped_and_the_call_goes_through_the_handle(serve_app):
    handle = serve_app["handle"]
    request = _request(handle, "cam-direct", 5)
    caller = ReplicaCaller(handle)
    asyncio.run(caller.call("info"))
    live = caller.replicas
    gone = _Gone.remote()
    ray.get(gone.ping.remote())
    ray.kill(gone)
    dead_name = f"{REPLICA_NAME_PREFIX}panoray#Detector#gone"
    caller._replicas = {dead_name: gone}  # the only replica it knows has died
    caller._in_flight = {dead_name: 0}
    result = asyncio.run(caller.call("detect", request))
    assert result.meta.frame_index == 5 and len(result.detections) == 1
    assert caller.fallbacks == 1 and dead_name not in caller.replicas
    asyncio.run(caller.call("info"))  # listed again: the live replica is back
    assert caller.replicas == live


def test_without_direct_calls_every_call_takes_the_handle(serve_app):
    handle = serve_app["handle"]
    caller = ReplicaCaller(handle, direct=False)
    info = asyncio.run(caller.call("info"))
    assert info == handle.info.remote().result()
    assert caller.replicas == [] and caller.fallbacks == 0



@ray.remote(num_cpus=0)
class _NoDirect:
    """An actor without ``handle_request``: calling it raises AttributeError."""

    def ping(self) -> int:
        return 1


def test_replicas_that_take_no_direct_calls_turn_direct_calls_off(serve_app):
    handle = serve_app["handle"]
    caller = ReplicaCaller(handle)
    asyncio.run(caller.call("info"))
    other = _NoDirect.remote()
    caller._replicas = {"other": other}
    caller._in_flight = {"other": 0}
    info = asyncio.run(caller.call("info"))
    assert info == handle.info.remote().result()
    assert caller.direct is False and caller.replicas == [] and caller.fallbacks == 1
    ray.kill(other)
