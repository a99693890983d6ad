"""A camera being placed does not block the controller. While a re-created camera's new
actor waits for room on the cluster, cameras are listed and removed (that camera itself
here), and a camera removed meanwhile gets no new actor once room comes. At start-up, a
config camera that cannot be placed holds up neither reads nor the removal of a camera
that already runs."""

from __future__ import annotations

import threading
import time

import pytest
import ray

from pipeline.site_config import SiteConfig
from tests.faults.harness import graph_of, kill9, site

CAMERA_CPUS = 0.25  # cameras[].placement.num_cpus by default
START_TIMEOUT_S = 120.0  # ray.camera_start_timeout_s: the restart waits this long for room
CALL_S = 20.0  # a controller call that does not wait for the placement answers well within
STUCK_S = 15.0  # start-up: how long the camera that never fits waits before it fails
READ_S = 5.0  # a read or remove during that wait answers well within


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


def test_a_config_camera_that_cannot_be_placed_blocks_no_read_or_remove_at_start_up(
        serve_app: dict, tmp_path) -> None:
    from pipeline.app.runner import PipelineRunner
    from pipeline.errors import PanorayError, PipelineUnavailableError
    from pipeline.ingest.config import CameraConfig

    cfg = site(tmp_path / "out", frames=None, mode="live")
    cfg["cameras"] = cfg["cameras"][:2]  # cam-a fits; cam-b asks for more CPUs than exist
    cfg["cameras"][1]["placement"] = {"num_cpus": 64}
    cfg["ray"]["camera_start_timeout_s"] = STUCK_S
    runner = PipelineRunner(SiteConfig.model_validate(cfg), detector=serve_app["handle"])
    failures: list[BaseException] = []

    def start() -> None:
        try:
            runner.start()
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            failures.append(exc)

    starting = threading.Thread(target=start)
    starting.start()
    try:
        wait_for("the controller", lambda: runner.controller is not None)

        def listed() -> list[str]:
            views = ray.get(runner.controller.cameras.remote(), timeout=READ_S)
            return [v["id"] for v in views]

        wait_for("cam-a listed while cam-b waits for room", lambda: listed() == ["cam-a"])
        removed = ray.get(runner.controller.remove_camera.remote("cam-a"), timeout=READ_S)
        assert removed["removed"]
        # a camera added now would take room a configured one waits for: refused, try again
        late = CameraConfig(id="late", url=cfg["cameras"][0]["url"])
        with pytest.raises(PipelineUnavailableError, match="the pipeline is starting"):
            ray.get(runner.controller.add_camera.remote(late), timeout=READ_S)
        assert starting.is_alive() and not failures, "answered only once cam-b gave up"
        starting.join(STUCK_S + 30)
        assert not starting.is_alive()
        assert len(failures) == 1 and isinstance(failures[0], PanorayError), failures
        assert "cam-b" in str(failures[0]) and "did not start" in str(failures[0])
    finally:
        starting.join(STUCK_S + 30)
        summary = runner.shutdown() if runner.controller is not None else {}
    assert "cam-b" not in summary.get("cameras", {}), summary


def test_a_camera_added_with_no_room_is_refused_after_the_wait_and_the_run_goes_on(
        serve_app: dict, tmp_path) -> None:
    """An API camera for which no node has room within ray.camera_start_timeout_s is a
    503 naming what it asked for (it was a 500), and the running camera goes on."""
    from pipeline.app.runner import PipelineRunner
    from pipeline.errors import PipelineUnavailableError
    from pipeline.ingest.config import CameraConfig

    cfg = site(tmp_path / "out", frames=None, mode="live")
    cfg["cameras"] = cfg["cameras"][:1]  # cam-a
    cfg["ray"]["camera_start_timeout_s"] = 3.0
    runner = PipelineRunner(SiteConfig.model_validate(cfg), detector=serve_app["handle"])
    runner.start()
    try:
        big = CameraConfig(id="big", url=cfg["cameras"][0]["url"],
                           placement={"num_cpus": round(free_cpus() + 1, 2)})
        with pytest.raises(PipelineUnavailableError,
                           match="camera 'big' was not added: .* did not start within 3 s"):
            ray.get(runner.controller.add_camera.remote(big), timeout=CALL_S)
        views = ray.get(runner.controller.cameras.remote(), timeout=CALL_S)
        assert [v["id"] for v in views] == ["cam-a"], views
        assert views[0]["state"] in ("connecting", "streaming"), views
    finally:
        summary = runner.shutdown()
    assert not summary.get("error"), summary
