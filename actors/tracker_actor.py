"""The tracker stage as a Ray actor: a thin shell around :class:`CameraTrackers`.

One actor hosts the trackers of many cameras (tracking state is small); each camera has
its own tracker, config, clock and id counter. Frames of one camera must arrive in
order: a ``frame_index`` not after the camera's last one raises InputError naming the
camera. Errors reach the caller through ``ray.get`` as the original exception type.

Example:
    >>> tracker = TrackerActor.remote()
    >>> ray.get(tracker.add_camera.remote("door", {"lost_buffer_s": 2.0}))
    >>> tracks = ray.get(tracker.update.remote("door", frame_meta, detections))
    >>> placed = TrackerActor.options(num_cpus=0.5, name="trackers-0")  # callers may override
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import ray

from pipeline.tracking.cameras import CameraTrackers, TrackUpdate
from pipeline.types import Detections, FrameMeta, Tracks

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0.1)
class TrackerActor:
    """Tracks the detections of many cameras; see :class:`CameraTrackers` for semantics."""

    def __init__(self) -> None:
        self._core = CameraTrackers()

    def add_camera(self, camera_id: str, config: Mapping[str, Any] | None = None) -> None:
        """Starts tracking a camera; ``config`` holds TrackerConfig fields (defaults if None).

        Raises:
            ConfigError: the camera is already tracked here, or the config is invalid.
        """
        self._core.add_camera(camera_id, config)

    def remove_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Stops tracking a camera; returns the (k,) int64 ids that were still live."""
        return self._core.remove_camera(camera_id)

    def reset_camera(self, camera_id: str) -> npt.NDArray[np.int64]:
        """Drops a camera's tracks and frame order; returns the (k,) int64 ids dropped."""
        return self._core.reset_camera(camera_id)

    def cameras(self) -> list[str]:
        """The ids of the cameras tracked by this actor, sorted."""
        return self._core.cameras()

    def update(self, camera_id: str, frame_meta: FrameMeta, detections: Detections) -> Tracks:
        """Tracks one frame of one camera.

        Raises:
            InputError: unknown camera, out-of-order frame_index or media time; the
                message names the camera.
        """
        return self._core.update(camera_id, frame_meta, detections)

    def step(self, camera_id: str, frame_meta: FrameMeta, detections: Detections) -> TrackUpdate:
        """Like :meth:`update`, also returning the ids deleted in this update (for eviction)."""
        return self._core.step(camera_id, frame_meta, detections)

    def stats(self) -> dict[str, Any]:
        """JSON-ready counters, per camera and in total."""
        return self._core.stats()
