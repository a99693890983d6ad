"""Encoding the images the dashboard shows: a camera's still and its live heatmap.

Stills reach the aggregator already people-blurred (the camera actor pixelates every
detected person and softens the whole still; the aggregator pixelates the people again),
unless the operator set ``privacy.blur_people: false``. Nothing here ever sees a raw
frame. Each image carries an ETag so that clients fetch it again only when it changed.

Example:
    >>> import numpy as np
    >>> img = encode_still(np.zeros((90, 160, 3), np.uint8), etag='"ab-1"', blurred=True)
    >>> img.content_type, img.data[:2], not_modified(img.etag, '"ab-1"')
    ('image/jpeg', b'\\xff\\xd8', True)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.analytics.events import HeatmapGrid
from pipeline.analytics.heatmap import render_heatmap
from pipeline.errors import InputError
from pipeline.sinks.parquet import MAX_BACKGROUND_SIDE, NEUTRAL_GREY

STILL_JPEG_QUALITY = 85
"""JPEG quality (0-100) of stills sent to the dashboard."""


@dataclass(frozen=True)
class EncodedImage:
    """An image for an HTTP response.

    Attributes:
        etag: strong ETag, quoted (``"..."``); changes whenever the image does.
        content_type: ``image/jpeg`` or ``image/png``.
        data: the encoded bytes, or None when the caller already has this ETag.
        blurred: people in it were blurred (False only when the operator turned it off).
        width, height: its size in pixels.
    """

    etag: str
    content_type: str
    data: bytes | None
    blurred: bool
    width: int
    height: int


def not_modified(etag: str, if_none_match: str | None) -> bool:
    """True when an ``If-None-Match`` header value names ``etag`` (or is ``*``)."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def encode_still(still_bgr: npt.NDArray[np.uint8], etag: str, blurred: bool) -> EncodedImage:
    """Encodes a (h, w, 3) uint8 BGR still (already people-blurred) as JPEG.

    Raises:
        InputError: the still is not a BGR image, or encoding failed.
    """
    if still_bgr.dtype != np.uint8 or still_bgr.ndim != 3 or still_bgr.shape[2] != 3:
        raise InputError(f"still must be a (height, width, 3) uint8 BGR image, but got shape "
                         f"{still_bgr.shape} dtype {still_bgr.dtype}", "still_bgr")
    ok, buf = cv2.imencode(".jpg", still_bgr, [cv2.IMWRITE_JPEG_QUALITY, STILL_JPEG_QUALITY])
    if not ok:
        raise InputError("JPEG encoding of the still failed", "still_bgr")
    h, w = still_bgr.shape[:2]
    return EncodedImage(etag, "image/jpeg", buf.tobytes(), blurred, w, h)


def heatmap_etag(grid: HeatmapGrid, still_etag: str | None) -> str:
    """An ETag of a heatmap: its window, a checksum of its counts and its background's."""
    crc = zlib.crc32(np.ascontiguousarray(grid.counts).tobytes())
    background = (still_etag or "grey").strip('"')
    return f'"{grid.camera_id}-{grid.window_start_s:.3f}-{crc:08x}-{background}"'


def grey_background(width: int, height: int) -> npt.NDArray[np.uint8]:
    """The neutral background the Parquet sink draws heatmaps on when no still exists:
    (h, w, 3) uint8, at most ``MAX_BACKGROUND_SIDE`` pixels a side, the frame's aspect."""
    scale = min(1.0, MAX_BACKGROUND_SIDE / max(width, height))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    return np.full((h, w, 3), NEUTRAL_GREY, np.uint8)


def encode_heatmap(
    grid: HeatmapGrid,
    still_bgr: npt.NDArray[np.uint8] | None,
    etag: str,
    blurred: bool = True,
) -> EncodedImage:
    """Renders a heatmap over a (people-blurred) still as PNG, with the renderer the
    Parquet sink uses (:func:`pipeline.analytics.heatmap.render_heatmap`).

    Args:
        grid: the heatmap, (rows, columns) counts, minimum-count rule already applied.
        still_bgr: (h, w, 3) uint8 BGR people-blurred still, or None for a grey background.
        etag: from :func:`heatmap_etag`.
        blurred: whether the still's people were blurred.
    """
    background = still_bgr if still_bgr is not None else grey_background(grid.width, grid.height)
    png = render_heatmap(grid.counts, background)
    h, w = background.shape[:2]
    return EncodedImage(etag, "image/png", png, blurred or still_bgr is None, w, h)
