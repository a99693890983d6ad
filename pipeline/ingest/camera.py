"""One camera's run loop, without Ray: decode in a thread, infer with bounded concurrency,
deliver in frame order.

::

    decode thread (Decoder)                event loop (asyncio)
    open / reconnect with backoff
    grab -> media time -> subsample  ──▶  pending buffer ──▶ sender ──▶ infer(frame, meta)
    pace (live files) -> resize           (live: newest      (≤ max_in_flight       │
                                           wins; offline:    at once)               ▼
                                           decoder waits)           forwarder (frame order)
                                                                    ──▶ deliver([DetectedFrame])
                                                                    ──▶ stills, result buffer

Results that are ready together go downstream in one ``deliver`` call, in frame order.
With ``inference.skip_static``, a frame where nothing moved since the last detected one
(:mod:`pipeline.ingest.motion`) skips the detector and goes on ``static``, holding that
frame's detections. A still (every ``stills.interval_s`` of media time) is made private
(:mod:`pipeline.privacy`) here, before it leaves the camera.

Example:
    >>> ingest = CameraIngest(CameraConfig(id="lobby", url="lobby.mp4", mode="offline"),
    ...                       spec=InputSpec(300, 300), infer=detect)      # doctest: +SKIP
    >>> stats = await ingest.run()          # until the file ends       # doctest: +SKIP
    >>> results = ingest.poll_results(100)  # DetectedFrame, in order   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

import numpy as np
import numpy.typing as npt

from models.preprocess import InputSpec
from models.tiling import InferMany, detect_tiles
from pipeline.errors import InputError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.decoder import END, Decoded, Decoder, Opener
from pipeline.ingest.health import CameraState, CameraStats, HealthTracker
from pipeline.ingest.motion import MotionGate
from pipeline.ingest.pacing import DropOldestBuffer
from pipeline.ingest.source import open_source
from pipeline.privacy import private_still
from pipeline.redact import redact_text
from pipeline.types import DetectedFrame, FrameMeta

log = logging.getLogger(__name__)

Infer = Callable[[npt.NDArray[np.uint8], FrameMeta], Awaitable[DetectedFrame]]
"""Sends one model-sized RGB frame (or tile) with its FrameMeta to the detector; only the
result's detections, times and batch size are read."""
Deliver = Callable[[list[DetectedFrame]], Awaitable["Sequence[str | None] | None"]]
"""Hands consecutive results downstream in one call, in frame order (for example to a
tracker actor); returns, per result, None or the error it met there (or None for all)."""
StillSink = Callable[[FrameMeta, npt.NDArray[np.uint8]], Awaitable[object]]
"""Receives (meta, private BGR still): people pixelated and softened unless the operator
turned blurring off."""


class CameraIngest:
    """One camera's decode, pace, infer and deliver loop (the Ray-free core of the actor).

    Args:
        config: the camera.
        spec: the model's declared input; each frame is resized to it before ``infer``.
            None skips resizing (only without a detector). May be set before :meth:`run`.
        infer: async detector call, or None to deliver metadata only.
        infer_many: async detector call for a tiled frame's tiles at once, or None (one
            ``infer`` call per tile, all at the same time).
        deliver: async downstream call with the results ready together, awaited in frame
            order, or None (results stay in the poll buffer).
        still_sink: async call receiving a private still every ``config.stills.interval_s``
            of media time (after that frame's result), or None.
        opener: opens a source for (config, kind); injectable for tests.
        rng: randomness for backoff jitter; injectable for repeatable tests.
        blur_people: make stills private (:func:`pipeline.privacy.private_still`); False
            only when the operator turned blurring off (``privacy.blur_people``).
    """

    def __init__(
        self,
        config: CameraConfig,
        spec: InputSpec | None = None,
        infer: Infer | None = None,
        deliver: Deliver | None = None,
        still_sink: StillSink | None = None,
        opener: Opener = open_source,
        rng: random.Random | None = None,
        blur_people: bool = True,
        infer_many: InferMany | None = None,
    ) -> None:
        self.config = config
        self.blur_people = blur_people
        self.spec = spec
        self._infer = infer
        self._infer_many = infer_many or (None if infer is None else _one_call_each(infer))
        self._deliver_to = deliver
        self._still_sink = still_sink
        self._rng = rng or random.Random()
        self.health = HealthTracker(config.id, config.redacted_url, config.health.fps_window_s)
        self.health.gauges = self._gauges
        self._results: DropOldestBuffer[DetectedFrame] | None = (
            DropOldestBuffer(config.inference.result_buffer) if config.inference.result_buffer
            else None)
        self._decoder = Decoder(config, self.health, self._post, opener, self._rng)
        self._running = False
        self._in_flight = 0
        self._pending: DropOldestBuffer[Decoded] = DropOldestBuffer(
            config.inference.pending_frames)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._end_seen = False
        self._pending_ready = asyncio.Event()
        self._buffer_space = asyncio.Event()
        # Decode thread -> event loop hand-off: appends are thread-safe; one wake-up is
        # scheduled per batch of items rather than per frame.
        self._inbox: deque[object] = deque()
        self._wake_lock = threading.Lock()
        self._wake_scheduled = False
        self._still_task: asyncio.Future[None] | None = None
        self._reference: tuple[int, asyncio.Future[object]] | None = None  # skip_static

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
        self._decoder.stop.set()
        if self._running and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop has nothing to wake
                self._loop.call_soon_threadsafe(self._wake_all)

    def continue_after(self, frame_index: int) -> None:
        """Before :meth:`run`: the camera's previous actor died having delivered frames up to
        ``frame_index``, which go no further (:func:`pipeline.ingest.decoder.replayable`)."""
        self._decoder.resume_after = frame_index

    def poll_results(self, max_n: int) -> list[DetectedFrame]:
        """Removes and returns up to ``max_n`` buffered results, oldest first (call from
        the event loop thread that runs :meth:`run`)."""
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
        decoder = self._decoder
        decoder.spec, decoder.tiled = self.spec, self._infer is not None
        decoder.stills = self._still_sink is not None and self._infer is not None
        decoder.gate = (MotionGate(cfg.inference.motion)
                        if cfg.inference.skip_static and self._infer is not None else None)
        self._reference = None
        decoder.space = (threading.Semaphore(cfg.inference.pending_frames)
                         if cfg.mode == "offline" else None)
        decoder.stop.clear()
        decoder.outcome = None
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._stop_requested = False
        self._end_seen = False
        self._pending_ready = asyncio.Event()
        self._buffer_space = asyncio.Event()
        self._inbox.clear()
        self._wake_scheduled = False
        self._slots = asyncio.Semaphore(cfg.in_flight_limit)
        self._ordered: asyncio.Queue[asyncio.Future[tuple[Decoded, DetectedFrame] | None]
                                     | None] = asyncio.Queue()
        decoder.change_state(CameraState.CONNECTING)
        thread = threading.Thread(target=decoder.run, name=f"decode-{cfg.id}", daemon=True)
        sender = asyncio.create_task(self._send_loop())
        forwarder = asyncio.create_task(self._forward_loop())
        thread.start()
        try:
            await asyncio.gather(sender, forwarder)
            if self._still_task is not None:  # the last still goes before the run ends
                await self._still_task
        finally:
            decoder.stop.set()
            for task in (sender, forwarder):
                task.cancel()
            await asyncio.to_thread(thread.join)
            decoder.change_state(*self._final_outcome())
            self._running = False
        return self.stats()

    # ------------------------------------------------------------------ event loop

    def _post(self, item: object) -> None:
        """Hands an item from the decode thread to the event loop; wakes it only if no
        wake-up is pending."""
        self._inbox.append(item)
        with self._wake_lock:
            if self._wake_scheduled:
                return
            self._wake_scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain_inbox)  # type: ignore[union-attr]
        except RuntimeError:  # the loop closed under us (actor shutting down)
            pass

    def _drain_inbox(self) -> None:
        with self._wake_lock:
            self._wake_scheduled = False
        while self._inbox:
            item = self._inbox.popleft()
            if item is END:
                self._end_seen = True
            elif self._pending.push(item) is not None:  # type: ignore[arg-type]
                self.health.add("frames_dropped")
            self._pending_ready.set()

    def _wake_all(self) -> None:
        self._pending_ready.set()
        self._buffer_space.set()

    async def _send_loop(self) -> None:
        space = self._decoder.space
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
                if space is not None:
                    space.release()
                self._in_flight += 1
                self._ordered.put_nowait(self._schedule(item))
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
            try:
                # The oldest first; those finished behind it by then go with it, in one call.
                await asyncio.wait((future,))
                while len(group) < self.config.in_flight_limit and not self._ordered.empty():
                    nxt = self._ordered.get_nowait()
                    if nxt is None:
                        ended = True
                        break
                    if not nxt.done():
                        held = nxt
                        break
                    group.append(nxt)
                done = [d for d in [await f for f in group] if d is not None]
                if done:
                    await self._deliver(done)
            finally:
                self._in_flight -= len(group)
                for _ in group:
                    self._slots.release()

    def _schedule(self, item: Decoded) -> asyncio.Future[tuple[Decoded, DetectedFrame] | None]:
        """Starts one frame's way to its result: held when the motion gate found it static
        and its reference was sent, else through the detector."""
        ref, gate = self._reference, self._decoder.gate
        if item.held_from is not None and ref is not None and ref[0] == item.held_from:
            return asyncio.ensure_future(self._hold(item, ref[1]))
        if item.held_from is not None and gate is not None:
            gate.invalidate()  # its reference was dropped (live overload): start afresh
        future = asyncio.ensure_future(self._process(item))
        if gate is not None:
            self._reference = (item.meta.frame_index, future)
        return future

    async def _hold(self, item: Decoded, reference: asyncio.Future[object]
                    ) -> tuple[Decoded, DetectedFrame] | None:
        """A static frame: its reference frame's result, with this frame's meta and
        ``static=True``. When the reference failed, this frame goes to the detector."""
        done = await asyncio.shield(reference)
        if done is None:
            if self._decoder.gate is not None:
                self._decoder.gate.invalidate()
            return await self._process(item)
        self.health.add("frames_held")
        _, result = done  # type: ignore[misc]
        return item, dataclasses.replace(result, meta=item.meta, static=True, inference_ms=0.0,
                                         queue_ms=0.0, batch_size=0)

    async def _process(self, item: Decoded) -> tuple[Decoded, DetectedFrame] | None:
        self.health.add("frames_sent")
        cfg = self.config
        if self._infer is None:
            return item, DetectedFrame(item.meta, None)
        retry = cfg.reconnect.backoff(self._rng)
        attempts = 0
        while True:
            try:
                async with asyncio.timeout(cfg.inference.timeout_s):  # no task per frame
                    return item, await self._infer_frame(item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - counted per frame, never fatal
                malformed = isinstance(exc, InputError)
                if not malformed and cfg.mode == "offline" and attempts < cfg.inference.retries:
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

    async def _infer_frame(self, item: Decoded) -> DetectedFrame:
        """One frame through the detector: the frame, or all its tiles at once, merged."""
        if item.tiles is None or item.rects is None:
            return await self._infer(item.small, item.meta)  # type: ignore[arg-type,misc]
        tiling = self.config.inference.tiling_for(item.meta.width, item.meta.height)
        assert tiling is not None and self._infer_many is not None
        return await detect_tiles(self._infer_many, item.tiles, item.rects, item.meta, tiling)

    async def _deliver(self, done: list[tuple[Decoded, DetectedFrame]]) -> None:
        """Forwards consecutive results in frame order in one call, then sends their
        stills and buffers them."""
        now = time.monotonic()
        results = [dataclasses.replace(r, meta=item.meta,
                                       latency_ms=round((now - item.decoded_at) * 1000, 3))
                   for item, r in done]
        errors = await self._forward(results) if self._deliver_to else [None] * len(results)
        for result, error in zip(results, errors):
            if error is not None:
                self.health.add("forward_errors")
                message = redact_text(f"forwarding frame {result.meta.frame_index} failed: "
                                      f"{error}", self.config.url)
                self.health.record_error(message)
                log.warning("camera %s: %s", self.config.id, message)
        for (item, _), result in zip(done, results):
            await self._keep(item, result)

    async def _forward(self, results: list[DetectedFrame]) -> list[str | None]:
        """Awaits one downstream call for ``results``: per result, None or its error."""
        assert self._deliver_to is not None
        try:
            out = await asyncio.wait_for(self._deliver_to(results),
                                         self.config.inference.forward_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - downstream faults are counted
            return [f"{type(exc).__name__}: {exc}"] * len(results)
        if isinstance(out, Sequence) and len(out) == len(results):
            return [None if e is None else str(e) for e in out]
        return [None] * len(results)

    async def _keep(self, item: Decoded, result: DetectedFrame) -> None:
        """After forwarding: the frame's still, the result buffer and the counters."""
        if item.still is not None and result.detections is not None:
            self._send_still(item, result.detections.boxes)
        buffer = self._results
        if buffer is not None:
            if self._deliver_to is None and self.config.mode == "offline":
                while buffer.full() and not self._decoder.stop.is_set():
                    self._buffer_space.clear()
                    await self._buffer_space.wait()
            if buffer.push(result) is not None:
                self.health.add("results_evicted")
        self.health.delivered(result.latency_ms)

    def _send_still(self, item: Decoded, boxes: npt.NDArray[np.float32]) -> None:
        """Makes the frame's still private (unless blurring is off) and hands it over in the
        background, so that delivery never waits for the still's receiver; one still at a
        time (the next is skipped while one is still on its way)."""
        assert item.still is not None and self._still_sink is not None
        still, item.still = item.still, None
        if self._still_task is not None and not self._still_task.done():
            log.debug("camera %s: a still is still on its way; skipping one", self.config.id)
            return
        if self.blur_people:
            scale = still.shape[1] / item.meta.width
            still = private_still(still, boxes * scale, self.config.stills.blur_sigma_px)
        self._still_task = asyncio.ensure_future(self._hand_over_still(item.meta, still))

    async def _hand_over_still(self, meta: FrameMeta, still: npt.NDArray[np.uint8]) -> None:
        assert self._still_sink is not None
        try:
            await asyncio.wait_for(self._still_sink(meta, still),
                                   self.config.inference.forward_timeout_s)
        except Exception as exc:  # noqa: BLE001 - a lost still never stops the camera
            self.health.add("forward_errors")
            log.warning("camera %s: sending a still failed: %s", self.config.id,
                        redact_text(f"{type(exc).__name__}: {exc}", self.config.url))

    # ------------------------------------------------------------------ helpers

    def _gauges(self) -> dict[str, int]:
        return {"in_flight": self._in_flight, "pending": len(self._pending),
                "buffered": len(self._results) if self._results is not None else 0}

    def _final_outcome(self) -> tuple[CameraState, str]:
        outcome = self._decoder.outcome
        if outcome is not None and outcome[0] == CameraState.FAILED:
            return outcome
        if self._stop_requested or outcome is None:
            return CameraState.STOPPED, "stop requested"
        return outcome


def _one_call_each(infer: Infer) -> InferMany:
    """An :data:`InferMany` that sends each image in its own ``infer`` call, all at once."""
    async def many(frames: list[npt.NDArray[np.uint8]], metas: list[FrameMeta]
                   ) -> list[DetectedFrame]:
        return list(await asyncio.gather(
            *(infer(f, m) for f, m in zip(frames, metas, strict=True))))
    return many
