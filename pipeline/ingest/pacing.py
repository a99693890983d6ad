"""Media time for a camera: timestamps, subsampling, live pacing and newest-wins buffering.

Everything here works on media time (seconds of the stream) handed in as arguments; wall
time is an argument too, so every class is deterministic under test.

- :class:`MediaClock` turns each connection's stream positions into one increasing media
  timeline for the camera, across reconnects and file loops.
- :class:`FrameSubsampler` keeps at most ``target_fps`` frames per second of media time.
- :class:`LivePacer` says how long to wait so a file plays at its own frame rate.
- :class:`DropOldestBuffer` is a bounded buffer in which the newest item wins.

Example:
    >>> sub = FrameSubsampler(target_fps=10)
    >>> [i for i in range(30) if sub.keep(i / 30)]  # 30 fps source -> every third frame
    [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]
"""

from __future__ import annotations

import math
from collections import deque
from typing import Generic, TypeVar

from pipeline.errors import ConfigError

T = TypeVar("T")


class MediaClock:
    """One increasing media timeline (seconds) per camera, built from stream positions.

    Each open of the source is a *session*. Within a session, a frame's media time is its
    stream position relative to the session's first frame (``stream``), the wall time since
    the session's first frame (``wall``), or ``index / fps`` when a file's position is
    unusable. Sessions are chained: a reconnected live stream continues after the outage
    (the gap is the wall time that passed), a looping file continues one frame period after
    its last frame. Timestamps always increase by at least ``min_step_s``.

    Args:
        min_step_s: least increase between consecutive timestamps (seconds).
        stall_limit: a live stream whose position fails to advance this many frames in a
            row is switched to wall time for the rest of the session.

    Example:
        >>> clock = MediaClock()
        >>> clock.start_session(fps=10, live=False, use_stream=True)
        >>> [clock.stamp(p, wall_s=0)[0] for p in (0.0, 0.1, 0.2)]
        [0.0, 0.1, 0.2]
        >>> clock.start_session(fps=10, live=False, use_stream=True)   # the file loops
        >>> round(clock.stamp(0.0, wall_s=0)[0], 6)
        0.3
    """

    def __init__(self, min_step_s: float = 0.001, stall_limit: int = 3) -> None:
        self.min_step_s = min_step_s
        self.stall_limit = stall_limit
        self.last_pts: float | None = None
        self._last_wall = 0.0
        self._fps = 25.0
        self._live = False
        self._use_stream = True
        self._offset: float | None = None
        self._base_pos = 0.0
        self._base_wall = 0.0
        self._index = 0
        self._last_rel = -math.inf
        self._stalled = 0

    def start_session(self, fps: float, live: bool, use_stream: bool) -> None:
        """Begins a new session (a new open of the source).

        Args:
            fps: the source's frame rate (frames/s), for the index fallback and file loops.
            live: True for cameras (gaps are wall time), False for files.
            use_stream: use the stream's positions; False: wall time (live) or index/fps.
        """
        self._fps = fps if fps and fps > 0 else 25.0
        self._live = live
        self._use_stream = use_stream
        self._offset = None
        self._index = 0
        self._last_rel = -math.inf
        self._stalled = 0

    @property
    def uses_stream(self) -> bool:
        """Whether this session currently takes the stream's positions."""
        return self._use_stream

    def stamp(self, pos_s: float | None, wall_s: float) -> tuple[float, bool]:
        """Media time of the session's next frame.

        Args:
            pos_s: the frame's stream position (seconds), or None / NaN / negative if the
                source gave none.
            wall_s: the wall time the frame was captured (seconds, any fixed origin).

        Returns:
            (media time in seconds, True if the stream position was unusable and replaced).
        """
        first = self._offset is None
        if first:
            if self.last_pts is None:
                self._offset = 0.0
            elif self._live:
                self._offset = self.last_pts + max(wall_s - self._last_wall, self.min_step_s)
            else:
                self._offset = self.last_pts + 1.0 / self._fps
            self._base_wall = wall_s
        usable = pos_s is not None and math.isfinite(pos_s) and pos_s >= 0
        fell_back = False
        if self._use_stream and usable:
            if first:
                self._base_pos = pos_s  # type: ignore[assignment]
            rel = pos_s - self._base_pos  # type: ignore[operator]
            if rel <= self._last_rel and not first:
                fell_back = True
                self._stalled += 1
                if self._live and self._stalled >= self.stall_limit:
                    # Timestamps stopped advancing: continue on wall time from here.
                    self._use_stream = False
                    self._base_wall = wall_s - max(self._last_rel, 0.0)
            else:
                self._stalled = 0
        elif self._live:
            rel = wall_s - self._base_wall
            fell_back = self._use_stream  # wanted the stream's position, had none
        else:
            rel = self._index / self._fps
            fell_back = self._use_stream
        self._last_rel = max(rel, self._last_rel)
        pts = self._offset + rel  # type: ignore[operator]
        if self.last_pts is not None and pts < self.last_pts + self.min_step_s:
            pts = self.last_pts + self.min_step_s
        self.last_pts = pts
        self._last_wall = wall_s
        self._index += 1
        return pts, fell_back


class FrameSubsampler:
    """Keeps at most ``target_fps`` frames per second of media time.

    A frame is kept when its media time reaches the next due time (within
    ``tolerance_s``, which absorbs rounding in timestamps such as 83.33 ms); the due time
    then advances by one period, or restarts from the frame when the stream skipped ahead.
    Dropping is by media time, so a file replayed at any speed keeps the same frames.

    Args:
        target_fps: frames per second to keep (> 0), or None to keep every frame.
        tolerance_s: how early (seconds) a frame may come and still count as due.
    """

    def __init__(self, target_fps: float | None, tolerance_s: float = 0.001) -> None:
        if target_fps is not None and not target_fps > 0:
            raise ConfigError(f"must be > 0, got {target_fps}", "target_fps")
        self.period_s = 1.0 / target_fps if target_fps else 0.0
        self.tolerance_s = tolerance_s
        self._due: float | None = None

    def keep(self, pts_s: float) -> bool:
        """True if the frame at media time ``pts_s`` (seconds) is kept."""
        if not self.period_s:
            return True
        if self._due is not None and pts_s < self._due - self.tolerance_s:
            return False
        if self._due is None or pts_s - self._due >= self.period_s:
            self._due = pts_s + self.period_s
        else:
            self._due += self.period_s
        return True


class LivePacer:
    """Wall-time waits that make a file play at its own frame rate (live mode).

    The first frame anchors media time to wall time; each later frame is due at
    ``anchor_wall + (pts - anchor_pts)``. When decoding falls more than ``max_lag_s``
    behind (or a timestamp jumps that far ahead), the pacer re-anchors instead of rushing
    through a backlog or sleeping through a gap.

    Args:
        max_lag_s: largest tolerated lag or jump before re-anchoring (seconds).

    Example:
        >>> p = LivePacer(max_lag_s=1.0)
        >>> p.delay(pts_s=0.0, wall_s=100.0), p.delay(pts_s=0.5, wall_s=100.2)
        (0.0, 0.3)
    """

    def __init__(self, max_lag_s: float) -> None:
        self.max_lag_s = max_lag_s
        self._anchor: tuple[float, float] | None = None
        self.resyncs = 0

    def delay(self, pts_s: float, wall_s: float) -> float:
        """Seconds to wait before the frame at media time ``pts_s`` is due (>= 0).

        Args:
            pts_s: the frame's media time (seconds).
            wall_s: the current wall (monotonic) time (seconds).
        """
        if self._anchor is None:
            self._anchor = (wall_s, pts_s)
            return 0.0
        anchor_wall, anchor_pts = self._anchor
        wait = anchor_wall + (pts_s - anchor_pts) - wall_s
        if abs(wait) > self.max_lag_s:
            self._anchor = (wall_s, pts_s)
            self.resyncs += 1
            return 0.0
        return round(max(wait, 0.0), 9)

    def reset(self) -> None:
        """Forgets the anchor; the next frame is due at once."""
        self._anchor = None


class DropOldestBuffer(Generic[T]):
    """A bounded FIFO in which a push into a full buffer evicts the oldest item.

    With ``capacity=1`` the newest item always wins. Not thread-safe: use it from one
    thread (the camera's event loop).

    Args:
        capacity: most items held (>= 1).

    Example:
        >>> buf = DropOldestBuffer[int](capacity=2)
        >>> [buf.push(i) for i in range(4)]
        [None, None, 0, 1]
        >>> buf.pop_many(10)
        [2, 3]
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ConfigError(f"must be >= 1, got {capacity}", "capacity")
        self.capacity = capacity
        self._items: deque[T] = deque()

    def push(self, item: T) -> T | None:
        """Appends ``item``; returns the evicted oldest item when the buffer was full."""
        evicted = self._items.popleft() if len(self._items) >= self.capacity else None
        self._items.append(item)
        return evicted

    def pop(self) -> T:
        """Removes and returns the oldest item (IndexError when empty)."""
        return self._items.popleft()

    def pop_many(self, max_n: int) -> list[T]:
        """Removes and returns up to ``max_n`` oldest items, oldest first."""
        n = min(max_n, len(self._items))
        return [self._items.popleft() for _ in range(n)]

    def full(self) -> bool:
        """True when the next push evicts."""
        return len(self._items) >= self.capacity

    def __len__(self) -> int:
        return len(self._items)
