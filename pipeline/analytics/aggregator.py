"""The analytics of many cameras, feeding one sink: the core of the aggregator actor.

Example:
    >>> import numpy as np
    >>> from pipeline.types import FrameMeta, Tracks
    >>> agg = Aggregator()
    >>> agg.add_camera("cam1", {"zones": [{"id": "all", "points": [[0, 0], [1, 0], [1, 1], [0, 1]],
    ...                                    "min_visit_s": 0}]}, 100, 100)
    >>> t = Tracks(np.array([[40, 40, 60, 60]], np.float32), np.ones(1, np.float32),
    ...            np.zeros(1, np.int16), np.array([1]))
    >>> [e.kind for e in agg.update("cam1", FrameMeta("cam1", 0, 0.0, 1.8e9, 100, 100), t)]
    ['zone_enter']
    >>> agg.snapshot().cameras[0].zones[0].occupancy
    1
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.analytics.camera import CameraAnalytics, TrackIds
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import CameraSnapshot, ClosedWindow, Event
from pipeline.analytics.heatmap import blur_people
from pipeline.dashboard.history import HISTORY_HORIZON_S, HISTORY_MAX_WINDOWS, WindowHistory
from pipeline.dashboard.images import (
    EncodedImage,
    encode_heatmap,
    encode_still,
    heatmap_etag,
    not_modified,
)
from pipeline.errors import ConfigError, InputError
from pipeline.sinks.base import Sink
from pipeline.types import FrameMeta, Tracks

logger = logging.getLogger(__name__)

MAX_STILL_SIDE = 1280
"""Stills kept for heatmap backgrounds are downscaled to at most this many pixels a side."""
STILL_ASPECT_TOLERANCE = 0.02
"""A still may differ this much (relative) from the camera's aspect ratio (rounding)."""


@dataclass(frozen=True)
class AggregatorSnapshot:
    """Live state of every camera an aggregator hosts.

    Attributes:
        cameras: per camera, sorted by camera id.
        events_total: events emitted since start.
        windows_total: windows closed since start.
    """

    cameras: tuple[CameraSnapshot, ...]
    events_total: int
    windows_total: int


class Aggregator:
    """Hosts :class:`CameraAnalytics` for many cameras and sends their output to a sink.

    Args:
        sink: where events and closed windows go (None: nowhere; the caller uses the
            returned events and :meth:`pop_closed_windows`).
        keep_closed_windows: without a sink, how many closed windows are kept for
            :meth:`pop_closed_windows` before the oldest are dropped (bounded memory).
        history_s: the dashboard's history of closed windows (:meth:`history`) spans this
            many media seconds per camera.
        history_max_windows: and holds at most this many windows per camera.
    """

    def __init__(
        self,
        sink: Sink | None = None,
        keep_closed_windows: int = 1024,
        history_s: float = HISTORY_HORIZON_S,
        history_max_windows: int = HISTORY_MAX_WINDOWS,
    ) -> None:
        self._sink = sink
        self._cameras: dict[str, CameraAnalytics] = {}
        self._stills: dict[str, npt.NDArray[np.uint8]] = {}
        self._closed: list[ClosedWindow] = []
        self._keep = keep_closed_windows
        self._history = WindowHistory(history_s, history_max_windows)
        # Dashboard: per camera, (version, blurred) of its still and the still's JPEG once
        # encoded; the run's nonce keeps ETags of different runs apart.
        self._still_meta: dict[str, tuple[int, bool]] = {}
        self._still_jpeg: dict[str, EncodedImage] = {}
        self._nonce = secrets.token_hex(4)
        self._latest_wall: float | None = None
        self.events_total = 0
        self.windows_total = 0

    @property
    def camera_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._cameras))

    def add_camera(
        self,
        camera_id: str,
        config: AnalyticsConfig | Mapping[str, Any],
        width: int,
        height: int,
    ) -> None:
        """Starts the analytics of a camera.

        Args:
            camera_id: the camera's id.
            config: its analytics config (a model or a mapping validated into one).
            width, height: its frame size in pixels.

        Raises:
            ConfigError: the camera is already hosted, or the config is invalid.
        """
        if camera_id in self._cameras:
            raise ConfigError(f"camera {camera_id!r} is already added; remove it first")
        if not isinstance(config, AnalyticsConfig):
            try:
                config = AnalyticsConfig.model_validate(config)
            except ValueError as e:
                raise ConfigError(f"camera {camera_id!r}: invalid analytics config: {e}") from e
        self._cameras[camera_id] = CameraAnalytics(camera_id, config, width, height)

    def remove_camera(self, camera_id: str) -> list[ClosedWindow]:
        """Stops a camera: closes its open windows early, sends them and flushes the sink."""
        cam = self._camera(camera_id)
        windows = cam.close()
        del self._cameras[camera_id]
        self._emit_windows(windows)
        if self._sink is not None:
            self._sink.flush()
        self._stills.pop(camera_id, None)
        self._still_meta.pop(camera_id, None)
        self._still_jpeg.pop(camera_id, None)
        self._history.drop_camera(camera_id)
        return windows

    def update(
        self, camera_id: str, meta: FrameMeta, tracks: Tracks, removed_ids: TrackIds = ()
    ) -> list[Event]:
        """Feeds one frame's tracks; returns its events (also sent to the sink).

        Raises:
            InputError: the camera is unknown, or ``meta`` is of another camera or size.
        """
        cam = self._camera(camera_id)
        if meta.camera_id != camera_id:
            raise InputError(
                f"frame of camera {meta.camera_id!r} was sent to camera {camera_id!r}", "camera_id"
            )
        if meta.width != cam.width or meta.height != cam.height:
            raise InputError(
                f"camera {camera_id!r}: frame size changed from {cam.width}x{cam.height} to "
                f"{meta.width}x{meta.height}; remove the camera and add it again",
                "meta.width",
            )
        events = cam.update(tracks, meta.pts_s, removed_ids, captured_at=meta.captured_at)
        self._latest_wall = meta.captured_at
        if events:
            self.events_total += len(events)
            if self._sink is not None:
                self._sink.write_events(events)
        windows = cam.pop_closed_windows()
        if windows:
            self._emit_windows(windows)
        return events

    def update_batch(
        self,
        camera_id: str,
        frames: Sequence[tuple[FrameMeta, Tracks, TrackIds]],
    ) -> list[Event]:
        """Feeds several frames of one camera in order (one actor call instead of many).

        A frame that fails does not stop the ones after it.

        Raises:
            InputError: after the batch, when any frame failed; names how many and the
                first failure.
        """
        out: list[Event] = []
        failed: list[InputError] = []
        for meta, tracks, removed in frames:
            try:
                out.extend(self.update(camera_id, meta, tracks, removed))
            except InputError as exc:
                failed.append(exc)
        if failed:
            raise InputError(f"{len(failed)} of {len(frames)} frames failed; first: {failed[0]}",
                             failed[0].field)
        return out

    def set_still(
        self,
        camera_id: str,
        frame_bgr: npt.NDArray[np.uint8],
        person_boxes: npt.ArrayLike,
        blur: bool = True,
    ) -> None:
        """Keeps a people-blurred, downscaled copy of a frame as the heatmap background.

        Args:
            camera_id: the camera.
            frame_bgr: (h, w, 3) uint8 BGR frame of the camera, full size or downscaled
                (same aspect ratio).
            person_boxes: (n, 4) xyxy boxes of the people in it, in ``frame_bgr``'s pixels
                (all detections, not only tracked ones); they are pixelated first.
            blur: False only when the operator turned blurring off.
        """
        cam = self._camera(camera_id)
        h, w = frame_bgr.shape[:2]
        if h == 0 or abs(w / h - cam.width / cam.height) > STILL_ASPECT_TOLERANCE * cam.width / cam.height:
            raise InputError(
                f"camera {camera_id!r}: still is {w}x{h}, not the aspect ratio of the "
                f"camera's {cam.width}x{cam.height} frames",
                "frame_bgr",
            )
        still = blur_people(frame_bgr, person_boxes) if blur else frame_bgr.copy()
        scale = MAX_STILL_SIDE / max(still.shape[:2])
        if scale < 1:
            still = cv2.resize(still, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        self._stills[camera_id] = still
        version = self._still_meta.get(camera_id, (0, True))[0] + 1
        self._still_meta[camera_id] = (version, bool(blur))
        self._still_jpeg.pop(camera_id, None)

    def snapshot(self) -> AggregatorSnapshot:
        """Returns the live state of every camera."""
        return AggregatorSnapshot(
            tuple(self._cameras[c].snapshot() for c in sorted(self._cameras)),
            self.events_total,
            self.windows_total,
        )

    def pop_closed_windows(self) -> list[ClosedWindow]:
        """Without a sink: returns and forgets the windows closed so far."""
        out, self._closed = self._closed, []
        return out

    def flush(self) -> None:
        """Writes everything the sink has buffered (windows stay open)."""
        if self._sink is not None:
            self._sink.flush()

    def close(self) -> None:
        """Clean shutdown: closes every camera's windows early, sends them, closes the sink."""
        for camera_id in sorted(self._cameras):
            self._emit_windows(self._cameras[camera_id].close())
        self._cameras.clear()
        if self._sink is not None:
            self._sink.close()

    def _camera(self, camera_id: str) -> CameraAnalytics:
        cam = self._cameras.get(camera_id)
        if cam is None:
            raise InputError(
                f"camera {camera_id!r} is not added here; cameras: {sorted(self._cameras)}",
                "camera_id",
            )
        return cam

    def _emit_windows(self, windows: list[ClosedWindow]) -> None:
        if not windows:
            return
        self.windows_total += len(windows)
        for w in windows:  # the same (suppressed) rows the sink gets, for the dashboard
            self._history.add(w)
        if self._sink is None:
            self._closed.extend(windows)
            if len(self._closed) > self._keep:
                dropped = len(self._closed) - self._keep
                logger.warning("dropping %d closed window(s) nobody collected", dropped)
                del self._closed[:dropped]
            return
        stills = {
            w.camera_id: self._stills[w.camera_id] for w in windows if w.camera_id in self._stills
        }
        self._sink.write_windows(windows, stills)
        if self._latest_wall is not None and math.isfinite(self._latest_wall):
            self._sink.apply_retention(self._latest_wall)

    # -- dashboard reads ---------------------------------------------------------------
    def _still_etag(self, camera_id: str) -> str | None:
        meta = self._still_meta.get(camera_id)
        return None if meta is None else f'"{self._nonce}-{camera_id}-{meta[0]}"'

    def still_infos(self) -> dict[str, dict[str, Any]]:
        """Per camera with a still: its ``etag``, ``blurred`` flag and ``width``/``height``
        (pixels of the still), for clients that fetch a still only when it changed."""
        out = {}
        for cid in sorted(self._still_meta):
            h, w = self._stills[cid].shape[:2]
            out[cid] = {"etag": self._still_etag(cid), "blurred": self._still_meta[cid][1],
                        "width": w, "height": h}
        return out

    def still_image(self, camera_id: str, if_none_match: str | None = None) -> EncodedImage | None:
        """A camera's latest still (people blurred unless the operator turned that off) as
        JPEG, encoded once per still.

        Args:
            camera_id: the camera.
            if_none_match: the client's ``If-None-Match``; when it names the current ETag
                the result carries no data.

        Returns:
            The image, or None when the camera has no still (yet) or is not hosted here.
        """
        etag = self._still_etag(camera_id)
        if etag is None:
            return None
        blurred = self._still_meta[camera_id][1]
        if not_modified(etag, if_none_match):
            h, w = self._stills[camera_id].shape[:2]
            return EncodedImage(etag, "image/jpeg", None, blurred, w, h)
        cached = self._still_jpeg.get(camera_id)
        if cached is None:
            cached = encode_still(self._stills[camera_id], etag, blurred)
            self._still_jpeg[camera_id] = cached
        return cached

    def heatmap_image(
        self, camera_id: str, if_none_match: str | None = None
    ) -> EncodedImage | None:
        """The heatmap of a camera's open window so far (minimum-count rule applied) as
        PNG over its blurred still (grey without one), rendered as the sink renders them.

        Returns:
            The image (no data when ``if_none_match`` names its ETag), or None when the
            camera is not hosted here, has heatmaps off, or has no open window yet.
        """
        cam = self._cameras.get(camera_id)
        grid = None if cam is None else cam.open_heatmap()
        if grid is None:
            return None
        still_etag = self._still_etag(camera_id)
        etag = heatmap_etag(grid, still_etag)
        still = self._stills.get(camera_id)
        blurred = self._still_meta[camera_id][1] if still_etag is not None else True
        if not_modified(etag, if_none_match):
            h, w = still.shape[:2] if still is not None else (grid.height, grid.width)
            return EncodedImage(etag, "image/png", None, blurred, w, h)
        return encode_heatmap(grid, still, etag, blurred)

    @property
    def history_s(self) -> float:
        """Span of :meth:`history`, media seconds."""
        return self._history.horizon_s

    def history(self, camera_id: str | None = None) -> dict[str, tuple[ClosedWindow, ...]]:
        """Closed windows of the last ``history_s`` media seconds (at most
        ``history_max_windows``) per camera, oldest first, exactly as published (suppressed
        rows nulled, no heatmaps); one camera's only when ``camera_id`` is given."""
        if camera_id is not None:
            kept = self._history.windows(camera_id)
            return {camera_id: kept} if kept or camera_id in self._cameras else {}
        return self._history.all()
