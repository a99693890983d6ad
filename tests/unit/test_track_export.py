"""The track export (``panoray run --export-tracks``): rows reach the file as frames are
released, and a tracker re-created after a crash continues the file instead of replacing
it. The tracker actor's class in this process, no Ray."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actors.tracker_actor import TrackerActor
from pipeline.mot import MotTrackWriter, last_frame
from pipeline.types import DetectedFrame, Detections, FrameMeta, TrackedFrame, Tracks

TRACKER = TrackerActor.__ray_actor_class__


def walkers(camera_id: str, i: int) -> DetectedFrame:
    """Two people walking right, 4 px a frame, at frame ``i`` (10 fps)."""
    boxes = np.array([[100 + 4 * i, 100, 140 + 4 * i, 200],
                      [300 + 4 * i, 150, 340 + 4 * i, 250]], np.float32)
    dets = Detections(boxes, np.full(2, 0.9, np.float32), np.ones(2, np.int16))
    return DetectedFrame(FrameMeta(camera_id, i, i / 10, 1.8e9 + i / 10, 640, 480), dets)


def rows(path: Path) -> np.ndarray:
    """(n, 2) int frame, id of a MOTChallenge file."""
    return np.loadtxt(path, delimiter=",", usecols=(0, 1), dtype=np.int64, ndmin=2)


def test_rows_are_in_the_file_as_frames_are_released(tmp_path: Path) -> None:
    tracker = TRACKER(export_dir=str(tmp_path))
    tracker.add_camera("cam-a")
    tracker.update([walkers("cam-a", i) for i in range(10)])
    got = rows(tmp_path / "cam-a.txt")  # no flush: a tracker killed now lost none of these
    assert set(got[:, 0]) == set(range(2, 11))  # confirmed from the second frame
    assert len(got) == 18


def test_a_recreated_tracker_resumes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cam-a.txt"
    path.write_text("1,7,0,0,1,1,1,-1,-1,-1\n")  # an earlier run's file
    first = TRACKER(export_dir=str(tmp_path))
    first.add_camera("cam-a")  # a new run replaces it
    first.update([walkers("cam-a", i) for i in range(10)])
    before = rows(path)
    assert before[:, 0].min() == 2 and set(before[:, 1]) == {1, 2}
    # `first` dies (SIGKILL: nothing more runs in it); its successor resumes, and the
    # camera sends again the batch that failed, whose first frames were already written.
    second = TRACKER(export_dir=str(tmp_path))
    second.add_camera("cam-a", first_track_id=100_001, export="resume")
    second.update([walkers("cam-a", i) for i in range(8, 20)])
    after = rows(path)
    np.testing.assert_array_equal(after[: len(before)], before)
    new = after[len(before):]
    assert set(new[:, 1]) == {100_001, 100_002}
    assert new[:, 0].min() > before[:, 0].max()  # no frame written twice
    assert np.all(np.diff(after[:, 0]) >= 0)


def test_a_camera_added_again_appends(tmp_path: Path) -> None:
    tracker = TRACKER(export_dir=str(tmp_path))
    tracker.add_camera("cam-a")
    tracker.update([walkers("cam-a", i) for i in range(5)])
    tracker.remove_camera("cam-a")
    n = len(rows(tmp_path / "cam-a.txt"))
    tracker.add_camera("cam-a", first_track_id=3, export="append")
    tracker.update([walkers("cam-a", i) for i in range(5)])
    got = rows(tmp_path / "cam-a.txt")
    assert len(got) == 2 * n and set(got[n:, 1]) == {3, 4}


def test_a_row_cut_short_is_removed_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "cam-a.txt"
    path.write_text("4,1,1,2,3,4,0.9,-1,-1,-1\n5,1,1,2,3,4,0.9,-1,-1,-1\n6,1,1.5")
    assert last_frame(path) == 5
    assert path.read_text().endswith("5,1,1,2,3,4,0.9,-1,-1,-1\n")
    writer = MotTrackWriter(tmp_path)
    writer.start("cam-a", "resume")
    tracks = Tracks(np.array([[1, 2, 4, 6]], np.float32), np.array([0.9], np.float32),
                    np.ones(1, np.int16), np.array([9], np.int64))
    writer.write([TrackedFrame(FrameMeta("cam-a", i, i / 10, 0.0, 640, 480), tracks)
                  for i in (4, 5)])  # frames 5 and 6: 5 is in the file already
    np.testing.assert_array_equal(rows(path), [[4, 1], [5, 1], [6, 9]])
    (tmp_path / "empty.txt").touch()
    assert last_frame(tmp_path / "empty.txt") == 0
