"""Decoding untrusted uploads: each bad input gets an error that names the problem."""

import io

import cv2
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


def _huge_png_header(side: int) -> bytes:
    """A PNG whose header says side x side pixels, with no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_an_image_far_over_the_limit_is_too_large_not_undecodable():
    with pytest.raises(InputTooLargeError, match="image has 400000000 pixels; the limit is 8192"):
        decode_image(_huge_png_header(20000), max_side=8192)


def test_a_photo_is_turned_upright_by_its_exif_orientation():
    """A phone stores a portrait photo sideways with orientation 6 (turn 90 degrees
    clockwise to show): decoded as shown, its boxes fit the image a browser displays."""
    upright = astronaut_rgb()[:, :384]  # 512 tall, 384 wide
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright)))  # as the sensor saw it
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=exif)
    rgb = decode_image(buf.getvalue(), 8192)
    assert rgb.shape == (512, 384, 3)
    assert np.abs(rgb.astype(int) - upright).mean() < 8


def test_sixteen_bit_grey_keeps_its_brightness():
    grey = (astronaut_rgb().mean(axis=2) * 257).astype(np.uint16)  # 0..65535
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    rgb = decode_image(buf.getvalue(), 8192)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb[..., 0].astype(int) - (grey >> 8)).max() <= 1


def test_a_multi_picture_jpeg_gives_its_first_picture():
    first, second = Image.fromarray(astronaut_rgb()), Image.new("RGB", (512, 512))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], quality=95)
    assert Image.open(io.BytesIO(buf.getvalue())).format == "MPO"
    rgb = decode_image(buf.getvalue(), 8192)
    assert np.abs(rgb.astype(int) - astronaut_rgb()).mean() < 5


def test_unreadable_exif_leaves_the_image_as_stored():
    """A JPEG whose Exif segment is garbage decodes as stored (turning it upright raised
    'not a TIFF file', a 500)."""
    import struct

    buf = io.BytesIO()
    Image.fromarray(astronaut_rgb()).save(buf, "JPEG", quality=95, dpi=(300, 300))
    jpeg = buf.getvalue()
    app1 = b"Exif\x00\x00" + b"GARBAGE!" * 4
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    after_jfif = 4 + struct.unpack(">H", jpeg[4:6])[0]
    rgb = decode_image(jpeg[:after_jfif] + segment + jpeg[after_jfif:], 8192)
    assert rgb.shape == (512, 512, 3)
    assert np.abs(rgb.astype(int) - astronaut_rgb()).mean() < 5


@pytest.mark.parametrize(
    ("kept", "padding"),
    [
        (0.99, b"\x00" * 4096),  # a camera filling its fixed-size buffer after a cut
        (0.5, b"\x00" * 65536),
        (0.9, b"\xff" * 64),
        (0.3, b""),
    ],
    ids=["zeros-4k", "zeros-64k", "ff", "none"],
)
def test_a_jpeg_cut_short_and_padded_is_refused_as_truncated(kept, padding):
    """libjpeg decodes the padding as scan data (no error, the rest of the picture
    garbage): the stream never reaches its end-of-image marker."""
    with pytest.raises(InputError, match="the JPEG image is truncated or corrupt.*FFD9"):
        decode_image(JPEG[: int(len(JPEG) * kept)] + padding, 8192)


def _cv2_jpeg(*params: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(astronaut_rgb(), cv2.COLOR_RGB2BGR), params)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    "data",
    [
        JPEG + b"\x00" * 1000,  # padding after the end-of-image marker
        JPEG + b"\xff" * 7,
        JPEG + b"SEFH: a trailer some phones append",
        _cv2_jpeg(cv2.IMWRITE_JPEG_PROGRESSIVE, 1),  # ten scans
        _cv2_jpeg(cv2.IMWRITE_JPEG_RST_INTERVAL, 4),  # restart markers inside the scan
    ],
    ids=["zeros", "ff", "trailer", "progressive", "restarts"],
)
def test_a_whole_jpeg_decodes_whatever_follows_its_end(data):
    rgb = decode_image(data, 8192)
    assert np.abs(rgb.astype(int) - astronaut_rgb()).mean() < 5
