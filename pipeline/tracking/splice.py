"""One camera's timeline across restarts of its source actor. No Ray.

A camera actor that is re-created (its node was lost) numbers frames from 0 and starts
media time at 0 again. Downstream state (tracker frame order, analytics windows, heatmap
file names, the MOT export) needs one increasing timeline per camera, so the frames of the
new actor are *spliced* onto the old one: after :meth:`MediaSplice.splice`, frame numbers
continue after the last frame seen, and media time after the last frame's plus the wall
time that passed (the outage), as a reconnected live stream does in
:class:`pipeline.ingest.pacing.MediaClock`.

Example:
    >>> splice = MediaSplice()
    >>> splice.map(FrameMeta("door", 41, 4.1, 1000.0, 640, 480)).pts_s
    4.1
    >>> splice.splice()                        # the source actor was re-created
    >>> m = splice.map(FrameMeta("door", 0, 0.0, 1012.5, 640, 480))
    >>> m.frame_index, round(m.pts_s, 3)       # 12.5 s of wall time passed
    (42, 16.6)
"""

from __future__ import annotations

import dataclasses

from pipeline.types import FrameMeta


class MediaSplice:
    """Maps a camera's frame metadata onto one increasing timeline across restarts.

    Args:
        min_step_s: least media time between the last frame before a splice and the first
            after it (seconds).
    """

    def __init__(self, min_step_s: float = 0.001) -> None:
        self.min_step_s = min_step_s
        self._last: FrameMeta | None = None
        self._index_offset = 0
        self._pts_offset = 0.0
        self._pending = False
        self._floor: tuple[int, float] | None = None

    @property
    def index_offset(self) -> int:
        """What is added to the source actor's frame numbers now."""
        return self._index_offset

    def splice(self, after: tuple[int, float] | None = None) -> None:
        """Marks that the next frame comes from a new source actor; ``after``: (frame
        index, media time) of a frame on the camera's timeline that it must also come
        after (one seen downstream since the last frame mapped here)."""
        self._pending = True
        self._floor = after

    def map(self, meta: FrameMeta) -> FrameMeta:
        """``meta`` on the camera's timeline (unchanged until the first splice)."""
        if self._pending:
            self._pending = False
            if self._last is not None:
                gap = max(meta.captured_at - self._last.captured_at, self.min_step_s)
                self._index_offset = self._last.frame_index + 1 - meta.frame_index
                self._pts_offset = self._last.pts_s + gap - meta.pts_s
            if self._floor is not None:
                index, pts = self._floor
                self._index_offset = max(self._index_offset, index + 1 - meta.frame_index)
                self._pts_offset = max(self._pts_offset, pts + self.min_step_s - meta.pts_s)
                self._floor = None
        if self._index_offset or self._pts_offset:
            meta = dataclasses.replace(meta, frame_index=meta.frame_index + self._index_offset,
                                       pts_s=meta.pts_s + self._pts_offset)
        self._last = meta
        return meta
