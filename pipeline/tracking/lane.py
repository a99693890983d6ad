"""One camera's tracking lane: splice, tracker, smoother and carried removals. No Ray.

A :class:`CameraLane` turns a camera's detected frames, in order, into the
:class:`~pipeline.types.TrackedFrame` stream its analytics consume::

    meta, detections ──▶ MediaSplice ──▶ ByteTracker ──▶ Smoother (offline) ──▶ TrackedFrame(s)
                        (one timeline     (ids, removed   (holds lookahead_s,
                         across restarts,  ids)            joins, smooths)
                         one pixel grid)

A *static* frame (``inference.skip_static``: the detector skipped it, nothing moved) is
held: the tracker advances its clock without a detection (:meth:`ByteTracker.hold`) and
the frame shows the tracks of the last detected frame again, so occupancy and dwell go on.

Live cameras get each frame back at once, with the tracks the detector just missed at
their predicted boxes for up to ``TrackerConfig.coast_output_s`` (longer on a still
camera: ``still_coast_output_s``; :meth:`ByteTracker.coasting`); with smoothing a step
returns the frames that left the lookahead (none, one or several). The tracker actor
hosts one lane per camera, and saves it (a pickle) for a tracker that replaces it.

A source whose frame size changes keeps its first frames' pixel grid: later detections
are scaled to it, so tracks go on through a resolution switch.

Example:
    >>> lane = CameraLane("door", TrackerConfig(min_hits=1))
    >>> meta = FrameMeta("door", 0, 0.0, 0.0, 640, 480)
    >>> [len(f.tracks) for f in lane.step(meta, Detections.empty())]
    [0]
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.errors import ConfigError, InputError
from pipeline.tracking.config import SmoothingConfig, TrackerConfig
from pipeline.tracking.smoothing import Smoother
from pipeline.tracking.splice import MediaSplice
from pipeline.tracking.tracker import ByteTracker
from pipeline.types import Detections, FrameMeta, TrackedFrame, Tracks

log = logging.getLogger(__name__)

_NONE = np.zeros(0, np.int64)


class CameraLane:
    """Tracks one camera's frames in order, on one timeline across its source's restarts.

    Args:
        camera_id: the camera; frames of any other camera are refused.
        config: the tracker's thresholds.
        smoothing: the offline smoother's settings, or None for none (live cameras).
        first_id: the first track id: where this camera's ids stopped when a camera of
            this id was last removed in this run, so that ids are never reused.

    Raises:
        ConfigError: an empty camera id or a first id below 1.
    """

    def __init__(self, camera_id: str, config: TrackerConfig | None = None,
                 smoothing: SmoothingConfig | None = None, first_id: int = 1) -> None:
        if not isinstance(camera_id, str) or not camera_id:
            raise ConfigError(f"camera_id must be a non-empty string, got {camera_id!r}",
                              "camera_id")
        if not isinstance(first_id, int) or first_id < 1:
            raise ConfigError(f"camera {camera_id!r}: first track id must be an integer >= 1, "
                              f"got {first_id!r}", "first_id")
        self.camera_id = camera_id
        self.tracker = ByteTracker(config or TrackerConfig(), first_id)
        self.smoother = Smoother(smoothing) if smoothing is not None else None
        self._splice = MediaSplice()
        self._carried = _NONE  # ids dropped by a resume, reported with the next frame
        self._source_index: int | None = None
        self._last_index: int | None = None
        self._shown = Tracks.empty()  # the last frame's tracks, shown again by a static one
        self._grid: tuple[int, int] | None = None  # the first frame's size: boxes' grid
        self._seen: tuple[int, int] | None = None  # the last frame's size (logs changes)

    @property
    def next_id(self) -> int:
        """The id the camera's next confirmed track will get."""
        return self.tracker.next_id

    @property
    def source_frame_index(self) -> int | None:
        """The frame_index that the camera's actor gave the last frame stepped (before its
        splice onto the camera's timeline), or None: where a source read again goes on."""
        return self._source_index

    @property
    def live_ids(self) -> npt.NDArray[np.int64]:
        """(k,) int64 ids of the confirmed tracks held now."""
        return self.tracker.live_ids

    def step(self, meta: FrameMeta, detections: Detections | None,
             static: bool = False) -> list[TrackedFrame]:
        """Tracks one frame; returns the frames that are final now, oldest first.

        Args:
            meta: the frame's metadata as its source actor numbered it.
            detections: its detections, boxes (n, 4) float32 xyxy pixels.
            static: the detector skipped the frame because nothing moved
                (:attr:`DetectedFrame.static`): its tracks are held, ``detections`` unused.

        Raises:
            InputError: a frame of another camera or without detections, a frame_index
                not after the previous one, or media time going backwards; the message
                names the camera.
        """
        cid = self.camera_id
        if meta.camera_id != cid:
            raise InputError(f"camera {cid!r}: frame belongs to camera {meta.camera_id!r}",
                             "meta.camera_id")
        if detections is None:
            raise InputError(f"camera {cid!r}: frame {meta.frame_index} has no detections",
                             "detections")
        source_index, meta = meta.frame_index, self._splice.map(meta)
        meta, detections = self._on_first_grid(meta, detections)
        if self._last_index is not None and meta.frame_index <= self._last_index:
            raise InputError(
                f"camera {cid!r}: frame_index {meta.frame_index} is not after the previous "
                f"frame {self._last_index}; frames must arrive in order per camera",
                "frame_index",
            )
        try:
            if static:
                self.tracker.hold(meta.pts_s)
                tracks = self._shown
            else:
                tracks = self._shown = self.tracker.update(detections, meta.pts_s)
                if self.smoother is not None and len(self.tracker.births):
                    self.smoother.backfill(self.tracker.births)
            if self.smoother is None:
                tracks = self._with_coasting(tracks, meta)
        except InputError as exc:
            raise InputError(f"camera {cid!r}: {exc}", exc.field) from exc
        self._last_index, self._source_index = meta.frame_index, source_index
        removed = self.tracker.removed_ids
        if len(self._carried):
            removed, self._carried = np.union1d(removed, self._carried), _NONE
        frame = TrackedFrame(meta, tracks, removed)
        if self.smoother is None:
            return [frame]
        self.smoother.camera_still = self.tracker.camera_still
        return self.smoother.push(frame)

    def _on_first_grid(self, meta: FrameMeta, detections: Detections
                       ) -> tuple[FrameMeta, Detections]:
        """The frame on the pixel grid of the camera's first frame: a source whose frame
        size changes (a stream's resolution switched, a folder of mixed sizes) keeps one
        grid for its tracks, smoother and analytics, its boxes scaled to it (the same view
        at another resolution keeps its tracks and zones)."""
        size = (meta.width, meta.height)
        if self._grid is None:
            self._grid = self._seen = size
        if size == self._grid:
            self._seen = size
            return meta, detections
        if size != self._seen:
            self._seen = size
            log.warning("camera %s: frame size changed to %dx%d; its boxes are scaled to "
                        "its first frames' %dx%d", self.camera_id, *size, *self._grid)
        width, height = self._grid
        return (dataclasses.replace(meta, width=width, height=height),
                detections.scaled(width / meta.width, height / meta.height))

    def _with_coasting(self, tracks: Tracks, meta: FrameMeta) -> Tracks:
        """``tracks`` and, after them, the tracks the detector just missed at their
        predicted boxes (live mode; :meth:`ByteTracker.coasting`). A static frame gets the
        held detections again and the coasting tracks as they stand now, so a track never
        outlives its removal there."""
        coasting = self.tracker.coasting(meta.width, meta.height)
        if not len(coasting):
            return tracks
        return Tracks(*(np.concatenate([getattr(t, c) for t in (tracks, coasting)])
                        for c in Tracks.COLUMNS))

    def flush(self) -> list[TrackedFrame]:
        """Releases the frames the smoother holds (the camera stops, or the run ends)."""
        return self.smoother.flush() if self.smoother is not None else []

    def resume(self, after: tuple[int, float] | None = None,
               skip_ids: int = 0) -> npt.NDArray[np.int64]:
        """Prepares for frames from a new source actor (its node was lost): its tracks are
        dropped (their ids go downstream as removed with the next frame; ids keep counting
        up), and its frames continue this camera's frame numbers and media time
        (:class:`~pipeline.tracking.splice.MediaSplice`). Returns the (k,) int64 ids
        dropped.

        Args:
            after: (frame index, media time) of a frame that went downstream after this
                lane's last (the lane was saved before it): the new frames come after it
                too, and a source read again goes on after it.
            skip_ids: ids to skip (those a tracker may have given since the lane was
                saved).
        """
        self.tracker.reset(skip_ids)
        dropped = self.tracker.removed_ids
        self._splice.splice(after)
        if after is not None:  # the source frame it was: the splice's offset applies
            source = after[0] - self._splice.index_offset
            self._source_index = max(source, self._source_index if self._source_index
                                     is not None else -1)
        self._carried = np.union1d(self._carried, dropped).astype(np.int64)
        self._last_index = None
        self._shown = Tracks.empty()
        log.info("camera %s resumes from a new source actor (%d tracks dropped)",
                 self.camera_id, len(dropped))
        return dropped

    def stats(self) -> dict[str, Any]:
        """JSON-ready counters: the tracker's (see TrackerStats), the last frame index and
        the smoother's, if any."""
        out: dict[str, Any] = {**asdict(self.tracker.stats()),
                               "last_frame_index": self._last_index}
        if self.smoother is not None:
            out["smoothing"] = asdict(self.smoother.stats())
        return out
