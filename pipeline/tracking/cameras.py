"""The trackers of many cameras in one place, with per-camera frame order. No Ray.

:class:`CameraTrackers` is the pure core of ``actors.tracker_actor.TrackerActor``: one
:class:`~pipeline.tracking.tracker.ByteTracker` per camera, each with its own config,
clock and id counter, so ids never depend on which cameras share a worker process.

Example:
    >>> hosts = CameraTrackers()
    >>> hosts.add_camera("door", {"lost_buffer_s": 2.0})
    >>> meta = FrameMeta("door", frame_index=0, pts_s=0.0, captured_at=0.0, width=640,
    ...                  height=480)
    >>> len(hosts.update("door", meta, Detections.empty()))
    0
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from pipeline.errors import ConfigError, InputError
from pipeline.tracking.config import TrackerConfig
from pipeline.tracking.tracker import ByteTracker
from pipeline.types import Detections, FrameMeta, Tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackUpdate:
    """What one camera's tracker produced for one frame.

    Attributes:
        tracks: the frame's tracked detections.
        removed_ids: (k,) int64 ids deleted in this update; downstream evicts their state.
    """

    tracks: Tracks
    removed_ids: npt.NDArray[np.int64]


def parse_tracker_config(
    camera_id: str, config: TrackerConfig | Mapping[str, Any] | None
) -> TrackerConfig:
    """Validates a tracker config given as a model, a plain mapping or None (defaults).

    Raises:
        ConfigError: unknown key or out-of-range value; ``path`` is ``tracker.<key>`` and
            the message names the camera.
    """
    if config is None:
        return TrackerConfig()
    if isinstance(config, TrackerConfig):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"camera {camera_id!r}: tracker config must be a mapping, got "
            f"{type(config).__name__}",
            "tracker",
        )
    try:
        return TrackerConfig.model_validate(dict(config))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        path = f"tracker.{key}" if key else "tracker"
        raise ConfigError(f"camera {camera_id!r}: {first['msg']}", path) from None


class CameraTrackers:
    """One tracker per camera, updated in frame order.

    Example:
        >>> hosts = CameraTrackers()
        >>> hosts.add_camera("lobby")
        >>> hosts.cameras()
        ['lobby']
    """

    def __init__(self) -> None:
        self._trackers: dict[str, ByteTracker] = {}
        self._last_frame: dict[str, int] = {}

    def add_camera(
        self, camera_id: str, config: TrackerConfig | Mapping[str, Any] | None = None,
        first_id: int = 1,
    ) -> None:
        """Starts a tracker for ``camera_id`` whose ids start at ``first_id`` (a camera
        added again in the same run continues where it stopped: :meth:`next_id`).

        Raises:
            ConfigError: the camera already has a tracker, or the config is invalid.
        """
        if not isinstance(camera_id, str) or not camera_id:
            raise ConfigError(f"camera_id must be a non-empty string, got {camera_id!r}",
                              "camera_id")
        if camera_id in self._trackers:
            raise ConfigError(f"camera {camera_id!r} already has a tracker", "camera_id")
        if not isinstance(first_id, int) or first_id < 1:
            raise ConfigError(f"camera {camera_id!r}: first track id must be an integer >= 1, "
                              f"got {first_id!r}", "first_id")
        self._trackers[camera_id] = ByteTracker(parse_tracker_config(camera_id, config),
                                                first_id)
        log.info("tracking camera %s", camera_id)

    def remove_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Drops a camera's tracker; returns the (k,) int64 ids that were still live."""
        tracker = self._get(camera_id)
        live = tracker.live_ids
        del self._trackers[camera_id]
        self._last_frame.pop(camera_id, None)
        log.info("stopped tracking camera %s", camera_id)
        return live

    def reset_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Drops a camera's tracks and frame order (after a seek or a reconnect).

        Ids keep counting up, so they stay unique for the run. Returns the (k,) int64
        ids dropped.
        """
        tracker = self._get(camera_id)
        tracker.reset()
        self._last_frame.pop(camera_id, None)
        return tracker.removed_ids

    def next_id(self, camera_id: str) -> int:
        """The id the camera's next confirmed track will get."""
        return self._get(camera_id).next_id

    def cameras(self) -> list[str]:
        """The ids of the cameras tracked here, sorted."""
        return sorted(self._trackers)

    def update(self, camera_id: str, frame_meta: FrameMeta, detections: Detections) -> Tracks:
        """Tracks one frame of one camera; see :meth:`step` (this drops removed ids)."""
        return self.step(camera_id, frame_meta, detections).tracks

    def step(
        self, camera_id: str, frame_meta: FrameMeta, detections: Detections
    ) -> TrackUpdate:
        """Tracks one frame of one camera.

        Args:
            camera_id: a camera added with :meth:`add_camera`.
            frame_meta: the frame's metadata; ``frame_meta.pts_s`` drives the tracker.
            detections: the frame's detections, boxes (n, 4) xyxy pixels.

        Returns:
            The frame's tracks and the ids deleted in this update.

        Raises:
            InputError: unknown camera, metadata of another camera, a frame_index not after
                the camera's last one, or media time going backwards; the message names
                the camera.
        """
        tracker = self._get(camera_id)
        if frame_meta.camera_id != camera_id:
            raise InputError(
                f"camera {camera_id!r}: frame_meta belongs to camera "
                f"{frame_meta.camera_id!r}",
                "frame_meta.camera_id",
            )
        last = self._last_frame.get(camera_id)
        if last is not None and frame_meta.frame_index <= last:
            raise InputError(
                f"camera {camera_id!r}: frame_index {frame_meta.frame_index} is not after "
                f"the previous frame {last}; frames must arrive in order per camera",
                "frame_index",
            )
        try:
            tracks = tracker.update(detections, frame_meta.pts_s)
        except InputError as exc:
            raise InputError(f"camera {camera_id!r}: {exc}", exc.field) from exc
        self._last_frame[camera_id] = frame_meta.frame_index
        return TrackUpdate(tracks, tracker.removed_ids)

    def stats(self) -> dict[str, Any]:
        """JSON-ready counters: per camera (see TrackerStats) plus totals."""
        per_camera = {}
        for cid, tracker in sorted(self._trackers.items()):
            s = asdict(tracker.stats())
            s["last_frame_index"] = self._last_frame.get(cid)
            per_camera[cid] = s
        totals = {
            key: sum(s[key] for s in per_camera.values())
            for key in ("updates", "detections", "rejected", "tracks_confirmed",
                        "tracks_removed", "births_refused", "live_tracks", "live_confirmed")
        }
        return {"cameras": len(per_camera), "totals": totals, "per_camera": per_camera}

    def _get(self, camera_id: str) -> ByteTracker:
        try:
            return self._trackers[camera_id]
        except KeyError:
            raise InputError(
                f"unknown camera {camera_id!r}; tracked cameras: {self.cameras()}", "camera_id"
            ) from None
