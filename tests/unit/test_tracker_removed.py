"""Frames of a camera removed from a tracker (from its actor being discarded) are dropped
quietly; those of a camera never added there are still an error. The tracker actor's
class in this process, no Ray."""

from __future__ import annotations

from actors.tracker_actor import REMOVED_CAMERAS_KEPT, TrackerActor
from pipeline.types import DetectedFrame, Detections, FrameMeta

TRACKER = TrackerActor.__ray_actor_class__


def frame(camera_id: str, i: int) -> DetectedFrame:
    return DetectedFrame(FrameMeta(camera_id, i, i / 10, 1.8e9 + i / 10, 640, 480),
                         Detections.empty())


def test_frames_of_a_removed_camera_are_dropped_without_an_error() -> None:
    tracker = TRACKER()
    tracker.add_camera("cam-a")
    assert tracker.update([frame("cam-a", 0)]) == [None]
    tracker.remove_camera("cam-a")
    assert tracker.update([frame("cam-a", 1), frame("cam-a", 2)]) == [None, None]
    assert tracker.stats()["removed_camera_frames"] == 2
    (error,) = tracker.update([frame("cam-z", 0)])  # never added here: the camera warns
    assert error == "InputError: unknown camera 'cam-z'; tracked cameras: []"
    tracker.add_camera("cam-a")  # added again: its frames are tracked again
    assert tracker.update([frame("cam-a", 0)]) == [None]
    assert tracker.stats()["cameras"]["cam-a"]["last_frame_index"] == 0


def test_a_tracker_remembers_a_bounded_number_of_removed_cameras() -> None:
    tracker = TRACKER()
    for i in range(REMOVED_CAMERAS_KEPT + 1):
        tracker.add_camera(f"cam{i}")
        tracker.remove_camera(f"cam{i}")
    assert tracker.update([frame(f"cam{REMOVED_CAMERAS_KEPT}", 0)]) == [None]
    assert tracker.update([frame("cam0", 0)])[0].startswith("InputError: unknown camera")
