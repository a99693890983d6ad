"""Frames a tracker forwarded lately, kept so that a re-created aggregator gets them again.

An aggregator checkpoints its state every ``checkpoint_s`` of media time
(:mod:`pipeline.sinks.checkpoint`); what it received after its last checkpoint dies with
it. The tracker keeps each camera's frames until the aggregator has processed frames
``replay_s`` media seconds newer (:meth:`ReplayBuffer.confirm`), at most ``max_frames``;
the new aggregator gets again every kept frame newer than its checkpoint. Trimming by
what the aggregator confirmed, not by what was sent, matters offline: media runs far ahead
of the wall clock, and many seconds of it can be sent to an aggregator that already died.
No Ray.

Example:
    >>> buf = ReplayBuffer(replay_s=5.0, max_frames=100)
    >>> len(buf.after(None))
    0
"""

from __future__ import annotations

from collections import deque

from pipeline.types import TrackedFrame


class ReplayBuffer:
    """The recent forwarded frames of one camera, in order.

    Args:
        replay_s: media seconds kept behind the newest frame the aggregator confirmed.
        max_frames: most frames kept at all (the oldest go first, counted in ``dropped``).
    """

    def __init__(self, replay_s: float, max_frames: int) -> None:
        self.replay_s = replay_s
        self._frames: deque[TrackedFrame] = deque(maxlen=max_frames)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, frames: list[TrackedFrame]) -> None:
        """Keeps ``frames`` (sent to the aggregator, or waiting for a new one)."""
        for frame in frames:
            if len(self._frames) == self._frames.maxlen:
                self.dropped += 1
            self._frames.append(frame)

    def confirm(self, pts_s: float) -> None:
        """The aggregator processed every frame up to media time ``pts_s``: forgets frames
        more than ``replay_s`` older (its checkpoint is newer than they are)."""
        horizon = pts_s - self.replay_s
        while self._frames and self._frames[0].meta.pts_s < horizon:
            self._frames.popleft()

    def after(self, pts_s: float | None) -> list[TrackedFrame]:
        """The kept frames with media time after ``pts_s`` (all of them for None)."""
        if pts_s is None:
            return list(self._frames)
        return [f for f in self._frames if f.meta.pts_s > pts_s]
