"""Detections and Tracks: validation, immutability, derived values."""

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.types import Detections, Tracks


def _dets(n: int = 2) -> Detections:
    boxes = np.arange(n * 4, dtype=np.float32).reshape(n, 4) + np.array([0, 0, 10, 20], np.float32)
    return Detections(boxes, np.linspace(0.5, 0.9, n, dtype=np.float32), np.zeros(n, np.int16))


@pytest.mark.parametrize(
    ("boxes", "scores", "classes", "message"),
    [
        (np.zeros((2, 3)), np.zeros(2), np.zeros(2),
         r"boxes must have shape \(_, 4\), but got shape \(2, 3\)"),
        (np.zeros(4), np.zeros(1), np.zeros(1),
         r"boxes must have shape \(_, 4\), but got shape \(4,\)"),
        (np.zeros((2, 4)), np.zeros(3), np.zeros(2),
         "scores must have 2 entries to match boxes, but got 3"),
        (np.zeros((2, 4)), np.zeros(2), np.zeros(1),
         "class_ids must have 2 entries to match boxes, but got 1"),
        (np.zeros((1, 4)), np.zeros((1, 1)), np.zeros(1), r"scores must have shape \(_,\)"),
    ],
)
def test_detections_reject_bad_shapes(boxes, scores, classes, message):
    with pytest.raises(InputError, match=message):
        Detections(boxes, scores, classes)


def test_arrays_are_read_only_and_caller_arrays_untouched():
    boxes = np.zeros((1, 4), np.float32)
    d = Detections(boxes, np.ones(1, np.float32), np.zeros(1, np.int16))
    with pytest.raises(ValueError):
        d.boxes[0, 0] = 5
    boxes[0, 0] = 7  # the caller's own array stays writable
    assert boxes.flags.writeable


def test_dtypes_are_normalised():
    d = Detections([[0, 0, 1, 1]], [1.0], [3])
    assert (d.boxes.dtype, d.scores.dtype, d.class_ids.dtype) == (np.float32, np.float32, np.int16)


def test_filter_anchor_and_valid_mask():
    d = Detections(
        np.array([[0, 0, 10, 20], [5, 5, 5, 9], [np.nan, 0, 1, 1], [4, 4, 2, 8]], np.float32),
        np.array([0.9, 0.8, 0.7, 0.6], np.float32),
        np.zeros(4, np.int16),
    )
    assert d.valid_mask().tolist() == [True, False, False, False]
    kept = d.filter(d.valid_mask())
    assert len(kept) == 1 and kept.anchors().tolist() == [[5.0, 20.0]]


def test_empty_merge_and_tracks():
    assert len(Detections.empty()) == 0
    merged = Detections.merge([_dets(2), _dets(3)])
    assert len(merged) == 5
    t = merged.with_track_ids(np.arange(5))
    assert isinstance(t, Tracks) and t.track_ids.dtype == np.int64
    sub = t.filter(np.array([1, 3]))
    assert isinstance(sub, Tracks) and sub.track_ids.tolist() == [1, 3]
    with pytest.raises(InputError, match="track_ids must have 2 entries to match boxes, but got 1"):
        Tracks(np.zeros((2, 4)), np.zeros(2), np.zeros(2), np.zeros(1))
    assert len(Tracks.empty()) == 0
