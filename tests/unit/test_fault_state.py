"""The plain pieces behind supervision: replay buffers, failure books, checkpoints and the
driver's recovery of a lost run's checkpoints. No Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from actors.replay import ReplayBuffer
from pipeline.analytics.aggregator import Aggregator
from pipeline.analytics.config import AnalyticsConfig
from pipeline.dashboard.history import WindowHistory
from pipeline.sinks import ParquetSinkConfig, Sinks
from pipeline.sinks.checkpoint import (
    RunLock,
    checkpoint_path,
    load_checkpoint,
    run_alive,
    run_cameras,
    save_checkpoint,
)
from pipeline.sinks.incidents import FailureBook
from pipeline.sinks.recovery import record_unrecovered, recover_orphans, recover_run
from pipeline.types import FrameMeta, TrackedFrame
from tests.unit.analytics_helpers import WALL0, tracks_at

ZONE = AnalyticsConfig(zones=[{"id": "all", "min_visit_s": 0, "units": "pixel",
                               "points": [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]}],
                       window_s=5, window_grace_s=2, min_distinct_tracks=1)


def frames(n: int, fps: float = 10.0, camera_id: str = "cam1") -> list[TrackedFrame]:
    """One track walking right, ``n`` frames of a 1000x1000 camera."""
    return [TrackedFrame(FrameMeta(camera_id, i, i / fps, WALL0 + i / fps, 1000, 1000),
                         tracks_at([(1, 100.0 + i, 200.0)])) for i in range(n)]


def test_replay_keeps_what_the_aggregator_did_not_confirm_and_replay_s_before_it() -> None:
    buf = ReplayBuffer(replay_s=2.0, max_frames=50)
    buf.add(frames(40))  # 0.0 .. 3.9 s sent, none confirmed yet: all kept
    assert len(buf) == 40
    buf.confirm(2.5)  # the aggregator processed up to 2.5 s
    assert [f.meta.pts_s for f in buf.after(None)][0] == 0.5
    buf.confirm(3.9)
    assert [f.meta.pts_s for f in buf.after(None)][0] == 1.9
    assert len(buf.after(3.5)) == 4
    assert len(buf) == 21
    buf.add(frames(100)[40:])  # sent to an aggregator that died: kept, trimmed by count
    assert len(buf) == 50 and buf.dropped == 31


def test_windows_spanning_a_failure_are_marked_incomplete() -> None:
    agg = Aggregator()
    agg.add_camera("cam1", ZONE)
    book = FailureBook()
    out = agg.update(frames(30))  # 0 .. 2.9 s
    book.record("cam1", "tracker restarted", last_pts=2.9, at=WALL0)
    later = frames(130)[90:]  # 9.0 .. 12.9 s: the gap is 2.9 .. 9.0
    closed = book.seen("cam1", later[0].meta.pts_s)
    assert [(f.from_pts_s, f.to_pts_s) for f in closed] == [(2.9, 9.0)]
    out = agg.update(later)
    windows = book.mark(out.windows + agg.close())
    spans = {(w.start_s, w.complete) for w in windows}
    assert (0.0, False) in spans and (5.0, False) in spans  # both overlap 2.9 .. 9.0
    assert all(not m.complete for w in windows if w.start_s < 9.0 for m in w.metrics)


def test_a_lost_runs_checkpoints_are_written_with_open_windows_incomplete(tmp_path) -> None:
    agg = Aggregator()
    agg.add_camera("cam1", ZONE)
    sinks = Sinks([ParquetSinkConfig(root=tmp_path)], run_id="run-1")
    out = agg.update(frames(72))  # 0 .. 7.1 s: one window closed, one open
    sinks.write(out.events, out.windows, {})
    path = checkpoint_path(tmp_path, "run-1", 0)
    save_checkpoint(path, {"analytics": agg, "sinks": sinks, "history": WindowHistory(),
                           "failures": FailureBook(), "last_pts": {"cam1": 7.1}})
    assert load_checkpoint(path)["last_pts"] == {"cam1": 7.1}

    got = recover_run(tmp_path, "run-1", "run lost: controller gone")
    assert got["checkpoints"] == 1 and got["windows"] >= 1 and got["cameras"] == ["cam1"]
    assert not path.exists()
    metrics = pd.read_parquet(tmp_path / "metrics")
    assert not metrics.loc[metrics.window_start_s == 5.0, "complete"].any()
    incidents = pd.read_parquet(tmp_path / "incidents")
    assert incidents[["camera_id", "kind", "from_pts_s"]].values.tolist() == [
        ["cam1", "run lost: controller gone", 7.1]]
    assert len(pd.read_parquet(tmp_path / "events")) == 1  # the zone entry, buffered
    assert recover_run(tmp_path, "run-1", "again") == {"checkpoints": 0, "windows": 0, "rows": 0,
                                                        "cameras": [], "unrecovered": []}
    assert record_unrecovered(tmp_path, "run-1", [], "nothing") == []


def test_cameras_no_checkpoint_held_get_a_gap_from_their_start_once(tmp_path: Path) -> None:
    agg = Aggregator()
    agg.add_camera("cam1", ZONE)
    agg.update(frames(20))
    save_checkpoint(checkpoint_path(tmp_path, "run-1", 0), {
        "analytics": agg, "sinks": Sinks([ParquetSinkConfig(root=tmp_path)], run_id="run-1"),
        "failures": FailureBook(), "last_pts": {"cam1": 1.9}})
    lock = RunLock(tmp_path, "run-1")
    lock.note_cameras(["cam1", "cam2", "cam3"])  # cam2 being placed, cam3 queued
    assert run_cameras(tmp_path, "run-1") == ["cam1", "cam2", "cam3"]

    got = recover_run(tmp_path, "run-1", "run lost", run_cameras(tmp_path, "run-1"))
    assert got["cameras"] == ["cam1"] and got["unrecovered"] == ["cam2", "cam3"]
    # narrowed first: a recovery cut short and done again records each camera once
    assert run_cameras(tmp_path, "run-1") == ["cam2", "cam3"]
    again = recover_run(tmp_path, "run-1", "run lost", run_cameras(tmp_path, "run-1"))
    assert again["checkpoints"] == 0 and again["unrecovered"] == ["cam2", "cam3"]
    incidents = pd.read_parquet(tmp_path / "incidents").sort_values("camera_id")
    assert incidents.camera_id.tolist() == ["cam1", "cam2", "cam3"]
    assert incidents.from_pts_s.isna().tolist() == [False, True, True]
    lock.release()


def test_a_dead_driver_s_noted_cameras_are_recorded_by_the_next_run(tmp_path: Path) -> None:
    dead = RunLock(tmp_path, "dead")  # killed before any checkpoint was written
    dead.note_cameras(["cam1"])
    dead._fd = os.close(dead._fd)
    done = RunLock(tmp_path, "done")  # killed with every camera finished
    done.note_cameras([])
    done._fd = os.close(done._fd)
    starting = RunLock(tmp_path, "starting")  # no note yet: left alone, whatever its lock
    starting._fd = os.close(starting._fd)

    got = recover_orphans(tmp_path, "me")
    assert list(got) == ["dead", "done"] and got["dead"]["unrecovered"] == ["cam1"]
    assert got["done"]["unrecovered"] == []
    assert not (tmp_path / ".checkpoints" / "dead.lock").exists()
    assert not (tmp_path / ".checkpoints" / "done.lock").exists()
    assert (tmp_path / ".checkpoints" / "starting.lock").exists()
    incidents = pd.read_parquet(tmp_path / "incidents")
    assert incidents[["run_id", "camera_id", "kind"]].values.tolist() == [
        ["dead", "cam1", "driver lost"]]
    assert incidents.from_pts_s.isna().all()


def test_a_missing_or_broken_checkpoint_means_starting_empty(tmp_path: Path) -> None:
    path = checkpoint_path(tmp_path, "run-1", 3)
    assert load_checkpoint(path) is None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a pickle")
    assert load_checkpoint(path) is None


def test_a_dead_runs_checkpoints_are_recovered_by_the_next_run_and_a_live_ones_kept(
        tmp_path: Path) -> None:
    def checkpoint(run_id: str) -> Path:
        agg = Aggregator()
        agg.add_camera("cam1", ZONE)
        sinks = Sinks([ParquetSinkConfig(root=tmp_path)], run_id=run_id)
        out = agg.update(frames(40))  # 0 .. 3.9 s: one window open
        sinks.write(out.events, out.windows, {})
        path = checkpoint_path(tmp_path, run_id, 0)
        save_checkpoint(path, {"analytics": agg, "sinks": sinks, "failures": FailureBook(),
                               "last_pts": {"cam1": 3.9}})
        return path

    live = RunLock(tmp_path, "live")  # its driver runs
    dead = RunLock(tmp_path, "dead")
    dead_path, live_path = checkpoint("dead"), checkpoint("live")
    dead._fd = os.close(dead._fd)  # its driver was killed: the kernel let go of the lock
    assert run_alive(tmp_path, "live") and not run_alive(tmp_path, "dead")

    got = recover_orphans(tmp_path, "me")
    assert list(got) == ["dead"] and got["dead"]["windows"] == 1
    assert not dead_path.exists() and live_path.exists()
    assert not (tmp_path / ".checkpoints" / "dead.lock").exists()
    metrics = pd.read_parquet(tmp_path / "metrics")
    assert metrics.run_id.unique().tolist() == ["dead"] and not metrics.complete.any()
    incidents = pd.read_parquet(tmp_path / "incidents")
    assert incidents[["run_id", "kind"]].values.tolist() == [["dead", "driver lost"]]
    assert recover_orphans(tmp_path, "me") == {}
    live.release()
    assert not (tmp_path / ".checkpoints" / "live.lock").exists()
