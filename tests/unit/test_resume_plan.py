"""Planning the resume of a dead offline run from its checkpoints, and which runs can be
resumed (pipeline.sinks.resume, the runner's fingerprint). No Ray: the aggregator actor's
class runs in this process."""

from __future__ import annotations

import atexit
import os
import time
from pathlib import Path

import pytest

from actors import aggregator_actor
from actors.aggregator_actor import AggregatorActor
from pipeline.app.runner import RunOptions, resume_fingerprint
from pipeline.site_config import SiteConfig
from pipeline.sinks import ParquetSinkConfig
from pipeline.sinks.checkpoint import RunLock, checkpoint_path, load_checkpoint, run_note
from pipeline.sinks.recovery import recover_orphans
from pipeline.sinks.resume import find_resumable, plan_resume
from tests.unit.test_checkpoint_rewrite import died
from tests.unit.test_fault_state import ZONE, frames

AGGREGATOR = AggregatorActor.__ray_actor_class__
CLIP = Path(__file__).resolve().parents[2] / "pipeline" / "demo" / "vtest.mp4"


def aggregator(root: Path, index: int) -> object:
    agg = AGGREGATOR([ParquetSinkConfig(root=root, heatmap_png=False)], "run-1",
                     checkpoint=str(checkpoint_path(root, "run-1", index)), checkpoint_s=2.0)
    atexit.unregister(agg._on_exit)  # it "dies" in the test: never closed
    return agg


def dead_run(root: Path, print_: str | None) -> RunLock:
    """Run run-1 as its driver left it when it died: two aggregators, cam1 and cam2 on
    the first (cam2's file ended: removed, windows written), cam3 on the second, cam4
    still queued."""
    first, second = aggregator(root, 0), aggregator(root, 1)
    for agg, cams in ((first, ("cam1", "cam2")), (second, ("cam3",))):
        for cid in cams:  # each with its tracker's lane (pickled; opaque here)
            agg.add_camera(cid, ZONE)
            agg.update(frames(30, camera_id=cid), f"lane of {cid}".encode())
    first.remove_camera("cam2")
    lock = RunLock(root, "run-1")
    lock.note_cameras(["cam1", "cam3", "cam4"], print_)
    for agg in (first, second):
        died(agg)
    os.close(lock._fd)
    lock._fd = None
    return lock


def test_a_dead_runs_checkpoints_say_where_each_camera_goes_on(tmp_path: Path) -> None:
    dead_run(tmp_path, "abc")
    assert run_note(tmp_path, "run-1") == (["cam1", "cam3", "cam4"], "abc")
    plan = plan_resume(tmp_path, "run-1", "driver lost")
    assert plan.hosts == {"cam1": 0, "cam3": 1}
    assert plan.done == {"cam2"}  # its windows were written: it does not run again
    assert plan.lanes == {"cam1": b"lane of cam1", "cam3": b"lane of cam3"}
    # a live camera's new session comes after the last frame its checkpoint holds
    assert plan.last == {"cam1": (29, pytest.approx(2.9)), "cam3": (29, pytest.approx(2.9))}
    # the aggregator that resumes it restores cam1 from where it stopped, and drops the
    # frames it had when the file is read again from its start
    agg = aggregator(tmp_path, 0)
    assert agg.restored() == {"cam1": 2.9}
    kept = agg._first_time(frames(40))
    assert [f.meta.frame_index for f in kept] == list(range(30, 40))
    died(agg)


def test_only_a_dead_run_of_the_same_fingerprint_is_resumed(tmp_path: Path) -> None:
    dead_run(tmp_path, "abc")
    assert find_resumable(tmp_path, "me", "other") is None  # another config
    assert find_resumable(tmp_path, "run-1", "abc") is None  # its own id: not dead
    live = RunLock(tmp_path, "run-1")  # a driver holds it: alive
    assert find_resumable(tmp_path, "me", "abc") is None
    os.close(live._fd)
    live._fd = None
    plan = find_resumable(tmp_path, "me", "abc")
    assert plan is not None and plan.run_id == "run-1" and plan.why == "driver lost"


def test_a_dead_run_with_live_cameras_is_resumed_only_soon_after(tmp_path: Path) -> None:
    dead_run(tmp_path, "abc")
    assert find_resumable(tmp_path, "me", "abc", max_age_s=60) is not None
    ten_minutes_ago = time.time() - 600
    for path in (tmp_path / ".checkpoints" / "run-1").glob("*.pkl"):
        os.utime(path, (ten_minutes_ago, ten_minutes_ago))
    assert find_resumable(tmp_path, "me", "abc", max_age_s=60) is None  # written out
    assert find_resumable(tmp_path, "me", "abc") is not None  # files: whenever


def test_a_run_that_cannot_be_resumed_is_written_out(tmp_path: Path) -> None:
    dead_run(tmp_path, None)  # no sink, say: no fingerprint noted
    assert find_resumable(tmp_path, "me", "abc") is None
    got = recover_orphans(tmp_path, "me")
    assert got["run-1"]["cameras"] == ["cam1", "cam3"]
    assert got["run-1"]["unrecovered"] == ["cam4"]


def test_an_unreadable_checkpoint_is_not_resumed(tmp_path: Path) -> None:
    dead_run(tmp_path, "abc")
    checkpoint_path(tmp_path, "run-1", 1).write_bytes(b"cut short")
    assert plan_resume(tmp_path, "run-1", "driver lost") is None
    assert find_resumable(tmp_path, "me", "abc") is None


def site(**camera: object) -> SiteConfig:
    cam = {"id": "cam1", "url": str(CLIP), **camera}
    return SiteConfig.model_validate({"cameras": [cam], "sinks": [{"root": "/tmp/out"}]})


def test_a_run_with_a_sink_can_be_resumed_by_the_same_config() -> None:
    offline = RunOptions(offline=True)
    base = resume_fingerprint(site(), offline)
    assert base is not None
    assert resume_fingerprint(site(mode="offline"), RunOptions()) is not None
    assert resume_fingerprint(site(), RunOptions()) not in (None, base)  # played live
    rtsp = resume_fingerprint(site(url="rtsp://bob:s3cret@cam/stream"), RunOptions())
    # the password is masked before hashing (a hash could be searched for it offline): a
    # new password resumes the same camera
    assert rtsp == resume_fingerprint(site(url="rtsp://bob:other@cam/stream"), RunOptions())
    assert rtsp != resume_fingerprint(site(url="rtsp://bob:s3cret@cam/other"), RunOptions())
    no_sink = site().model_copy(update={"sinks": ()})
    assert resume_fingerprint(no_sink, offline) is None  # no checkpoints
    # what decides the output changes it; the HTTP API and the run's length do not
    assert resume_fingerprint(site(lines=[{"id": "door", "start": [0.5, 0], "end": [
        0.5, 1]}]), offline) != base
    assert resume_fingerprint(site(), RunOptions(offline=True, export_tracks=Path("t"))) != base
    other = site().model_copy(update={"http": site().http.model_copy(update={"port": 1}),
                                      "run": site().run.model_copy(update={"duration_s": 5})})
    assert resume_fingerprint(other, offline) == base


def test_an_aggregator_exiting_with_its_controller_keeps_its_checkpoint(tmp_path: Path) -> None:
    agg = aggregator(tmp_path, 0)
    agg.add_camera("cam1", ZONE)
    agg.update(frames(59))  # 0 .. 5.8 s: the window of 0-5 s is still open (2 s grace)
    agg._on_exit()  # what its process runs as it exits (gracefully) with its controller
    died(agg)
    state = load_checkpoint(checkpoint_path(tmp_path, "run-1", 0))
    assert state["last_index"] == {"cam1": 58}  # its last state, not the last periodic one
    assert not (tmp_path / "metrics").exists()  # no window closed early
    assert plan_resume(tmp_path, "run-1", "controller lost").hosts == {"cam1": 0}


def test_a_new_aggregator_waits_for_the_one_it_replaces(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(aggregator_actor, "HOLDER_WAIT_S", 0.3)
    first = aggregator(tmp_path, 0)
    first.add_camera("cam1", ZONE)
    with pytest.raises(TimeoutError, match="still held"):
        aggregator(tmp_path, 0)  # its process still lives (a dead controller's, dying)
    died(first)
    second = aggregator(tmp_path, 0)
    assert second.restored() == {"cam1": None}
    died(second)
