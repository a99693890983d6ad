"""The tracker actor on a real local Ray cluster: many cameras, frame order, errors, and
what it forwards to a real aggregator actor and writes to the track export."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import ray

from actors.aggregator_actor import AggregatorActor
from actors.tracker_actor import TrackerActor
from benchmarks.evaluation import read_mot
from pipeline.analytics.config import AnalyticsConfig
from pipeline.errors import ConfigError
from pipeline.tracking import CameraLane, SmoothingConfig, TrackerConfig
from pipeline.types import DetectedFrame, Detections, FrameMeta

pytestmark = pytest.mark.cluster

FPS = 25.0
T0 = 1_795_651_200.0
ONE_HIT = TrackerConfig(min_hits=1)


def frame(camera: str, i: int, xs: list[float]) -> DetectedFrame:
    """People 40 x 100 px at the given left edges, walking right 4 px per frame."""
    meta = FrameMeta(camera, i, i / FPS, T0 + i / FPS, 640, 480)
    boxes = np.array([[x + 4 * i, 100, x + 4 * i + 40, 200] for x in xs], np.float32)
    boxes = boxes.reshape(-1, 4)
    return DetectedFrame(meta, Detections(boxes, np.full(len(xs), 0.9, np.float32),
                                          np.zeros(len(xs), np.int16)))


def test_tracker_actor_hosts_many_cameras_and_exports_their_tracks(
    ray_session: None, tmp_path: Path
) -> None:
    actor = TrackerActor.remote(export_dir=str(tmp_path))
    people = {"cam1": [0.0], "cam2": [0.0, 200.0], "cam3": [0.0, 200.0, 400.0]}
    ray.get([actor.add_camera.remote(c, ONE_HIT) for c in people])
    assert ray.get(actor.cameras.remote()) == ["cam1", "cam2", "cam3"]
    refs = [actor.update.remote([frame(c, i, xs) for i in range(k, k + 5)])
            for k in range(0, 20, 5) for c, xs in people.items()]
    assert all(e is None for errors in ray.get(refs) for e in errors)
    stats = ray.get(actor.flush.remote())
    assert stats["cameras"]["cam3"]["last_frame_index"] == 19
    assert [stats["cameras"][c]["tracks_confirmed"] for c in people] == [1, 2, 3]
    for camera, xs in people.items():
        exported = read_mot(tmp_path / f"{camera}.txt")
        # Ids are per camera, from 1, whatever else the actor hosts.
        assert sorted(set(exported.ids.tolist())) == list(range(1, len(xs) + 1))
        assert exported.num_frames == 20  # 1-based frame numbers, as in the source
    assert ray.get(actor.remove_camera.remote("cam3")).tolist() == [1, 2, 3]
    assert ray.get(actor.cameras.remote()) == ["cam1", "cam2"]
    ray.kill(actor)


def test_frames_in_one_call_fail_alone_and_tracks_reach_the_aggregator(
    ray_session: None,
) -> None:
    aggregator = AggregatorActor.remote()
    line = {"id": "mid", "start": [0.5, 0], "end": [0.5, 1], "units": "normalized"}
    ray.get(aggregator.add_camera.remote("cam", AnalyticsConfig(lines=[line],
                                                                min_distinct_tracks=1)))
    actor = TrackerActor.remote()
    ray.get(actor.add_camera.remote("cam", ONE_HIT, None, aggregator))
    frames = [frame("cam", i, [200.0]) for i in range(40)]
    errors = ray.get(actor.update.remote(frames[:6] + [frames[2]] + frames[6:]))
    assert errors[:6] == [None] * 6 and errors[7:] == [None] * 34
    assert "frame_index 2 is not after the previous frame 5" in errors[6]
    ray.get(actor.flush.remote())  # every forwarded frame is processed downstream
    snap = ray.get(aggregator.snapshot.remote())
    (cam,) = snap.cameras
    assert cam.pts_s == pytest.approx(39 / FPS)  # every frame reached the aggregator once
    assert (cam.lines[0].lr_count, cam.lines[0].rl_count) == (0, 1)  # x 220 -> 376 > 320
    assert ray.get(actor.next_track_id.remote("cam")) == 2
    ray.kill(actor)
    ray.kill(aggregator)


def test_offline_cameras_are_smoothed_before_they_are_forwarded(ray_session: None) -> None:
    aggregator = AggregatorActor.remote()
    ray.get(aggregator.add_camera.remote("cam", AnalyticsConfig()))
    actor = TrackerActor.remote()
    ray.get(actor.add_camera.remote("cam", ONE_HIT, SmoothingConfig(lookahead_s=1.0,
                                                                     max_gap_s=1.0),
                                    aggregator))
    ray.get(actor.update.remote([frame("cam", i, [0.0]) for i in range(20)]))
    held = ray.get(aggregator.snapshot.remote()).cameras  # 0.8 s of frames: all held
    assert held == ()
    stats = ray.get(actor.flush.remote())
    assert stats["cameras"]["cam"]["smoothing"]["frames_out"] == 20
    assert ray.get(aggregator.snapshot.remote()).cameras[0].pts_s == pytest.approx(19 / FPS)
    ray.kill(actor)
    ray.kill(aggregator)


def test_a_new_tracker_goes_on_from_the_lane_its_aggregator_kept(ray_session: None) -> None:
    """What a tracker re-created for an offline file starts from: the lane the dead one
    sent with its frames, kept by the aggregator, with its tracks, id counter and last
    source frame."""
    aggregator = AggregatorActor.remote()
    ray.get(aggregator.add_camera.remote("cam", AnalyticsConfig()))
    first, second = TrackerActor.remote(), TrackerActor.remote()
    ray.get(first.add_camera.remote("cam", ONE_HIT, None, aggregator, keep_lane=True))
    ray.get(first.update.remote([frame("cam", i, [0.0, 200.0]) for i in range(10)]))
    ray.get(first.flush.remote())
    saved = ray.get(aggregator.lane.remote("cam"))
    assert saved is not None and ray.get(aggregator.lane.remote("not-here")) is None
    ray.kill(first)
    ray.get(second.add_camera.remote("cam", ONE_HIT, None, None, 1, "new", saved))
    assert ray.get(second.source_frame_index.remote("cam")) == 9  # the file goes on at 10
    assert ray.get(second.next_track_id.remote("cam")) == 3  # ids 1 and 2 are taken
    assert ray.get(second.update.remote([frame("cam", 10, [0.0, 200.0])])) == [None]
    assert ray.get(second.next_track_id.remote("cam")) == 3  # the same two people
    ray.kill(second)
    ray.kill(aggregator)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda a: a.add_camera.remote("cam1", None), ConfigError,
         "camera 'cam1' already has a tracker"),
        (lambda a: a.add_camera.remote("cam2", None, None, None, 0), ConfigError,
         "camera 'cam2': first track id must be an integer >= 1"),
        (lambda a: a.resume_camera.remote("cam9"), Exception,
         r"unknown camera 'cam9'; tracked cameras: \['cam1'\]"),
        (lambda a: a.add_camera.remote("cam2", None, None, None, 1, "new",
                                       pickle.dumps(CameraLane("cam1", ONE_HIT))),
         ConfigError, "camera 'cam2': the saved lane is camera 'cam1''s"),
    ],
    ids=["duplicate", "first-id", "unknown-camera", "another-camera's-lane"],
)
def test_tracker_actor_errors_reach_the_caller(ray_session, call, error, message):
    actor = TrackerActor.remote()
    ray.get(actor.add_camera.remote("cam1", ONE_HIT))
    ray.get(actor.update.remote([frame("cam1", 5, [0.0])]))
    with pytest.raises(error, match=message):
        ray.get(call(actor))
    # The actor survives a bad call and keeps the camera's state.
    assert ray.get(actor.update.remote([frame("cam1", 4, [0.0])]))[0].startswith(
        "InputError: camera 'cam1': frame_index 4 is not after the previous frame 5")
    assert ray.get(actor.update.remote([frame("cam1", 6, [0.0]),
                                        frame("cam9", 0, [])])) == [
        None, "InputError: unknown camera 'cam9'; tracked cameras: ['cam1']"]
    ray.kill(actor)
