"""The camera loop with tiled inference: each frame goes out as a group of model-sized
tiles, each request carrying its tile's size, and comes back as one merged result."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from models.tiling import TilingConfig, plan_tiles
from pipeline.errors import InputError
from pipeline.ingest.camera import CameraIngest
from pipeline.ingest.config import CameraConfig
from pipeline.types import DetectedFrame, Detections
from tests.media import write_clip
from tests.unit.test_ingest_camera import SPEC, run

TILING = TilingConfig(columns=2, rows=1, overlap=0.25, include_full_frame=True)


class TileDetector:
    """Finds one "person" covering whatever image it is given; records the requests."""

    def __init__(self, fail_width: int | None = None) -> None:
        self.requests: list[tuple[int, int, int, tuple[int, ...]]] = []
        self.fail_width = fail_width

    async def __call__(self, frame, meta):
        self.requests.append((meta.frame_index, meta.width, meta.height, frame.shape))
        await asyncio.sleep(0.001)
        if meta.width == self.fail_width and meta.frame_index == 2:
            raise InputError("tile is malformed", "frame")
        box = np.array([[0, 0, meta.width, meta.height]], np.float32)
        dets = Detections(box, np.array([0.9], np.float32), np.ones(1, np.int16))
        return DetectedFrame(meta, dets, 2.0, 1.0, 3)


def test_each_frame_is_sent_as_its_tiles_and_merged_into_frame_pixels(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=6, fps=12)  # 480 x 270
    det = TileDetector()
    config = CameraConfig(id="cam", url=str(clip), mode="offline", inference={"tiling": TILING})
    stats = run(CameraIngest(config, SPEC, infer=det))
    assert stats.frames_delivered == 6
    rects = plan_tiles(480, 270, TILING)
    sizes = sorted({(w, h) for _, w, h, _ in det.requests})
    assert sizes == sorted({(r.width, r.height) for r in rects})  # the tiles' own sizes
    assert len(det.requests) == 6 * len(rects)
    assert all(shape == (SPEC.height, SPEC.width, 3) for *_, shape in det.requests)


def test_merged_result_is_one_box_per_person(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=4, fps=12)
    config = CameraConfig(id="cam", url=str(clip), mode="offline", inference={"tiling": TILING})
    ingest = CameraIngest(config, SPEC, infer=TileDetector())
    run(ingest)
    results = ingest.poll_results(10)
    for r in results:
        # The full frame saw the whole "person"; the two tiles saw parts cut by the seam.
        assert r.detections.boxes.tolist() == [[0.0, 0.0, 480.0, 270.0]]
        assert (r.inference_ms, r.queue_ms, r.batch_size) == (2.0, 1.0, 3)


def test_a_failing_tile_fails_only_its_frame(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=5, fps=12)
    tile_width = plan_tiles(480, 270, TILING)[1].width
    config = CameraConfig(id="cam", url=str(clip), mode="offline", inference={"tiling": TILING})
    ingest = CameraIngest(config, SPEC, infer=TileDetector(fail_width=tile_width))
    stats = run(ingest)
    assert [r.meta.frame_index for r in ingest.poll_results(10)] == [0, 1, 3, 4]
    assert (stats.frames_failed, stats.state) == (1, "ended")
    assert "inference failed for frame 2: InputError: tile is malformed" in stats.last_error


def test_tiling_config_rejects_unknown_keys_under_the_camera():
    with pytest.raises(ValueError, match="tiling.grid.tiles\n  Extra inputs are not permitted"):
        CameraConfig(id="cam", url="a.mp4", inference={"tiling": {"tiles": 4}})


@pytest.mark.parametrize("size, grid", [((480, 270), (2, 1)), ((270, 480), (1, 2))])
def test_by_default_the_longer_side_is_cut_in_two_and_the_full_frame_kept(tmp_path, size, grid):
    clip = write_clip(tmp_path / "clip.mp4", n=3, fps=12, width=size[0], height=size[1])
    det = TileDetector()
    config = CameraConfig(id="cam", url=str(clip), mode="offline")
    assert config.inference.tiling == "auto"
    run(CameraIngest(config, SPEC, infer=det))
    tiles = {(w, h) for _, w, h, _ in det.requests}
    tiled = TilingConfig(columns=grid[0], rows=grid[1], overlap=0.25, include_full_frame=True)
    assert tiles == {(r.width, r.height) for r in plan_tiles(*size, tiled)}
    assert size in tiles and len(det.requests) == 3 * 3


def test_tiling_null_sends_each_whole_frame_once(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=3, fps=12)
    det = TileDetector()
    config = CameraConfig(id="cam", url=str(clip), mode="offline", inference={"tiling": None})
    run(CameraIngest(config, SPEC, infer=det))
    assert [(i, w, h) for i, w, h, _ in det.requests] == [(0, 480, 270), (1, 480, 270),
                                                           (2, 480, 270)]


def test_an_unknown_tiling_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="inference.tiling") as exc:
        CameraConfig(id="cam", url="a.mp4", inference={"tiling": "2x1"})
    assert "'2x1' is not a tiling: use 'auto', 'off' or null" in str(exc.value)


def test_with_infer_many_each_tiled_frame_is_one_detector_call(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=4, fps=12)
    det, calls = TileDetector(), []

    async def many(frames, metas):
        calls.append([(m.frame_index, m.width) for m in metas])
        return [await det(f, m) for f, m in zip(frames, metas)]

    config = CameraConfig(id="cam", url=str(clip), mode="live", inference={"tiling": TILING})
    ingest = CameraIngest(config, SPEC, infer=det, infer_many=many)
    stats = run(ingest)
    widths = [r.width for r in plan_tiles(480, 270, TILING)]
    assert stats.frames_delivered == len(calls) == 4
    assert calls == [[(i, w) for w in widths] for i in range(4)]
    assert [r.detections.boxes.tolist() for r in ingest.poll_results(10)] == [
        [[0.0, 0.0, 480.0, 270.0]]] * 4


@pytest.mark.parametrize("text, mode", [("off", None), ("false", None), ("null", None),
                                        ("on", "auto"), ("auto", "auto")])
def test_yaml_switches_turn_tiling_off_and_on(text, mode):
    import yaml

    inference = yaml.safe_load(f"tiling: {text}")
    assert CameraConfig(id="cam", url="a.mp4", inference=inference).inference.tiling == mode


def test_json_off_is_the_whole_frame():
    cam = CameraConfig.model_validate_json(
        '{"id": "c", "url": "a.mp4", "inference": {"tiling": "off"}}')
    assert cam.inference.tiling is None and cam.inference.tiling_for(640, 480) is None


def test_a_tile_error_returned_in_place_fails_only_its_frame(tmp_path):
    """detect_many answers a bad request with its error in place of the result."""
    clip = write_clip(tmp_path / "clip.mp4", n=4, fps=12)
    det = TileDetector()

    async def many(frames, metas):
        out = [await det(f, m) for f, m in zip(frames, metas)]
        if metas[0].frame_index == 1:
            out[2] = InputError("tile 2 is malformed", "frame")
        return out

    config = CameraConfig(id="cam", url=str(clip), mode="offline", inference={"tiling": TILING})
    ingest = CameraIngest(config, SPEC, infer=det, infer_many=many)
    stats = run(ingest)
    assert [r.meta.frame_index for r in ingest.poll_results(10)] == [0, 2, 3]
    assert stats.frames_failed == 1
    assert "inference failed for frame 1: InputError: tile 2 is malformed" in stats.last_error
