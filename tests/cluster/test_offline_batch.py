"""More offline files than the cluster hosts at once: they run as a batch, a few at a
time, every one is exported, and each file's output does not depend on how many ran
beside it (real Ray, Serve detector, trackers, aggregators and sinks)."""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import threading
import time
from collections.abc import Callable

import pandas as pd
import pytest
import ray

from actors.aggregator_actor import AGGREGATOR_NUM_CPUS
from actors.controller_actor import CONTROLLER_NUM_CPUS
from actors.tracker_actor import TRACKER_NUM_CPUS
from benchmarks.evaluation import read_mot
from pipeline.app.runner import PipelineRunner, RunOptions
from pipeline.control.batch import batch_progress
from pipeline.site_config import SiteConfig
from pipeline.sinks.checkpoint import checkpoint_path, load_checkpoint
from tests.faults.harness import graph_of, kill9

pytestmark = pytest.mark.cluster

CLIP = pathlib.Path(__file__).resolve().parents[2] / "pipeline" / "demo" / "vtest.mp4"
FILES = 5
FIT = 2  # cameras' num_cpus is set so that this many fit at once


def _site(num_cpus: float, limit: int | None = None) -> SiteConfig:
    cameras = [{"id": f"file-{i}", "url": str(CLIP), "source": {"max_frames": 24 + 4 * i},
                "placement": {"num_cpus": num_cpus},
                "inference": {"tiling": None},  # the batch's queue, not detection, is tested
                "zones": [{"id": "path-west",
                           "points": [[0.0, 0.28], [0.5, 0.28], [0.5, 0.62], [0.0, 0.62]]}],
                "lines": [{"id": "lamp-post", "start": [0.56, 0.2], "end": [0.56, 0.66]}]}
               for i in range(FILES)]
    return SiteConfig.model_validate({
        "cameras": cameras, "analytics": {"window_s": 2, "min_distinct_tracks": 1},
        # without the batch, the cameras that do not fit fail after this
        "ray": {"max_concurrent_offline": limit, "camera_start_timeout_s": 60},
        "run": {"status_interval_s": 0.5},
        # files shorter than a sample interval: only a file's last sample, sent when the
        # batch removes it, carries its crossings to the site occupancy
        "alerts": {"sample_interval_s": 10},
        "flows": {"occupancy": {"lines": [{"camera_id": c["id"], "line_id": "lamp-post",
                                           "in": "in"} for c in cameras],
                                "reset_at": _far_from_now(), "timezone": "UTC"}}})


def _site_counts(out: pathlib.Path) -> tuple[int, int]:
    """People in and out in the last site occupancy row of a run's output, after checking
    that they are its events' crossings in and out: each counted once."""
    site = pd.read_parquet(out / "site").sort_values("at")
    last = site[site.kind == "site_occupancy"].iloc[-1]
    events = pd.read_parquet(out / "events")
    crossed = events[events.kind == "line_cross"].direction.value_counts()
    assert (last.entered, last.left) == (crossed.get("in", 0), crossed.get("out", 0)), crossed
    return int(last.entered), int(last.left)


def _far_from_now() -> str:
    """A daily reset time half a day away, so that it never falls inside the run."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)).strftime("%H:%M")


def _run(serve_app, tmp: pathlib.Path, site: SiteConfig,
         fault: Callable[[PipelineRunner, list], None] | None = None) -> tuple[dict, list]:
    """Runs the batch to its end; ``fault(runner, rows)`` is called at every status."""
    runner = PipelineRunner(site, RunOptions(output_dir=tmp / "out", offline=True,
                                             export_tracks=tmp / "tracks"),
                            detector=serve_app["handle"])
    seen: list = []

    def on_status(rows: list) -> None:
        seen.append(rows)
        if fault is not None:
            fault(runner, rows)

    try:
        runner.start()
        why = runner.wait(threading.Event(), on_status)
    finally:
        summary = runner.shutdown()
    assert why == "ended", summary
    return summary, seen


@pytest.fixture(scope="module")
def num_cpus(serve_app) -> float:
    """A camera demand such that exactly ``FIT`` cameras fit beside the run's own actors."""
    hosts = CONTROLLER_NUM_CPUS + TRACKER_NUM_CPUS + AGGREGATOR_NUM_CPUS
    free = ray.available_resources()["CPU"] - hosts
    return round(free / (FIT + 0.5), 3)


@pytest.fixture(scope="module")
def wide(serve_app, num_cpus, tmp_path_factory) -> tuple[pathlib.Path, dict, list]:
    """The batch run without faults, as many files at once as fit: its output folder,
    summary and status rows."""
    root = tmp_path_factory.mktemp("wide")
    summary, seen = _run(serve_app, root, _site(num_cpus))
    return root, summary, seen


def test_more_files_than_fit_all_finish_and_match_one_at_a_time(serve_app, num_cpus, wide,
                                                                tmp_path):
    wide_root, wide, seen = wide
    assert wide["batch"]["peak_concurrency"] == FIT
    assert wide["batch"]["ended"] == FILES and wide["batch"]["not_started"] == []
    # a file that ends hands its actor to the next: one process per slot, not per file
    assert wide["batch"]["camera_actors_started"] == FIT
    for i in range(FILES):
        cam = wide["cameras"][f"file-{i}"]
        assert cam["state"] == "ended", cam
        assert cam["frames_delivered"] == cam["frames_decoded"] == 24 + 4 * i
        assert len(read_mot(wide_root / "tracks" / f"file-{i}.txt")) > 0
    # while it ran, files waited their turn and the progress counted them
    progress = [batch_progress(rows, 1.0) for rows in seen]
    assert max(p.left - p.running for p in progress) >= FILES - FIT
    assert progress[-1].done == FILES and progress[-1].left == 0

    narrow, _ = _run(serve_app, tmp_path / "narrow", _site(num_cpus, limit=1))
    assert narrow["batch"]["peak_concurrency"] == 1
    assert narrow["batch"]["camera_actors_started"] == 1
    for i in range(FILES):
        name = f"file-{i}.txt"
        assert (wide_root / "tracks" / name).read_text() == \
            (tmp_path / "narrow" / "tracks" / name).read_text(), name

    def events(root: pathlib.Path) -> pd.DataFrame:
        df = pd.read_parquet(root / "out" / "events")
        cols = ["camera_id", "kind", "element_id", "track_id", "pts_s", "dwell_s"]
        return df[cols].sort_values(cols[:5]).reset_index(drop=True)

    wide_events = events(wide_root)
    assert set(wide_events.camera_id) == {f"file-{i}" for i in range(FILES)}
    pd.testing.assert_frame_equal(wide_events, events(tmp_path / "narrow"))

    # each finished file's summary holds its analytics, as a run without a batch does
    raw = pd.read_parquet(wide_root / "out" / "events")
    for i in range(FILES):
        mine = raw[raw.camera_id == f"file-{i}"]
        crossed = mine[mine.kind == "line_cross"].direction.value_counts()
        cam = wide["cameras"][f"file-{i}"]
        assert cam["visits"] == {"path-west": int((mine.kind == "zone_enter").sum())}, cam
        assert cam["crossings"] == {"lamp-post": {d: int(crossed.get(d, 0)) for d in
                                                  ("in", "out")}}, cam
    assert sum(c["visits"]["path-west"] for c in wide["cameras"].values()) > 0
    # and the site occupancy got every file's crossings, the last ones included
    assert sum(_site_counts(wide_root / "out")) > 0


@pytest.mark.parametrize("host", ["tracker", "aggregator", "alerts"])
def test_a_host_killed_mid_batch_changes_no_file(serve_app, num_cpus, wide, tmp_path, host):
    """The tracker (or the aggregator, or the alerts actor) dies once a file has ended
    and others run or wait. A new tracker goes on from the dead one's saved lanes and the
    running files are read again after them; a new aggregator restores its checkpoint and
    the tracker replays the frames after it; a new alerts actor goes on from its saved
    state and the aggregators send it their last samples with crossings again. The queued
    files start on the new host, every file's tracks and events are those of the
    unfaulted batch, and the site occupancy counts each crossing once."""
    killed: list[int] = []
    actors = {"tracker": "trackers", "aggregator": "aggregators", "alerts": "alerts"}[host]

    def fault(runner: PipelineRunner, rows: list) -> None:
        if not killed and any(r.state == "ended" for r in rows):
            killed.append(kill9(graph_of(runner)[actors][0]))

    clean = wide[0]
    faulted, _ = _run(serve_app, tmp_path / "faulted", _site(num_cpus), fault)
    assert killed and faulted["hosts_restarted"][host] == 1
    assert faulted["batch"]["ended"] == FILES
    for i in range(FILES):
        name = f"file-{i}.txt"
        assert (tmp_path / "faulted" / "tracks" / name).read_text() == \
            (clean / "tracks" / name).read_text(), name
    cols = ["camera_id", "kind", "element_id", "track_id", "pts_s", "dwell_s"]
    pd.testing.assert_frame_equal(
        *(pd.read_parquet(run / "out" / "events")[cols].sort_values(cols[:5])
          .reset_index(drop=True) for run in (tmp_path / "faulted", clean)))
    # the site occupancy counted every crossing once
    assert _site_counts(tmp_path / "faulted" / "out") == _site_counts(clean / "out")
    if host == "tracker":  # no gap (a restored aggregator records one: it cannot tell)
        assert not (tmp_path / "faulted" / "out" / "incidents").exists()


def test_the_driver_killed_mid_batch_and_the_same_batch_started_again(serve_app, num_cpus,
                                                                      wide, tmp_path):
    """The driver dies once the batch has finished a file (its windows written: done in
    the checkpoint) while others run or wait; the same batch started again on the same
    output resumes it: the finished file is not read again, the running ones go on from
    their checkpoints' tracker lanes, the queued ones start, and every file's tracks and
    events are those of the unfaulted batch."""
    site = _site(num_cpus)
    options = RunOptions(output_dir=tmp_path / "out", offline=True,
                         export_tracks=tmp_path / "tracks")
    first = PipelineRunner(site, options, detector=serve_app["handle"])
    first.start()
    try:
        deadline = time.monotonic() + 120
        while not (load_checkpoint(checkpoint_path(tmp_path / "out", first.run_id, 0))
                   or {}).get("done"):
            assert time.monotonic() < deadline, "no file finished"
            first.status()
            time.sleep(0.2)
    finally:  # the driver's process dies: its controller and actors with it, and the
        first._kill_controller()  # kernel lets go of its locks
        for lock in first._locks:
            os.close(lock._fd)
            lock._fd = None

    resumed, _ = _run(serve_app, tmp_path, site)
    [plan] = resumed["resumed"]
    assert resumed["run_id"] == first.run_id and plan["why"] == "driver lost"
    assert plan["done"] >= 1, plan
    assert len(resumed["cameras"]) == FILES - plan["done"]  # the done ones not read again
    clean = wide[0]
    for i in range(FILES):
        name = f"file-{i}.txt"
        assert (tmp_path / "tracks" / name).read_text() == (clean / "tracks" / name).read_text()
    cols = ["camera_id", "kind", "element_id", "track_id", "pts_s", "dwell_s"]
    pd.testing.assert_frame_equal(
        *(pd.read_parquet(run / "out" / "events")[cols].sort_values(cols[:5])
          .reset_index(drop=True) for run in (tmp_path, clean)))
    assert _site_counts(tmp_path / "out") == _site_counts(clean / "out")
    assert not list((tmp_path / "out").glob(".checkpoints/*"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_track_export_that_stopped_is_in_the_summary(serve_app, num_cpus, tmp_path):
    """One file's track export meets a full disk: the batch goes on, and the summary,
    written after the batch removed that file, names it (``panoray run`` exits 1)."""
    (tmp_path / "tracks").mkdir()
    (tmp_path / "tracks" / "file-1.txt").symlink_to("/dev/full")
    summary, _ = _run(serve_app, tmp_path, _site(num_cpus))
    output = summary["output"]
    assert list(output["track_export_failed"]) == ["file-1"], output
    assert "No space left on device" in output["track_export_failed"]["file-1"]
    assert output["complete"] is False and not output["unwritten_rows"], output
    assert all(cam["state"] == "ended" for cam in summary["cameras"].values()), summary
    assert (tmp_path / "tracks" / "file-2.txt").stat().st_size > 0
