"""Tracker continuity without identity: the size gate, OC-SORT's observation-centric
re-update and recovery. Synthetic scenes with exact expectations; no Ray."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracking import ByteTracker, TrackerConfig
from pipeline.types import Detections

FPS = 25.0


def dets(*boxes: list[float]) -> Detections:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections(b, np.full(len(b), 0.9, np.float32), np.zeros(len(b), np.int16))


def person(x: float, h: float = 100.0, bottom: float = 300.0) -> list[float]:
    return [x, bottom - h, x + 0.4 * h, bottom]


@pytest.mark.parametrize(("max_height_ratio", "same_id"), [(1.4, False), (None, True)])
def test_a_box_of_very_different_height_is_not_the_same_person(max_height_ratio, same_id):
    tracker = ByteTracker(TrackerConfig(max_height_ratio=max_height_ratio))
    for k in range(5):
        ids = tracker.update(dets(person(100)), k / FPS).track_ids.tolist()
    assert ids == [1]
    # A box 1.7x as tall with the same bottom centre (IoU 0.59 with the track's box):
    # two people merged, or someone else.
    tall = tracker.update(dets(person(100 - 0.14 * 100, h=170)), 5 / FPS)
    assert (tall.track_ids.tolist() == [1]) == same_id


@pytest.mark.parametrize("reupdate", [True, False])
def test_a_change_of_speed_while_hidden_keeps_the_id_and_the_velocity_follows(reupdate):
    # Walks at 4 px per frame, speeds up to 5.5 px per frame while hidden for 12 frames.
    # Replaying the gap (re-update) and one long correction end up close here: the media-
    # time filter's velocity uncertainty grows while coasting, so its gain is already high.
    tracker = ByteTracker(TrackerConfig(reupdate=reupdate, lost_buffer_s=2.0))
    for k in range(10):
        tracker.update(dets(person(100 + 4 * k)), k / FPS)
    for k in range(10, 22):
        tracker.update(Detections.empty(), k / FPS)
    back = tracker.update(dets(person(136 + 5.5 * 13)), 22 / FPS)
    assert back.track_ids.tolist() == [1]
    vx = tracker._vel[0, 0] / FPS  # noqa: SLF001 - the filter's velocity, px per frame
    assert 5.0 <= vx <= 5.5


@pytest.mark.parametrize(("recovery_iou", "ids_after"), [(0.3, [1]), (1.0, [])])
def test_recovery_by_the_last_observed_box(recovery_iou, ids_after):
    # Walks right at 10 px per frame, stops behind an occluder, reappears 15 frames later
    # where it was last seen: the prediction has run 150 px ahead (no overlap left), the
    # last observed box still overlaps.
    tracker = ByteTracker(TrackerConfig(recovery_iou=recovery_iou, lost_buffer_s=2.0))
    for k in range(10):
        tracker.update(dets(person(100 + 10 * k)), k / FPS)
    for k in range(10, 25):
        tracker.update(Detections.empty(), k / FPS)
    back = tracker.update(dets(person(195)), 25 / FPS)
    assert back.track_ids.tolist() == ids_after  # without recovery: a new, tentative track
