"""Preprocessing declared by a model, applied by whoever holds the full-resolution frame.

Camera actors call :func:`prepare_frame` so that only model-sized frames travel to the
detector; the detector maps boxes back with :class:`FrameTransform`, which depends only on
the model's :class:`InputSpec` and the original frame size.

Example:
    >>> spec = InputSpec(width=300, height=300, resize="plain")
    >>> small, tf = prepare_frame(np.zeros((480, 640, 3), np.uint8), spec)
    >>> small.shape, tf.to_original(np.array([[0, 0, 300, 300]], np.float32)).tolist()
    ((300, 300, 3), [[0.0, 0.0, 640.0, 480.0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.errors import InputError


@dataclass(frozen=True)
class InputSpec:
    """The input a model expects.

    Attributes:
        width: model input width in pixels.
        height: model input height in pixels.
        resize: ``plain`` stretches the frame to the input size; ``letterbox`` keeps the
            aspect ratio and pads the rest with ``pad_value``.
        layout: tensor layout the model takes (``NHWC`` or ``NCHW``).
        dtype: ``uint8`` (0..255) or ``float32`` (scaled to 0..1).
        pad_value: grey level of letterbox padding, 0..255.
    """

    width: int
    height: int
    resize: Literal["plain", "letterbox"] = "plain"
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    dtype: Literal["uint8", "float32"] = "uint8"
    pad_value: int = 114

    def to_model_input(self, batch_rgb: npt.NDArray[np.uint8]) -> np.ndarray:
        """Converts (n, height, width, 3) uint8 RGB frames to the model's input tensor."""
        x = batch_rgb
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        if self.dtype == "float32":
            x = x.astype(np.float32) * np.float32(1.0 / 255.0)
        return np.ascontiguousarray(x)


@dataclass(frozen=True)
class FrameTransform:
    """Maps model-input pixel coordinates back to original-frame pixels.

    ``original = (model - pad) / scale``, per axis.

    Attributes:
        scale_x: model pixels per original pixel, horizontally.
        scale_y: model pixels per original pixel, vertically.
        pad_x: left padding in model pixels.
        pad_y: top padding in model pixels.
        width: original frame width in pixels.
        height: original frame height in pixels.
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    width: int
    height: int

    @classmethod
    def for_frame(cls, spec: InputSpec, width: int, height: int) -> FrameTransform:
        """Returns the transform ``spec`` applies to a ``width`` x ``height`` frame."""
        if width <= 0 or height <= 0:
            raise InputError(f"frame size must be positive, got {width}x{height}", "frame.size")
        if spec.resize == "plain":
            return cls(spec.width / width, spec.height / height, 0.0, 0.0, width, height)
        scale = min(spec.width / width, spec.height / height)
        new_w, new_h = round(width * scale), round(height * scale)
        return cls(scale, scale, (spec.width - new_w) // 2, (spec.height - new_h) // 2,
                   width, height)

    def to_original(self, boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Maps (n, 4) xyxy boxes in model pixels to original pixels, clipped to the frame."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, 0::2] = (boxes[:, 0::2] - self.pad_x) / self.scale_x
        out[:, 1::2] = (boxes[:, 1::2] - self.pad_y) / self.scale_y
        np.clip(out[:, 0::2], 0, self.width, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.height, out=out[:, 1::2])
        return out


def prepare_frame(
    frame: npt.NDArray[np.uint8], spec: InputSpec, color: Literal["BGR", "RGB"] = "BGR"
) -> tuple[npt.NDArray[np.uint8], FrameTransform]:
    """Resizes a full frame to the model's input.

    Args:
        frame: (H, W, 3) uint8 image, channel order given by ``color`` (OpenCV decodes BGR).
        spec: the model's input spec.
        color: channel order of ``frame``.

    Returns:
        ((spec.height, spec.width, 3) uint8 RGB, the transform back to ``frame`` pixels).
    """
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        got = frame.dtype if isinstance(frame, np.ndarray) else type(frame).__name__
        raise InputError(f"frame must be a uint8 numpy array, got {got}", "frame.dtype")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame must have shape (H, W, 3), got {frame.shape}", "frame.shape")
    h, w = frame.shape[:2]
    tf = FrameTransform.for_frame(spec, w, h)
    if spec.resize == "plain":
        out = cv2.resize(frame, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
    else:
        new_w, new_h = round(w * tf.scale_x), round(h * tf.scale_y)
        out = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
        px, py = int(tf.pad_x), int(tf.pad_y)
        out[py : py + new_h, px : px + new_w] = cv2.resize(
            frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR
        )
    if color == "BGR":
        out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    return out, tf
