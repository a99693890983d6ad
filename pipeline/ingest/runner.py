"""The camera's run loop, without Ray: decode in a thread, infer with bounded concurrency,
deliver results in frame order.

::

    decode thread (blocking cv2)           event loop (asyncio)
    open / reconnect with backoff
    grab -> media time -> subsample  ──▶  pending buffer ──▶ sender ──▶ infer(frame, meta)
    pace (live files) -> resize           (live: newest      (≤ max_in_flight       │
                                           wins; offline:    at once)               ▼
                                           decoder waits)           forwarder (frame order)
                                                                    ──▶ sink(result)
                                                                    ──▶ result buffer (poll)

Full-resolution frames never leave the decode thread: each is resized to the model's
input there and dropped. A source fault never raises out of :meth:`CameraIngest.run`;
it becomes a ``reconnecting`` or ``failed`` state with the reason.

Example:
    >>> ingest = CameraIngest(CameraConfig(id="lobby", url="lobby.mp4", mode="offline"),
    ...                       spec=InputSpec(300, 300), infer=detect)      # doctest: +SKIP
    >>> stats = await ingest.run()          # until the file ends       # doctest: +SKIP
    >>> results = ingest.poll_results(100)  # FrameResult, in order     # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from models.preprocess import InputSpec, prepare_frame
from models.tiling import TileRect, merge, plan_tiles, prepare_tiles
from pipeline.analytics.heatmap import blur_people
from pipeline.errors import InputError
from pipeline.ingest.backoff import Backoff
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.errors import SourceError, StreamError
from pipeline.ingest.health import CameraState, CameraStats, HealthTracker
from pipeline.ingest.pacing import DropOldestBuffer, FrameSubsampler, LivePacer, MediaClock
from pipeline.ingest.redact import redact_text
from pipeline.ingest.source import LIVE_KINDS, FrameSource, open_source, resolve_kind
from pipeline.types import Detections, FrameMeta

log = logging.getLogger(__name__)

# How often a blocked offline decoder re-checks for stop() while waiting for space (s).
_STOP_POLL_S = 0.1


@dataclass(frozen=True)
class FrameResult:
    """What a camera delivers for one frame.

    Attributes:
        meta: the frame's origin and media time.
        detections: boxes in original-frame pixels, or None when the camera runs
            without a detector (metadata only).
        inference_ms: the detector's batched model run time for this frame (ms), 0 without.
        queue_ms: time the frame waited at the detector for its batch (ms), 0 without.
        batch_size: frames in the detector batch that held this frame, 0 without.
        latency_ms: wall time from decoding the frame to delivering this result (ms).
    """

    meta: FrameMeta
    detections: Detections | None
    inference_ms: float
    queue_ms: float
    batch_size: int
    latency_ms: float


class DetectOutcome(Protocol):
    """What an ``infer`` callable returns (models.deployment.DetectResult fits)."""

    detections: Detections
    inference_ms: float
    queue_ms: float
    batch_size: int


Infer = Callable[[npt.NDArray[np.uint8], FrameMeta], Awaitable[DetectOutcome]]
"""Sends one model-sized RGB frame with its FrameMeta to the detector."""
Sink = Callable[[FrameResult], Awaitable[object]]
"""Hands one result downstream (for example to a tracker actor); awaited in frame order."""
SinkMany = Callable[[list[FrameResult]], Awaitable[Sequence[str | None]]]
"""Hands several consecutive results downstream in one call, in frame order; returns, per
result, None or the error that result met downstream."""
Opener = Callable[[CameraConfig, str], FrameSource]


@dataclass
class _Frame:
    small: npt.NDArray[np.uint8] | None
    meta: FrameMeta
    decoded_at: float  # monotonic seconds
    still: npt.NDArray[np.uint8] | None = None  # downscaled BGR copy, not yet blurred
    tiles: list[npt.NDArray[np.uint8]] | None = None  # model-sized tiles (tiling on)
    rects: list[TileRect] | None = None  # where each tile lies in the frame


@dataclass(frozen=True)
class _TiledOutcome:
    """A frame's merged tile detections; times and batch size are the largest of its
    tiles' (they are sent at once and usually share a batch)."""

    detections: Detections
    inference_ms: float
    queue_ms: float
    batch_size: int


StillSink = Callable[[FrameMeta, npt.NDArray[np.uint8], npt.NDArray[np.float32]], Awaitable[object]]
"""Receives (meta, people-blurred BGR still, (n, 4) person boxes in the still's pixels)."""


def downscale(frame: npt.NDArray[np.uint8], max_side: int) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` whose longer side is at most ``max_side`` pixels."""
    scale = max_side / max(frame.shape[:2])
    if scale >= 1:
        return frame.copy()
    return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


_END = object()


class CameraIngest:
    """One camera's decode, pace, infer and deliver loop (Ray-free core of the actor).

    Args:
        config: the camera.
        spec: the model's declared input; each frame is resized to it before ``infer``.
            None skips resizing (only without a detector). May be set before :meth:`run`.
        infer: async detector call, or None to deliver metadata only.
        sink: async downstream call per result, awaited in frame order, or None.
        still_sink: async call receiving a people-blurred still every
            ``config.still_interval_s`` of media time (after that frame's result), or None.
        opener: opens a source for (config, kind); injectable for tests.
        sink_many: with ``sink``: hands consecutive results that are ready together
            downstream in one call (fewer calls per frame); None: one call per result.
        rng: randomness for backoff jitter; injectable for repeatable tests.
    """

    def __init__(
        self,
        config: CameraConfig,
        spec: InputSpec | None = None,
        infer: Infer | None = None,
        sink: Sink | None = None,
        still_sink: StillSink | None = None,
        opener: Opener = open_source,
        sink_many: SinkMany | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.spec = spec
        self._infer = infer
        self._sink = sink
        self._sink_many = sink_many if sink is not None else None
        self._still_sink = still_sink
        self._next_still_pts: float | None = None
        self._opener = opener
        self._rng = rng or random.Random()
        self.health = HealthTracker(config.id, config.redacted_url, config.fps_window_s)
        self.health.gauges = self._gauges
        self._results: DropOldestBuffer[FrameResult] | None = (
            DropOldestBuffer(config.result_buffer) if config.result_buffer else None
        )
        self._stop = threading.Event()
        self._running = False
        # Media time and frame numbering continue across restarts of the same camera.
        self._clock = MediaClock()
        self._frame_index = 0
        self._in_flight = 0
        self._pending: DropOldestBuffer[_Frame] = DropOldestBuffer(config.pending_frames)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._buffer_space = asyncio.Event()
        # Decode thread -> event loop hand-off: appends are thread-safe; one wake-up is
        # scheduled per batch of items rather than per frame.
        self._inbox: deque[object] = deque()
        self._wake_lock = threading.Lock()
        self._wake_scheduled = False

    # ------------------------------------------------------------------ public API

    @property
    def running(self) -> bool:
        """True between the start of :meth:`run` and its return."""
        return self._running

    def stats(self) -> CameraStats:
        """State, counters, rates and queue depths now."""
        return self.health.snapshot()

    def request_stop(self) -> None:
        """Asks :meth:`run` to stop decoding; frames already decoded are still delivered."""
        self._stop_requested = True
        self._stop.set()
        if self._running and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._wake_all)
            except RuntimeError:  # the loop already closed: nothing left to wake
                pass

    def poll_results(self, max_n: int) -> list[FrameResult]:
        """Removes and returns up to ``max_n`` buffered results, oldest first.

        Call from the event loop thread that runs :meth:`run`.
        """
        if self._results is None or max_n <= 0:
            return []
        out = self._results.pop_many(max_n)
        if out:
            self._buffer_space.set()
        return out

    async def run(self) -> CameraStats:
        """Runs the camera until its source ends, fails for good, or stop is requested.

        Never raises for source or inference faults: they are counted and reflected in
        the state. Returns the final stats.
        """
        if self._running:
            raise RuntimeError(f"camera {self.config.id!r} is already running")
        if self._infer is not None and self.spec is None:
            raise InputError("a detector needs the model's input spec to resize frames", "spec")
        cfg = self.config
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._stop_requested = False
        self._outcome: tuple[CameraState, str] | None = None
        self._end_seen = False
        self._pending_ready = asyncio.Event()
        self._buffer_space = asyncio.Event()
        self._inbox.clear()
        self._wake_scheduled = False
        self._space = threading.Semaphore(cfg.pending_frames)  # offline backpressure
        self._slots = asyncio.Semaphore(cfg.in_flight_limit)
        self._ordered: asyncio.Queue[asyncio.Future[tuple[_Frame, FrameResult] | None] | None] = (
            asyncio.Queue()
        )
        self._change_state(CameraState.CONNECTING)
        thread = threading.Thread(
            target=self._decode_main, name=f"decode-{cfg.id}", daemon=True
        )
        sender = asyncio.create_task(self._send_loop())
        forwarder = asyncio.create_task(self._forward_loop())
        thread.start()
        try:
            await asyncio.gather(sender, forwarder)
        finally:
            self._stop.set()
            for task in (sender, forwarder):
                task.cancel()
            await asyncio.to_thread(thread.join)
            state, reason = self._final_outcome()
            self._change_state(state, reason)
            self._running = False
        return self.stats()

    # ------------------------------------------------------------- decode thread

    def _decode_main(self) -> None:
        try:
            self._decode_loop()
        except Exception as exc:  # a bug must end this camera visibly, not silently
            message = redact_text(f"internal error: {type(exc).__name__}: {exc}", self.config.url)
            log.error("camera %s: %s\n%s", self.config.id, message,
                      redact_text(traceback.format_exc(), self.config.url))
            self.health.record_error(message)
            self._outcome = (CameraState.FAILED, message)
        finally:
            self._post(_END)

    def _decode_loop(self) -> None:
        cfg = self.config
        try:
            kind = resolve_kind(cfg)
        except SourceError as exc:
            self._give_up(exc)
            return
        self.health.kind = kind
        live_source = kind in LIVE_KINDS
        use_stream = cfg.pts == "stream" or (
            cfg.pts == "auto" and kind in ("file", "images", "rtsp")
        )
        backoff = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s, cfg.backoff_multiplier,
                          cfg.backoff_jitter, self._rng)
        subsampler = FrameSubsampler(cfg.target_fps)
        pacer = LivePacer(cfg.max_lag_s) if cfg.mode == "live" and not live_source else None
        failures = 0
        recovering = False
        while not self._stop.is_set():
            if recovering:
                self.health.add("reconnects")
            try:
                source = self._opener(cfg, kind)
            except SourceError as exc:
                failures += 1
                if not self._retry(exc, live_source, failures, backoff):
                    return
                recovering = True
                continue
            try:
                info = source.info
                self.health.source_fps = info.fps
                self._clock.start_session(info.fps, live_source, use_stream)
                first = True
                while True:
                    if self._stop.is_set():
                        return
                    if not source.grab():
                        if live_source:  # a camera never ends; treat it as a drop
                            raise StreamError(cfg.id, kind, cfg.redacted_url, "stream ended")
                        break  # the file ended
                    wall, mono = time.time(), time.monotonic()
                    if first:
                        first, recovering, failures = False, False, 0
                        backoff.reset()
                        self._change_state(CameraState.STREAMING)
                    self.health.decoded()
                    if self._handle_frame(source, wall, mono, subsampler, pacer, use_stream):
                        return
                if not cfg.loop:
                    self._outcome = (CameraState.ENDED, "end of file")
                    return
                self.health.add("loops")
            except SourceError as exc:
                failures += 1
                if not self._retry(exc, live_source, failures, backoff):
                    return
                recovering = True
            finally:
                source.close()

    def _handle_frame(
        self,
        source: FrameSource,
        wall: float,
        mono: float,
        subsampler: FrameSubsampler,
        pacer: LivePacer | None,
        use_stream: bool,
    ) -> bool:
        """Stamps, subsamples, paces, resizes and hands off one grabbed frame.

        Returns True when the camera has decoded ``max_frames`` and should end.
        """
        cfg = self.config
        position = source.position_s() if use_stream else None
        pts, fell_back = self._clock.stamp(position, wall)
        if fell_back:
            self.health.add("pts_fallbacks")
        index = self._frame_index
        self._frame_index += 1
        decoded = self.health.counter("frames_decoded")
        done = cfg.max_frames is not None and decoded >= cfg.max_frames
        if done:
            self._outcome = (CameraState.ENDED, f"max_frames ({cfg.max_frames}) reached")
        if not subsampler.keep(pts):
            self.health.add("frames_skipped")
            return done
        if pacer is not None:
            wait = pacer.delay(pts, mono)
            if wait > 0:
                if self._stop.wait(wait):
                    return True
                # A file replayed as a live camera is read ahead of time; its frame is
                # captured when it is due, and latency counts from then.
                wall, mono = wall + wait, mono + wait
        frame = source.retrieve()
        if frame is None:
            self.health.add("frames_failed")
            self.health.record_error(f"frame {index} could not be decoded")
            return done
        height, width = frame.shape[:2]
        self.health.width, self.health.height = width, height
        tiles = rects = None
        small = None
        if self.spec is not None and cfg.tiling is not None and self._infer is not None:
            rects = plan_tiles(width, height, cfg.tiling)
            tiles = prepare_tiles(frame, self.spec, rects)
        elif self.spec is not None:
            small = prepare_frame(frame, self.spec)[0]
        still = self._take_still(frame, pts)
        del frame  # the full-resolution frame goes no further
        meta = FrameMeta(cfg.id, index, pts, wall, width, height)
        item = _Frame(small, meta, mono, still, tiles, rects)
        if cfg.mode == "offline":
            while not self._space.acquire(timeout=_STOP_POLL_S):
                if self._stop.is_set():
                    return True
        self._post(item)
        return done

    def _take_still(self, frame: npt.NDArray[np.uint8], pts: float) -> npt.NDArray[np.uint8] | None:
        """A downscaled copy of ``frame`` when a still is due at media time ``pts``."""
        interval = self.config.still_interval_s
        if self._still_sink is None or self._infer is None or interval is None:
            return None
        if self._next_still_pts is not None and pts < self._next_still_pts:
            return None
        self._next_still_pts = pts + interval
        return downscale(frame, self.config.still_max_side)

    async def _send_still(self, item: _Frame, detections: Detections) -> None:
        """Blurs the people in the frame's still and hands it to the still sink."""
        assert item.still is not None and self._still_sink is not None
        scale = item.still.shape[1] / item.meta.width
        boxes = (detections.boxes * scale).astype(np.float32)
        still = item.still
        if self.config.blur_stills:
            still = blur_people(still, boxes)
            if self.config.still_blur_sigma_px > 0:
                still = cv2.GaussianBlur(still, (0, 0), self.config.still_blur_sigma_px)
        item.still = None
        try:
            await asyncio.wait_for(self._still_sink(item.meta, still, boxes),
                                   self.config.forward_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a lost still never stops the camera
            self.health.add("forward_errors")
            log.warning("camera %s: sending a still failed: %s", self.config.id,
                        redact_text(f"{type(exc).__name__}: {exc}", self.config.url))

    def _retry(self, exc: SourceError, live_source: bool, failures: int, backoff: Backoff) -> bool:
        """Records a source fault; waits out the backoff and returns True to try again."""
        cfg = self.config
        if not exc.retryable or not live_source:
            self._give_up(exc)
            return False
        self.health.record_error(str(exc))
        if cfg.max_reconnects is not None and failures > cfg.max_reconnects:
            self._give_up(exc, f"gave up after {cfg.max_reconnects} reconnect attempts: ")
            return False
        delay = backoff.next_delay()
        changed = self._change_state(CameraState.RECONNECTING, exc.reason)
        (log.warning if changed else log.debug)(
            "camera %s: %s; reconnecting in %.2f s", cfg.id, exc, delay
        )
        self._stop.wait(delay)
        return True

    def _give_up(self, exc: SourceError, prefix: str = "") -> None:
        self.health.record_error(str(exc))
        log.error("camera %s failed: %s%s", self.config.id, prefix, exc)
        self._outcome = (CameraState.FAILED, prefix + exc.reason)

    def _post(self, item: object) -> None:
        """Hands an item to the event loop; wakes it only if no wake-up is pending."""
        self._inbox.append(item)
        with self._wake_lock:
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain_inbox)  # type: ignore[union-attr]
        except RuntimeError:  # the loop closed under us (actor shutting down)
            pass

    # ------------------------------------------------------------------ event loop

    def _drain_inbox(self) -> None:
        with self._wake_lock:
            self._wake_scheduled = False
        while self._inbox:
            self._offer(self._inbox.popleft())

    def _offer(self, item: object) -> None:
        if item is _END:
            self._end_seen = True
        else:
            evicted = self._pending.push(item)  # type: ignore[arg-type]
            if evicted is not None:
                self.health.add("frames_dropped")
        self._pending_ready.set()

    def _wake_all(self) -> None:
        self._pending_ready.set()
        self._buffer_space.set()

    async def _send_loop(self) -> None:
        offline = self.config.mode == "offline"
        try:
            while True:
                await self._slots.acquire()
                while not self._pending and not self._end_seen:
                    self._pending_ready.clear()
                    await self._pending_ready.wait()
                if not self._pending:
                    self._slots.release()
                    break
                item = self._pending.pop()
                if offline:
                    self._space.release()
                self._in_flight += 1
                self.health.add("frames_sent")
                self._ordered.put_nowait(asyncio.ensure_future(self._process(item)))
        finally:
            self._ordered.put_nowait(None)

    async def _forward_loop(self) -> None:
        ended = False
        held: asyncio.Future | None = None
        while not ended:
            future = held if held is not None else await self._ordered.get()
            held = None
            if future is None:
                return
            group = [future]
            # With a grouped sink, results already finished behind this one go with it.
            while (self._sink_many is not None and len(group) < self.config.in_flight_limit
                   and not self._ordered.empty()):
                nxt = self._ordered.get_nowait()
                if nxt is None:
                    ended = True
                    break
                if not nxt.done():
                    held = nxt
                    break
                group.append(nxt)
            try:
                done = [d for d in [await f for f in group] if d is not None]
                if done:
                    await self._deliver(done)
            finally:
                self._in_flight -= len(group)
                for _ in group:
                    self._slots.release()

    async def _process(self, item: _Frame) -> tuple[_Frame, FrameResult] | None:
        cfg = self.config
        if self._infer is None:
            return item, FrameResult(item.meta, None, 0.0, 0.0, 0, 0.0)
        retry = Backoff(cfg.backoff_initial_s, cfg.backoff_max_s, cfg.backoff_multiplier,
                        cfg.backoff_jitter, self._rng)
        attempts = 0
        while True:
            try:
                out = await asyncio.wait_for(self._infer_frame(item), cfg.infer_timeout_s)
                return item, FrameResult(item.meta, out.detections, out.inference_ms,
                                         out.queue_ms, out.batch_size, 0.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - counted per frame, never fatal
                malformed = isinstance(exc, InputError)
                if not malformed and cfg.mode == "offline" and attempts < cfg.infer_retries:
                    attempts += 1
                    await asyncio.sleep(retry.next_delay())
                    continue
                reason = "timed out" if isinstance(exc, TimeoutError) else (
                    f"{type(exc).__name__}: {exc}"
                )
                message = redact_text(
                    f"inference failed for frame {item.meta.frame_index}: {reason}", cfg.url
                )
                self.health.add("frames_failed")
                self.health.record_error(message)
                log.warning("camera %s: %s", cfg.id, message)
                return None

    async def _infer_frame(self, item: _Frame) -> DetectOutcome:
        """One frame through the detector: the frame, or all its tiles at once, merged.

        Each tile's request carries the tile's own width and height in its FrameMeta, so
        the detector maps boxes to tile pixels; :func:`models.tiling.merge` offsets them
        into the frame and fuses the duplicates.
        """
        assert self._infer is not None
        if item.tiles is None or item.rects is None:
            return await self._infer(item.small, item.meta)  # type: ignore[arg-type]
        outs = await asyncio.gather(*(
            self._infer(tile, dataclasses.replace(item.meta, width=r.width, height=r.height))
            for tile, r in zip(item.tiles, item.rects, strict=True)
        ))
        assert self.config.tiling is not None
        merged = merge([o.detections for o in outs], item.rects, self.config.tiling)
        return _TiledOutcome(merged, max(o.inference_ms for o in outs),
                             max(o.queue_ms for o in outs), max(o.batch_size for o in outs))

    async def _deliver(self, done: list[tuple[_Frame, FrameResult]]) -> None:
        """Forwards consecutive results in frame order (in one call with a grouped sink),
        then sends their stills and buffers them."""
        now = time.monotonic()
        results = [FrameResult(r.meta, r.detections, r.inference_ms, r.queue_ms,
                               r.batch_size, round((now - item.decoded_at) * 1000, 3))
                   for item, r in done]
        if self._sink_many is not None and len(results) > 1:
            errors = await self._forward(self._sink_many(results), results)
        elif self._sink is not None:
            errors = [(await self._forward(self._sink(r), [r]))[0] for r in results]
        else:
            errors = [None] * len(results)
        for result, error in zip(results, errors):
            if error is not None:
                self.health.add("forward_errors")
                message = redact_text(f"forwarding frame {result.meta.frame_index} failed: "
                                      f"{error}", self.config.url)
                self.health.record_error(message)
                log.warning("camera %s: %s", self.config.id, message)
        for (item, _), result in zip(done, results):
            await self._keep(item, result)

    async def _forward(self, call: Awaitable[object], results: list[FrameResult]
                       ) -> list[str | None]:
        """Awaits one downstream call for ``results``: per result, None or its error."""
        try:
            out = await asyncio.wait_for(call, self.config.forward_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - downstream faults are counted
            return [f"{type(exc).__name__}: {exc}"] * len(results)
        if len(results) > 1 and isinstance(out, Sequence) and len(out) == len(results):
            return [None if e is None else str(e) for e in out]
        return [None] * len(results)

    async def _keep(self, item: _Frame, result: FrameResult) -> None:
        """After forwarding: the frame's still, the result buffer and the counters."""
        cfg = self.config
        latency_ms = result.latency_ms
        if item.still is not None and result.detections is not None:
            await self._send_still(item, result.detections)
        buffer = self._results
        if buffer is not None:
            if self._sink is None and cfg.mode == "offline":
                while buffer.full() and not self._stop.is_set():
                    self._buffer_space.clear()
                    await self._buffer_space.wait()
            if buffer.push(result) is not None:
                self.health.add("results_evicted")
        self.health.delivered(latency_ms)

    # ------------------------------------------------------------------ helpers

    def _gauges(self) -> dict[str, int]:
        return {
            "in_flight": self._in_flight,
            "pending": len(self._pending),
            "buffered": len(self._results) if self._results is not None else 0,
        }

    def _change_state(self, state: CameraState, reason: str = "") -> bool:
        changed = self.health.set_state(state, reason)
        if changed:
            log.info("camera %s (%s): %s%s", self.config.id, self.config.redacted_url,
                     state.value, f" ({reason})" if reason else "")
        return changed

    def _final_outcome(self) -> tuple[CameraState, str]:
        outcome = self._outcome
        if outcome is not None and outcome[0] == CameraState.FAILED:
            return outcome
        if self._stop_requested or outcome is None:
            return CameraState.STOPPED, "stop requested"
        return outcome
