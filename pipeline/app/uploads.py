"""Reading untrusted request bodies and decoding untrusted images (JPEG and PNG).

A body is refused as soon as it passes its limit (its declared length first, then as it
streams in). An image's header is read first, so an oversized image is refused before its
pixels are allocated; truncated files are refused instead of being decoded half-grey.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt
from fastapi import Request
from PIL import Image, UnidentifiedImageError

from pipeline.errors import InputError, InputTooLargeError

ACCEPTED_FORMATS = ("JPEG", "PNG")


def decode_image(data: bytes, max_side: int) -> npt.NDArray[np.uint8]:
    """Decodes JPEG or PNG bytes to an (H, W, 3) uint8 RGB array.

    Args:
        data: the encoded image.
        max_side: largest accepted width or height, in pixels.

    Raises:
        InputError: empty, not a JPEG or PNG, or truncated/corrupt.
        InputTooLargeError: width or height above ``max_side``.
    """
    if not data:
        raise InputError("the request body is empty; send a JPEG or PNG image", "body")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError(
            f"the body ({len(data)} bytes) is not a decodable JPEG or PNG image", "body"
        ) from None
    if image.format not in ACCEPTED_FORMATS:
        raise InputError(
            f"unsupported image format {image.format}; send JPEG or PNG", "body"
        )
    width, height = image.size
    if max(width, height) > max_side:
        raise InputTooLargeError(
            f"image is {width}x{height} pixels; the limit is {max_side} pixels a side",
            max(width, height), max_side, "body",
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            f"the {image.format} image is truncated or corrupt ({exc})", "body"
        ) from None
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def check_declared_length(request: Request, limit: int) -> None:
    """Refuses (InputTooLargeError) a body whose declared length is over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise InputTooLargeError(
            f"request body is {declared} bytes; the limit is {limit} bytes",
            int(declared), limit, "body",
        )


async def read_body(request: Request, limit: int) -> bytes:
    """Reads the body, refusing it (InputTooLargeError) as soon as it passes ``limit``."""
    check_declared_length(request, limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputTooLargeError(
                f"request body exceeds the limit of {limit} bytes", size, limit, "body"
            )
        chunks.append(chunk)
    return b"".join(chunks)
