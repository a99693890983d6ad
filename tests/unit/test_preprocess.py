"""Model-declared preprocessing and the transform back to original pixels."""

import numpy as np
import pytest

from models.preprocess import FrameTransform, InputSpec, prepare_frame
from pipeline.errors import InputError


@pytest.mark.parametrize(
    ("spec", "w", "h", "model_box", "original_box"),
    [
        (InputSpec(300, 300, "plain"), 600, 150, [30, 30, 150, 300], [60, 15, 300, 150]),
        # 640x320 into 320x320 letterbox: scale 0.5, 80 px of padding on top and bottom
        (InputSpec(320, 320, "letterbox"), 640, 320, [0, 80, 320, 240], [0, 0, 640, 320]),
        (InputSpec(320, 320, "letterbox"), 640, 320, [10, 90, 20, 100], [20, 20, 40, 40]),
    ],
)
def test_transform_maps_model_pixels_back(spec, w, h, model_box, original_box):
    tf = FrameTransform.for_frame(spec, w, h)
    out = tf.to_original(np.array([model_box], np.float32))
    np.testing.assert_allclose(out[0], original_box, atol=1e-4)


def test_boxes_are_clipped_to_the_frame():
    tf = FrameTransform.for_frame(InputSpec(100, 100), 200, 200)
    out = tf.to_original(np.array([[-10, -10, 150, 150]], np.float32))
    assert out.tolist() == [[0, 0, 200, 200]]


def test_prepare_frame_letterbox_places_content_and_converts_to_rgb():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :, 0] = 255  # pure blue in BGR
    out, tf = prepare_frame(frame, InputSpec(64, 64, "letterbox", pad_value=114))
    assert out.shape == (64, 64, 3) and (tf.pad_x, tf.pad_y) == (0, 16)
    assert out[0, 0].tolist() == [114, 114, 114]  # padding
    assert out[32, 32].tolist() == [0, 0, 255]  # blue, now RGB


def test_to_model_input_layouts():
    batch = np.full((2, 4, 4, 3), 255, np.uint8)
    x = InputSpec(4, 4, "letterbox", "NCHW", "float32").to_model_input(batch)
    assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32 and x.max() == 1.0
    assert InputSpec(4, 4).to_model_input(batch).dtype == np.uint8


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "frame must be a uint8 numpy array, got float32"),
        (np.zeros((10, 10), np.uint8), r"frame must have shape \(H, W, 3\), got \(10, 10\)"),
        ([[1, 2, 3]], "frame must be a uint8 numpy array, got list"),
        (np.zeros((0, 10, 3), np.uint8), "frame size must be positive, got 10x0"),
    ],
)
def test_prepare_frame_rejects_bad_frames(frame, message):
    with pytest.raises(InputError, match=message):
        prepare_frame(frame, InputSpec(32, 32))
