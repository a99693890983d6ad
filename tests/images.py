"""Real test images that ship with test dependencies, and their by-eye ground truth."""

from __future__ import annotations

import cv2
import numpy as np

# scikit-image's `astronaut` (Eileen Collins, NASA, public domain), 512x512. The person's
# box, checked by eye on a rendering of the image: from the left edge of her suit to the
# right edge of the suit at the helmet, hair top to the bottom of the frame.
ASTRONAUT_PERSON_BOX = np.array([15, 15, 365, 512], np.float32)


def astronaut_rgb() -> np.ndarray:
    """(512, 512, 3) uint8 RGB photograph with one person."""
    from skimage import data

    return data.astronaut()


def encode(rgb: np.ndarray, ext: str = ".jpg") -> bytes:
    """Encodes an RGB image as JPEG or PNG bytes."""
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two xyxy boxes."""
    from pipeline.boxes import iou_matrix

    return float(iou_matrix(np.asarray([a]), np.asarray([b]))[0, 0])
