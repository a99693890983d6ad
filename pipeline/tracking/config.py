"""Tracker configuration: every threshold of the ByteTrack-class tracker is a named field.

Times are media seconds (the frames' presentation timestamps), never frame counts, so
the same config behaves the same at 10, 25 or 30 fps and when frames are dropped.
Motion noise is given per second and relative to box size, so it does not depend on
the frame rate or on how far the camera is from the people.

The defaults were chosen with ``benchmarks/tracking.py`` (perturbed ground truth and
real video of TUD-Campus and TUD-Stadtmitte, bundled person detector at threshold 0.1);
where they differ from ByteTrack's, the field says why.

Example:
    >>> cfg = TrackerConfig(lost_buffer_s=2.0)
    >>> cfg.min_hits
    2
"""

from __future__ import annotations

from pydantic import Field, model_validator

from pipeline.config import StrictModel


class TrackerConfig(StrictModel):
    """How detections become tracks on one camera (ByteTrack-class association).

    A detection with ``score >= high_score`` takes part in the first association stage and
    may start a track; one with ``low_score <= score < high_score`` can only extend
    existing tracks; one below ``low_score`` is ignored.
    """

    high_score: float = Field(
        0.5, gt=0.0, le=1.0,
        description="Detections scoring at least this join the first association stage "
        "(0..1). ByteTrack's `track_thresh`.",
    )
    low_score: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Detections scoring below this are ignored (0..1). 0 keeps whatever "
        "the detector kept: the detector's own threshold is the place to cut. ByteTrack "
        "uses 0.1.",
    )
    new_track_score: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Least score of an unmatched detection that starts a new (tentative) "
        "track (0..1); at least high_score. ByteTrack uses track_thresh + 0.1, which "
        "delayed the start of partly hidden people in the benchmark.",
    )
    match_iou: float = Field(
        0.2, gt=0.0, le=1.0,
        description="Least IoU between a confirmed track's predicted box and a high-score "
        "detection for them to be matched (first stage). ByteTrack's match_thresh 0.8 as a "
        "cost is IoU 0.2.",
    )
    low_match_iou: float = Field(
        0.35, gt=0.0, le=1.0,
        description="Least IoU for a low-score detection to extend a confirmed track "
        "(second stage); stricter than match_iou because low-score boxes include clutter. "
        "ByteTrack uses 0.5.",
    )
    low_score_max_gap_s: float = Field(
        0.5, ge=0.0, le=3600.0,
        description="Low-score detections may extend a confirmed track only if it was last "
        "matched at most this many media seconds before the previous update. 0 allows "
        "only tracks matched in the previous update (ByteTrack), which loses people who "
        "stay partly hidden after one missed detection.",
    )
    tentative_match_iou: float = Field(
        0.3, gt=0.0, le=1.0,
        description="Least IoU for a detection of any score to extend a tentative (not yet "
        "confirmed) track (third stage).",
    )
    min_hits: int = Field(
        2, ge=1, le=100,
        description="Matched updates in a row a tentative track needs before it is "
        "confirmed, gets an id and is output; a tentative track missing one update is "
        "dropped. 1 confirms a track on its first detection (more recall, more false "
        "tracks).",
    )
    lost_buffer_s: float = Field(
        1.0, ge=0.0, le=3600.0,
        description="Media seconds a confirmed track is kept, coasting on its motion model, "
        "after its last matched detection; a detection later than that starts a new id.",
    )
    class_aware: bool = Field(
        True, description="Match detections only to tracks of the same class id."
    )
    measurement_std: float = Field(
        0.05, gt=0.0, le=10.0,
        description="Detector box noise, as a fraction of the box's width (x, w) or height "
        "(y, h); one standard deviation. ByteTrack's std_weight_position.",
    )
    position_noise: float = Field(
        0.1, ge=0.0, le=100.0,
        description="Process noise of the box centre and size, in box widths/heights per "
        "square root of a second (random-walk diffusion). ByteTrack's per-frame 1/20 "
        "is about 0.27 at 30 fps.",
    )
    velocity_noise: float = Field(
        0.3, ge=0.0, le=100.0,
        description="Process noise of the velocities, in box widths/heights per second per "
        "square root of a second: how quickly people change speed or direction.",
    )
    initial_velocity_std: float = Field(
        1.0, gt=0.0, le=100.0,
        description="Uncertainty of a new track's velocity, in box widths/heights per "
        "second (a walking person moves about 0.8 of their height per second).",
    )
    max_tracks: int = Field(
        4096, ge=1, le=1_000_000,
        description="Most tracks (tentative and confirmed) one camera holds; further births "
        "are refused, counted in stats and logged. Bounds memory on pathological input.",
    )

    @model_validator(mode="after")
    def _check(self) -> TrackerConfig:
        if self.low_score > self.high_score:
            raise ValueError(
                f"low_score ({self.low_score}) must not exceed high_score ({self.high_score})"
            )
        if self.new_track_score < self.high_score:
            raise ValueError(
                f"new_track_score ({self.new_track_score}) must be at least high_score "
                f"({self.high_score}): only first-stage detections can start tracks"
            )
        return self
