"""The centre's velocity noise follows the scene (pipeline.tracking.motion_noise), and the
median of a few rows both scene judges take (pipeline.tracking.small_median).

Synthetic scenes at 10 fps: four people walking slowly to the right (0.2 body heights per
second), boxes 40 x 100 px with 2 px of detector jitter, one of them missed for 0.4 s
halfway. Seen from a still camera, and from one that swings left and right (+-40 px,
every 2 s) as a camera on a turning car or a carried one does.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracking import ByteTracker, TrackerConfig
from pipeline.tracking.motion_noise import VelocityNoiseAdapter
from pipeline.tracking.small_median import median_of_few
from pipeline.types import Detections

FPS = 10.0


def adapter() -> VelocityNoiseAdapter:
    c = TrackerConfig()
    assert c.velocity_adapt_nis is not None
    return VelocityNoiseAdapter(c.velocity_adapt_nis, c.velocity_adapt_s, c.velocity_max_gain)


def test_the_gain_rises_while_predictions_miss_by_more_than_the_target():
    a = adapter()
    ratio = 2.0  # centres miss by twice the target, in predicted variances
    for _ in range(5):  # half a time constant
        gain = a.observe(np.full((3, 2), ratio * a.target_nis), dt=0.1)
    assert gain == pytest.approx((ratio ** 0.5, ratio ** 0.5))


def test_the_gain_stays_between_1_and_its_maximum():
    a = adapter()
    for _ in range(200):
        gain = a.observe(np.full((3, 2), 1000.0), dt=0.1)
    assert gain == (a.max_gain, a.max_gain)
    for _ in range(400):  # predictions that fit: back to the configured noise, no lower
        gain = a.observe(np.full((3, 2), 0.1), dt=0.1)
    assert gain == (1.0, 1.0)


def test_each_coordinate_has_its_own_gain():
    a = adapter()
    gain = a.observe(np.array([[10.0, 0.5], [10.0, 0.5]]), dt=1.0)
    assert gain[0] == pytest.approx(10.0 / a.target_nis)
    assert gain[1] == 1.0


def test_one_track_or_no_elapsed_time_says_nothing_and_reset_forgets():
    a = adapter()
    assert a.observe(np.full((1, 2), 100.0), dt=0.1) == (1.0, 1.0)
    assert a.observe(np.full((3, 2), 100.0), dt=0.0) == (1.0, 1.0)
    a.observe(np.full((3, 2), 100.0), dt=0.5)
    assert a.gain[0] > 1.0
    a.reset()
    assert a.gain == (1.0, 1.0)


def walk(tracker: ByteTracker, swing_px: float, seed: int) -> int:
    """Runs the scene; returns the number of ids the tracker gave its four people."""
    rng = np.random.default_rng(seed)
    for f in range(100):
        t = f / FPS
        x0 = np.array([200.0, 330.0, 700.0, 1000.0]) + 20.0 * t
        x0 += swing_px * np.sin(2 * np.pi * t / 2.0)
        y0 = np.array([300.0, 310.0, 280.0, 320.0])
        boxes = np.column_stack([x0, y0, x0 + 40.0, y0 + 100.0]) + rng.normal(0, 2.0, (4, 4))
        if 50 <= f < 54:
            boxes = np.delete(boxes, 1, axis=0)  # the second person is missed for 0.4 s
        n = len(boxes)
        tracker.update(Detections(boxes.astype(np.float32), np.full(n, 0.9, np.float32),
                                  np.zeros(n, np.int16)), t)
    return tracker.stats().tracks_confirmed


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_swinging_camera_raises_the_noise_and_keeps_every_id(seed):
    tracker = ByteTracker()
    assert walk(tracker, swing_px=40.0, seed=seed) == 4
    assert tracker.centre_velocity_gain[0] > 4.0  # the swing is horizontal
    assert tracker.centre_velocity_gain[1] == 1.0
    fixed = ByteTracker(TrackerConfig(velocity_adapt_nis=None))
    assert walk(fixed, swing_px=40.0, seed=seed) > 4  # a steady velocity loses people
    assert fixed.centre_velocity_gain.tolist() == [1.0, 1.0]


def test_people_walking_before_a_still_camera_keep_the_configured_noise():
    tracker = ByteTracker()
    assert walk(tracker, swing_px=0.0, seed=0) == 4
    assert tracker.centre_velocity_gain.tolist() == [1.0, 1.0]


def test_reset_returns_to_the_configured_noise():
    tracker = ByteTracker()
    walk(tracker, swing_px=40.0, seed=0)
    tracker.reset()
    assert tracker.centre_velocity_gain.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("rows", [1, 2, 3, 8, 15])
def test_the_median_of_a_few_rows_is_numpys(rows):
    values = np.random.default_rng(rows).normal(size=(rows, 2))
    np.testing.assert_array_equal(median_of_few(values), np.median(values, axis=0))
    assert float(median_of_few(values[:, 0])) == np.median(values[:, 0])
