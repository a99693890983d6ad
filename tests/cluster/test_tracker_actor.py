"""The tracker actor on a real local Ray cluster: many cameras, frame order, errors."""

from __future__ import annotations

import numpy as np
import pytest
import ray

from actors.tracker_actor import TrackerActor
from pipeline.errors import ConfigError, InputError
from pipeline.types import Detections, FrameMeta, Tracks

pytestmark = pytest.mark.cluster

FPS = 25.0


def frame(camera: str, i: int, xs: list[float]) -> tuple[FrameMeta, Detections]:
    """People 40 x 100 px at the given left edges, walking right 4 px per frame."""
    meta = FrameMeta(camera, i, i / FPS, 1_795_651_200.0 + i / FPS, 640, 480)
    boxes = np.array([[x + 4 * i, 100, x + 4 * i + 40, 200] for x in xs], np.float32)
    boxes = boxes.reshape(-1, 4)
    return meta, Detections(boxes, np.full(len(xs), 0.9, np.float32), np.zeros(len(xs), np.int16))


def test_tracker_actor_hosts_many_cameras(ray_session: None) -> None:
    actor = TrackerActor.remote()
    people = {"cam1": [0.0], "cam2": [0.0, 200.0], "cam3": [0.0, 200.0, 400.0]}
    ray.get([actor.add_camera.remote(c, {"min_hits": 1}) for c in people])
    assert ray.get(actor.cameras.remote()) == ["cam1", "cam2", "cam3"]
    refs = {c: [actor.update.remote(c, *frame(c, i, xs)) for i in range(20)]
            for c, xs in people.items()}
    for camera, xs in people.items():
        outputs = ray.get(refs[camera])
        assert all(isinstance(t, Tracks) for t in outputs)
        # Ids are per camera, from 1, whatever else the actor hosts.
        assert {tuple(t.track_ids.tolist()) for t in outputs} == {tuple(range(1, len(xs) + 1))}
    stats = ray.get(actor.stats.remote())
    assert stats["cameras"] == 3
    assert stats["totals"]["tracks_confirmed"] == 6
    assert stats["per_camera"]["cam3"]["last_frame_index"] == 19

    # Ids leave through step(): track 1 of cam1 stops being seen.
    meta, _ = frame("cam1", 100, [])
    step = ray.get(actor.step.remote("cam1", meta, Detections.empty()))
    assert step.removed_ids.tolist() == [1] and len(step.tracks) == 0

    assert ray.get(actor.reset_camera.remote("cam2")).tolist() == [1, 2]
    assert ray.get(actor.remove_camera.remote("cam3")).tolist() == [1, 2, 3]
    assert ray.get(actor.cameras.remote()) == ["cam1", "cam2"]
    ray.kill(actor)


def test_frames_in_one_call_track_like_single_calls_and_fail_alone(ray_session: None) -> None:
    actor = TrackerActor.remote()
    ray.get(actor.add_camera.remote("cam", {"min_hits": 1}))
    frames = [frame("cam", i, [0.0, 200.0]) for i in range(10)]
    errors = ray.get(actor.update_many.remote("cam", frames[:6] + [frames[2]] + frames[6:]))
    assert errors[:6] == [None] * 6 and errors[7:] == [None] * 4
    assert "frame_index 2 is not after the previous frame 5" in errors[6]
    stats = ray.get(actor.stats.remote())
    assert stats["per_camera"]["cam"]["last_frame_index"] == 9
    assert stats["totals"]["tracks_confirmed"] == 2  # the same two people throughout
    assert ray.get(actor.next_track_id.remote("cam")) == 3
    ray.kill(actor)


@pytest.mark.parametrize(
    ("method", "args", "error", "message"),
    [
        ("update", ("cam1", *frame("cam1", 4, [0.0])), InputError,
         "camera 'cam1': frame_index 4 is not after the previous frame 5; frames must "
         "arrive in order per camera"),
        ("update", ("cam9", *frame("cam9", 6, [0.0])), InputError,
         r"unknown camera 'cam9'; tracked cameras: \['cam1'\]"),
        ("add_camera", ("cam1", None), ConfigError, "camera 'cam1' already has a tracker"),
        ("add_camera", ("cam2", {"lost_buffer_s": -1}), ConfigError,
         "tracker.lost_buffer_s: camera 'cam2': Input should be greater than or equal to 0"),
    ],
    ids=["out-of-order", "unknown-camera", "duplicate", "bad-config"],
)
def test_tracker_actor_errors_reach_the_caller(ray_session, method, args, error, message):
    actor = TrackerActor.remote()
    ray.get(actor.add_camera.remote("cam1"))
    ray.get(actor.update.remote("cam1", *frame("cam1", 5, [0.0])))
    with pytest.raises(error, match=message):
        ray.get(getattr(actor, method).remote(*args))
    # The actor survives a bad call and keeps the camera's state.
    assert ray.get(actor.update.remote("cam1", *frame("cam1", 6, [0.0]))).track_ids.tolist() == [1]
    ray.kill(actor)
