"""The camera's decode thread: open and reconnect, grab, stamp, subsample, pace, resize.

Blocking OpenCV work runs here, off the event loop of :class:`~pipeline.ingest.camera.
CameraIngest`. Each kept frame is resized to the model's input (or cut into tiles) in this
thread and handed over as a :class:`Decoded`; the full-resolution frame goes no further.
A source fault never raises out of :meth:`Decoder.run`: it becomes a ``reconnecting`` or
``failed`` state with the reason.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.preprocess import InputSpec, prepare_frame
from models.tiling import TileRect, plan_tiles, prepare_tiles
from pipeline.backoff import Backoff
from pipeline.errors import SourceError, StreamError
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.frame_geometry import check_frame_geometry
from pipeline.ingest.health import CameraState, HealthTracker
from pipeline.ingest.motion import MotionGate
from pipeline.ingest.pacing import FrameSubsampler, LivePacer, MediaClock
from pipeline.ingest.source import LIVE_KINDS, FrameSource, open_source, resolve_kind
from pipeline.privacy import downscale
from pipeline.redact import redact_text
from pipeline.types import FrameMeta

log = logging.getLogger(__name__)

STOP_POLL_S = 0.1
"""How often a blocked offline decoder re-checks for stop while waiting for space (s)."""

END = object()
"""Posted after the last frame: the decoder has finished."""

Opener = Callable[[CameraConfig, str], FrameSource]


def stream_timed(config: CameraConfig, kind: str) -> bool:
    """True if frames of a ``kind`` source take their media time from the stream's own
    timestamps (``source.pts``), not from the wall clock."""
    return config.source.pts == "stream" or (
        config.source.pts == "auto" and kind in ("file", "images", "rtsp"))


def replayable(config: CameraConfig) -> bool:
    """True if reading the camera's source again gives the same frames at the same media
    times: a file or image folder timed by its own timestamps. A re-created actor of such
    a camera goes on after the last frame its tracker got (``Decoder.resume_after``):
    offline exactly where the dead one stopped, live after the outage."""
    try:
        kind = resolve_kind(config)
    except SourceError:
        return False
    return kind in ("file", "images") and stream_timed(config, kind)


@dataclass
class Decoded:
    """One kept frame, on its way from the decode thread to the detector.

    Attributes:
        small: (h, w, 3) uint8 RGB at the model's input size, or None (tiling on, or no
            model to resize for).
        meta: the frame's origin and media time.
        decoded_at: ``time.monotonic()`` when it was captured (latency counts from here).
        still: a downscaled BGR copy when a still is due, not yet made private.
        tiles: model-sized tiles (tiling on), and ``rects``, where each lies in the frame.
        held_from: with ``skip_static``, the frame_index of the last detected frame when
            nothing moved since it (this frame may hold its detections); None: detect.
    """

    small: npt.NDArray[np.uint8] | None
    meta: FrameMeta
    decoded_at: float
    still: npt.NDArray[np.uint8] | None = None
    tiles: list[npt.NDArray[np.uint8]] | None = None
    rects: list[TileRect] | None = None
    held_from: int | None = None


class Decoder:
    """Decodes one camera's source in a thread until it ends, fails for good, or stops.

    Args:
        config: the camera.
        health: the camera's state machine and counters (shared with the event loop).
        post: hands a :class:`Decoded` (or :data:`END`) to the event loop; thread-safe.
        opener: opens a source for (config, kind); injectable for tests.
        rng: randomness for backoff jitter.

    Attributes set by the owner before :meth:`run`: ``spec`` (resize target, or None),
    ``tiled`` (cut frames into tiles), ``stills`` (keep stills), ``space`` (offline
    backpressure: one permit per frame the event loop can take), ``gate`` (the motion
    test of ``skip_static``, or None), ``resume_after`` (a :func:`replayable` source read
    again after its previous actor died: frames up to this index were delivered by it;
    they are timed and subsampled as before, and go no further).
    """

    def __init__(self, config: CameraConfig, health: HealthTracker,
                 post: Callable[[object], None], opener: Opener = open_source,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.health = health
        self._post = post
        self._opener = opener
        self._rng = rng or random.Random()
        self.spec: InputSpec | None = None
        self.tiled = False
        self.stills = False
        self.space: threading.Semaphore | None = None
        self.resume_after = -1
        self.stop = threading.Event()
        self.outcome: tuple[CameraState, str] | None = None
        # Media time and frame numbering continue across restarts of the same camera.
        self._clock = MediaClock()
        self._frame_index = 0
        self._next_still_pts: float | None = None
        # frame size the pixel geometry was checked against; None after the first frame
        self._checked_size: tuple[int, int] | None = (0, 0)
        self.gate: MotionGate | None = None

    def run(self) -> None:
        """The thread's body: decodes until the end, then posts :data:`END`."""
        try:
            self._decode_loop()
        except Exception as exc:  # a bug must end this camera visibly, not silently
            message = redact_text(f"internal error: {type(exc).__name__}: {exc}", self.config.url)
            log.error("camera %s: %s\n%s", self.config.id, message,
                      redact_text(traceback.format_exc(), self.config.url))
            self.health.record_error(message)
            self.outcome = (CameraState.FAILED, message)
        finally:
            self._post(END)

    def change_state(self, state: CameraState, reason: str = "") -> bool:
        """Moves the camera to ``state`` (logged with the reason when it changes)."""
        changed = self.health.set_state(state, reason)
        if changed:
            log.info("camera %s (%s): %s%s", self.config.id, self.config.redacted_url,
                     state.value, f" ({reason})" if reason else "")
        return changed

    def _decode_loop(self) -> None:
        cfg = self.config
        try:
            kind = resolve_kind(cfg)
        except SourceError as exc:
            self._give_up(exc)
            return
        self.health.kind = kind
        live_source = kind in LIVE_KINDS
        use_stream = stream_timed(cfg, kind)
        backoff = cfg.reconnect.backoff(self._rng)
        subsampler = FrameSubsampler(cfg.target_fps)
        pacer = LivePacer(cfg.source.max_lag_s) if cfg.mode == "live" and not live_source else None
        failures = 0
        recovering = False
        while not self.stop.is_set():
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
                if self._checked_size is not None:  # before the camera's first frame
                    check_frame_geometry(cfg, kind, info.width, info.height)
                    self._checked_size = (info.width, info.height)
                self.health.source_fps = info.fps
                self._clock.start_session(info.fps, live_source, use_stream)
                if self.gate is not None:
                    self.gate.reset()
                first = True
                while True:
                    if self.stop.is_set():
                        return
                    if not source.grab():
                        if live_source:  # a camera never ends; treat it as a drop
                            raise StreamError(cfg.id, kind, cfg.redacted_url, "stream ended")
                        break  # the file ended
                    wall, mono = time.time(), time.monotonic()
                    if first:
                        first, recovering, failures = False, False, 0
                        backoff.reset()
                        self.change_state(CameraState.STREAMING)
                    if self._frame_index <= self.resume_after:
                        if self._pass_delivered(source, wall, subsampler, use_stream):
                            return
                        continue
                    self.health.decoded()
                    if self._handle_frame(source, wall, mono, subsampler, pacer, use_stream):
                        return
                if not cfg.source.loop:
                    self.outcome = (CameraState.ENDED, "end of file")
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
        done = self._count_frame()
        if not subsampler.keep(pts):
            self.health.add("frames_skipped")
            return done
        if pacer is not None:
            wait = pacer.delay(pts, mono)
            if wait > 0:
                if self.stop.wait(wait):
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
        if self._checked_size is not None and (width, height) != self._checked_size:
            # undeclared at open: checked on the first frame (the grid its tracking lane
            # keeps: a later size is scaled to it, see CameraLane)
            check_frame_geometry(cfg, self.health.kind or "", width, height)
        self._checked_size = None
        self.health.width, self.health.height = width, height
        tiles = rects = None
        small = None
        tiling = cfg.inference.tiling_for(width, height) if self.tiled else None
        if self.spec is not None and tiling is not None:
            rects = plan_tiles(width, height, tiling)
            tiles = prepare_tiles(frame, self.spec, rects)
        elif self.spec is not None:
            small = prepare_frame(frame, self.spec)[0]
        still = self._take_still(frame, pts)
        held_from = self.gate.check(frame, pts, index) if self.gate is not None else None
        del frame  # the full-resolution frame goes no further
        item = Decoded(small, FrameMeta(cfg.id, index, pts, wall, width, height), mono, still,
                       tiles, rects, held_from)
        if self.space is not None:
            while not self.space.acquire(timeout=STOP_POLL_S):
                if self.stop.is_set():
                    return True
        self._post(item)
        return done

    def _pass_delivered(self, source: FrameSource, wall: float, subsampler: FrameSubsampler,
                        use_stream: bool) -> bool:
        """Steps past a grabbed frame that the camera's previous actor delivered: its media
        time goes through the clock and the subsampler, as it did then. Returns True when
        it was the last of ``max_frames``."""
        position = source.position_s() if use_stream else None
        subsampler.keep(self._clock.stamp(position, wall)[0])
        return self._count_frame()

    def _count_frame(self) -> bool:
        """Numbers a grabbed frame; True (and the camera's outcome set) when it is the last
        of ``source.max_frames``."""
        self._frame_index += 1
        max_frames = self.config.source.max_frames
        if max_frames is None or self._frame_index < max_frames:
            return False
        self.outcome = (CameraState.ENDED, f"max_frames ({max_frames}) reached")
        return True

    def _take_still(self, frame: npt.NDArray[np.uint8], pts: float) -> npt.NDArray[np.uint8] | None:
        """A downscaled copy of ``frame`` when a still is due at media time ``pts``."""
        interval = self.config.stills.interval_s
        if not self.stills or interval is None:
            return None
        if self._next_still_pts is not None and pts < self._next_still_pts:
            return None
        self._next_still_pts = pts + interval
        return downscale(frame, self.config.stills.max_side)

    def _retry(self, exc: SourceError, live_source: bool, failures: int, backoff: Backoff) -> bool:
        """Records a source fault; waits out the backoff and returns True to try again."""
        cfg = self.config
        if not exc.retryable or not live_source:
            self._give_up(exc)
            return False
        self.health.record_error(str(exc))
        if cfg.reconnect.max_attempts is not None and failures > cfg.reconnect.max_attempts:
            self._give_up(exc, f"gave up after {cfg.reconnect.max_attempts} reconnect attempts: ")
            return False
        delay = backoff.next_delay()
        changed = self.change_state(CameraState.RECONNECTING, exc.reason)
        (log.warning if changed else log.debug)(
            "camera %s: %s; reconnecting in %.2f s", cfg.id, exc, delay
        )
        self.stop.wait(delay)
        return True

    def _give_up(self, exc: SourceError, prefix: str = "") -> None:
        self.health.record_error(str(exc))
        log.error("camera %s failed: %s%s", self.config.id, prefix, exc)
        self.outcome = (CameraState.FAILED, prefix + exc.reason)
