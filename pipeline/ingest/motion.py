"""The motion test of motion-gated inference (``inference.skip_static``). No Ray.

A :class:`MotionGate` sees a camera's frames in order, in its decode thread, and says for
each whether it must go to the detector or may *hold* the detections of the last frame
that went (the *reference*)::

    BGR frame ──▶ resize (area) to thumb_width ──▶ grey ──▶ Gaussian blur ──▶ thumbnail
    thumbnail - (gain x reference + offset) ──▶ |.| > pixel_threshold
              ──▶ changed fraction >= min_changed_fraction: motion

Gain and offset are the least-squares fit of the thumbnail on the reference, so light
that changes over the whole view (dusk, clouds, auto exposure) does not count as motion.

A frame is detected (and becomes the reference) when there is no reference yet, when it
moved against the reference, within ``settle_s`` of the last motion, when the reference is
``max_static_s`` old (people standing still are re-confirmed), or after
:meth:`MotionGate.invalidate` (the reference's detection failed). Otherwise it is static:
the image has not changed since the reference beyond sensor noise, so the reference's
detections still describe it.

Comparing with the last *detected* frame rather than the previous frame means slow
movements add up until they count, and the held detections always belong to an image
that differs from this one by less than the thresholds.

Example:
    >>> import numpy as np
    >>> gate = MotionGate(MotionGateConfig())
    >>> still = np.full((480, 640, 3), 90, np.uint8)
    >>> gate.check(still, 0.0, 0), gate.check(still, 1.0, 25)      # first frame: detect
    (None, 0)
    >>> moved = still.copy(); moved[100:300, 200:260] = 220
    >>> gate.check(moved, 1.04, 26)                                 # motion: detect
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.ingest.config import MotionGateConfig

TIME_EPSILON_S = 1e-6
"""Slack in media-time comparisons (pts built as ``frame / fps`` carry float rounding)."""


def thumbnail(frame: npt.NDArray[np.uint8], width: int,
              blur_sigma_px: float) -> npt.NDArray[np.uint8]:
    """A small blurred grey copy of a BGR frame.

    Args:
        frame: (H, W, 3) uint8 BGR (or (H, W) grey).
        width: thumbnail width in pixels; the height keeps the aspect (at least 1).
        blur_sigma_px: Gaussian sigma in thumbnail pixels; 0 for none.

    Returns:
        (h, width) uint8 grey.
    """
    h, w = frame.shape[:2]
    height = max(1, round(h * width / w))
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    if blur_sigma_px > 0:
        grey = cv2.GaussianBlur(grey, (0, 0), blur_sigma_px)
    return grey


MAX_GAIN = 2.0
"""Largest light gain (either way) between a frame and its reference that is taken off."""


def changed_fraction(thumb: npt.NDArray[np.uint8], reference: npt.NDArray[np.uint8],
                     pixel_threshold: float) -> float:
    """Fraction (0..1) of pixels that differ by more than ``pixel_threshold`` grey levels
    between two thumbnails of the same shape, once the reference is mapped by the gain and
    offset that best explain the thumbnail (a light change over the whole view)."""
    cur = thumb.astype(np.float32).ravel()
    ref = reference.astype(np.float32).ravel()
    cur_mean, ref_mean = float(cur.mean()), float(ref.mean())
    ref -= ref_mean
    var = float(ref @ ref)
    gain = float(ref @ (cur - cur_mean)) / var if var > ref.size else 1.0
    gain = min(max(gain, 1.0 / MAX_GAIN), MAX_GAIN)
    residual = cur - cur_mean - gain * ref
    return float(np.count_nonzero(np.abs(residual) > pixel_threshold)) / residual.size


class MotionGate:
    """Decides per frame, in frame order, whether the detector must see it.

    Args:
        config: the thresholds (see :class:`~pipeline.ingest.config.MotionGateConfig`).

    Attributes:
        last_changed: changed fraction of the latest frame against the reference (0..1).
    """

    def __init__(self, config: MotionGateConfig) -> None:
        self.config = config
        self.last_changed = 0.0
        self.reset()

    def reset(self) -> None:
        """Forgets the reference (a new source session): the next frame is detected."""
        self._reference: npt.NDArray[np.uint8] | None = None
        self._reference_pts = 0.0
        self._reference_index = -1
        self._motion_pts = float("-inf")
        self._force = False

    def invalidate(self) -> None:
        """The reference's detection failed, or its result was lost: the next frame is
        detected. Safe to call from another thread (sets one flag)."""
        self._force = True

    def check(self, frame: npt.NDArray[np.uint8], pts_s: float, frame_index: int) -> int | None:
        """Tests one frame.

        Args:
            frame: (H, W, 3) uint8 BGR, the decoded frame.
            pts_s: its media time (seconds), not before the previous frame's.
            frame_index: its index in the source.

        Returns:
            None: detect this frame (it becomes the reference); otherwise the frame_index
            of the reference whose detections this static frame holds.
        """
        cfg = self.config
        thumb = thumbnail(frame, cfg.thumb_width, cfg.blur_sigma_px)
        ref = self._reference
        if ref is None or ref.shape != thumb.shape or pts_s < self._reference_pts:
            return self._detect(thumb, pts_s, frame_index, moved=True)
        self.last_changed = changed_fraction(thumb, ref, cfg.pixel_threshold)
        moved = self.last_changed >= cfg.min_changed_fraction
        if (moved or self._force
                or pts_s - self._motion_pts < cfg.settle_s - TIME_EPSILON_S
                or pts_s - self._reference_pts >= cfg.max_static_s - TIME_EPSILON_S):
            return self._detect(thumb, pts_s, frame_index, moved)
        return self._reference_index

    def _detect(self, thumb: npt.NDArray[np.uint8], pts_s: float, frame_index: int,
                moved: bool) -> None:
        self._force = False
        self._reference = thumb
        self._reference_pts = pts_s
        self._reference_index = frame_index
        if moved:
            self._motion_pts = pts_s
        return None
