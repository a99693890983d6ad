"""Multi-object tracking: a ByteTrack-class tracker driven by media time. No Ray.

- :class:`ByteTracker`: one camera's tracker, ``update(detections, pts_s) -> Tracks``.
- :class:`TrackerConfig`: its thresholds, each a named, bounded, documented field.
- :class:`CameraTrackers`: many cameras' trackers with per-camera frame order (the core
  of ``actors.tracker_actor.TrackerActor``).
- :class:`GapFiller` (:class:`GapFillConfig`): offline smoothing after the tracker, joins
  broken tracks and interpolates their gaps with a media-time lookahead.
"""

from pipeline.tracking.cameras import CameraTrackers, TrackUpdate, parse_tracker_config
from pipeline.tracking.config import GapFillConfig, TrackerConfig
from pipeline.tracking.smoothing import GapFiller, GapFillerStats, SmoothedFrame
from pipeline.tracking.tracker import ByteTracker, TrackerStats

__all__ = [
    "ByteTracker",
    "CameraTrackers",
    "GapFillConfig",
    "GapFiller",
    "GapFillerStats",
    "SmoothedFrame",
    "TrackUpdate",
    "TrackerConfig",
    "TrackerStats",
    "parse_tracker_config",
]
