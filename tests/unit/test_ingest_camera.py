"""The camera run loop without Ray: ordering, backpressure, newest-wins, reconnects, stop.

Sources are real files where decoding matters and scripted fakes where faults must happen
at an exact moment; the detector is a fake async function with controllable delays.
"""

from __future__ import annotations

import asyncio
import random
import time

import numpy as np
import pytest

from models.preprocess import InputSpec
from pipeline.errors import InputError, SourceOpenError, StreamError
from pipeline.ingest.camera import CameraIngest
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.health import CameraState
from pipeline.ingest.source import SourceInfo
from pipeline.types import DetectedFrame, Detections
from tests.conftest import merged
from tests.media import write_clip

SPEC = InputSpec(64, 48)
LIVE_URL = "rtsp://bob:s3cret@camera.local/live"
REDACTED = "rtsp://bob:***@camera.local/live"


class FakeSource:
    """Frames of a given size at positions k/fps; raises ``fail`` after ``n`` frames."""

    def __init__(self, n, fps=25.0, live=True, fail=None, frame_delay_s=0.0, kind="rtsp"):
        self.info = SourceInfo(kind, live, fps, 64, 48, 0 if live else n)
        self.n, self.fps, self.fail, self.delay = n, fps, fail, frame_delay_s
        self.i = -1
        self.closed = False

    def grab(self):
        if self.delay:
            time.sleep(self.delay)
        if self.i + 1 >= self.n:
            if self.fail is not None:
                raise self.fail
            return False
        self.i += 1
        return True

    def retrieve(self):
        return np.full((48, 64, 3), self.i % 256, np.uint8)

    def position_s(self):
        return self.i / self.fps

    def close(self):
        self.closed = True


class Script:
    """An opener that returns (or raises) the next scripted item on each open."""

    def __init__(self, *items):
        self.items = list(items)
        self.opens = 0

    def __call__(self, config, kind):
        self.opens += 1
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, Exception):
            raise item
        return item() if callable(item) else item


LIVE_CAMERA = {"id": "cam", "url": LIVE_URL, "source": {"read_timeout_s": 1},
               "reconnect": {"initial_s": 0.01, "max_s": 0.05, "jitter": 0.0}}


def live_cam(**kw):
    return CameraConfig(**merged(LIVE_CAMERA, kw))


def open_error(reason="connection refused"):
    return SourceOpenError("cam", "rtsp", REDACTED, reason, retryable=True)


def stream_error():
    return StreamError("cam", "rtsp", REDACTED, "stream stalled: no frame for 1 s")


class FakeDetector:
    """Async detector: random delays (so results complete out of order), records calls."""

    def __init__(self, delay_s=(0.0, 0.004), fail_indexes=(), transient_failures=0, seed=0):
        self.delay_s = delay_s
        self.fail_indexes = set(fail_indexes)
        self.transient = transient_failures
        self.calls = []
        self.concurrent = 0
        self.max_concurrent = 0
        self.rng = random.Random(seed)

    async def __call__(self, frame, meta):
        self.calls.append(meta.frame_index)
        assert frame.shape == (SPEC.height, SPEC.width, 3)  # resized before sending
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            await asyncio.sleep(self.rng.uniform(*self.delay_s))
            if meta.frame_index in self.fail_indexes:
                raise InputError(f"frame {meta.frame_index} is malformed", "frame")
            if self.transient:
                self.transient -= 1
                raise ConnectionError("replica restarting")
            box = np.array([[0, 0, meta.width, meta.height]], np.float32)
            detections = Detections(box, np.array([0.9], np.float32), np.zeros(1, np.int16))
            return DetectedFrame(meta, detections, 1.0, 0.5, 1)
        finally:
            self.concurrent -= 1


def run(ingest, timeout=20.0):
    return asyncio.run(asyncio.wait_for(ingest.run(), timeout))


def indexes(results):
    return [r.meta.frame_index for r in results]


# ----------------------------------------------------------------------- files, offline


def test_offline_file_delivers_every_frame_in_order_through_an_out_of_order_detector(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=40, fps=12)
    det = FakeDetector()
    config = CameraConfig(id="cam", url=str(clip), mode="offline",
                          inference={"max_in_flight": 4, "tiling": None})
    ingest = CameraIngest(config, SPEC, infer=det)
    stats = run(ingest)
    results = ingest.poll_results(1000)
    assert (stats.state, stats.reason) == ("ended", "end of file")
    assert indexes(results) == list(range(40))
    assert sorted(det.calls) == list(range(40)) and det.max_concurrent <= 4
    np.testing.assert_allclose([r.meta.pts_s for r in results], np.arange(40) / 12, atol=1e-3)
    assert all((r.meta.width, r.meta.height) == (480, 270) for r in results)
    assert all(len(r.detections) == 1 and r.latency_ms > 0 for r in results)
    assert (stats.frames_decoded, stats.frames_sent, stats.frames_delivered) == (40, 40, 40)
    assert stats.frames_dropped == stats.frames_failed == stats.in_flight == 0


def test_downstream_gets_ready_results_together_in_order_and_per_frame_errors(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=60, fps=12)
    calls: list[list[int]] = []

    async def deliver(results):
        assert all(isinstance(r, DetectedFrame) for r in results)
        calls.append(indexes(results))
        return [f"InputError: frame {r.meta.frame_index} out of order"
                if r.meta.frame_index == 7 else None for r in results]

    config = CameraConfig(id="cam", url=str(clip), mode="offline", inference={"max_in_flight": 8})
    ingest = CameraIngest(config, SPEC, infer=FakeDetector(delay_s=(0.0, 0.02)),
                          deliver=deliver)
    stats = run(ingest)
    delivered = [i for call in calls for i in call]
    assert delivered == list(range(60))  # every frame once, in order
    assert len(calls) < 60 and max(len(c) for c in calls) > 1  # some travelled together
    assert max(len(c) for c in calls) <= 8
    assert stats.frames_delivered == 60
    assert stats.forward_errors == 1 and "frame 7" in stats.last_error  # alone or grouped
    assert stats.in_flight == 0


def test_offline_waits_for_a_full_result_buffer_instead_of_dropping(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=30, fps=12)
    config = CameraConfig(id="cam", url=str(clip), mode="offline", inference={"result_buffer": 4})
    ingest = CameraIngest(config, SPEC)

    async def consume():
        task = asyncio.create_task(ingest.run())
        got = []
        while not task.done() or ingest.stats().buffered:
            await asyncio.sleep(0.01)
            assert ingest.stats().buffered <= 4
            got += ingest.poll_results(2)
        return await task, got

    stats, got = asyncio.run(consume())
    assert indexes(got) == list(range(30)) and stats.results_evicted == 0


def test_target_fps_subsamples_by_media_time(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=24, fps=12)
    ingest = CameraIngest(CameraConfig(id="cam", url=str(clip), mode="offline", target_fps=4), SPEC)
    stats = run(ingest)
    results = ingest.poll_results(100)
    assert indexes(results) == list(range(0, 24, 3))
    np.testing.assert_allclose(np.diff([r.meta.pts_s for r in results]), 0.25, atol=1e-3)
    assert (stats.frames_decoded, stats.frames_skipped, stats.frames_delivered) == (24, 16, 8)


def test_a_file_read_again_continues_after_the_frames_delivered_before(tmp_path):
    """A camera actor re-created mid-file: the new one reads the file again and delivers
    only what comes after the last frame its tracker got, at the same media times and
    with the same frames kept by target_fps, as if nothing had happened."""
    clip = write_clip(tmp_path / "clip.mp4", n=30, fps=10)
    config = CameraConfig(id="cam", url=str(clip), mode="offline", target_fps=7)
    whole = CameraIngest(config, SPEC)
    run(whole)
    expected = [(r.meta.frame_index, round(r.meta.pts_s, 6)) for r in whole.poll_results(100)]
    after = expected[9][0]  # frame 13, the tenth kept, was the last one delivered
    again = CameraIngest(config, SPEC)
    again.continue_after(after)
    stats = run(again)
    got = [(r.meta.frame_index, round(r.meta.pts_s, 6)) for r in again.poll_results(100)]
    assert got == expected[10:]
    assert (stats.state, stats.frames_decoded) == ("ended", 30 - after - 1)


def test_a_file_read_again_past_its_max_frames_ends_without_a_frame(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=12, fps=10)
    config = CameraConfig(id="cam", url=str(clip), mode="offline",
                          source={"max_frames": 8})
    ingest = CameraIngest(config, SPEC)
    ingest.continue_after(7)
    stats = run(ingest)
    assert ingest.poll_results(100) == []
    assert (stats.state, stats.reason) == ("ended", "max_frames (8) reached")


def test_live_mode_plays_a_file_at_its_own_rate(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=12, fps=24)
    ingest = CameraIngest(CameraConfig(id="cam", url=str(clip), mode="live"), SPEC)
    started = time.monotonic()
    stats = run(ingest)
    elapsed = time.monotonic() - started
    assert 11 / 24 - 0.05 <= elapsed < 11 / 24 + 1.5  # 12 frames span 11 frame periods
    assert stats.frames_delivered == 12


def test_a_replayed_file_frame_is_captured_when_due_not_when_read_ahead(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=6, fps=4)  # a frame every 250 ms
    ingest = CameraIngest(CameraConfig(id="cam", url=str(clip), mode="live"), SPEC,
                          infer=FakeDetector(delay_s=(0.0, 0.0)))
    run(ingest)
    results = ingest.poll_results(100)
    assert indexes(results) == list(range(6))
    # the reader waits up to a frame period for each frame's time; that wait is not
    # latency (a camera delivers a frame when it takes it)
    assert np.median([r.latency_ms for r in results]) < 125
    captured = np.array([r.meta.captured_at for r in results])
    np.testing.assert_allclose(np.diff(captured), 0.25, atol=0.1)


def test_looping_file_continues_media_time_and_frame_index(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=6, fps=10)
    config = CameraConfig(id="cam", url=str(clip), mode="offline",
                          source={"loop": True, "max_frames": 15})
    ingest = CameraIngest(config, None)
    stats = run(ingest)
    results = ingest.poll_results(100)
    assert (stats.state, stats.reason, stats.loops) == ("ended", "max_frames (15) reached", 2)
    assert indexes(results) == list(range(15))
    np.testing.assert_allclose([r.meta.pts_s for r in results], np.arange(15) / 10, atol=1e-3)
    assert all(r.detections is None for r in results)  # no detector: metadata only


def test_malformed_frames_fail_alone(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=10, fps=10)
    det = FakeDetector(fail_indexes={3, 7})
    ingest = CameraIngest(CameraConfig(id="cam", url=str(clip), mode="offline"), SPEC, infer=det)
    stats = run(ingest)
    assert indexes(ingest.poll_results(100)) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert (stats.frames_failed, stats.state) == (2, "ended")
    assert stats.last_error == "inference failed for frame 7: InputError: frame 7 is malformed"


def test_offline_retries_transient_detector_errors(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=5, fps=10)
    det = FakeDetector(transient_failures=2)
    config = CameraConfig(id="cam", url=str(clip), mode="offline",
                          inference={"max_in_flight": 1, "tiling": None},
                          reconnect={"initial_s": 0.01, "max_s": 0.01})
    ingest = CameraIngest(config, SPEC, infer=det)
    stats = run(ingest)
    assert indexes(ingest.poll_results(100)) == list(range(5))
    assert stats.frames_failed == 0 and len(det.calls) == 7


def test_a_failed_downstream_call_counts_an_error_for_each_of_its_frames(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=12, fps=10)
    seen: list[DetectedFrame] = []

    async def deliver(results):
        await asyncio.sleep(random.Random(results[0].meta.frame_index).uniform(0, 0.003))
        if any(r.meta.frame_index == 5 for r in results):
            raise RuntimeError("tracker is restarting")
        seen.extend(results)

    config = CameraConfig(id="cam", url=str(clip), mode="offline",
                          inference={"result_buffer": 0, "max_in_flight": 1})  # one frame a call
    ingest = CameraIngest(config, SPEC, infer=FakeDetector(), deliver=deliver)
    stats = run(ingest)
    assert indexes(seen) == [i for i in range(12) if i != 5]
    assert (stats.forward_errors, stats.frames_delivered) == (1, 12)
    assert "forwarding frame 5 failed: RuntimeError: tracker is restarting" == stats.last_error


class GroupedDetector:
    """Answers requests in groups of ``size`` that complete together, as the results of one
    grouped detector call do."""

    def __init__(self, size):
        self.size, self.waiting = size, []

    async def __call__(self, frame, meta):
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((future, meta))
        if len(self.waiting) == self.size:
            group, self.waiting = self.waiting, []
            for f, m in group:
                box = np.array([[0, 0, m.width, m.height]], np.float32)
                f.set_result(DetectedFrame(m, Detections(box, np.array([0.9], np.float32),
                                                         np.zeros(1, np.int16)), 1.0, 0.5, 1))
        return await future


def test_results_that_finish_together_go_downstream_in_one_delivery():
    calls = []

    async def deliver(results):
        calls.append(indexes(results))

    config = CameraConfig(id="cam", url="/clips/a.mp4", mode="offline",
                          inference={"max_in_flight": 8, "tiling": None})  # one call a frame
    source = FakeSource(32, live=False)
    ingest = CameraIngest(config, SPEC, infer=GroupedDetector(8), deliver=deliver,
                          opener=Script(source))
    stats = run(ingest)
    assert stats.frames_delivered == 32
    assert calls == [list(range(k, k + 8)) for k in range(0, 32, 8)]


# ----------------------------------------------------------------------- live, faults


def test_live_overload_newest_frame_wins_and_drops_are_counted():
    # 200 frames arrive as fast as they decode; the detector takes 20 ms per frame.
    source = FakeSource(200, fps=100, live=True, frame_delay_s=0.001,
                        fail=StreamError("cam", "rtsp", "u", "closed"))
    det = FakeDetector(delay_s=(0.02, 0.02))
    config = live_cam(inference={"max_in_flight": 1, "pending_frames": 1},
                      reconnect={"max_attempts": 0})
    ingest = CameraIngest(config, SPEC, infer=det, opener=Script(source))
    stats = run(ingest)
    results = ingest.poll_results(1000)
    assert stats.frames_dropped > 100
    assert stats.frames_decoded == 200 == stats.frames_sent + stats.frames_dropped
    assert stats.frames_delivered == stats.frames_sent == len(results)
    got = indexes(results)
    assert got == sorted(got)                       # still in frame order
    assert got[-1] >= 190                           # the newest frames won


def test_reconnects_with_backoff_until_the_stream_returns_then_gives_up():
    refused = open_error("connection to camera.local:554 refused (nothing listening)")
    opener = Script(
        FakeSource(5, fail=stream_error()),     # streams, then stalls
        refused, refused,                       # two failed attempts
        FakeSource(5, fail=stream_error()),     # back, then stalls again
        refused,                                # for good
    )
    config = live_cam(reconnect={"max_attempts": 3}, mode="offline")  # offline: no frame is dropped
    ingest = CameraIngest(config, None, opener=opener, rng=random.Random(0))
    states = []
    ingest.health.set_state = record_states(ingest.health.set_state, states)
    stats = run(ingest)
    assert states == ["connecting", "streaming", "reconnecting", "streaming", "reconnecting",
                      "failed"]
    assert stats.reason == (
        "gave up after 3 reconnect attempts: connection to camera.local:554 refused "
        "(nothing listening)"
    )
    # 3 attempts until the stream came back (the third worked), 3 failed ones after it:
    # a delivered frame resets the count of consecutive failures
    assert stats.reconnects == 6 and opener.opens == 7
    assert stats.frames_delivered == 10
    assert "s3cret" not in repr(stats)


def record_states(set_state, states):
    def wrapper(state, reason=""):
        changed = set_state(state, reason)
        if changed:
            states.append(state.value)
        return changed
    return wrapper


def test_live_source_retries_forever_by_default_and_stop_ends_it():
    opener = Script(open_error())
    ingest = CameraIngest(live_cam(), None, opener=opener)

    async def scenario():
        task = asyncio.create_task(ingest.run())
        await asyncio.sleep(0.5)
        mid = ingest.stats()
        ingest.request_stop()
        return mid, await asyncio.wait_for(task, 5)

    mid, final = asyncio.run(scenario())
    assert (mid.state, mid.reason) == ("reconnecting", "connection refused")
    assert mid.reconnects >= 5 and opener.opens >= 6
    assert mid.last_error == f"camera 'cam' (rtsp {REDACTED}): connection refused"
    assert (final.state, final.reason) == ("stopped", "stop requested")


def test_not_retryable_errors_fail_at_once():
    opener = Script(SourceOpenError("cam", "file", "/x.mp4", "file does not exist"))
    stats = run(CameraIngest(live_cam(url="/x.mp4"), None, opener=opener))
    assert (stats.state, stats.reason, stats.reconnects) == ("failed", "file does not exist", 0)
    assert opener.opens == 1


def test_unknown_scheme_fails_with_reason():
    stats = run(CameraIngest(live_cam(url="foo://u:pw@h/x"), None))
    assert stats.state == "failed" and stats.reason.startswith("unsupported URL scheme 'foo'")
    assert "pw@" not in stats.last_error


def test_stop_finishes_in_flight_frames():
    source = FakeSource(10_000, fps=25, live=True, frame_delay_s=0.002)
    det = FakeDetector(delay_s=(0.05, 0.05))
    config = live_cam(inference={"max_in_flight": 3})
    ingest = CameraIngest(config, SPEC, infer=det, opener=Script(source))

    async def scenario():
        task = asyncio.create_task(ingest.run())
        await asyncio.sleep(0.3)
        ingest.request_stop()
        return await asyncio.wait_for(task, 5)

    stats = asyncio.run(scenario())
    assert stats.state == "stopped" and source.closed
    assert stats.frames_sent == stats.frames_delivered > 0 and stats.in_flight == 0


def test_a_bug_in_the_source_fails_the_camera_with_a_redacted_reason():
    class Broken(FakeSource):
        def retrieve(self):
            raise KeyError(LIVE_URL)

    stats = run(CameraIngest(live_cam(), None, opener=Script(Broken(3))))
    assert stats.state == "failed"
    assert stats.reason == "internal error: KeyError: 'rtsp://bob:***@camera.local/live'"


def test_undecodable_frames_are_counted_and_skipped():
    class Flaky(FakeSource):
        def retrieve(self):
            return None if self.i == 1 else super().retrieve()

    source = Flaky(3, live=False, kind="file")
    config = CameraConfig(id="cam", url="/x.mp4", mode="offline")
    ingest = CameraIngest(config, None, opener=Script(source))
    stats = run(ingest)
    assert indexes(ingest.poll_results(10)) == [0, 2]
    assert (stats.frames_failed, stats.last_error) == (1, "frame 1 could not be decoded")


def test_a_smaller_frame_later_does_not_fail_pixel_geometry_checked_on_the_first():
    """Pixel zones and lines are checked against the camera's first frames, the grid its
    tracking lane keeps (later sizes are scaled to it): a stream that switches to a lower
    resolution mid-run goes on instead of failing the camera."""
    class Shrinks(FakeSource):
        def retrieve(self):
            return np.zeros((48, 64, 3) if self.i < 2 else (24, 32, 3), np.uint8)

    line = {"id": "l", "start": [50, 2], "end": [50, 40], "units": "pixel"}  # x 50 > 32
    config = CameraConfig(id="cam", url="/x.mp4", mode="offline", lines=[line])
    ingest = CameraIngest(config, None, opener=Script(Shrinks(4, live=False, kind="file")))
    stats = run(ingest)
    results = ingest.poll_results(10)
    assert indexes(results) == [0, 1, 2, 3], stats
    assert [(r.meta.width, r.meta.height) for r in results] == [(64, 48)] * 2 + [(32, 24)] * 2
    assert stats.state == CameraState.ENDED.value


def test_restart_after_end_continues_media_time(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=3, fps=10)
    ingest = CameraIngest(CameraConfig(id="cam", url=str(clip), mode="offline"), None)
    run(ingest)
    run(ingest)
    results = ingest.poll_results(10)
    assert indexes(results) == list(range(6))
    assert all(b.meta.pts_s > a.meta.pts_s for a, b in zip(results, results[1:]))


def test_detector_without_input_spec_is_refused():
    ingest = CameraIngest(live_cam(), None, infer=FakeDetector())
    with pytest.raises(InputError, match="a detector needs the model's input spec"):
        run(ingest)
    assert ingest.stats().state == CameraState.IDLE.value


# ----------------------------------------------------------------------- stills


def _stills(clip, blur):
    got = []

    async def infer(frame, meta):
        box = np.array([[0, 0, meta.width / 2, meta.height]], np.float32)  # left half: a person
        detections = Detections(box, np.array([0.9], np.float32), np.zeros(1, np.int16))
        return DetectedFrame(meta, detections, 1.0, 0.5, 1)

    async def still_sink(meta, still):
        got.append((meta, still))

    config = CameraConfig(id="cam", url=str(clip), mode="offline",
                          stills={"interval_s": 1.0, "max_side": 96, "blur_sigma_px": 1.0})
    run(CameraIngest(config, SPEC, infer=infer, still_sink=still_sink, blur_people=blur))
    return got


def test_stills_come_by_media_time_downscaled_with_people_blurred(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", n=30, fps=10)  # 3 s of media
    blurred, plain = _stills(clip, True), _stills(clip, False)
    assert [m.pts_s for m, _ in blurred] == pytest.approx([0.0, 1.0, 2.0])
    for (meta, b), (_, p) in zip(blurred, plain):
        assert max(b.shape[:2]) == 96 and b.shape == p.shape
        half = b.shape[1] // 2
        detail = lambda img: float(np.abs(np.diff(img.astype(int), axis=1)).mean())  # noqa: E731
        left, right = (slice(None), slice(None, half - 10)), (slice(None), slice(half + 10, None))
        assert detail(b[left]) < 0.5 * detail(p[left])  # the person is pixelated
        assert np.abs(b[right].astype(int) - p[right]).mean() < 20  # the rest only softened
