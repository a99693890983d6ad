"""A tracking lane saved mid-run goes on exactly as the lane it was saved from: what a
re-created tracker actor and a resumed run rely on (lanes sent with ``keep_lane``,
``add_camera(state=)``).

Detections: TUD-Stadtmitte's ground truth as shipped in ``motmetrics``, perturbed
(missed, jittered and false boxes), at 25 fps with the offline smoother.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from benchmarks.evaluation import read_mot
from benchmarks.perturb import perturb
from pipeline.tracking import CameraLane, SmoothingConfig, TrackerConfig
from pipeline.types import FrameMeta, TrackedFrame
from tests.unit.analytics_helpers import mot_dir

FPS = 25.0
W, H = 640, 480


@pytest.fixture(scope="module")
def detections() -> list:
    gt = read_mot(mot_dir() / "TUD-Stadtmitte" / "gt.txt")
    return perturb(gt, seed=3, image_size=(W, H))


def step(lane: CameraLane, detections: list, frames: range) -> list[TrackedFrame]:
    out: list[TrackedFrame] = []
    for i in frames:
        out += lane.step(FrameMeta("cam", i, i / FPS, 1.8e9 + i / FPS, W, H), detections[i])
    return out


def rows(frames: list[TrackedFrame]) -> list:
    return [(f.meta.frame_index, f.removed_ids.tolist(),
             *(np.asarray(getattr(f.tracks, c)).tolist() for c in f.tracks.COLUMNS))
            for f in frames]


@pytest.mark.parametrize("smoothing", [SmoothingConfig(), None], ids=["offline", "live"])
def test_a_saved_lane_goes_on_as_the_original(detections, smoothing) -> None:
    n = len(detections)
    original = CameraLane("cam", TrackerConfig(), smoothing)
    before = step(original, detections, range(n // 2))
    saved = pickle.dumps(original)
    restored = pickle.loads(saved)
    assert restored.source_frame_index == n // 2 - 1  # where its source is read again
    assert restored.next_id == original.next_id > 1
    after = step(original, detections, range(n // 2, n)) + original.flush()
    again = step(restored, detections, range(n // 2, n)) + restored.flush()
    assert rows(again) == rows(after)
    assert len(before) + len(after) == n  # every frame released once
    assert len({i for f in after for i in f.tracks.track_ids.tolist()}) > 1


def test_a_saved_live_lane_resumes_a_new_session_after_what_went_downstream(
        detections) -> None:
    """A live camera whose controller died: the lane its checkpoint kept (saved at frame
    49) goes on with a new stream after the last frame the checkpoint holds (frame 69):
    its tracks end, no id is given twice, frames and media time keep increasing."""
    lane = CameraLane("cam", TrackerConfig())
    step(lane, detections, range(50))
    saved = pickle.loads(pickle.dumps(lane))
    later = step(lane, detections, range(50, 70))  # went downstream after the save
    given = {i for f in later for i in f.tracks.track_ids.tolist()}
    held, next_id = saved.live_ids, saved.next_id
    dropped = saved.resume(after=(69, 69 / FPS), skip_ids=1000)
    assert saved.next_id == next_id + 1000  # past any id given after the save
    assert dropped.tolist() == held.tolist() and len(held) > 0
    assert saved.source_frame_index == 69  # a file played live goes on after it
    new = step(saved, detections, range(0, 30))  # the new session numbers from 0
    assert new[0].meta.frame_index == 70 and new[0].meta.pts_s > 69 / FPS
    assert set(new[0].removed_ids.tolist()) >= set(held.tolist())  # their visits end
    ids = {i for f in new for i in f.tracks.track_ids.tolist()}
    assert ids and min(ids) >= next_id + 1000 and not ids & given
    assert saved.stats()["tracks_confirmed"] < 1000  # skipped ids are not tracks


def test_a_saved_lane_stays_small(detections) -> None:
    """Lanes go with a camera's frames every checkpoint_s: their size must not grow with
    the run (the smoother holds its lookahead, the tracker its live and lost tracks)."""
    lane = CameraLane("cam", TrackerConfig(), SmoothingConfig())
    sizes = []
    for k in range(4):
        step(lane, detections, range(k * len(detections) // 4, (k + 1) * len(detections) // 4))
        sizes.append(len(pickle.dumps(lane)))
    assert max(sizes) < 200_000, sizes
    assert sizes[-1] < 2 * sizes[0] + 20_000, sizes
