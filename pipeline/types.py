"""The data contracts that cross every stage boundary.

One columnar currency: :class:`Detections` and :class:`Tracks` are frozen dataclasses of
parallel numpy arrays, validated once on construction. Arrays are stored as read-only
views, so a stage can never mutate another stage's data; derive new values instead
(:meth:`Detections.filter`, :meth:`Detections.with_track_ids`).

A frame travels as two envelopes (ARCHITECTURE.md follows one through):

- :class:`DetectedFrame`: its :class:`FrameMeta` and :class:`Detections`, from the
  detector through the camera to tracking;
- :class:`TrackedFrame`: its meta, :class:`Tracks` and the ids that ended with it, from
  tracking (and the offline smoother) to analytics.

Example:
    >>> import numpy as np
    >>> d = Detections(np.array([[0, 0, 10, 20]], np.float32), np.array([0.9], np.float32),
    ...                np.array([0], np.int16))
    >>> len(d), d.anchors().tolist()
    (1, [[5.0, 20.0]])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError


def _frozen(array: Any, dtype: type, name: str, shape_tail: tuple[int, ...]) -> np.ndarray:
    """Returns ``array`` as a read-only ndarray of ``dtype``, checking its trailing shape."""
    out = np.asarray(array, dtype=dtype)
    if out.ndim != 1 + len(shape_tail) or out.shape[1:] != shape_tail:
        expected = "(_, " + ", ".join(map(str, shape_tail)) + ")" if shape_tail else "(_,)"
        raise InputError(f"{name} must have shape {expected}, but got shape {out.shape}", name)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


@dataclass(frozen=True)
class FrameMeta:
    """Where a frame came from and when.

    Attributes:
        camera_id: the camera's configured id.
        frame_index: 0-based index of the frame in its source (before any subsampling).
        pts_s: media time in seconds (presentation timestamp, or capture time for live).
        captured_at: wall-clock time the frame was decoded, seconds since the epoch.
        width: original frame width in pixels.
        height: original frame height in pixels.
    """

    camera_id: str
    frame_index: int
    pts_s: float
    captured_at: float
    width: int
    height: int


@dataclass(frozen=True)
class Detections:
    """Objects found in one frame.

    Attributes:
        boxes: (n, 4) float32, xyxy in original-frame pixels.
        scores: (n,) float32 confidences in [0, 1].
        class_ids: (n,) int16 class indices of the model's label set.
    """

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int16]

    COLUMNS: ClassVar[dict[str, tuple[type, tuple[int, ...]]]] = {
        "boxes": (np.float32, (4,)),
        "scores": (np.float32, ()),
        "class_ids": (np.int16, ()),
    }
    """Each parallel column's dtype and shape after the row axis."""

    def __post_init__(self) -> None:
        for name, (dtype, shape_tail) in self.COLUMNS.items():
            object.__setattr__(self, name, _frozen(getattr(self, name), dtype, name, shape_tail))
        n = len(self.boxes)
        for name in self.COLUMNS:
            if len(getattr(self, name)) != n:
                raise InputError(
                    f"{name} must have {n} entries to match boxes, but got "
                    f"{len(getattr(self, name))}",
                    name,
                )

    @classmethod
    def empty(cls) -> Self:
        """Returns an instance with no rows."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int16))

    def __len__(self) -> int:
        return len(self.boxes)

    def filter(self, keep: npt.NDArray[Any]) -> Self:
        """Returns the rows selected by a boolean mask or index array."""
        return type(self)(**{name: getattr(self, name)[keep] for name in self.COLUMNS})

    def scaled(self, sx: float, sy: float) -> Self:
        """Returns these rows with box x coordinates times ``sx`` and y times ``sy`` (the
        same objects in a frame resized by those factors)."""
        factors = np.array([sx, sy, sx, sy], np.float32)
        return dataclasses.replace(self, boxes=self.boxes * factors)

    def anchors(self) -> npt.NDArray[np.float32]:
        """Returns (n, 2) float32 bottom-centre points (x, y) in pixels."""
        b = self.boxes
        return np.stack([(b[:, 0] + b[:, 2]) * 0.5, b[:, 3]], axis=1).astype(np.float32)

    def valid_mask(self) -> npt.NDArray[np.bool_]:
        """Returns (n,) bool: True where a box is finite with positive width and height."""
        b = self.boxes
        finite = np.isfinite(b).all(axis=1) & np.isfinite(self.scores)
        with np.errstate(invalid="ignore"):
            return finite & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])

    def with_track_ids(self, track_ids: npt.ArrayLike) -> Tracks:
        """Returns Tracks made of these rows and the given (n,) int64 track ids."""
        return Tracks(self.boxes, self.scores, self.class_ids, np.asarray(track_ids, np.int64))

    @staticmethod
    def merge(items: list[Detections]) -> Detections:
        """Concatenates several Detections (for example from tiles) into one."""
        if not items:
            return Detections.empty()
        columns = Detections.COLUMNS
        return Detections(*(np.concatenate([getattr(d, c) for d in items]) for c in columns))


@dataclass(frozen=True)
class Tracks(Detections):
    """Detections with anonymous, run-scoped track ids.

    Attributes:
        track_ids: (n,) int64; never reused within a run of one camera.
    """

    track_ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    COLUMNS: ClassVar[dict[str, tuple[type, tuple[int, ...]]]] = {
        **Detections.COLUMNS,
        "track_ids": (np.int64, ()),
    }


@dataclass(frozen=True)
class DetectedFrame:
    """One frame's detections, as the detector returns them and the camera delivers them.

    Attributes:
        meta: the frame's origin and media time.
        detections: boxes in original-frame pixels; None from a camera that runs without
            a detector (metadata only).
        inference_ms: the detector's batched model run time for this frame (ms).
        queue_ms: time the frame waited at the detector for its batch (ms).
        batch_size: frames in the detector batch that held this frame.
        latency_ms: wall time from decoding the frame to delivering it (ms); set by the
            camera.
        static: True when the camera's motion gate (``inference.skip_static``) found
            nothing moved since its last detected frame: the detector was not called and
            ``detections`` are that frame's, held; tracking keeps its tracks where they
            were (:meth:`pipeline.tracking.tracker.ByteTracker.hold`).
    """

    meta: FrameMeta
    detections: Detections | None
    inference_ms: float = 0.0
    queue_ms: float = 0.0
    batch_size: int = 0
    latency_ms: float = 0.0
    static: bool = False


@dataclass(frozen=True)
class TrackedFrame:
    """One frame's tracks: what tracking (and the offline smoother) hands to analytics.

    Attributes:
        meta: the frame's metadata (frame numbers and media time on the camera's one
            timeline, see :class:`pipeline.tracking.splice.MediaSplice`).
        tracks: its tracked boxes.
        removed_ids: (k,) int64 ids that ended with this frame; downstream evicts their
            state.
    """

    meta: FrameMeta
    tracks: Tracks
    removed_ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        object.__setattr__(self, "removed_ids",
                           _frozen(self.removed_ids, np.int64, "removed_ids", ()))

    def at_size(self, width: int, height: int) -> TrackedFrame:
        """This frame as if it were ``width`` x ``height`` pixels (boxes scaled)."""
        meta = self.meta
        if (meta.width, meta.height) == (width, height):
            return self
        tracks = self.tracks.scaled(width / meta.width, height / meta.height)
        return TrackedFrame(dataclasses.replace(meta, width=width, height=height), tracks,
                            self.removed_ids)
