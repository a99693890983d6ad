"""SIGKILL of one actor of a running 3-camera pipeline, then the run goes on to its end."""

from __future__ import annotations

import os
import time

import pandas as pd

from actors.graph import TRACK_ID_MARGIN
from pipeline.ingest.config import LIVE_MAX_IN_FLIGHT, OFFLINE_MAX_IN_FLIGHT
from pipeline.ingest.health import CameraState
from tests.faults.harness import (
    CAMERAS,
    FPS,
    FRAMES,
    RunResult,
    events_by_camera,
    graph_of,
    make_runner,
    detector_replica,
    kill9,
    lost,
    most_events_in,
    run_pipeline,
    wait_for_frames,
    window_starts,
)


def check(result: RunResult, baseline: RunResult, faulted: set[str], bound_s: float) -> dict:
    """The README's promises: files readable (read_output read each), events lost within
    ``bound_s`` media seconds' worth on the faulted cameras and none on the others, every
    window of the unfaulted run written (complete or marked incomplete)."""
    base_ev, got_ev = (events_by_camera(r.tables["events"]) for r in (baseline, result))
    report = {}
    for cam in CAMERAS:
        missing = lost(base_ev[cam], got_ev[cam])
        bound = most_events_in(baseline.tables["events"], cam, bound_s) if cam in faulted else 0
        report[cam] = {"lost": missing, "bound": bound, "baseline": sum(base_ev[cam].values())}
        assert missing <= bound, (cam, report)
        assert window_starts(baseline.tables["metrics"], cam) <= window_starts(
            result.tables["metrics"], cam), cam
    assert not result.summary.get("error"), result.summary
    return report


def assert_same_windows(result: RunResult, baseline: RunResult, columns: list[str]) -> None:
    """Every window row of the run has the unfaulted run's ``columns`` (frames analysed,
    visits, ...)."""
    cols = ["camera_id", "window_start_s", "element_id", *columns]
    pd.testing.assert_frame_equal(
        *(r.tables["metrics"][cols].sort_values(cols[:3]).reset_index(drop=True)
          for r in (result, baseline)))


def test_unfaulted_run_writes_every_camera(baseline: RunResult) -> None:
    events = baseline.tables["events"]
    assert set(events.camera_id) == set(CAMERAS)
    assert baseline.tables["incidents"].empty
    print(f"baseline: {len(events)} events in {baseline.seconds:.1f} s")


def kill_tracker_half_way(killed: dict, frames: int = FRAMES // 2):
    """A fault that SIGKILLs tracker 0 once each of its cameras (kept in
    ``killed["cams"]``) has delivered ``frames`` frames (half its file): their smoothers
    (holding lookahead_s) have released frames to the track export and the aggregator."""

    def fault(runner) -> None:
        g = graph_of(runner)
        killed["cams"] = {c for c, (t, _) in g["hosts"].items() if t == 0}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and min(
                runner.camera_stats()[c].frames_delivered for c in killed["cams"]) < frames:
            time.sleep(0.05)
        stats = runner.camera_stats()
        killed["running"] = {c for c in killed["cams"] if not CameraState(stats[c].state).terminal}
        kill9(g["trackers"][0])

    return fault


def test_tracker_killed(serve_app: dict, baseline: RunResult, tmp_path) -> None:
    """Offline files: the new tracker goes on from the lanes the dead one last saved and
    the cameras read their files again after them, so the run writes what the unfaulted
    run wrote (before, the frames the dead tracker held were lost, a gap was recorded and
    ids moved on past a margin)."""
    killed: dict = {}
    result = run_pipeline(tmp_path / "out", serve_app["handle"], kill_tracker_half_way(killed))
    assert result.summary["hosts_restarted"]["tracker"] == 1
    report = check(result, baseline, killed["cams"], bound_s=0.0)
    assert events_by_camera(result.tables["events"]) == events_by_camera(
        baseline.tables["events"])
    assert result.tables["incidents"].empty  # no gap
    assert_same_windows(result, baseline, ["complete", "frames", "visits"])
    for cam in CAMERAS:
        pd.testing.assert_frame_equal(result.tracks[cam], baseline.tracks[cam])
        assert result.summary["cameras"][cam]["restarts"] == 0  # not the camera's fault
    # each camera went on from the lane its aggregator held, not from its file's start
    # (which would decode the half read before the kill, and the whole file again)
    decoded = {c: result.summary["cameras"][c]["frames_decoded"] for c in killed["running"]}
    assert all(n < FRAMES + FRAMES // 2 for n in decoded.values()), decoded
    print(f"tracker kill: {report}, decoded {decoded}, run {result.seconds:.1f} s")


def test_tracker_of_files_played_live_killed(serve_app: dict, tmp_path) -> None:
    """Live cameras cannot be read again: the new tracker starts their lanes afresh, with
    ids past a margin; a gap is recorded, and the track export goes on after the rows the
    dead tracker wrote (none lost, none twice)."""
    killed: dict = {}
    # played at 10 fps, a camera started seconds after another must not find it ended
    result = run_pipeline(tmp_path / "out", serve_app["handle"],
                          kill_tracker_half_way(killed, FRAMES // 5), mode="live")
    assert result.summary["hosts_restarted"]["tracker"] == 1
    incidents = result.tables["incidents"]
    assert set(incidents.camera_id) == killed["cams"]
    assert (incidents.kind == "tracker restarted").all()
    assert killed["running"], "every camera of the tracker had ended before the kill"
    for cam in killed["running"]:  # (one started seconds before another may have ended)
        got = result.tracks[cam]
        before, after = got[got.id < TRACK_ID_MARGIN], got[got.id >= TRACK_ID_MARGIN]
        assert len(before) and len(after), cam
        assert (after.frame > before.frame.max()).all()
        assert not got.duplicated(["frame", "id"]).any()
        assert got.frame.is_monotonic_increasing


def test_aggregator_killed(serve_app: dict, baseline: RunResult, tmp_path) -> None:
    killed: dict = {}

    def fault(runner) -> None:
        g = graph_of(runner)
        killed["cams"] = {c for c, (_, a) in g["hosts"].items() if a == 0}
        kill9(g["aggregators"][0])

    # checkpoints every 0.5 s of media: the trackers' replay then spans 1.5 s, less than
    # what they send to the dead aggregator before they see it die
    result = run_pipeline(tmp_path / "out", serve_app["handle"], fault,
                          run={"checkpoint_s": 0.5})
    assert result.summary["hosts_restarted"]["aggregator"] == 1
    # the trackers replay every frame after the checkpoint: nothing lost or counted twice
    report = check(result, baseline, killed["cams"], bound_s=0.0)
    assert events_by_camera(result.tables["events"]) == events_by_camera(
        baseline.tables["events"])
    assert_same_windows(result, baseline, ["frames", "visits"])
    incidents = result.tables["incidents"]
    assert set(incidents.camera_id) == killed["cams"]
    for cam in CAMERAS:  # the trackers did not see it
        pd.testing.assert_frame_equal(result.tracks[cam], baseline.tracks[cam])
    print(f"aggregator kill: {report}, run {result.seconds:.1f} s")


def test_camera_actor_killed(serve_app: dict, baseline: RunResult, tmp_path) -> None:
    cam = "cam-b"

    def fault(runner) -> None:
        kill9(graph_of(runner)["actors"][cam])

    result = run_pipeline(tmp_path / "out", serve_app["handle"], fault)
    assert result.summary["cameras"][cam]["restarts"] == 1
    # the new actor reads the offline file again and continues after the last frame its
    # tracker got: nothing is lost, nothing counted twice, every track as unfaulted
    report = check(result, baseline, {cam}, bound_s=0.0)
    assert events_by_camera(result.tables["events"]) == events_by_camera(
        baseline.tables["events"])
    for c in CAMERAS:
        pd.testing.assert_frame_equal(result.tracks[c], baseline.tracks[c])
    assert result.tables["incidents"].empty  # no gap
    assert_same_windows(result, baseline, ["complete", "frames", "visits"])
    print(f"camera kill: {report}, run {result.seconds:.1f} s")


def test_camera_actor_of_a_file_played_live_killed(serve_app: dict, tmp_path) -> None:
    """A file played as a live camera (the demo's cameras): the new actor goes on after
    the last frame its tracker got, after the outage, instead of playing the file again
    from its start (which counted its first part twice)."""
    cam = "cam-b"

    def fault(runner) -> None:
        deadline = time.monotonic() + 120
        while (runner.camera_stats()[cam].frames_delivered < FRAMES // 2
               and time.monotonic() < deadline):
            time.sleep(0.05)
        kill9(graph_of(runner)["actors"][cam])

    result = run_pipeline(tmp_path / "out", serve_app["handle"], fault, mode="live")
    stats = result.summary["cameras"][cam]
    assert stats["restarts"] == 1 and stats["state"] == "ended", stats
    # the file once, plus the few frames the dead actor had decoded and not delivered
    assert FRAMES <= stats["frames_decoded"] <= FRAMES + 2 * LIVE_MAX_IN_FLIGHT, stats
    assert set(result.tables["incidents"].camera_id) == {cam}  # the outage, a gap


def test_detector_replica_killed(serve_app: dict, baseline: RunResult, tmp_path) -> None:
    def fault(_runner) -> None:
        kill9(detector_replica())

    result = run_pipeline(tmp_path / "out", serve_app["handle"], fault)
    # offline cameras retry a failed inference (inference.retries, with backoff) while
    # Serve replaces the replica; what still failed is at most the frames in flight
    failed = {c: s["frames_failed"] for c, s in result.summary["cameras"].items()}
    assert all(n <= OFFLINE_MAX_IN_FLIGHT for n in failed.values()), failed
    report = check(result, baseline, {c for c, n in failed.items() if n},
                   bound_s=max(failed.values()) / FPS + 1.0)
    for cam in (c for c, n in failed.items() if not n):
        pd.testing.assert_frame_equal(result.tracks[cam], baseline.tracks[cam])
    print(f"detector replica kill: frames failed {failed}; {report}, "
          f"run {result.seconds:.1f} s")


def assert_as_unfaulted(result: RunResult, baseline: RunResult, why: str) -> dict:
    """The run resumed once (``why``) and wrote what the unfaulted run wrote: events,
    windows' frames and visits, every track export; the cameras its checkpoints held
    have one incident each, ``why``."""
    assert not result.summary.get("error"), result.summary
    [resumed] = result.summary["resumed"]
    assert resumed["why"] == why and resumed["continued"], resumed
    assert events_by_camera(result.tables["events"]) == events_by_camera(
        baseline.tables["events"])
    assert_same_windows(result, baseline, ["frames", "visits"])
    for cam in CAMERAS:
        pd.testing.assert_frame_equal(result.tracks[cam], baseline.tracks[cam])
    incidents = result.tables["incidents"]
    assert sorted(incidents.camera_id) == resumed["continued"], incidents
    assert (incidents.kind == why).all()
    assert set(result.tables["metrics"].run_id) == {result.summary["run_id"]}
    # a camera whose checkpoint had its tracker lane went on from it, its file not read
    # again from the start (one whose lane had not reached a checkpoint yet was)
    decoded = {c: result.summary["cameras"][c]["frames_decoded"] for c in resumed["continued"]}
    assert min(decoded.values()) < FRAMES, decoded
    return {**resumed, "frames_decoded": decoded}


def test_controller_killed(serve_app: dict, baseline: RunResult, tmp_path) -> None:
    """Offline files: everything of the run dies with its controller, and the driver
    resumes the run with a new one from the aggregators' checkpoints (before, it wrote
    them out, lost what came after them, and the run ended with an error)."""
    # killed once the cameras (started side by side) are half through their files: the
    # aggregators' checkpoints then hold their lanes (2 s of media, 3 s after the tracker)
    result = run_pipeline(tmp_path / "out", serve_app["handle"],
                          lambda runner: kill9(runner.controller), when_frames=FRAMES * 3 // 2)
    resumed = assert_as_unfaulted(result, baseline, "controller lost")
    print(f"controller kill: resumed {resumed}, run {result.seconds:.1f} s")


def assert_live_resumed(result: RunResult, why: str) -> list[str]:
    """A live run resumed once (``why``) and went on to its end: one gap per camera; for
    each camera its checkpoint had frames of (returned), the windows spanning the gap are
    incomplete, its old tracks end before the gap and its new ids start 100,000 past
    them; each file played live ends within a few frames of its end, nothing read
    twice."""
    assert not result.summary.get("error"), result.summary
    [resumed] = result.summary["resumed"]
    assert resumed["why"] == why and resumed["continued"], resumed
    incidents = result.tables["incidents"]
    assert sorted(incidents.camera_id) == resumed["continued"]  # one gap each
    assert (incidents.kind == why).all()
    metrics, went_on = result.tables["metrics"], []
    for cam in resumed["continued"]:
        tracks = result.tracks[cam]
        assert not tracks.duplicated(["frame", "id"]).any()
        # the file played live went on after the last frame its checkpoint had (from its
        # start if it had none): a few frames lost, none read twice
        assert FRAMES - 2 * LIVE_MAX_IN_FLIGHT - 5 <= tracks.frame.max() <= FRAMES, cam
        [gap] = incidents[incidents.camera_id == cam].itertuples()
        if gap.from_pts_s != gap.from_pts_s:  # NaN: its checkpoint had no frame of it yet,
            continue  # it started afresh
        went_on.append(cam)
        windows = metrics[metrics.camera_id == cam]
        spanning = windows[(windows.window_end_s > gap.from_pts_s)
                           & (windows.window_start_s <= gap.to_pts_s)]
        assert len(spanning) and not spanning.complete.any(), windows  # the gap's windows
        before, after = tracks[tracks.id < TRACK_ID_MARGIN], tracks[tracks.id >= TRACK_ID_MARGIN]
        assert len(before) and len(after), cam  # ids skip a margin after the resume
        assert before.frame.max() < after.frame.min()  # the old tracks ended at the gap
    assert went_on, resumed
    return went_on


def test_controller_of_live_cameras_killed(serve_app: dict, tmp_path) -> None:
    """Live cameras cannot be read again, but their run goes on (before, the driver wrote
    the checkpoints out and the run ended with an error): each aggregator restores its
    state, each camera a new session after the last frame its checkpoint had, with one
    gap; its old tracks end there and no id is given twice."""
    # killed once each camera has played about 5 s: its checkpoint (every 2 s) has frames
    result = run_pipeline(tmp_path / "out", serve_app["handle"],
                          lambda runner: kill9(runner.controller), when_frames=FRAMES,
                          mode="live")
    went_on = assert_live_resumed(result, "controller lost")
    print(f"live controller kill: went on {went_on}, run {result.seconds:.1f} s")


def test_driver_of_live_cameras_killed_and_started_again(serve_app: dict, tmp_path) -> None:
    """A live run whose driver died, started again by a process manager with the same
    config on the same output, is resumed as when its controller died (before, its
    checkpoints were written out and the new run started from nothing: windows, visits
    in progress, the alerts' state)."""
    out = tmp_path / "out"
    first = make_runner(out, serve_app["handle"], mode="live")
    first.start()
    try:
        wait_for_frames(first, FRAMES)  # about 5 s each: in their checkpoints
    finally:  # the driver's process dies: its controller and actors with it, and the
        first._kill_controller()  # kernel lets go of its locks
        for lock in first._locks:
            os.close(lock._fd)
            lock._fd = None
    result = run_pipeline(out, serve_app["handle"], mode="live")
    assert result.summary["run_id"] == first.run_id
    went_on = assert_live_resumed(result, "driver lost")
    print(f"live driver kill: went on {went_on}, run {result.seconds:.1f} s")


def test_controller_killed_while_cameras_wait_in_the_batch(serve_app: dict, tmp_path) -> None:
    # one camera fits the test cluster at a time: killed as soon as the run has started,
    # the queued cameras are in no aggregator's checkpoint; the resumed run starts them
    frames = 40
    result = run_pipeline(tmp_path / "out", serve_app["handle"],
                          lambda runner: kill9(runner.controller), when_frames=0,
                          frames=frames, camera={"placement": {"num_cpus": 2.5}})
    assert not result.summary.get("error"), result.summary
    [resumed] = result.summary["resumed"]
    assert len(resumed["continued"]) <= 1 and resumed["done"] == 0, resumed
    for cam in CAMERAS:  # each file whole, once
        got = result.tracks[cam]
        assert got.frame.max() >= frames - 5 and not got.duplicated(["frame", "id"]).any()
        assert result.summary["cameras"][cam]["state"] == "ended", result.summary
    incidents = result.tables["incidents"]
    assert sorted(incidents.camera_id) == resumed["continued"], incidents
    print(f"controller kill with cameras queued: {resumed}, run {result.seconds:.1f} s")
