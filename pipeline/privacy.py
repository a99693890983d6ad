"""Privacy of every image that leaves the pipeline, in one place.

A camera keeps one frame every ``stills.interval_s`` as a still (the heatmap background
and the dashboard's tile). Before that still leaves the camera actor it is downscaled to
at most ``stills.max_side`` pixels, every detected person is pixelated, and the whole
still is softened so that people the detector missed show no detail either
(:func:`private_still`). Nothing downstream blurs again or sees a raw frame. Cameras with
no still yet get a neutral grey background (:func:`grey_background`).

Example:
    >>> frame = np.zeros((480, 640, 3), np.uint8)
    >>> still = private_still(downscale(frame, 320), np.array([[10, 10, 50, 90]]), 3.0)
    >>> still.shape
    (240, 320, 3)
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError

STILL_MAX_SIDE = 640
"""Default longest side of a still, pixels (``stills.max_side``); also of the grey
background of cameras without a still."""
GREY_LEVEL = 96
"""Grey level of the background of a heatmap drawn without a still."""


def check_bgr(frame: np.ndarray, name: str) -> None:
    """Raises InputError naming ``name`` unless ``frame`` is an (h, w, 3) uint8 BGR image."""
    if (
        not isinstance(frame, np.ndarray)
        or frame.dtype != np.uint8
        or frame.ndim != 3
        or frame.shape[2] != 3
    ):
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise InputError(
            f"{name} must be a (height, width, 3) uint8 BGR image, but got shape {shape} "
            f"dtype {dtype}",
            name,
        )


def blur_people(
    frame_bgr: npt.NDArray[np.uint8],
    boxes: npt.ArrayLike,
    method: Literal["pixelate", "gaussian"] = "pixelate",
    margin: float = 0.15,
    blocks: int = 6,
) -> npt.NDArray[np.uint8]:
    """Returns a copy of a frame with every person box made unrecognisable.

    Pixelation is the default: averaging each box down to a few blocks discards the
    detail for good, whereas a Gaussian blur of moderate strength can be partly undone.

    Args:
        frame_bgr: (h, w, 3) uint8 BGR frame; not modified.
        boxes: (n, 4) xyxy boxes in the frame's pixels.
        method: ``pixelate`` (each box becomes ``blocks`` blocks across its shorter side)
            or ``gaussian`` (a blur whose sigma is a quarter of the box's longer side).
        margin: each box is enlarged by this fraction of its size on every side first.
        blocks: blocks across the shorter side of a box when pixelating (>= 1).

    Raises:
        InputError: the frame is not a BGR image or boxes are not (n, 4).
    """
    check_bgr(frame_bgr, "frame_bgr")
    b = np.asarray(boxes, np.float64)
    if b.size == 0:
        return frame_bgr.copy()
    if b.ndim != 2 or b.shape[1] != 4:
        raise InputError(f"boxes must have shape (_, 4), but got shape {b.shape}", "boxes")
    if method not in ("pixelate", "gaussian"):
        raise InputError(f"method must be 'pixelate' or 'gaussian', but got {method!r}", "method")
    if blocks < 1 or margin < 0:
        raise InputError(f"blocks must be >= 1 and margin >= 0, got {blocks}, {margin}", "blocks")
    out = frame_bgr.copy()
    h, w = out.shape[:2]
    for x1, y1, x2, y2 in b[np.isfinite(b).all(axis=1)]:
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        ix1, iy1 = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
        ix2, iy2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
        if ix2 <= ix1 or iy2 <= iy1:
            continue
        roi = out[iy1:iy2, ix1:ix2]
        rh, rw = roi.shape[:2]
        if method == "pixelate":
            block = max(1, min(rh, rw) // blocks)
            small = cv2.resize(
                roi, (max(1, rw // block), max(1, rh // block)), interpolation=cv2.INTER_AREA
            )
            roi[:] = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_NEAREST)
        else:
            sigma = max(rh, rw) / 4.0
            roi[:] = cv2.GaussianBlur(roi, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    return out


def downscale(frame: npt.NDArray[np.uint8], max_side: int) -> npt.NDArray[np.uint8]:
    """A copy of ``frame`` whose longer side is at most ``max_side`` pixels."""
    scale = max_side / max(frame.shape[:2])
    if scale >= 1:
        return frame.copy()
    return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def private_still(
    still_bgr: npt.NDArray[np.uint8], person_boxes: npt.ArrayLike, soften_sigma_px: float
) -> npt.NDArray[np.uint8]:
    """A still fit to leave the camera: every person pixelated, then the whole still
    softened with a Gaussian blur of ``soften_sigma_px`` (0: not softened).

    Args:
        still_bgr: (h, w, 3) uint8 BGR, already downscaled (:func:`downscale`).
        person_boxes: (n, 4) xyxy boxes of the detected people, in the still's pixels.
        soften_sigma_px: sigma of the whole-still blur, pixels of the still.
    """
    out = blur_people(still_bgr, person_boxes)
    if soften_sigma_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), soften_sigma_px)
    return out


def grey_background(width: int, height: int) -> npt.NDArray[np.uint8]:
    """The neutral (h, w, 3) uint8 background of a camera's heatmap when it has no still:
    the frame's aspect ratio, at most :data:`STILL_MAX_SIDE` pixels a side."""
    scale = min(1.0, STILL_MAX_SIDE / max(width, height))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    return np.full((h, w, 3), GREY_LEVEL, np.uint8)
