"""Motion-gated inference without Ray: the motion test on a real photograph with sensor
noise and slow light change, and the camera run loop holding detections on static frames
of a real encoded clip."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from models.preprocess import InputSpec
from pipeline.ingest.camera import CameraIngest
from pipeline.ingest.config import CameraConfig, MotionGateConfig
from pipeline.ingest.motion import MotionGate, changed_fraction, thumbnail
from pipeline.types import DetectedFrame, Detections
from tests.images import astronaut_rgb

FPS = 25.0


def scene(width: int = 640, height: int = 480) -> np.ndarray:
    """(height, width, 3) uint8 BGR: the astronaut photograph on a grey wall."""
    canvas = np.full((height, width, 3), 110, np.uint8)
    person = cv2.resize(astronaut_rgb(), (height // 2, height // 2), interpolation=cv2.INTER_AREA)
    canvas[height // 4: height // 4 + height // 2, 40: 40 + height // 2] = person[..., ::-1]
    return canvas


def noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float = 5.0,
          light: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """``frame`` with Gaussian sensor noise (sigma grey levels) and a light change."""
    out = frame.astype(np.float32) * light + offset + rng.normal(0, sigma, frame.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def detected(gate: MotionGate, frames: list[np.ndarray]) -> list[int]:
    """Indexes of the frames the gate sends to the detector (frame k at k / FPS)."""
    return [k for k, f in enumerate(frames) if gate.check(f, k / FPS, k) is None]


def test_thumbnail_is_small_grey_and_keeps_the_aspect():
    thumb = thumbnail(scene(640, 480), 96, 1.0)
    assert thumb.shape == (72, 96) and thumb.dtype == np.uint8


def test_noise_and_slow_light_change_never_fire_only_the_forced_detections_go():
    """12 s of a still view with sensor noise (sigma 5) while the light fades by 40 % and
    brightens by 20 grey levels: only the first frame, its settle time and one frame every
    max_static_s go to the detector."""
    rng = np.random.default_rng(1)
    base, n = scene(), int(12 * FPS)
    frames = [noisy(base, rng, light=1 - 0.4 * k / n, offset=20 * k / n) for k in range(n)]
    cfg = MotionGateConfig()
    settle = [k for k in range(n) if k / FPS < cfg.settle_s]  # the first frame's settle
    period = round(cfg.max_static_s * FPS)
    forced = list(range(settle[-1] + period, n, period))
    assert detected(MotionGate(cfg), frames) == settle + forced


def test_without_light_compensation_the_same_fade_would_fire():
    """Guards the median correction: the plain difference of the faded frame is large."""
    rng = np.random.default_rng(2)
    a, b = noisy(scene(), rng), noisy(scene(), rng, light=0.8, offset=-10)
    ta, tb = thumbnail(a, 96, 1.0), thumbnail(b, 96, 1.0)
    plain = np.count_nonzero(np.abs(ta.astype(int) - tb.astype(int)) > 15) / ta.size
    assert plain > 0.5 and changed_fraction(tb, ta, 15) < MotionGateConfig().min_changed_fraction


def test_a_walking_person_fires_and_slow_creeping_adds_up():
    rng = np.random.default_rng(3)
    base = scene()
    walk, creep = [], []
    for k in range(50):
        f = base.copy()
        f[200:330, 300 + 4 * k: 340 + 4 * k] = 30  # a dark figure, 4 px per frame
        walk.append(noisy(f, rng))
        g = base.copy()
        g[200:330, 300 + k // 2: 340 + k // 2] = 30  # half a pixel per frame
        creep.append(noisy(g, rng))
    assert detected(MotionGate(MotionGateConfig(settle_s=0)), walk) == list(range(50))
    crept = detected(MotionGate(MotionGateConfig(settle_s=0)), creep)
    # Against the last *detected* frame, the creep is caught every few frames.
    assert 3 <= len(crept) <= 25 and max(np.diff(crept)) <= 20


def test_static_frames_name_their_reference_and_invalidate_reset_and_resize_force():
    gate = MotionGate(MotionGateConfig(settle_s=0))
    still = scene()
    assert gate.check(still, 0.0, 7) is None
    assert gate.check(still, 0.04, 8) == 7 and gate.check(still, 0.08, 9) == 7
    gate.invalidate()
    assert gate.check(still, 0.12, 10) is None and gate.check(still, 0.16, 11) == 10
    gate.reset()
    assert gate.check(still, 0.20, 12) is None
    assert gate.check(scene(320, 240), 0.24, 13) is None  # the source's size changed
    assert gate.check(scene(320, 240), 0.28, 14) == 13


def test_camera_config_keeps_gating_off_by_default_and_bounds_its_thresholds():
    cam = CameraConfig(id="c", url="x.mp4")
    assert cam.inference.skip_static is False
    assert CameraConfig(id="c", url="x.mp4", inference={"skip_static": True}).inference.skip_static
    with pytest.raises(ValidationError, match="inference.motion.min_changed_fraction"):
        CameraConfig(id="c", url="x.mp4", inference={"motion": {"min_changed_fraction": 2}})
    with pytest.raises(ValidationError, match="motion.thumb_width"):
        CameraConfig(id="c", url="x.mp4", inference={"motion": {"thumb_width": 4}})


# ----------------------------------------------------------------------- the run loop


def write_idle_clip(path, moving: int, still: int) -> None:
    """``moving`` frames of a figure walking across the scene, then ``still`` frames of the
    empty scene with sensor noise, H.264 at 25 fps."""
    import av

    rng = np.random.default_rng(4)
    base = scene(320, 240)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(int(FPS)))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for k in range(moving + still):
            f = base.copy()
            if k < moving:
                f[100:170, 20 + 8 * k: 40 + 8 * k] = 30
            rgb = noisy(f, rng, sigma=3.0)[..., ::-1]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb),
                                                                   format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


class CountingDetector:
    """Async detector stand-in: one box per frame at x = frame index; fails ``fail``."""

    def __init__(self, fail=()):
        self.calls: list[int] = []
        self.fail = set(fail)

    async def __call__(self, frame, meta):
        self.calls.append(meta.frame_index)
        await asyncio.sleep(0.001 * (meta.frame_index % 3))  # finish out of order
        if meta.frame_index in self.fail:
            raise ConnectionError("replica restarting")
        x = float(meta.frame_index)
        return DetectedFrame(meta, Detections(np.array([[x, 0, x + 10, 20]], np.float32),
                                              np.ones(1, np.float32), np.zeros(1, np.int16)),
                             3.0, 1.0, 2)


def gated_run(tmp_path, skip_static=True, fail=()):
    clip = tmp_path / "idle.mp4"
    write_idle_clip(clip, moving=25, still=150)
    det = CountingDetector(fail)
    cfg = CameraConfig(id="cam", url=str(clip), mode="offline",
                       inference={"skip_static": skip_static, "retries": 0,
                                  "result_buffer": 1000, "tiling": None})
    ingest = CameraIngest(cfg, InputSpec(64, 48), infer=det)
    stats = asyncio.run(asyncio.wait_for(ingest.run(), 60))
    return det, stats, ingest.poll_results(1000)


def test_static_frames_skip_the_detector_and_hold_the_last_detections(tmp_path):
    det, stats, results = gated_run(tmp_path)
    assert [r.meta.frame_index for r in results] == list(range(175))
    static = [r for r in results if r.static]
    assert stats.frames_held == len(static) and stats.frames_sent == len(det.calls)
    assert stats.frames_sent + stats.frames_held == 175 and stats.frames_failed == 0
    # The walk (and its settle time) is detected; of 6 s still, one frame per 5 s goes.
    assert set(range(25)) <= set(det.calls) and len(det.calls) <= 25 + 13 + 3
    assert len(static) >= 130
    last_detected = None
    for r in results:
        if not r.static:
            last_detected = r
            continue
        assert r.inference_ms == 0 and r.batch_size == 0
        np.testing.assert_array_equal(r.detections.boxes, last_detected.detections.boxes)
        assert r.meta.pts_s > last_detected.meta.pts_s


def test_without_skip_static_every_frame_goes_to_the_detector(tmp_path):
    det, stats, results = gated_run(tmp_path, skip_static=False)
    assert sorted(det.calls) == list(range(175)) and not any(r.static for r in results)
    assert stats.frames_held == 0


def test_a_failed_reference_sends_its_static_frames_to_the_detector(tmp_path):
    """Frame 60 (still scene, forced by nothing) cannot be a reference when its detection
    fails: the frames that would hold it are detected instead, and none is lost."""
    det, _, _ = gated_run(tmp_path)
    reference = next(k for k in sorted(det.calls) if k > 40)
    det2, stats, results = gated_run(tmp_path, fail={reference})
    assert stats.frames_failed == 1 and len(results) == 174
    assert reference + 1 in det2.calls and reference + 1 not in det.calls


class WalkerDetector(CountingDetector):
    """Finds the walking figure (a box while it is in view, frames < ``moving``); takes
    ``slow_s`` over the figure's last frame, so the live frames behind it are dropped."""

    def __init__(self, moving: int, slow_s: float):
        super().__init__()
        self.moving, self.slow_s = moving, slow_s

    async def __call__(self, frame, meta):
        self.calls.append(meta.frame_index)
        k = meta.frame_index
        await asyncio.sleep(self.slow_s if k == self.moving - 1 else 0.005)
        box = [[20 + 8 * k, 100, 40 + 8 * k, 170]] if k < self.moving else np.zeros((0, 4))
        n = len(box)
        return DetectedFrame(meta, Detections(np.asarray(box, np.float32), np.ones(n, np.float32),
                                              np.zeros(n, np.int16)), 3.0, 1.0, 1)


def test_live_overload_never_holds_the_detections_of_a_dropped_reference(tmp_path):
    """Live, newest frame wins: the first empty frame (the motion gate's new reference)
    is dropped while the detector is busy with the figure's last frame. The still frames
    after it must not hold the figure's detections: they go to the detector instead, and
    every frame held afterwards holds the empty view."""
    clip = tmp_path / "idle.mp4"
    write_idle_clip(clip, moving=25, still=50)
    det = WalkerDetector(moving=25, slow_s=0.4)
    cfg = CameraConfig(id="cam", url=str(clip), mode="live",
                       inference={"skip_static": True, "max_in_flight": 1,
                                  "result_buffer": 1000, "motion": {"settle_s": 0}})
    ingest = CameraIngest(cfg, InputSpec(64, 48), infer=det)
    stats = asyncio.run(asyncio.wait_for(ingest.run(), 60))
    results = ingest.poll_results(1000)
    assert 25 not in det.calls and stats.frames_dropped > 0 and stats.frames_held > 0
    assert stats.frames_sent + stats.frames_held + stats.frames_dropped == 75
    held_after = [r for r in results if r.static and r.meta.frame_index >= 25]
    assert held_after and all(len(r.detections) == 0 for r in held_after)
