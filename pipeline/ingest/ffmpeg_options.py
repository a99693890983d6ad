"""FFmpeg's options for opening a camera through OpenCV. No Ray.

OpenCV reads ``OPENCV_FFMPEG_CAPTURE_OPTIONS`` (``key;value|key;value``) from the process
environment when it opens a stream, so :func:`ffmpeg_env` sets it around one open at a
time (cameras may share a process) and puts back what was there.

Example:
    >>> from pipeline.ingest.config import CameraConfig
    >>> ffmpeg_options(CameraConfig(id="door", url="rtsp://cam/live"), "rtsp")
    'rtsp_transport;tcp'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pipeline.ingest.config import CameraConfig

ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_LOCK = threading.Lock()

STREAM_FORMATS = "mpjpeg,mjpeg,jpeg_pipe,mpegts,flv,matroska,webm,mov,mp4,avi,h264,hevc"
"""FFmpeg demuxers an HTTP camera held to its own address may use: media streams, none
that opens further URLs named in what it reads (``source.only_its_address``)."""


def ffmpeg_options(config: CameraConfig, kind: str) -> str:
    """The options for opening ``config``'s source of ``kind``: RTSP's transport, and for
    an HTTP camera held to its own address no redirect and no demuxer that opens further
    URLs (an HLS playlist's entries may point anywhere); "" for none."""
    if kind == "rtsp":
        return f"rtsp_transport;{config.source.transport}"
    if kind == "http" and config.source.only_its_address:
        return f"max_redirects;0|format_whitelist;{STREAM_FORMATS}"
    return ""


@contextmanager
def ffmpeg_env(options: str) -> Iterator[None]:
    """Sets :data:`ENV` to ``options`` (unset when empty) while an open runs, one open at a
    time, and restores its previous value after."""
    with _LOCK:
        previous = os.environ.pop(ENV, None)
        if options:
            os.environ[ENV] = options
        try:
            yield
        finally:
            os.environ.pop(ENV, None)
            if previous is not None:
                os.environ[ENV] = previous
