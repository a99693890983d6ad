"""Multi-object tracking: a ByteTrack-class tracker driven by media time. No Ray.

- :class:`ByteTracker`: one camera's tracker, ``update(detections, pts_s) -> Tracks``.
- :class:`TrackerConfig`: its thresholds, each a named, bounded, documented field.
- :class:`Smoother` (:class:`SmoothingConfig`): offline smoothing after the tracker: joins
  broken tracks, interpolates their gaps and smooths boxes with a media-time lookahead;
  which later track continues an ended one is :mod:`pipeline.tracking.stitching`.
- :class:`CameraLane`: one camera's splice, tracker and smoother, frame by frame, giving
  :class:`~pipeline.types.TrackedFrame` (the core of ``actors.tracker_actor.TrackerActor``).
"""

from pipeline.tracking.config import SmoothingConfig, TrackerConfig
from pipeline.tracking.lane import CameraLane
from pipeline.tracking.smoothing import Smoother, SmootherStats
from pipeline.tracking.tracker import ByteTracker, TrackerStats

__all__ = [
    "ByteTracker",
    "CameraLane",
    "Smoother",
    "SmootherStats",
    "SmoothingConfig",
    "TrackerConfig",
    "TrackerStats",
]
