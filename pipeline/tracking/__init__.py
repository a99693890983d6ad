"""Multi-object tracking: a ByteTrack-class tracker driven by media time. No Ray.

- :class:`ByteTracker`: one camera's tracker, ``update(detections, pts_s) -> Tracks``.
- :class:`TrackerConfig`: its thresholds, each a named, bounded, documented field.
- :class:`CameraTrackers`: many cameras' trackers with per-camera frame order (the core
  of ``actors.tracker_actor.TrackerActor``).
"""

from pipeline.tracking.cameras import CameraTrackers, TrackUpdate, parse_tracker_config
from pipeline.tracking.config import TrackerConfig
from pipeline.tracking.tracker import ByteTracker, TrackerStats

__all__ = [
    "ByteTracker",
    "CameraTrackers",
    "TrackUpdate",
    "TrackerConfig",
    "TrackerStats",
    "parse_tracker_config",
]
