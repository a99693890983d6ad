"""The track export (``panoray run --export-tracks``) is a side output: a write that fails
(a full disk) stops that camera's export, reported once, and never tracking or analytics,
and leaves no row cut short in the file. Real files and real OS errors, no Ray."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from actors.tracker_actor import TrackerActor
from pipeline.mot import MotTrackWriter
from pipeline.types import DetectedFrame, Detections, FrameMeta, TrackedFrame, Tracks

resource = pytest.importorskip("resource", reason="RLIMIT_FSIZE needs the resource module")

TRACKER = TrackerActor.__ray_actor_class__
FULL = "/dev/full"
needs_dev_full = pytest.mark.skipif(not os.path.exists(FULL),
                                    reason=f"no {FULL}: writes to it fail with ENOSPC on Linux")


def walkers(camera_id: str, i: int) -> DetectedFrame:
    """Two people walking right, 4 px a frame, at frame ``i`` (10 fps)."""
    boxes = np.array([[100 + 4 * i, 100, 140 + 4 * i, 200],
                      [300 + 4 * i, 150, 340 + 4 * i, 250]], np.float32)
    dets = Detections(boxes, np.full(2, 0.9, np.float32), np.ones(2, np.int16))
    return DetectedFrame(FrameMeta(camera_id, i, i / 10, 1.8e9 + i / 10, 640, 480), dets)


def tracked(camera_id: str, i: int) -> TrackedFrame:
    """Frame ``i`` of a camera with one track (id 9): one row of about 40 bytes."""
    tracks = Tracks(np.array([[1, 2, 4, 6]], np.float32), np.array([0.9], np.float32),
                    np.ones(1, np.int16), np.array([9], np.int64))
    return TrackedFrame(FrameMeta(camera_id, i, i / 10, 0.0, 640, 480), tracks)


def export_logs(caplog: pytest.LogCaptureFixture, camera_id: str) -> list[str]:
    """The messages that say a camera's export stopped."""
    return [r.getMessage() for r in caplog.records
            if f"track export of camera {camera_id}" in r.getMessage()]


@contextlib.contextmanager
def file_size_limit(max_bytes: int) -> Iterator[None]:
    """Files of this process cannot grow past ``max_bytes`` (writes fail with EFBIG after
    a short write) while the block runs; SIGXFSZ is ignored meanwhile."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


@needs_dev_full
def test_a_full_disk_stops_the_export_not_the_tracking(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tracker = TRACKER(export_dir=str(tmp_path))
    tracker.add_camera("cam-a")
    tracker.add_camera("cam-b")
    os.replace(tmp_path / "cam-a.txt", tmp_path / "moved.txt")  # its entry now: a full disk
    (tmp_path / "cam-a.txt").symlink_to(FULL)
    with caplog.at_level(logging.WARNING):
        for i in range(0, 30, 3):  # batches of 3 frames per camera, like a camera actor
            errors = tracker.update([walkers(c, j) for c in ("cam-a", "cam-b")
                                     for j in range(i, i + 3)])
            assert errors == [None] * 6
    assert tracker.flush()["cameras"]["cam-a"]["updates"] == 30  # tracking went on
    failed = tracker.stats()["export_failed"]
    assert list(failed) == ["cam-a"] and "No space left on device" in failed["cam-a"]
    messages = export_logs(caplog, "cam-a")
    assert len(messages) == 1, messages  # once, not once a frame
    assert str(tmp_path / "cam-a.txt") in messages[0] and "[Errno 28]" in messages[0]
    assert not export_logs(caplog, "cam-b")
    rows = np.loadtxt(tmp_path / "cam-b.txt", delimiter=",", usecols=0, ndmin=1)
    assert rows.max() == 30  # the other camera's export is whole


@needs_dev_full
def test_the_writer_reports_a_failure_once_and_stops_writing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "cam-a.txt").symlink_to(FULL)
    writer = MotTrackWriter(tmp_path)
    writer.start("cam-a", "append")
    assert writer.failed == {}
    with caplog.at_level(logging.WARNING):
        for i in range(20):
            writer.write([tracked("cam-a", i)])  # raises nothing
    assert writer.failed == {"cam-a": f"[Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}"}
    assert len(export_logs(caplog, "cam-a")) == 1
    writer.stop("cam-a")  # an offline batch's file that ended: the run's summary names it
    assert list(writer.failed) == ["cam-a"]
    writer.start("cam-a", "append")  # started again: a new export
    assert writer.failed == {}


@needs_dev_full
def test_the_failures_kept_after_their_cameras_stopped_are_bounded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.mot.MAX_FAILED_KEPT", 3)
    writer = MotTrackWriter(tmp_path)
    for i in range(5):
        (tmp_path / f"cam-{i}.txt").symlink_to(FULL)
        writer.start(f"cam-{i}", "append")
        writer.write([tracked(f"cam-{i}", 0)])
        writer.stop(f"cam-{i}")
    assert list(writer.failed) == ["cam-2", "cam-3", "cam-4"]  # the newest


def test_a_write_cut_short_leaves_no_partial_row(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cam-a.txt"
    writer = MotTrackWriter(tmp_path)
    writer.start("cam-a")
    writer.write([tracked("cam-a", i) for i in range(3)])
    before = path.read_bytes()
    assert before.count(b"\n") == 3
    with caplog.at_level(logging.WARNING), file_size_limit(len(before) + 10):
        writer.write([tracked("cam-a", i) for i in range(3, 6)])  # 10 bytes fit: EFBIG
        writer.write([tracked("cam-a", 6)])
    assert path.read_bytes() == before  # the failed frames' rows are gone, whole
    assert "File too large" in writer.failed["cam-a"]
    assert len(export_logs(caplog, "cam-a")) == 1
