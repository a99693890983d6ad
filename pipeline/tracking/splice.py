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

    def splice(self) -> None:
        """Marks that the next frame comes from a new source actor."""
        self._pending = True

    def map(self, meta: FrameMeta) -> FrameMeta:
        """``meta`` on the camera's timeline (unchanged until the first splice)."""
        if self._pending:
            self._pending = False
            if self._last is not None:
                gap = max(meta.captured_at - self._last.captured_at, self.min_step_s)
                self._index_offset = self._last.frame_index + 1 - meta.frame_index
                self._pts_offset = self._last.pts_s + gap - meta.pts_s
        if self._index_offset or self._pts_offset:
            meta = dataclasses.replace(meta, frame_index=meta.frame_index + self._index_offset,
                                       pts_s=meta.pts_s + self._pts_offset)
        self._last = meta
        return meta
