"""Tracker configuration: every threshold of the ByteTrack-class tracker is a named field.

Times are media seconds (the frames' presentation timestamps), never frame counts, so
the same config behaves the same at 10, 25 or 30 fps and when frames are dropped.
Motion noise is given per second and relative to box size, so it does not depend on
the frame rate or on how far the camera is from the people.

The defaults were chosen on the development seeds of the long-sequence identity benchmark
(``benchmarks/identity_sweep.py``), then checked on its held-out seeds and on the real
TUD videos (``benchmarks/accuracy.py``); docs/identity-history.md gives each choice with
its figures. Where a default differs from ByteTrack's, the field says why.

Example:
    >>> cfg = TrackerConfig(lost_buffer_s=2.0)
    >>> cfg.min_hits
    2
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from pipeline.config import StrictModel


_HELD = " At most lookahead_s (left at its default, it shortens to a shorter lookahead_s)."
"""Said of every smoother window that only frames still held can fill."""


def _still_field(default: float, base: str, le: float, why: str, held: bool = False) -> Any:
    """A ``still_*`` setting: ``base``'s value (media seconds) while the tracker judges the
    camera still (:func:`pipeline.tracking.still_camera.in_force`); ``held``: a smoother
    window, bounded by the lookahead (:data:`_HELD`)."""
    return Field(
        default, ge=0.0, le=le,
        description=f"{base} (if longer) while the tracker judges the camera still from the "
        "tracked people themselves (pipeline.tracking.still_camera: their median growth "
        f"rate stays small); None: {base} always. {why}" + (_HELD if held else ""),
    )


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
        0.6, ge=0.0, le=1.0,
        description="Least score of an unmatched detection that starts a new (tentative) "
        "track (0..1); at least high_score. ByteTrack uses track_thresh + 0.1, which "
        "starts the tracks of partly hidden people later.",
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
        0.7, ge=0.0, le=3600.0,
        description="Media seconds a confirmed track is kept, coasting on its motion model, "
        "after its last matched detection; a detection later than that starts a new id.",
    )
    still_lost_buffer_s: float | None = _still_field(
        2.0, "lost_buffer_s", 3600.0, "Longer coasting keeps people hidden for a few "
        "seconds on a still camera, but on a camera that moves forward it hands their "
        "track to someone else (docs/identity-history.md, sixth round).",
    )
    still_window_s: float = Field(
        3.0, gt=0.0, le=60.0,
        description="Media seconds of updates the still-camera judgement looks back over.",
    )
    still_max_scale_rate: float = Field(
        0.10, gt=0.0, le=10.0,
        description="The camera is judged still while, in more than half of the updates "
        "of the last still_window_s, the median growth rate of the confirmed tracks seen "
        "(d log height / dt, 1/s) lies within this of 0: people ahead of a camera that "
        "moves forward grow together.",
    )
    still_min_tracks: int = Field(
        2, ge=1, le=1000,
        description="Updates with fewer confirmed tracks seen (and at least "
        "still_min_track_age_s old) say nothing about the camera.",
    )
    still_min_track_age_s: float = Field(
        0.5, ge=0.0, le=60.0,
        description="Tracks younger than this (media s) are left out of the judgement: "
        "their motion model's growth rate is not settled yet.",
    )
    still_min_samples: int = Field(
        3, ge=1, le=1000,
        description="Fewer informative updates than this in the window: not judged still.",
    )
    coast_output_s: float = Field(
        0.2, ge=0.0, le=3600.0,
        description="Live mode (no smoother): a confirmed track whose person the detector "
        "missed in a frame is still output there, at the track's predicted box, for up to "
        "this many media seconds after its last matched detection (never beyond "
        "lost_buffer_s) and while that box is wholly inside the frame, so that a short "
        "miss neither drops the person from occupancy and dwell nor breaks their track in "
        "the output. 0: only detected boxes are output. Offline the smoother interpolates "
        "gaps instead, and this is not used.",
    )
    still_coast_output_s: float | None = _still_field(
        0.5, "coast_output_s", 3600.0, "A moving camera shifts everyone in the image, so "
        "a predicted box goes wrong sooner than on a still one.",
    )
    max_height_ratio: float | None = Field(
        1.4, ge=1.0, le=100.0,
        description="A detection whose box height differs from a track's predicted height "
        "by more than this factor (either way) is never matched to it: such a box is "
        "another person, or two people merged into one box. Lower rejects more wrong "
        "matches and also more right ones where occlusion hides half a person. None: off.",
    )
    reupdate: bool = Field(
        True,
        description="OC-SORT's observation-centric re-update: a track matched again after "
        "coasting replays its gap with virtual boxes on the line from its last observed box "
        "to the new one, instead of one correction after a long blind prediction, so its "
        "velocity follows the real displacement and it is not carried off by a stale one.",
    )
    reupdate_max_steps: int = Field(
        250, ge=1, le=10_000,
        description="Most virtual steps one re-update replays (one per frame interval of "
        "the gap); bounds the work after a long gap.",
    )
    recovery_iou: float = Field(
        0.3, gt=0.0, le=1.0,
        description="OC-SORT's observation-centric recovery: after the other stages, a "
        "high-score detection still unmatched may continue a coasting confirmed track "
        "whose last observed box (not its prediction) it overlaps by at least this IoU. "
        "1 turns the stage off.",
    )
    direction_weight: float = Field(
        0.35, ge=0.0, le=10.0,
        description="Momentum (after OC-SORT), in the first stage where a detection could "
        "go to more than one track or a track to more than one detection: each pair's IoU "
        "gains up to +/- weight/2, times the detection's score, as the detection lies ahead "
        "of the track along its direction of motion (+), across it (0) or behind it (-). "
        "It keeps people who meet or pass each other from trading ids. 0 turns it off. "
        "Too large, direction outweighs a large IoU difference and ids are traded the "
        "other way; OC-SORT uses 0.2.",
    )
    direction_window_s: float = Field(
        0.16, gt=0.0, le=10.0,
        description="Span (media seconds) over which the momentum term measures a "
        "detection's direction: from where the track's motion model puts it this long ago. "
        "Long enough that a walking person's step (about 0.13 of their height in 0.16 s) "
        "outweighs box jitter; the same span for tracks that are seen and tracks that coast.",
    )
    direction_min_speed: float = Field(
        0.1, ge=0.0, le=100.0,
        description="Tracks moving slower than this (box heights per second) have no "
        "direction to agree with and get no momentum term (a walking person moves about "
        "0.8 of their height per second).",
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
        0.2, ge=0.0, le=100.0,
        description="Process noise of the velocities, in box widths/heights per second per "
        "square root of a second: how quickly people change speed or direction. Lower "
        "gives a steadier velocity, which the momentum term (direction_weight) reads.",
    )
    velocity_adapt_nis: float | None = Field(
        2.5, gt=0.0, le=1000.0,
        description="While the median, over the confirmed tracks matched in two updates "
        "in a row, of their centre's squared prediction error in units of its predicted "
        "variance (about 1 where velocity_noise fits) stays above this, the centre's "
        "velocity noise rises, and falls back to velocity_noise below it: a camera that "
        "turns or swings moves everyone in ways a steady velocity does not foresee "
        "(pipeline.tracking.motion_noise). None: velocity_noise always.",
    )
    velocity_adapt_s: float = Field(
        1.0, gt=0.0, le=600.0,
        description="Media seconds over which the velocity variance is multiplied by the "
        "ratio of that median to velocity_adapt_nis (the adaptation's time constant).",
    )
    velocity_max_gain: float = Field(
        16.0, ge=1.0, le=1e6,
        description="Most the adaptation multiplies the centre's velocity variance by.",
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


class SmoothingConfig(StrictModel):
    """How the offline smoother (:class:`pipeline.tracking.smoothing.Smoother`) joins
    broken tracks and fills their gaps, in media seconds.

    It holds each frame for ``lookahead_s`` before releasing it downstream, so it only
    suits offline processing (or live outputs that may lag by that much). Set
    ``lookahead_s`` to at least the tracker's ``lost_buffer_s`` plus one frame interval:
    a track is joined to a successor only once the tracker has given it up, and that
    must happen before the track's last frame is released.
    """

    lookahead_s: float = Field(
        3.0, gt=0.0, le=60.0,
        description="Media seconds a frame is held before it is released downstream. "
        "Longer joins tracks broken by longer occlusions and delays outputs by as much. "
        "More than TrackerConfig.still_lost_buffer_s plus a frame, so that a track the "
        "tracker gives up after coasting that long on a still camera can still be joined "
        "while its last frame is held.",
    )
    max_gap_s: float = Field(
        0.7, ge=0.0, le=60.0,
        description="Longest gap (media seconds from a track's last box to its successor's "
        "first, or between two boxes of one track) that is joined and interpolated, "
        "unless the camera is judged still (still_max_gap_s). At most lookahead_s. "
        "Longer gaps join more occluded people and risk joining two "
        "different people who pass the same place.",
    )
    still_max_gap_s: float | None = _still_field(
        1.5, "max_gap_s", 60.0, "On a still camera a hidden person comes back where they "
        "were lost; on a moving one the scene shifts under them.", held=True,
    )
    min_track_s: float = Field(
        0.5, ge=0.0, le=60.0,
        description="A track that ends (the tracker gave it up, and no later track "
        "continues it) having lasted less than this many media seconds, first box to "
        "last, is left out of the output: short tracks are more often false or doubled "
        "detections than people, and each would count as one more person. A track that "
        "began within this time of the stream's start is kept (it may have begun before). "
        "Unless the camera is judged still (still_min_track_s). At most lookahead_s; 0 "
        "keeps every track.",
    )
    still_min_track_s: float | None = _still_field(
        1.0, "min_track_s", 60.0, "On a still camera a person stays in view for seconds; in "
        "front of a moving one people pass in a moment.", held=True,
    )
    max_jump: float = Field(
        0.6, ge=0.0, le=20.0,
        description="Greatest distance between a successor's first box centre and where "
        "the ended track's motion puts it, in heights of the ended track's box, for a gap "
        "of zero seconds.",
    )
    jump_per_s: float = Field(
        0.6, ge=0.0, le=20.0,
        description="Added to max_jump per second of gap (box heights per second): "
        "people change speed and direction while hidden. A walking person covers about "
        "0.8 of their height per second.",
    )
    max_size_ratio: float = Field(
        1.5, ge=1.0, le=10.0,
        description="A successor's box height must be within this factor of the ended "
        "track's (people do not grow or shrink much during a short gap).",
    )
    edge_margin: float = Field(
        0.02, ge=0.0, le=0.25,
        description="A track whose last box comes within this fraction of the frame's "
        "width (height) of its left or right (top or bottom) border has left the view and "
        "is not joined to a later track; a track whose first box is that close to the "
        "border has just come in and does not continue an earlier one.",
    )
    max_join_cost: float = Field(
        0.8, gt=0.0, le=2.0,
        description="Most a join may cost (pipeline.tracking.stitching.join_cost: the "
        "motion miss over its tolerance, 0..1, plus the height change over "
        "max_size_ratio, 0..1). 1 refuses a successor that is at the edge of both "
        "tolerances at once; 2 accepts whatever passes the gates.",
    )
    join_margin: float = Field(
        0.2, ge=0.0, le=2.0,
        description="A join is made only when every other later track allowed for the "
        "ended one costs at least this much more (join costs as in max_join_cost): where "
        "several people could be the one who came back, none is chosen. 0 turns the test "
        "off.",
    )
    min_successor_s: float = Field(
        0.2, ge=0.0, le=10.0,
        description="A later track continues an ended one only if it lasts at least this "
        "many media seconds (first to last box, as far as the lookahead shows): short "
        "fragments are more often duplicates or false detections than the lost person.",
    )
    duplicate_iou: float = Field(
        0.5, gt=0.0, le=1.0,
        description="A track whose first box overlaps another track's box in the same "
        "frame by at least this IoU is a duplicate of that track, not the return of an "
        "ended one, and is never joined to one.",
    )
    velocity_window_s: float = Field(
        0.6, gt=0.0, le=10.0,
        description="A track's velocity, used to predict where it reappears, is its "
        "displacement over its boxes in this last stretch of media time (seconds).",
    )
    backfill_births: bool = Field(
        True,
        description="Put back the first box of each track, which the tracker saw while "
        "the track was still tentative (before min_hits) and so released without an id, "
        "into its held frame under the track's id, so that each person's track starts "
        "where they were first detected.",
    )
    interpolate: bool = Field(
        True,
        description="Insert linearly interpolated boxes for the frames of a bridged gap, "
        "so zone dwell and occupancy do not drop while a person is hidden.",
    )
    box_smoothing_s: float = Field(
        0.4, ge=0.0, le=10.0,
        description="Each released box's anchor (bottom centre) is the mean of its track's "
        "anchors within this many media seconds either side (near a track's first or last "
        "box, within as many as that side has, so the window stays centred); 0 releases "
        "anchors as detected. Averages out the detector's frame-to-frame jitter of the "
        "anchor that lines and zones use; longer windows round off sharp turns. At most "
        "lookahead_s (left at its default, it shortens to a shorter lookahead_s).",
    )
    size_smoothing_s: float = Field(
        0.5, ge=0.0, le=10.0,
        description="Each released box's width and height are the means of its track's "
        "within this many media seconds either side (centred like box_smoothing_s), "
        "unless the camera is judged still (still_size_smoothing_s). The detector's box "
        "size jitters from frame to frame while a person's size changes steadily (a "
        "centred mean keeps a steady change); shorter windows follow faster changes. It "
        "does not move the anchor, so counts, visits and dwell do not depend on it; it "
        "makes boxes fit people better. At most lookahead_s (left at its default, it "
        "shortens to a shorter lookahead_s); 0 releases sizes as detected.",
    )
    still_size_smoothing_s: float | None = _still_field(
        1.0, "size_smoothing_s", 10.0, "A moving camera passes people close by, and their "
        "size in the image changes quickly and unevenly; on a still one it changes slowly "
        "and a longer mean fits it better.", held=True,
    )
    max_held_frames: int = Field(
        4096, ge=1, le=1_000_000,
        description="Most frames held at once; beyond it the oldest is released early "
        "(bounds memory when the frame rate is far higher than expected).",
    )

    @model_validator(mode="after")
    def _check(self) -> SmoothingConfig:
        held = "later boxes are averaged in only while held"
        bridged = "a gap is bridged only while its frames are held"
        judged = "a track's length is judged while its first frame is held"
        for name, why in (("box_smoothing_s", held), ("size_smoothing_s", held),
                          ("still_size_smoothing_s", held),
                          ("max_gap_s", bridged), ("still_max_gap_s", bridged),
                          ("min_track_s", judged), ("still_min_track_s", judged)):
            value = getattr(self, name)
            # Left at their defaults, all but max_gap_s shorten to a shorter lookahead_s.
            explicit = name == "max_gap_s" or name in self.model_fields_set
            if explicit and value is not None and value > self.lookahead_s:
                raise ValueError(f"{name} ({value}) must not exceed lookahead_s "
                                 f"({self.lookahead_s}): {why}")
        return self

    def held(self, value: float | None) -> float | None:
        """``value`` (media seconds) shortened to ``lookahead_s``: what a smoother window
        left at its default becomes under a shorter lookahead (only frames still held can
        fill it; the validator refuses a longer one set explicitly). None stays None."""
        return None if value is None else min(value, self.lookahead_s)

    @property
    def still_gap_s(self) -> float | None:
        """The longest gap joined while the camera is still: ``still_max_gap_s`` held to
        the lookahead (:meth:`held`); None when not set."""
        return self.held(self.still_max_gap_s)

    @property
    def anchor_window_s(self) -> float:
        """The anchor-smoothing window in use: ``box_smoothing_s`` held to the lookahead."""
        return min(self.box_smoothing_s, self.lookahead_s)

    @property
    def size_window_s(self) -> float:
        """The size-smoothing window on a moving camera: ``size_smoothing_s`` held to the
        lookahead."""
        return min(self.size_smoothing_s, self.lookahead_s)

    @property
    def still_size_window_s(self) -> float | None:
        """The size-smoothing window while the camera is still: ``still_size_smoothing_s``
        held to the lookahead; None when not set."""
        return self.held(self.still_size_smoothing_s)
