"""Reading untrusted request bodies and decoding untrusted images (JPEG and PNG).

A body is refused as soon as it passes its limit (its declared length first, then as it
streams in, multipart bodies included: they are parsed while they stream). An image's
header is read first, so an oversized image is refused before its pixels are
allocated; truncated files (a JPEG cut and then padded too) are refused instead of being
decoded half-grey. A photo is turned upright by its EXIF orientation (as browsers show
it), a multi-picture JPEG (MPO: phones' HDR and depth photos) gives its first picture,
and 16-bit grey keeps its brightness (its top 8 bits).
"""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.formparsers import MultiPartException, MultiPartParser
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.app.responses import error_response
from pipeline.config import validation_message
from pipeline.errors import InputError, InputTooLargeError

ModelT = TypeVar("ModelT", bound=BaseModel)

ACCEPTED_FORMATS = ("JPEG", "PNG", "MPO")
"""Pillow's names of the accepted formats (MPO: a JPEG holding several pictures)."""

_PIXELS = re.compile(r"\((\d+) pixels\)")

JPEG_SOI, JPEG_EOI, JPEG_SOS = 0xD8, 0xD9, 0xDA
"""JPEG markers (each after a 0xFF byte): start of image, end of image, start of scan."""
_JPEG_NO_LENGTH = frozenset(range(0xD0, 0xD8)) | {0x01}
"""JPEG markers without a length field after them: RST0-RST7 and TEM."""
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
"""The marker that ends a scan's entropy-coded data (inside it, 0xFF 0x00 is a stuffed
0xFF byte and 0xFFD0-0xFFD7 are restart markers)."""


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
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        found = _PIXELS.search(str(exc))
        pixels = int(found.group(1)) if found else 0
        raise InputTooLargeError(
            f"image has {pixels} pixels; the limit is {max_side} pixels a side",
            pixels, max_side, "body") from None
    except UnidentifiedImageError:
        raise InputError(
            f"the body ({len(data)} bytes) is not a decodable JPEG or PNG image", "body"
        ) from None
    except (ValueError, OSError, SyntaxError) as exc:  # a PNG text chunk too large, ...
        raise InputError(
            f"the {len(data)}-byte body is not a usable JPEG or PNG image "
            f"({type(exc).__name__}: {str(exc)[:200]})", "body",
        ) from None
    if image.format not in ACCEPTED_FORMATS:
        raise InputError(
            f"unsupported image format {image.format}; send JPEG or PNG", "body"
        )
    name = "JPEG" if image.format == "MPO" else image.format
    width, height = image.size
    if max(width, height) > max_side:
        raise InputTooLargeError(
            f"image is {width}x{height} pixels; the limit is {max_side} pixels a side",
            max(width, height), max_side, "body",
        )
    if name == "JPEG" and not jpeg_reaches_its_end(data):
        raise InputError(
            "the JPEG image is truncated or corrupt: its data ends before the end-of-image "
            "marker (FFD9)", "body",
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(
            f"the {name} image is truncated or corrupt ({exc})", "body"
        ) from None
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        pass  # unreadable EXIF: the image as stored
    if image.mode.startswith("I"):  # 16-bit (or 32-bit integer) grey: keep the top 8 bits
        grey = np.asarray(image).astype(np.uint32) >> 8
        return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def jpeg_reaches_its_end(data: bytes) -> bool:
    """Whether the JPEG stream in ``data`` runs from its start-of-image marker to its
    end-of-image marker (FFD9), read segment by segment and scan by scan.

    libjpeg (under Pillow and OpenCV alike) decodes a stream cut mid-scan and then padded
    (with zeros, as some cameras fill a fixed-size buffer) without an error, the missing
    part grey or garbage: the padding is read as scan data, and no end-of-image marker
    follows. Bytes after the marker (padding, phones' trailers, an MPO's further
    pictures) are not read. A stream cut and then given an end-of-image marker still
    passes: only decoding can tell that one.
    """
    size = len(data)
    if size < 2 or data[0] != 0xFF or data[1] != JPEG_SOI:
        return False
    pos = 2
    while pos < size:
        if data[pos] != 0xFF:  # junk between segments: libjpeg skips to the next marker
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return False
        while pos < size and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= size:
            return False
        marker = data[pos]
        pos += 1
        if marker == JPEG_EOI:
            return True
        if marker in _JPEG_NO_LENGTH:
            continue
        if pos + 2 > size:
            return False
        pos += int.from_bytes(data[pos:pos + 2], "big")  # the length counts its own 2 bytes
        if marker == JPEG_SOS:  # the scan's entropy-coded data runs to the next marker
            end = _JPEG_SCAN_END.search(data, pos)
            if end is None:
                return False
            pos = end.start()
    return False


def check_declared_length(request: Request, limit: int) -> None:
    """Refuses (InputTooLargeError) a body whose declared length is over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise InputTooLargeError(
            f"request body is {declared} bytes; the limit is {limit} bytes",
            int(declared), limit, "body",
        )


async def limited_stream(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body's chunks as they arrive, refusing it (InputTooLargeError) as soon as it
    passes ``limit`` bytes, whatever its declared length or transfer encoding."""
    check_declared_length(request, limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputTooLargeError(
                f"request body exceeds the limit of {limit} bytes", size, limit, "body"
            )
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """Reads the body, refusing it (InputTooLargeError) as soon as it passes ``limit``."""
    return b"".join([chunk async for chunk in limited_stream(request, limit)])


MAX_JSON_DEPTH = 32
"""Deepest nesting of arrays and objects accepted in a JSON body (a camera needs 5)."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when arrays and objects in ``body`` nest deeper than ``limit`` (brackets inside
    strings are skipped), checked before parsing so that no parser recurses that deep."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, refused past ``limit`` bytes (InputTooLargeError) or when not
    strict JSON (InputError): a syntax error, NaN or Infinity, nesting deeper than
    :data:`MAX_JSON_DEPTH`."""
    body = await read_body(request, limit)
    if json_depth_exceeds(body, MAX_JSON_DEPTH):
        raise InputError(f"the body is not valid JSON here: nested deeper than "
                         f"{MAX_JSON_DEPTH} levels", "body")
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InputError(f"the body is not valid JSON: {str(exc)[:200]}", "body") from None


async def read_model(request: Request, model: type[ModelT], limit: int, what: str,
                     shape: str) -> ModelT | JSONResponse:
    """The JSON body validated as ``model``, or the answer refusing it: 415 when it is not
    declared JSON, 400 when it is not an object (``shape`` says what it should be) or not
    valid (naming each key and why, ``what`` naming the thing). Bodies past ``limit`` bytes
    and invalid JSON raise as :func:`read_json`."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        return error_response(415, f"send the {what} as application/json, not "
                                   f"{content_type or '(no content type)'!r}")
    data = await read_json(request, limit)
    if not isinstance(data, dict):
        return error_response(400, f"the body must be a JSON object: {shape}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return error_response(400, f"invalid {what}: {validation_message(exc)}")


async def read_multipart_file(request: Request, field: str, limit: int) -> bytes:
    """The file in multipart field ``field``, parsed as the body streams in: the body is
    refused (InputTooLargeError) as soon as it passes ``limit`` bytes, so neither the
    spooled file nor the returned bytes can exceed it.

    Raises:
        InputError: the body is not valid multipart, or has no file field ``field``.
    """
    parser = MultiPartParser(request.headers, limited_stream(request, limit),
                             max_files=1, max_fields=16, max_part_size=64 * 1024)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise InputError(f"invalid multipart body: {exc.message}", "body") from None
    try:
        upload = form.get(field)
        if upload is None or isinstance(upload, str):
            raise InputError(f"multipart body has no file field named {field!r}", field)
        return await upload.read()
    finally:
        await form.close()
