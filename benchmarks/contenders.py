"""The trackers the benchmarks compare, behind one interface: panoray and its peers.

Every contender is a :data:`Runner`: it takes one camera's detections, frame by frame, with
their media times (:class:`Timeline`), and returns what the analytics read (one
:class:`TrackedFrame` per frame). No Ray.

panoray, with its default configuration only (what a site gets):

- :func:`panoray_live`: a :class:`~pipeline.tracking.CameraLane` without smoother (the
  tracker alone), as in live mode;
- :func:`panoray_offline`: a lane with the tracker then the
  :class:`~pipeline.tracking.Smoother`, as in offline mode.

Work on the tracker changes these two functions and nothing else in the benchmarks.

Peers (:data:`PEERS`), on the same detections, with library defaults except:

- ``frame_rate``: the clip's frame rate (the subsampled one for subsampled clips), so that
  buffers given in frames at 30 fps scale to the clip;
- ``timestamp``: the frame's media time, for the Roboflow ``trackers`` (2.6), whose Kalman
  step then follows real time;
- ``enable_cmc=False`` for BoT-SORT and McByte: camera motion compensation needs the
  images, which simulated detections do not have (panoray has none either);
- McByte runs without masks (its default ``enable_mask_manager=False``): motion only.

supervision's ByteTrack (0.30) takes ``frame_rate`` and counts frames.

Example:
    >>> timeline = Timeline("cam", np.arange(3) / 10.0, 640, 480)
    >>> [len(f.tracks) for f in panoray_live([Detections.empty()] * 3, timeline)]
    [0, 0, 0]
"""

from __future__ import annotations

if __name__ == "__main__":  # run as a script: a part of another benchmark
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.common import part_of

    part_of(__doc__, "identity.py")

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks.evaluation import MotSequence
from pipeline.tracking import CameraLane, SmoothingConfig, TrackerConfig
from pipeline.types import Detections, FrameMeta, TrackedFrame, Tracks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeline:
    """When each frame of one camera was taken, and its size.

    Attributes:
        camera: a name for the camera (the sequence).
        times_s: (n,) media time of each frame, seconds, increasing.
        width: frame width, pixels.
        height: frame height, pixels.
    """

    camera: str
    times_s: npt.NDArray[np.float64]
    width: int
    height: int

    @classmethod
    def regular(cls, camera: str, num_frames: int, fps: float, width: int,
                height: int) -> Timeline:
        """Frames at a constant rate from time 0."""
        return cls(camera, np.arange(num_frames) / fps, width, height)

    @property
    def fps(self) -> float:
        """Frames per second, from the median frame interval."""
        if len(self.times_s) < 2:
            return 1.0
        return float(1.0 / np.median(np.diff(self.times_s)))

    def meta(self, i: int) -> FrameMeta:
        """Frame ``i``'s metadata (0-based index, media time, size)."""
        return FrameMeta(self.camera, i, float(self.times_s[i]), 0.0, self.width, self.height)


Runner = Callable[[Sequence[Detections], Timeline], list[TrackedFrame]]
NO_IDS = np.zeros(0, np.int64)


def _run_lane(frames: Sequence[Detections], timeline: Timeline,
              smoothing: SmoothingConfig | None,
              tracker: TrackerConfig | None = None) -> list[TrackedFrame]:
    lane = CameraLane(timeline.camera, tracker or TrackerConfig(), smoothing)
    out: list[TrackedFrame] = []
    for i, dets in enumerate(frames):
        out += lane.step(timeline.meta(i), dets)
    return out + lane.flush()


def panoray_live(frames: Sequence[Detections], timeline: Timeline) -> list[TrackedFrame]:
    """panoray's tracker with its default configuration, as live mode runs it."""
    return _run_lane(frames, timeline, None)


def panoray_offline(frames: Sequence[Detections], timeline: Timeline) -> list[TrackedFrame]:
    """panoray's tracker and offline smoother with their default configurations."""
    return _run_lane(frames, timeline, SmoothingConfig())


PANORAY: dict[str, Runner] = {"panoray_offline": panoray_offline, "panoray_live": panoray_live}


def panoray_variant(tracker: dict[str, Any], smoothing: dict[str, Any]) -> dict[str, Runner]:
    """panoray offline and live with some settings changed from the defaults (what a
    site would write in its config), for sweeps (``benchmarks/identity_sweep.py``); the
    benchmarks' own tables use :data:`PANORAY`, the defaults."""
    track_cfg = TrackerConfig(**tracker)
    smooth_cfg = SmoothingConfig(**smoothing)

    def offline(frames: Sequence[Detections], timeline: Timeline) -> list[TrackedFrame]:
        return _run_lane(frames, timeline, smooth_cfg, track_cfg)

    def live(frames: Sequence[Detections], timeline: Timeline) -> list[TrackedFrame]:
        return _run_lane(frames, timeline, None, track_cfg)

    return {"panoray_offline": offline, "panoray_live": live}
PANORAY_SETTINGS = {"tracker": "TrackerConfig() defaults",
                    "smoothing": "SmoothingConfig() defaults"}


# --------------------------------------------------------------------------- peers


def to_sv(dets: Detections) -> Any:
    """Detections -> supervision.Detections (boxes, scores, class ids)."""
    import supervision as sv

    return sv.Detections(xyxy=dets.boxes.astype(np.float32),
                         confidence=dets.scores.astype(np.float32),
                         class_id=dets.class_ids.astype(int))


def from_sv(out: Any) -> Tracks:
    """supervision.Detections with tracker_id -> Tracks, dropping unconfirmed rows (id -1)."""
    if len(out) == 0:
        return Tracks.empty()
    keep = np.asarray(out.tracker_id) >= 0
    cls = out.class_id if out.class_id is not None else np.zeros(len(out), np.int16)
    return Tracks(out.xyxy[keep], out.confidence[keep], cls[keep], out.tracker_id[keep])


def roboflow_tracker(class_name: str, **overrides: Any) -> Runner:
    """A runner for one tracker class of Roboflow's ``trackers`` package."""

    def run(frames: Sequence[Detections], timeline: Timeline) -> list[TrackedFrame]:
        import trackers

        tracker = getattr(trackers, class_name)(frame_rate=timeline.fps, **overrides)
        return [TrackedFrame(timeline.meta(i),
                             from_sv(tracker.update(to_sv(d), timestamp=timeline.meta(i).pts_s)))
                for i, d in enumerate(frames)]

    run.__name__ = class_name
    return run


def supervision_bytetrack(frames: Sequence[Detections], timeline: Timeline
                          ) -> list[TrackedFrame]:
    """supervision's ByteTrack (deprecated since 0.28, still in 0.30), defaults."""
    import supervision as sv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        tracker = sv.ByteTrack(frame_rate=max(1, round(timeline.fps)))
    return [TrackedFrame(timeline.meta(i), from_sv(tracker.update_with_detections(to_sv(d))))
            for i, d in enumerate(frames)]


PEERS: dict[str, Runner] = {
    "sort": roboflow_tracker("SORTTracker"),
    "bytetrack": roboflow_tracker("ByteTrackTracker"),
    "ocsort": roboflow_tracker("OCSORTTracker"),
    "botsort": roboflow_tracker("BoTSORTTracker", enable_cmc=False),
    "cbiou": roboflow_tracker("CBIoUTracker"),
    "mcbyte": roboflow_tracker("McByteTracker", enable_cmc=False),
    "sv_bytetrack": supervision_bytetrack,
}
PEER_SETTINGS = {
    "sort": "trackers.SORTTracker(frame_rate=fps); update(timestamp=pts)",
    "bytetrack": "trackers.ByteTrackTracker(frame_rate=fps); update(timestamp=pts)",
    "ocsort": "trackers.OCSORTTracker(frame_rate=fps); update(timestamp=pts)",
    "botsort": "trackers.BoTSORTTracker(frame_rate=fps, enable_cmc=False): no images for "
               "camera motion compensation, no re-identification; update(timestamp=pts)",
    "cbiou": "trackers.CBIoUTracker(frame_rate=fps); update(timestamp=pts)",
    "mcbyte": "trackers.McByteTracker(frame_rate=fps, enable_cmc=False), no masks "
              "(motion only); update(timestamp=pts)",
    "sv_bytetrack": "supervision.ByteTrack(frame_rate=round(fps)); update_with_detections",
}


def available_peers(names: Sequence[str] | None = None) -> dict[str, Runner]:
    """The peers whose library imports and runs; a missing one is logged and left out."""
    out = {}
    probe = Timeline.regular("probe", 2, 10.0, 64, 64)
    one = Detections(np.array([[10, 10, 20, 40]], np.float32), np.array([0.9], np.float32),
                     np.array([1], np.int16))
    for name in names if names is not None else PEERS:
        try:
            PEERS[name]([one, one], probe)
        except Exception as exc:  # noqa: BLE001 - report any import or setup failure
            log.warning("peer %s unavailable: %s", name, exc)
            continue
        out[name] = PEERS[name]
    return out


def as_mot(frames: Sequence[TrackedFrame], times_s: npt.NDArray[np.float64]) -> MotSequence:
    """A tracker's output as a MotSequence of ``len(times_s)`` frames (each frame by its
    media time; frames the tracker did not return are empty)."""
    per = [Tracks.empty()] * len(times_s)
    for f in frames:
        k = min(int(np.searchsorted(times_s, f.meta.pts_s - 1e-6)), len(times_s) - 1)
        per[k] = f.tracks
    return MotSequence.from_tracks(per, len(times_s))
