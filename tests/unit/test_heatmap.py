"""Heatmap accumulation, people blurring and PNG rendering."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest

import pipeline.analytics.heatmap as heatmap_mod
from pipeline.analytics.heatmap import HeatmapAccumulator, grid_rows, render_heatmap
from pipeline.errors import InputError
from pipeline.privacy import blur_people


def textured(h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("method", ["pixelate", "gaussian"])
def test_blur_people_changes_only_the_boxes(method: str) -> None:
    frame = textured()
    original = frame.copy()
    out = blur_people(frame, np.array([[100, 50, 160, 200]]), method=method, margin=0.0)
    assert np.array_equal(frame, original)  # the input is not modified
    assert np.array_equal(out[:, :100], frame[:, :100]) and np.array_equal(
        out[:, 160:], frame[:, 160:]
    )
    assert np.array_equal(out[:50], frame[:50]) and np.array_equal(out[200:], frame[200:])
    roi, before = out[50:200, 100:160].astype(float), frame[50:200, 100:160].astype(float)
    # Detail is gone: neighbouring pixels are (nearly) equal, unlike in the noise before.
    assert np.abs(np.diff(roi, axis=1)).mean() < 0.2 * np.abs(np.diff(before, axis=1)).mean()


def test_blur_people_clips_boxes_and_ignores_empty_ones() -> None:
    frame = textured()
    out = blur_people(frame, [[-50, -50, 30, 30], [500, 500, 600, 600], [10, 10, 10, 10]])
    assert out.shape == frame.shape
    assert not np.array_equal(out[:30, :30], frame[:30, :30])
    assert np.array_equal(out[60:, 60:], frame[60:, 60:])
    assert np.array_equal(blur_people(frame, np.zeros((0, 4))), frame)


@pytest.mark.parametrize(
    ("frame", "boxes", "kwargs", "message"),
    [
        (
            np.zeros((10, 10), np.uint8),
            [[0, 0, 1, 1]],
            {},
            "frame_bgr must be a (height, width, 3) uint8 BGR image, but got shape (10, 10) "
            "dtype uint8",
        ),
        (
            np.zeros((10, 10, 3), np.float32),
            [[0, 0, 1, 1]],
            {},
            "but got shape (10, 10, 3) dtype float32",
        ),
        (
            np.zeros((10, 10, 3), np.uint8),
            [[0, 0, 1]],
            {},
            "boxes must have shape (_, 4), but got shape (1, 3)",
        ),
        (
            np.zeros((10, 10, 3), np.uint8),
            [[0, 0, 1, 1]],
            {"method": "swirl"},
            "method must be 'pixelate' or 'gaussian', but got 'swirl'",
        ),
    ],
)
def test_blur_people_rejects_bad_input(
    frame: np.ndarray, boxes: list, kwargs: dict, message: str
) -> None:
    with pytest.raises(InputError) as err:
        blur_people(frame, boxes, **kwargs)
    assert message in str(err.value)


def test_render_heatmap_returns_png_over_the_still() -> None:
    still = np.full((120, 160, 3), 50, np.uint8)
    grid = np.zeros((3, 4))
    grid[1, 2] = 9
    png = render_heatmap(grid, still)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (120, 160, 3)
    assert np.array_equal(image[:40], still[:40])  # empty cells leave the still as it is
    assert not np.array_equal(image[40:80, 80:120], still[40:80, 80:120])
    empty = cv2.imdecode(
        np.frombuffer(render_heatmap(np.zeros((3, 4)), still), np.uint8), cv2.IMREAD_COLOR
    )
    assert np.array_equal(empty, still)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        (np.zeros(4), "grid must be a non-empty 2-D array"),
        (-np.ones((2, 2)), "non-negative counts"),
    ],
)
def test_render_heatmap_rejects_bad_grids(grid: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        render_heatmap(grid, np.zeros((10, 10, 3), np.uint8))


def test_accumulator_folds_buffers_without_changing_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(2)
    frames = [
        (rng.uniform(-10, 650, 20), rng.uniform(-10, 490, 20), rng.integers(0, 8, 20))
        for _ in range(30)
    ]
    results = []
    for compact_after in (10**9, 7):
        monkeypatch.setattr(heatmap_mod, "COMPACT_AFTER", compact_after)
        acc = HeatmapAccumulator(grid_rows(16, 640, 480), 16, 640, 480)
        for x, y, ids in frames:
            acc.add(x, y, ids)
        results.append(acc.result(3))
    assert np.array_equal(results[0][0], results[1][0]) and results[0][1] == results[1][1]
    # The same, computed plainly: cells of 40 px, outside points clamped to the edge.
    counts = np.zeros((12, 16), np.int64)
    tracks: dict[tuple[int, int], set[int]] = {}
    for x, y, ids in frames:
        for xi, yi, tid in zip(x.tolist(), y.tolist(), ids.tolist(), strict=True):
            cell = (min(max(int(yi / 40), 0), 11), min(max(int(xi / 40), 0), 15))
            counts[cell] += 1
            tracks.setdefault(cell, set()).add(tid)
    hidden = [c for c, t in tracks.items() if len(t) < 3]
    for c in hidden:
        counts[c] = 0
    assert hidden and np.array_equal(results[0][0], counts) and results[0][1] == len(hidden)


def test_a_pickled_accumulator_is_packed_and_goes_on_exactly() -> None:
    """Checkpoints pickle accumulators every few seconds: folded and packed, and one
    restored from any of them ends with the same grid (ids far apart too)."""
    rng = np.random.default_rng(3)
    plain = HeatmapAccumulator(36, 64, 1920, 1080)
    saved = HeatmapAccumulator(36, 64, 1920, 1080)
    sizes = []
    for i in range(300):
        x, y = rng.uniform(-10, 2000, 20), rng.uniform(0, 1100, 20)
        ids = rng.integers(1, 60, 20) + (10**12 if i > 200 else 0)
        plain.add(x, y, ids)
        saved.add(x, y, ids)
        if i % 20 == 0:
            blob = pickle.dumps(saved)
            saved = pickle.loads(blob)
            sizes.append((len(blob), 36 * 64 * 8 + len(saved._pairs) * 8))  # packed, int64
    assert np.array_equal(plain.result(4)[0], saved.result(4)[0])
    assert plain.result(4)[1] == saved.result(4)[1] > 0
    assert all(packed < 0.3 * full + 1000 for packed, full in sizes[:10])  # ids < 60: uint16
    state = saved.__getstate__()
    assert (state["_counts"].dtype, state["_pairs"].dtype) == (np.uint16, np.int64)  # ids 1e12
    assert not state["_cells"] and not state["_tracks"]  # folded
