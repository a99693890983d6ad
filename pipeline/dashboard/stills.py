"""The images the dashboard shows: each camera's latest still and its live heatmap.

Stills arrive already made private by the camera (:func:`pipeline.privacy.private_still`),
unless the operator set ``privacy.blur_people: false``; nothing here blurs again or ever
sees a raw frame. :class:`Stills` keeps the latest still per camera (also the background
the sinks draw heatmaps on) and encodes it once; every image carries an ETag so that
clients fetch it again only when it changed.

Example:
    >>> import numpy as np
    >>> stills = Stills()
    >>> stills.set("cam1", np.zeros((90, 160, 3), np.uint8), blurred=True)
    >>> img = stills.still_image("cam1")
    >>> img.content_type, img.data[:2], stills.still_image("cam1", img.etag).data
    ('image/jpeg', b'\\xff\\xd8', None)
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.analytics.events import HeatmapGrid
from pipeline.analytics.heatmap import render_heatmap
from pipeline.errors import InputError
from pipeline.privacy import check_bgr, grey_background

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
    check_bgr(still_bgr, "still")
    ok, buf = cv2.imencode(".jpg", still_bgr, [cv2.IMWRITE_JPEG_QUALITY, STILL_JPEG_QUALITY])
    if not ok:
        raise InputError("JPEG encoding of the still failed", "still")
    h, w = still_bgr.shape[:2]
    return EncodedImage(etag, "image/jpeg", buf.tobytes(), blurred, w, h)


def heatmap_etag(grid: HeatmapGrid, still_etag: str | None) -> str:
    """An ETag of a heatmap: its window, a checksum of its counts and its background's."""
    crc = zlib.crc32(np.ascontiguousarray(grid.counts).tobytes())
    background = (still_etag or "grey").strip('"')
    return f'"{grid.camera_id}-{grid.window_start_s:.3f}-{crc:08x}-{background}"'


def encode_heatmap(
    grid: HeatmapGrid, still_bgr: npt.NDArray[np.uint8] | None, etag: str, blurred: bool = True
) -> EncodedImage:
    """Renders a heatmap over a (people-blurred) still as PNG, with the renderer the
    sinks use (:func:`pipeline.analytics.heatmap.render_heatmap`).

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


@dataclass
class _Still:
    image: npt.NDArray[np.uint8]
    version: int
    blurred: bool
    jpeg: EncodedImage | None = None  # encoded on first request


class Stills:
    """The latest still of each camera, with ETags that differ between runs."""

    def __init__(self) -> None:
        self._stills: dict[str, _Still] = {}
        self._nonce = secrets.token_hex(4)

    def set(self, camera_id: str, still_bgr: npt.NDArray[np.uint8], blurred: bool) -> None:
        """Keeps a camera's newest still.

        Args:
            camera_id: the camera.
            still_bgr: (h, w, 3) uint8 BGR, already private (see :mod:`pipeline.privacy`).
            blurred: False only when the operator turned blurring off.

        Raises:
            InputError: the still is not a BGR image.
        """
        check_bgr(still_bgr, "still")
        old = self._stills.get(camera_id)
        self._stills[camera_id] = _Still(still_bgr, old.version + 1 if old else 1, bool(blurred))

    def drop(self, camera_id: str) -> None:
        """Forgets a camera's still (it was removed)."""
        self._stills.pop(camera_id, None)

    def backgrounds(self) -> Mapping[str, npt.NDArray[np.uint8]]:
        """Per camera with a still, the still: what the sinks draw heatmaps on."""
        return {cid: s.image for cid, s in self._stills.items()}

    def _etag(self, camera_id: str) -> str | None:
        still = self._stills.get(camera_id)
        return None if still is None else f'"{self._nonce}-{camera_id}-{still.version}"'

    def infos(self) -> dict[str, dict[str, Any]]:
        """Per camera with a still: its ``etag``, ``blurred`` flag and ``width``/``height``
        (pixels), for clients that fetch a still only when it changed."""
        return {cid: {"etag": self._etag(cid), "blurred": s.blurred,
                      "width": s.image.shape[1], "height": s.image.shape[0]}
                for cid, s in sorted(self._stills.items())}

    def still_image(self, camera_id: str, if_none_match: str | None = None
                    ) -> EncodedImage | None:
        """A camera's latest still as JPEG, encoded once per still; no data when
        ``if_none_match`` names its ETag; None when it has no still (yet)."""
        still, etag = self._stills.get(camera_id), self._etag(camera_id)
        if still is None or etag is None:
            return None
        if not_modified(etag, if_none_match):
            h, w = still.image.shape[:2]
            return EncodedImage(etag, "image/jpeg", None, still.blurred, w, h)
        if still.jpeg is None:
            still.jpeg = encode_still(still.image, etag, still.blurred)
        return still.jpeg

    def heatmap_image(self, grid: HeatmapGrid | None, if_none_match: str | None = None
                      ) -> EncodedImage | None:
        """An open window's heatmap as PNG over its camera's still (grey without one),
        rendered as the sinks render them; no data when ``if_none_match`` names its ETag;
        None without a grid."""
        if grid is None:
            return None
        still = self._stills.get(grid.camera_id)
        etag = heatmap_etag(grid, self._etag(grid.camera_id))
        blurred = still.blurred if still is not None else True
        if not_modified(etag, if_none_match):
            h, w = (still.image.shape[:2] if still is not None
                    else grey_background(grid.width, grid.height).shape[:2])
            return EncodedImage(etag, "image/png", None, blurred, w, h)
        return encode_heatmap(grid, still.image if still is not None else None, etag, blurred)
