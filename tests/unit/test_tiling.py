"""Tiled inference: tile plans, the merge of tile detections, and the real bundled detector
finding a small person on tiles that it misses on the full frame."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from models.config import ModelConfig
from models.detector import OnnxDetector
from models.preprocess import InputSpec
from models.tiling import TileRect, TilingConfig, merge, plan_tiles, prepare_tiles
from pipeline.errors import InputError
from pipeline.types import Detections
from tests.images import ASTRONAUT_PERSON_BOX, astronaut_rgb, iou

PERSON = 1


def dets(*rows: tuple[float, float, float, float, float], cls: int = PERSON) -> Detections:
    """Detections from (x1, y1, x2, y2, score) rows."""
    a = np.array(rows, np.float32).reshape(-1, 5)
    return Detections(a[:, :4], a[:, 4], np.full(len(a), cls, np.int16))


def to_tile(box: list[float], rect: TileRect) -> list[float]:
    """A frame-pixel box in the pixels of ``rect``."""
    return [box[0] - rect.x0, box[1] - rect.y0, box[2] - rect.x0, box[3] - rect.y0]


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": 0}, "greater than or equal to 1"),
        ({"overlap": 0.9}, "less than or equal to 0.75"),
        ({"columns": 8, "rows": 8}, "8 x 8 tiles plus the full frame make 65 model runs per "
                                    "frame; at most 64"),
        ({"columns": 1, "rows": 1}, "1 x 1 tiles plus the full frame runs the same image twice"),
        ({"merge_iou": 0.0}, "greater than 0"),
        ({"tiles": 4}, "Extra inputs are not permitted"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TilingConfig(**kwargs)


def test_config_fields_are_documented():
    for name, field in TilingConfig.model_fields.items():
        assert field.description and len(field.description) > 20, name


# ----------------------------------------------------------------------------- plans


@pytest.mark.parametrize(
    ("size", "kwargs", "expected"),
    [
        # 2 x 1, 25 % overlap of a 700-wide frame: tiles 400 wide, 100 px shared.
        ((700, 100), {"columns": 2, "rows": 1, "overlap": 0.25, "include_full_frame": False},
         [(0, 0, 400, 100), (300, 0, 700, 100)]),
        # No overlap: an exact partition.
        ((640, 480), {"columns": 2, "rows": 2, "overlap": 0.0, "include_full_frame": False},
         [(0, 0, 320, 240), (320, 0, 640, 240), (0, 240, 320, 480), (320, 240, 640, 480)]),
        # The full frame comes first.
        ((640, 480), {"columns": 2, "rows": 1, "overlap": 0.25},
         [(0, 0, 640, 480), (0, 0, 366, 480), (274, 0, 640, 480)]),
    ],
)
def test_plan_table(size, kwargs, expected):
    rects = plan_tiles(*size, TilingConfig(**kwargs))
    assert [(r.x0, r.y0, r.x1, r.y1) for r in rects] == expected
    assert rects[0].full == kwargs.get("include_full_frame", True)


@pytest.mark.parametrize("size", [(640, 480), (1920, 1080), (768, 576), (301, 97)])
@pytest.mark.parametrize(("cols", "rows", "overlap"), [(2, 2, 0.25), (3, 2, 0.2), (4, 3, 0.5),
                                                       (1, 3, 0.1)])
def test_tiles_cover_the_frame_with_the_configured_overlap(size, cols, rows, overlap):
    width, height = size
    cfg = TilingConfig(columns=cols, rows=rows, overlap=overlap, include_full_frame=False)
    rects = plan_tiles(width, height, cfg)
    assert len(rects) == cols * rows
    covered = np.zeros((height, width), np.int32)
    for r in rects:
        assert 0 <= r.x0 < r.x1 <= width and 0 <= r.y0 < r.y1 <= height
        covered[r.y0:r.y1, r.x0:r.x1] += 1
    assert covered.min() >= 1, "a pixel is in no tile"
    # All tiles have one size, and neighbours share about `overlap` of it.
    assert len({(r.width, r.height) for r in rects}) == 1
    if cols > 1:
        shared = rects[0].x1 - rects[1].x0
        assert abs(shared - overlap * rects[0].width) <= 2, (shared, rects[0].width)


def test_plan_rejects_a_frame_smaller_than_its_tiles():
    with pytest.raises(InputError, match=re.escape("a 3x100 frame cannot be split into 4 x 2")):
        plan_tiles(3, 100, TilingConfig(columns=4, rows=2))


def test_prepare_tiles_gives_model_sized_rgb_crops():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, 100:] = (255, 0, 0)  # right half pure blue (BGR)
    cfg = TilingConfig(columns=2, rows=1, overlap=0.0, include_full_frame=False)
    spec = InputSpec(32, 32)
    left, right = prepare_tiles(frame, spec, plan_tiles(200, 100, cfg))
    assert left.shape == right.shape == (32, 32, 3)
    assert left.max() == 0 and right[16, 16].tolist() == [0, 0, 255]  # blue, now RGB


# ----------------------------------------------------------------------------- merge

# 2 x 1 tiles of a 700 x 300 frame without the full frame: tile 0 is x 0..400, tile 1 is
# x 300..700; the seam region 300..400 is seen by both.
SEAM = TilingConfig(columns=2, rows=1, overlap=0.25, include_full_frame=False)
SEAM_RECTS = plan_tiles(700, 300, SEAM)


def seam_merge(tile0: list, tile1: list) -> Detections:
    return merge([dets(*tile0), dets(*tile1)], SEAM_RECTS, SEAM)


MERGE_CASES = [
    (
        "a person inside the overlap is found by both tiles: one box",
        [(330, 50, 370, 200, 0.9)], [(30, 50, 70, 200, 0.8)],
        [[330, 50, 370, 200]],
    ),
    (
        "a person on the tile border, cut by both tiles, is joined into one box",
        # A 200-wide person from x 250 to 450: tile 0 sees 250..400, tile 1 sees 300..450.
        [(250, 40, 400, 260, 0.7)], [(0, 42, 150, 258, 0.8)],
        [[250, 40, 450, 260]],
    ),
    (
        "two people side by side in the overlap stay two",
        [(305, 50, 345, 200, 0.9), (350, 50, 390, 200, 0.9)],
        [(5, 50, 45, 200, 0.9), (50, 50, 90, 200, 0.9)],
        [[305, 50, 345, 200], [350, 50, 390, 200]],
    ),
    (
        "a cut part inside a whole box of the other tile is dropped",
        # Tile 0 sees the whole person 320..370; tile 1 sees it cut at its left edge (300)
        # with a box reaching into the cut, as detectors do.
        [(320, 50, 370, 200, 0.6)], [(0, 50, 70, 200, 0.9)],
        [[320, 50, 370, 200]],
    ),
    (
        "people away from the seam pass through, mapped to frame pixels",
        [(10, 10, 50, 100, 0.9)], [(350, 10, 390, 100, 0.8)],
        [[10, 10, 50, 100], [650, 10, 690, 100]],
    ),
]


@pytest.mark.parametrize(("name", "tile0", "tile1", "expected"), MERGE_CASES,
                         ids=[c[0] for c in MERGE_CASES])
def test_merge_cases(name, tile0, tile1, expected):
    out = seam_merge(tile0, tile1)
    got = sorted(out.boxes.round().tolist())
    assert got == sorted(expected), name


def test_merge_is_class_aware():
    a = dets((330, 50, 370, 200, 0.9), cls=1)
    b = dets((30, 50, 70, 200, 0.8), cls=3)
    out = merge([a, b], SEAM_RECTS, SEAM)
    assert sorted(out.class_ids.tolist()) == [1, 3]


def test_merge_with_the_full_frame_keeps_the_whole_person():
    cfg = TilingConfig(columns=2, rows=1, overlap=0.25, include_full_frame=True)
    rects = plan_tiles(700, 300, cfg)
    person = [200, 40, 500, 280]  # wider than the overlap: cut by both tiles
    full = dets((*person, 0.7))
    left = dets((*to_tile([200, 40, 400, 280], rects[1]), 0.9))
    right = dets((*to_tile([300, 40, 500, 280], rects[2]), 0.9))
    out = merge([full, left, right], rects, cfg)
    assert out.boxes.round().tolist() == [person]
    assert out.scores.tolist() == pytest.approx([0.7])


def test_merge_of_nothing_and_mismatched_inputs():
    assert len(merge([Detections.empty(), Detections.empty()], SEAM_RECTS, SEAM)) == 0
    with pytest.raises(InputError, match="merge needs one Detections per tile: got 1 for 2"):
        merge([Detections.empty()], SEAM_RECTS, SEAM)


# ----------------------------------------------------------------------------- real model


@pytest.fixture(scope="module")
def detector():
    return OnnxDetector(ModelConfig(threshold=0.4))


def small_person_scene() -> tuple[np.ndarray, np.ndarray]:
    """A 1280 x 720 textured street-like canvas with the astronaut shrunk to 120 px tall,
    pasted at (800, 420). Returns (BGR image, her box in its pixels)."""
    rng = np.random.default_rng(0)
    canvas = rng.integers(90, 150, size=(720, 1280, 3), dtype=np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 3)
    person = astronaut_rgb()[:, :, ::-1]  # BGR
    scale = 120 / person.shape[0]
    small = cv2.resize(person, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    x0, y0 = 800, 420
    canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    box = ASTRONAUT_PERSON_BOX * scale + np.array([x0, y0, x0, y0], np.float32)
    return canvas, box


def detect_tiled(detector: OnnxDetector, image: np.ndarray, cfg: TilingConfig) -> Detections:
    rects = plan_tiles(image.shape[1], image.shape[0], cfg)
    per_tile = detector.detect(prepare_tiles(image, detector.input_spec, rects),
                               [(r.width, r.height) for r in rects])
    return merge(per_tile, rects, cfg)


def test_tiling_finds_a_small_person_the_full_frame_misses(detector):
    image, truth = small_person_scene()
    full = detector.detect_image(image)
    assert not any(iou(b, truth) > 0.5 for b in full.boxes), "full frame found her already"
    tiled = detect_tiled(detector, image, TilingConfig(columns=3, rows=2))
    hits = [b for b in tiled.boxes if iou(b, truth) > 0.5]
    assert len(hits) == 1, tiled.boxes.round().tolist()
    assert len(tiled) == 1  # and nothing else on the background


def test_tiling_keeps_a_big_person_as_one_box(detector):
    image = np.ascontiguousarray(astronaut_rgb()[:, :, ::-1])
    tiled = detect_tiled(detector, image, TilingConfig(columns=2, rows=2))
    assert len(tiled) == 1
    assert iou(tiled.boxes[0], ASTRONAUT_PERSON_BOX) > 0.5
