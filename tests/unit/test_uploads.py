"""Decoding untrusted uploads: each bad input gets an error that names the problem."""

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.app.uploads import decode_image
from pipeline.errors import InputError, InputTooLargeError
from tests.images import astronaut_rgb, encode


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, "PNG")
    return buf.getvalue()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "GIF")
    return buf.getvalue()


JPEG = encode(astronaut_rgb(), ".jpg")
PNG = encode(astronaut_rgb(), ".png")


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", InputError, "the request body is empty"),
        (b"hello world", InputError, r"the body \(11 bytes\) is not a decodable JPEG or PNG"),
        (JPEG[: len(JPEG) // 2], InputError, "the JPEG image is truncated or corrupt"),
        (PNG[: len(PNG) // 2], InputError, "the PNG image is truncated or corrupt"),
        (_gif(), InputError, "unsupported image format GIF"),
        (_png(9000, 4), InputTooLargeError, "image is 9000x4 pixels; the limit is 8192"),
    ],
)
def test_bad_images_are_refused_with_the_reason(data, error, message):
    with pytest.raises(error, match=message):
        decode_image(data, max_side=8192)


@pytest.mark.parametrize("data", [JPEG, PNG])
def test_good_images_decode_to_rgb(data):
    rgb = decode_image(data, max_side=8192)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - astronaut_rgb()).mean() < 5  # RGB order, not BGR


def test_grey_png_becomes_three_channels():
    buf = io.BytesIO()
    Image.new("L", (10, 6), 7).save(buf, "PNG")
    assert decode_image(buf.getvalue(), 8192).shape == (6, 10, 3)
