"""Errors of the ingest layer: why a camera's source could not deliver frames.

Every error carries the camera id, the source kind, the (redacted) URL, a short reason and
whether trying again can help (``retryable``). The camera's run loop turns them into a
``reconnecting`` or ``failed`` state with the reason; they never escape a camera actor.
"""

from __future__ import annotations

from pipeline.errors import PanorayError


class SourceError(PanorayError):
    """A camera's source could not be opened or stopped delivering frames.

    Attributes:
        camera_id: the camera's configured id.
        kind: the source kind (``file``, ``rtsp``, ``http``, ``usb``, ``images``).
        url: the source URL with credentials redacted.
        reason: what went wrong, without the URL (for example ``file is empty (0 bytes)``).
        retryable: True when reconnecting later can help (network faults, stalls).
    """

    retryable = False

    def __init__(self, camera_id: str, kind: str, url: str, reason: str) -> None:
        self.camera_id = camera_id
        self.kind = kind
        self.url = url
        self.reason = reason
        super().__init__(f"camera {camera_id!r} ({kind} {url}): {reason}")


class UnsupportedSourceError(SourceError):
    """The URL names no source kind panoray can open (for example an unknown scheme)."""


class SourceNotFoundError(SourceError):
    """A file, image directory or device does not exist or is not readable."""


class SourceOpenError(SourceError):
    """FFmpeg (or the image reader) could not open the source.

    Raised as retryable for network and device sources, where the cause (host down, camera
    rebooting, cable unplugged) may pass; not retryable for files.
    """

    def __init__(
        self, camera_id: str, kind: str, url: str, reason: str, retryable: bool = False
    ) -> None:
        super().__init__(camera_id, kind, url, reason)
        self.retryable = retryable


class StreamError(SourceError):
    """An open stream stopped delivering frames: dropped connection, stall or read error."""

    retryable = True


class SourceCorruptError(SourceError):
    """A file has no decodable frames, or ends well before the frame count it declares."""


class StateTransitionError(PanorayError):
    """A camera's health state machine was asked for a transition it does not allow.

    Attributes:
        current: the state the camera is in.
        requested: the state that was asked for.
    """

    def __init__(self, camera_id: str, current: str, requested: str) -> None:
        self.current = current
        self.requested = requested
        super().__init__(
            f"camera {camera_id!r} cannot go from {current} to {requested}"
        )
