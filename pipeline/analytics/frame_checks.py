"""Checks one camera's tracked frame before its analytics use it. No Ray.

Media time must be finite and must not go backwards; track ids must be unique within a
frame; tracks with non-finite boxes are dropped (counted, logged), not fatal.

Example:
    >>> import numpy as np
    >>> boxes = np.array([[0, 0, 1, 1], [np.nan, 0, 1, 1]], np.float32)
    >>> kept = finite_tracks("cam1", 0.5, boxes, np.array([1, 2]), np.zeros(2, np.int16))
    >>> kept.ids.tolist(), kept.dropped
    ([1], 1)
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError

logger = logging.getLogger(__name__)


def checked_pts(camera_id: str, pts_s: float, last_pts: float) -> float:
    """Returns ``pts_s`` as a float after checking it against the camera's last frame.

    Raises:
        InputError: ``pts_s`` is not finite, or below ``last_pts`` (seconds).
    """
    pts = float(pts_s)
    if not math.isfinite(pts):
        raise InputError(f"camera {camera_id!r}: pts_s must be finite, got {pts_s}", "pts_s")
    if pts < last_pts:
        raise InputError(
            f"camera {camera_id!r}: pts_s went backwards from {last_pts} to {pts}; "
            "media time must not decrease (reset() or re-add the camera after a restart)",
            "pts_s",
        )
    return pts


class FiniteTracks(NamedTuple):
    """A frame's tracks with finite boxes: (n, 4) float boxes, (n,) ids, (n,) class ids,
    and how many tracks were dropped."""

    boxes: npt.NDArray[np.floating]
    ids: npt.NDArray[np.int64]
    classes: npt.NDArray[np.int16]
    dropped: int


def finite_tracks(camera_id: str, pts: float, boxes: npt.NDArray[np.floating],
                  ids: npt.NDArray[np.int64], classes: npt.NDArray[np.int16]) -> FiniteTracks:
    """Drops tracks whose box is not finite and checks the ids are unique.

    Raises:
        InputError: a track id appears more than once.
    """
    dropped = 0
    if len(boxes) and not np.isfinite(boxes).all():
        keep = np.isfinite(boxes).all(axis=1)
        dropped = int((~keep).sum())
        logger.warning("camera %r: dropped %d track(s) with non-finite boxes at pts %.3f",
                       camera_id, dropped, pts)
        boxes, ids, classes = boxes[keep], ids[keep], classes[keep]
    id_list = ids.tolist()
    if len(set(id_list)) != len(id_list):
        dup = next(t for t in id_list if id_list.count(t) > 1)
        raise InputError(
            f"camera {camera_id!r}: track ids must be unique within a frame, but "
            f"{dup} appears more than once at pts {pts}",
            "track_ids",
        )
    return FiniteTracks(boxes, ids, classes, dropped)
