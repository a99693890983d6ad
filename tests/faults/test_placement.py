"""A camera whose actor is being re-created does not block the controller: while its new
actor waits for room on the cluster, cameras are listed and removed (that camera itself
here), and a camera removed meanwhile gets no new actor once room comes."""

from __future__ import annotations

import time

import ray

from pipeline.site_config import SiteConfig
from tests.faults.harness import graph_of, kill9, site

CAMERA_CPUS = 0.25  # cameras[].placement.num_cpus by default
START_TIMEOUT_S = 120.0  # ray.camera_start_timeout_s: the restart waits this long for room
CALL_S = 20.0  # a controller call that does not wait for the placement answers well within


@ray.remote(num_cpus=0)
class Hold:
    """Takes the CPUs it is created with, so that nothing else fits meanwhile."""

    def ready(self) -> bool:
        return True


def free_cpus() -> float:
    """The cluster's free logical CPUs, once two readings a second apart agree."""
    last = -1.0
    while True:
        now = round(ray.available_resources().get("CPU", 0.0), 4)
        if now == last:
            return now
        last = now
        time.sleep(0.5)


def wait_for(what: str, check, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_pending_restart_blocks_no_remove_and_a_removed_camera_gets_no_actor(
        serve_app: dict, tmp_path) -> None:
    from pipeline.app.runner import PipelineRunner

    cfg = site(tmp_path / "out", frames=None, mode="live")
    cfg["cameras"] = cfg["cameras"][:1]  # cam-a
    cfg["ray"]["camera_start_timeout_s"] = START_TIMEOUT_S
    runner = PipelineRunner(SiteConfig.model_validate(cfg), detector=serve_app["handle"])
    runner.start()
    hold = None
    try:
        free = free_cpus()
        # Queued now, it takes the CPUs cam-a's actor frees when it dies, before the
        # controller asks for room for the new one: cam-a's restart waits for room.
        hold = Hold.options(num_cpus=round(free + CAMERA_CPUS, 4)).remote()
        placed = hold.ready.remote()
        assert not ray.wait([placed], timeout=1.0)[0], "the hold fitted before cam-a died"
        kill9(graph_of(runner)["actors"]["cam-a"])
        ray.get(placed, timeout=30)
        wait_for("cam-a's restart to start", lambda: "cam-a" not in graph_of(runner)["actors"])

        # the restart is waiting for placement: reads and removes still answer
        views = ray.get(runner.controller.cameras.remote(), timeout=CALL_S)
        assert [(v["id"], v["state"]) for v in views] == [("cam-a", "reconnecting")], views
        removed = ray.get(runner.controller.remove_camera.remote("cam-a"), timeout=CALL_S)
        assert removed["removed"] and removed["restarts"] == 0

        ray.kill(hold)  # room for cam-a's new actor: placed, then stopped (cam-a is gone)
        hold = None
        wait_for("cam-a's CPUs back (no actor left for removed cam-a)",
                 lambda: free_cpus() >= round(free + CAMERA_CPUS, 4))
        assert graph_of(runner)["actors"] == {}
        assert ray.get(runner.controller.cameras.remote(), timeout=CALL_S) == []
    finally:
        if hold is not None:
            ray.kill(hold)
        summary = runner.shutdown()
    assert not summary.get("error"), summary
