"""A camera's health: its state machine, counters and current frame rates.

States:

    idle ──start──▶ connecting ──first frame──▶ streaming ──file ends──▶ ended
                        │   ╲                      │
          retryable     │    ╲ not retryable       │ drop / stall / read error
          open failure  ▼     ▼                    ▼
                  reconnecting ──────────────▶ failed (max_reconnects reached)
                        │ ▲
                        └─┘ attempts with backoff; first frame again ──▶ streaming

``stop()`` leads from any running state to ``stopped``; ``ended``, ``failed`` and
``stopped`` are terminal until the camera is started again (``connecting``).

:class:`HealthTracker` is thread-safe: the decoding thread and the event loop both update
it, and ``snapshot()`` can be read at any time. Its memory is bounded.

Example:
    >>> h = HealthTracker("door", clock=lambda: 100.0)
    >>> h.set_state(CameraState.CONNECTING), h.set_state(CameraState.STREAMING)
    (True, True)
    >>> h.add("frames_decoded", 3); h.snapshot().frames_decoded
    3
    >>> h.set_state(CameraState.IDLE)
    Traceback (most recent call last):
    ...
    pipeline.errors.StateTransitionError: camera 'door' cannot go from streaming to idle
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from pipeline.errors import StateTransitionError


class CameraState(StrEnum):
    """Where a camera is in its life cycle (see the module docstring for transitions)."""

    IDLE = "idle"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def terminal(self) -> bool:
        """True for states a camera stays in until it is started again."""
        return self in (CameraState.ENDED, CameraState.FAILED, CameraState.STOPPED)


_S = CameraState
ALLOWED_TRANSITIONS: dict[CameraState, frozenset[CameraState]] = {
    _S.IDLE: frozenset({_S.CONNECTING, _S.STOPPED}),
    _S.CONNECTING: frozenset({_S.STREAMING, _S.RECONNECTING, _S.ENDED, _S.FAILED, _S.STOPPED}),
    _S.STREAMING: frozenset({_S.RECONNECTING, _S.ENDED, _S.FAILED, _S.STOPPED}),
    _S.RECONNECTING: frozenset({_S.STREAMING, _S.FAILED, _S.STOPPED}),
    _S.ENDED: frozenset({_S.CONNECTING}),
    _S.FAILED: frozenset({_S.CONNECTING}),
    _S.STOPPED: frozenset({_S.CONNECTING}),
}
"""State -> states it may move to. Staying in the same state is always allowed."""

COUNTERS = (
    "frames_decoded",    # frames read from the source, before subsampling
    "frames_skipped",    # left out on purpose by target_fps subsampling
    "frames_dropped",    # lost to overload in live mode (newest frame wins)
    "frames_sent",       # sent to the detector (or to the consumer without a detector)
    "frames_held",       # skip_static: nothing moved, the last detections were held
    "frames_delivered",  # results handed to the downstream actor or the result buffer
    "frames_failed",     # inference failed for the frame (malformed, or after retries)
    "results_evicted",   # results pushed out of a full result buffer, unread
    "forward_errors",    # calls to the downstream actor that failed or timed out
    "reconnects",        # attempts to reopen a source after a fault
    "loops",             # times a looping file started again
    "pts_fallbacks",     # frames whose stream timestamp was unusable and was replaced
)


LATENCY_SAMPLES = 2048
"""Recent decode-to-delivery latencies kept per camera for percentiles (bounded)."""


def _percentile(samples: deque[float], q: float) -> float:
    """The ``q``-th percentile of ``samples`` (ms, 3 decimals), 0 when there are none."""
    if not samples:
        return 0.0
    return round(float(np.percentile(np.fromiter(samples, float, len(samples)), q)), 3)


class RateMeter:
    """Events per second over a sliding window of wall time, in bounded memory.

    Args:
        window_s: how far back events count (seconds).
        max_samples: most timestamps kept; at rates above ``max_samples / window_s`` the
            effective window shortens, the estimate stays right.
    """

    def __init__(self, window_s: float, max_samples: int = 1024) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=max_samples)

    def record(self, t: float) -> None:
        """Records one event at wall time ``t`` (seconds)."""
        self._times.append(t)

    def rate(self, now: float) -> float:
        """Events per second in the window ending at ``now``; 0 when fewer than two."""
        times = self._times
        while times and times[0] < now - self.window_s:
            times.popleft()
        if len(times) < 2:
            return 0.0
        span = times[-1] - times[0]
        return (len(times) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class CameraHealth:
    """A camera's state and the reason for it (what an operator looks at first).

    Attributes:
        camera_id: the camera's id.
        url: the source URL, credentials redacted.
        kind: the source kind (``file``, ``rtsp``, ``http``, ``usb``, ``images``), or
            ``unknown`` when it could not be resolved.
        state: the current :class:`CameraState` value.
        reason: why the camera is in this state (empty while streaming normally).
        state_since: wall time the state was entered (seconds since the epoch).
        last_error: the most recent fault, credentials redacted; empty if none.
        last_error_at: wall time of ``last_error`` (seconds since the epoch), or 0.
        reconnects: attempts to reopen the source after a fault.
        fps: frames decoded per second over the last ``fps_window_s``.
    """

    camera_id: str
    url: str
    kind: str
    state: str
    reason: str
    state_since: float
    last_error: str
    last_error_at: float
    reconnects: int
    fps: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        return asdict(self)


@dataclass(frozen=True)
class CameraStats(CameraHealth):
    """Health plus every counter and the flow's current shape.

    Attributes:
        frames_decoded, frames_skipped, frames_dropped, frames_sent, frames_held,
        frames_delivered,
        frames_failed, results_evicted, forward_errors, loops, pts_fallbacks: counters
            (see ``COUNTERS`` in this module).
        delivered_fps: results delivered per second over the last ``fps_window_s``.
        in_flight: frames at the detector or being forwarded now.
        pending: decoded frames waiting for an in-flight slot now.
        buffered: results waiting in the poll buffer now.
        latency_ms: moving average of decode-to-delivery time (ms).
        latency_p50_ms: median decode-to-delivery time of the last ``LATENCY_SAMPLES``
            results (ms).
        latency_p95_ms: their 95th percentile (ms).
        source_fps: the source's declared or configured frame rate (0 if unknown).
        width: frame width of the open source in pixels (0 before the first frame).
        height: frame height of the open source in pixels (0 before the first frame).
    """

    frames_decoded: int = 0
    frames_skipped: int = 0
    frames_dropped: int = 0
    frames_sent: int = 0
    frames_held: int = 0
    frames_delivered: int = 0
    frames_failed: int = 0
    results_evicted: int = 0
    forward_errors: int = 0
    loops: int = 0
    pts_fallbacks: int = 0
    delivered_fps: float = 0.0
    in_flight: int = 0
    pending: int = 0
    buffered: int = 0
    latency_ms: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    source_fps: float = 0.0
    width: int = 0
    height: int = 0

    def health(self) -> CameraHealth:
        """The :class:`CameraHealth` part of these stats."""
        return CameraHealth(**{k: getattr(self, k) for k in CameraHealth.__dataclass_fields__})


class HealthTracker:
    """Thread-safe state, counters and rates of one camera.

    Args:
        camera_id: the camera's id.
        url: the source URL, already redacted.
        fps_window_s: window of the fps estimates (seconds).
        clock: wall-clock function (seconds since the epoch); injectable for tests.
        latency_alpha: weight of the newest sample in the latency moving average (0..1].
    """

    def __init__(
        self,
        camera_id: str,
        url: str = "",
        fps_window_s: float = 2.0,
        clock: Callable[[], float] = time.time,
        latency_alpha: float = 0.1,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.kind = "unknown"
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CameraState.IDLE
        self._reason = ""
        self._state_since = clock()
        self._last_error = ""
        self._last_error_at = 0.0
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._decoded = RateMeter(fps_window_s)
        self._delivered = RateMeter(fps_window_s)
        self._latency_ms = 0.0
        self._latency_alpha = latency_alpha
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.source_fps = 0.0
        self.width = 0
        self.height = 0
        self.gauges: Callable[[], dict[str, int]] = lambda: {}

    @property
    def state(self) -> CameraState:
        """The current state."""
        return self._state

    def set_state(self, state: CameraState, reason: str = "") -> bool:
        """Moves to ``state``; returns True if the state changed.

        Raises:
            StateTransitionError: the transition is not in ``ALLOWED_TRANSITIONS``.
        """
        with self._lock:
            if state == self._state:
                if reason:
                    self._reason = reason
                return False
            if state not in ALLOWED_TRANSITIONS[self._state]:
                raise StateTransitionError(self.camera_id, self._state.value, state.value)
            self._state = state
            self._reason = reason
            self._state_since = self._clock()
            return True

    def record_error(self, message: str) -> None:
        """Stores ``message`` (already redacted) as the last error."""
        with self._lock:
            self._last_error = message
            self._last_error_at = self._clock()

    def add(self, counter: str, n: int = 1) -> None:
        """Adds ``n`` to one of ``COUNTERS``."""
        with self._lock:
            self._counters[counter] += n

    def decoded(self, now: float | None = None) -> None:
        """Counts one decoded frame and feeds the decode fps meter."""
        with self._lock:
            self._counters["frames_decoded"] += 1
            self._decoded.record(self._clock() if now is None else now)

    def delivered(self, latency_ms: float, now: float | None = None) -> None:
        """Counts one delivered result and its decode-to-delivery latency (ms)."""
        with self._lock:
            self._counters["frames_delivered"] += 1
            self._delivered.record(self._clock() if now is None else now)
            self._latencies.append(latency_ms)
            a = self._latency_alpha
            self._latency_ms = latency_ms if self._latency_ms == 0 else (
                a * latency_ms + (1 - a) * self._latency_ms
            )

    def counter(self, name: str) -> int:
        """The current value of one of ``COUNTERS``."""
        with self._lock:
            return self._counters[name]

    def snapshot(self) -> CameraStats:
        """A consistent copy of state, counters and rates."""
        gauges = self.gauges()
        with self._lock:
            now = self._clock()
            return CameraStats(
                camera_id=self.camera_id, url=self.url, kind=self.kind,
                state=self._state.value, reason=self._reason,
                state_since=self._state_since, last_error=self._last_error,
                last_error_at=self._last_error_at,
                fps=round(self._decoded.rate(now), 3),
                delivered_fps=round(self._delivered.rate(now), 3),
                latency_ms=round(self._latency_ms, 3),
                latency_p50_ms=_percentile(self._latencies, 50),
                latency_p95_ms=_percentile(self._latencies, 95),
                source_fps=self.source_fps, width=self.width, height=self.height,
                **self._counters, **gauges,
            )
