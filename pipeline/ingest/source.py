"""Opening and decoding camera sources, one class per kind, chosen from the URL or config.

Kinds (``CameraConfig.kind``, or inferred from the URL when ``auto``):

=========  ==========================================  ========================  ======
kind       URL                                         decoder                   live
=========  ==========================================  ========================  ======
file       path or file:// to mp4, avi, mkv, ...       OpenCV CAP_FFMPEG         no
images     directory of numbered images (MOT img1/)    cv2.imread                no
rtsp       rtsp:// or rtsps:// (TCP, or UDP)           OpenCV CAP_FFMPEG         yes
http       http:// or https:// MJPEG                   OpenCV CAP_FFMPEG         yes
usb        /dev/videoN or a device index               OpenCV CAP_V4L2           yes
=========  ==========================================  ========================  ======

FFmpeg opens with ``CAP_PROP_OPEN_TIMEOUT_MSEC`` and ``CAP_PROP_READ_TIMEOUT_MSEC`` set, so
an unreachable host or a stalled stream returns control instead of hanging. Every error
is a :class:`~pipeline.errors.SourceError` with the URL redacted and a reason that
says what to check. Decoding is blocking: call it from a thread, not an event loop.

Example:
    >>> src = open_source(CameraConfig(id="lobby", url="/data/lobby.mp4"))  # doctest: +SKIP
    >>> while src.grab():                                                   # doctest: +SKIP
    ...     frame = src.retrieve()       # (H, W, 3) uint8 BGR, or None if undecodable
    ...     pos_s = src.position_s()     # stream position (s), or None
    >>> src.close()                                                         # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.errors import (
    InputError,
    SourceCorruptError,
    SourceNotFoundError,
    SourceOpenError,
    StreamError,
    UnsupportedSourceError,
)
from pipeline.ingest.config import CameraConfig
from pipeline.ingest.confine import check_confined
from pipeline.ingest.diagnose import UNDIAGNOSED, diagnose_network
from pipeline.ingest.ffmpeg_options import ffmpeg_env, ffmpeg_options
from pipeline.mot import read_seqinfo
from pipeline.redact import redact_text

log = logging.getLogger(__name__)

LIVE_KINDS = frozenset({"rtsp", "http", "usb"})
SCHEME_KINDS = {"rtsp": "rtsp", "rtsps": "rtsp", "http": "http", "https": "http", "file": "file"}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_IMAGE_FPS = 25.0
# A file that stops before this fraction of the frame count its container declares is
# reported as truncated rather than as having ended.
TRUNCATION_FRACTION = 0.9
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_NUMBERED = re.compile(r"^(\d+)$")


@dataclass(frozen=True)
class SourceInfo:
    """What an open source declares.

    Attributes:
        kind: ``file``, ``images``, ``rtsp``, ``http`` or ``usb``.
        live: True for cameras (network, USB): they are paced by the sender, reconnected
            on faults, and never end.
        fps: declared (or configured) frames per second; 0 when unknown.
        width: frame width in pixels; 0 when unknown before the first frame.
        height: frame height in pixels; 0 when unknown before the first frame.
        frame_count: frames a file declares; 0 for live sources or when unknown.
    """

    kind: str
    live: bool
    fps: float
    width: int
    height: int
    frame_count: int


class FrameSource(Protocol):
    """An open source of frames (one connection or one pass over a file)."""

    info: SourceInfo

    def grab(self) -> bool:
        """Advances to the next frame; False when a file or image directory has ended.

        Raises:
            StreamError: a live stream dropped, stalled past the read timeout, or failed.
            SourceCorruptError: a file has no decodable frames or is truncated.
        """
        ...

    def retrieve(self) -> npt.NDArray[np.uint8] | None:
        """The grabbed frame as (H, W, 3) uint8 BGR, or None if it could not be decoded."""
        ...

    def position_s(self) -> float | None:
        """The grabbed frame's stream position (seconds), or None when the source has none."""
        ...

    def close(self) -> None:
        """Releases the decoder and the connection."""
        ...


def resolve_kind(config: CameraConfig) -> str:
    """The source kind for ``config``: its ``kind``, or inferred from the URL.

    Raises:
        UnsupportedSourceError: the URL has a scheme panoray cannot open, or does not fit
            the configured kind.
    """
    url = config.url
    text = str(url).strip()
    scheme_match = _SCHEME.match(text)
    scheme = scheme_match.group("scheme").lower() if scheme_match else ""
    if config.source.kind != "auto":
        expected = {"rtsp": ("rtsp", "rtsps"), "http": ("http", "https")}.get(config.source.kind)
        if expected and scheme not in expected:
            raise UnsupportedSourceError(
                config.id, config.source.kind, config.redacted_url,
                f"kind {config.source.kind} needs a URL starting with "
                + " or ".join(f"{s}://" for s in expected),
            )
        return config.source.kind
    if isinstance(url, int) or text.isdigit() or re.match(r"^/dev/video\d+$", text):
        return "usb"
    if scheme:
        if scheme not in SCHEME_KINDS:
            raise UnsupportedSourceError(
                config.id, "unknown", config.redacted_url,
                f"unsupported URL scheme {scheme!r}; expected a file path, file://, rtsp://, "
                "rtsps://, http://, https://, /dev/videoN or a device index",
            )
        kind = SCHEME_KINDS[scheme]
        if kind != "file":
            return kind
        text = _file_path(text)
    return "images" if Path(text).is_dir() else "file"


def decode_threads(config: CameraConfig) -> int:
    """FFmpeg threads for one camera: ``source.decode_threads``, else its reserved CPUs.

    FFmpeg's own choice is a thread per core in every camera: eight cameras on two cores
    then run sixteen decoding threads, and their hand-offs cost more than they gain
    (``benchmarks/ingest.py``, 8 cameras: 15 % more frames/s with one thread each).
    """
    return config.source.decode_threads or max(1, round(config.placement.num_cpus))


def _file_path(text: str) -> str:
    """A filesystem path from a plain path or a file:// URL."""
    if text.lower().startswith("file://"):
        return unquote(urlsplit(text).path)
    return text


def open_source(config: CameraConfig, kind: str | None = None) -> FrameSource:
    """Opens the camera's source (blocking, bounded by ``config.source.open_timeout_s``).

    Args:
        config: the camera.
        kind: the resolved kind, if already known (see :func:`resolve_kind`).

    Raises:
        SourceError: the source cannot be opened; ``retryable`` says whether to try again.
    """
    kind = kind or resolve_kind(config)
    opener = SOURCE_KINDS.get(kind)
    if opener is None:  # CameraConfig.kind is a Literal; this guards future kinds
        raise UnsupportedSourceError(config.id, kind, config.redacted_url, f"no opener for {kind}")
    return opener(config)


class CvCaptureSource:
    """A video file, RTSP stream, HTTP MJPEG stream or USB device read with OpenCV.

    Args:
        config: the camera.
        kind: ``file``, ``rtsp``, ``http`` or ``usb``.

    Raises:
        SourceError: see :func:`open_source`.
    """

    def __init__(self, config: CameraConfig, kind: str) -> None:
        self.config = config
        self.kind = kind
        self._url = config.url
        self._grabbed = 0
        self._unreadable = 0  # packets of a file FFmpeg could not decode, stepped over
        self._cap = self._open()
        cap = self._cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if 0 < fps < 1000 else 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if kind == "file" else 0
        self.info = SourceInfo(
            kind=kind, live=kind in LIVE_KINDS, fps=config.source.fps or fps,
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            frame_count=max(count, 0),
        )

    def _error(self, cls: type, reason: str, **kw: object) -> Exception:
        return cls(self.config.id, self.kind, self.config.redacted_url,
                   redact_text(reason, self._url), **kw)

    def _open(self) -> cv2.VideoCapture:
        cfg = self.config
        if self.kind == "file":
            self._check_file(_file_path(str(cfg.url)))
            target: str | int = _file_path(str(cfg.url))
        elif self.kind == "usb":
            target = _usb_target(cfg.url)
            if isinstance(target, str) and not os.path.exists(target):
                raise self._error(
                    SourceOpenError, f"device {target} does not exist (unplugged?)",
                    retryable=True,
                )
        else:
            target = str(cfg.url)
        params: list[int] = []
        if self.kind != "usb":  # V4L2 rejects (and then refuses to open on) FFmpeg params
            params += [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(cfg.source.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(cfg.source.read_timeout_s * 1000),
            ]
            params += [cv2.CAP_PROP_N_THREADS, decode_threads(cfg)]
        backend = cv2.CAP_V4L2 if self.kind == "usb" else cv2.CAP_FFMPEG
        cap = cv2.VideoCapture()
        cap.setExceptionMode(True)
        started = time.monotonic()
        detail = ""
        with ffmpeg_env(ffmpeg_options(cfg, self.kind)):
            try:
                opened = cap.open(target, backend, params)
            except cv2.error as exc:
                opened, detail = False, str(exc).strip()
        cap.setExceptionMode(False)
        if opened and cap.isOpened():
            return cap
        cap.release()
        elapsed = time.monotonic() - started
        log.debug("open failed after %.2f s: %s", elapsed, redact_text(detail, self._url))
        raise self._open_failure(elapsed)

    def _check_file(self, path: str) -> None:
        check_confined(self.config, self.kind, path)
        p = Path(path)
        if not p.exists():
            raise self._error(SourceNotFoundError, "file does not exist")
        if not p.is_file():
            raise self._error(SourceNotFoundError, "not a regular file")
        if not os.access(p, os.R_OK):
            raise self._error(SourceNotFoundError, "file is not readable (permissions)")
        if p.stat().st_size == 0:
            raise self._error(SourceCorruptError, "file is empty (0 bytes)")

    def _open_failure(self, elapsed: float) -> Exception:
        cfg = self.config
        if self.kind == "file":
            return self._error(
                SourceCorruptError,
                "FFmpeg could not open the file: not a video, or truncated or corrupt",
            )
        if self.kind == "usb":
            return self._error(
                SourceOpenError, "the video device could not be opened (busy or not a camera)",
                retryable=True,
            )
        # The reason (status, API) is the same whatever the network answered, and
        # however fast: no port oracle. A config-file camera's log says why.
        if cfg.source.diagnose:
            found = diagnose_network(str(cfg.url), min(cfg.source.open_timeout_s, 5.0))
            if elapsed >= cfg.source.open_timeout_s * 0.95:
                found = (f"no stream within the {cfg.source.open_timeout_s:g} s open timeout; "
                         f"{found}")
            log.warning("camera %s (%s) did not open: %s", cfg.id, cfg.redacted_url,
                        redact_text(found, self._url))
        return self._error(SourceOpenError, UNDIAGNOSED, retryable=True)

    def grab(self) -> bool:
        started = time.monotonic()
        if self._cap.grab():
            self._grabbed += 1
            return True
        elapsed = time.monotonic() - started
        if self.kind != "file":
            timeout = self.config.source.read_timeout_s
            if elapsed >= timeout * 0.9:
                raise self._error(StreamError, f"stream stalled: no frame for {timeout:g} s")
            raise self._error(
                StreamError, f"stream dropped after {self._grabbed} frames (closed or read error)"
            )
        declared = self.info.frame_count
        if self._grabbed and self._step_over_corruption(declared):
            return True
        if self._grabbed == 0:
            raise self._error(SourceCorruptError, "file has no decodable video frames")
        if declared and self._grabbed < declared * TRUNCATION_FRACTION - 1:
            raise self._error(
                SourceCorruptError,
                f"file ended after {self._grabbed} of the {declared} frames it declares: "
                "truncated or corrupt",
            )
        return False

    def _step_over_corruption(self, declared: int) -> bool:
        """After a failed grab short of the frames the container declares: grabs on, as
        each failed grab drops one packet, so a corrupt stretch mid-file costs its own
        frames only (they were the rest of the file). True once a frame came."""
        skipped = 0  # the failed grab's packet, then each failed retry's
        while declared and self._grabbed + self._unreadable < declared:
            self._unreadable += 1
            skipped += 1
            if self._cap.grab():
                log.warning("camera %s: %d corrupt packet(s) after frame %d stepped over",
                            self.config.id, skipped, self._grabbed)
                self._grabbed += 1
                return True
        return False

    def retrieve(self) -> npt.NDArray[np.uint8] | None:
        ok, frame = self._cap.retrieve()
        return frame if ok and frame is not None and frame.size else None

    def position_s(self) -> float | None:
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        return ms / 1000.0 if ms >= 0 else None

    def close(self) -> None:
        self._cap.release()


def _usb_target(url: str | int) -> str | int:
    text = str(url).strip()
    return int(text) if text.isdigit() else text


class ImageSequenceSource:
    """A directory of numbered images (``000001.jpg`` ...), the MOTChallenge ``img1/`` layout.

    The URL may name the image directory or a sequence directory that holds ``img1/``.
    Positions are ``(number - first number) / fps``, so gaps in the numbering keep their
    time. fps: ``config.source.fps``, else ``frameRate`` from a ``seqinfo.ini`` in the
    directory or beside it, else 25.

    Args:
        config: the camera.
        kind: ``images``.
    """

    def __init__(self, config: CameraConfig, kind: str = "images") -> None:
        self.config = config
        self.kind = kind
        directory = Path(_file_path(str(config.url)))
        if not directory.is_dir():
            raise SourceNotFoundError(
                config.id, kind, config.redacted_url, "image directory does not exist"
            )
        if (directory / "img1").is_dir():
            directory = directory / "img1"
        check_confined(config, kind, directory)
        self._files = numbered_images(directory)
        for _, path in self._files:
            check_confined(config, kind, path)
        if not self._files:
            raise SourceCorruptError(
                config.id, kind, config.redacted_url,
                "directory holds no numbered images (000001.jpg, ...; "
                f"extensions {', '.join(IMAGE_EXTENSIONS)})",
            )
        fps = config.source.fps or _seqinfo_fps(directory) or DEFAULT_IMAGE_FPS
        self._first_number = self._files[0][0]
        self._next = 0
        self._current: Path | None = None
        first = cv2.imread(str(self._files[0][1]), cv2.IMREAD_COLOR)
        height, width = first.shape[:2] if first is not None else (0, 0)
        self.info = SourceInfo(kind=kind, live=False, fps=fps, width=width, height=height,
                               frame_count=len(self._files))
        self._number = self._first_number

    def grab(self) -> bool:
        if self._next >= len(self._files):
            return False
        self._number, self._current = self._files[self._next]
        self._next += 1
        return True

    def retrieve(self) -> npt.NDArray[np.uint8] | None:
        if self._current is None:
            return None
        check_confined(self.config, self.kind, self._current)  # it may have changed since
        return cv2.imread(str(self._current), cv2.IMREAD_COLOR)

    def position_s(self) -> float | None:
        return (self._number - self._first_number) / self.info.fps

    def close(self) -> None:
        self._current = None


def numbered_images(directory: Path) -> list[tuple[int, Path]]:
    """(number, path) of the images in ``directory`` named by a number, sorted by number."""
    out = []
    for p in directory.iterdir():
        m = _NUMBERED.match(p.stem)
        if m and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def _seqinfo_fps(directory: Path) -> float | None:
    """The frame rate in a ``seqinfo.ini`` in ``directory`` or beside it, or None."""
    if not any((d / "seqinfo.ini").is_file() for d in (directory, directory.parent)):
        return None
    try:
        return read_seqinfo(directory).fps
    except InputError as exc:
        log.warning("ignoring %s", exc)
        return None


SOURCE_KINDS: dict[str, Callable[[CameraConfig], FrameSource]] = {
    "file": lambda c: CvCaptureSource(c, "file"),
    "rtsp": lambda c: CvCaptureSource(c, "rtsp"),
    "http": lambda c: CvCaptureSource(c, "http"),
    "usb": lambda c: CvCaptureSource(c, "usb"),
    "images": lambda c: ImageSequenceSource(c, "images"),
}
"""Source kind -> opener. A new kind registers here and in ``CameraConfig.kind``."""
