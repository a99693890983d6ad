"""Every error panoray raises on purpose, in one place.

Each derives from :class:`PanorayError`, carries the fields a caller needs to react, and
says what was expected and what arrived. Errors that cross a Ray call are rebuilt from
the call that made them on the other side (``PanorayError.__reduce__``), so callers
can catch them by type.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class PanorayError(Exception):
    """Root of all panoray errors. One pickles as the call that made it (whatever its
    ``__init__`` passes on as the message), so it survives a Ray call with its type, its
    message and its fields."""

    def __new__(cls, *args: Any, **kwargs: Any) -> PanorayError:
        self = super().__new__(cls, *args)
        self._made_with = (args, kwargs)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = getattr(self, "_made_with", (self.args, {}))
        return _rebuild, (type(self), args, kwargs), self.__dict__


def _rebuild(cls: type[PanorayError], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> PanorayError:
    return cls(*args, **kwargs)


# -- configuration ---------------------------------------------------------------------
class ConfigError(PanorayError, ValueError):
    """A configuration value is invalid.

    Attributes:
        path: dotted key path of the offending value (for example ``model.threshold``).
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class ConfigFileError(ConfigError):
    """A config file failed to parse or validate.

    Attributes:
        issues: every problem found (:class:`pipeline.config.ConfigIssue`), each with its
            key path and line.
    """

    def __init__(self, source: str, issues: Sequence[Any]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{source}: {len(self.issues)} problem(s)\n{lines}")


# -- models ----------------------------------------------------------------------------
class ModelError(PanorayError):
    """A model could not be found, loaded or run."""


class ProviderUnavailableError(ModelError):
    """An explicitly requested ONNX Runtime execution provider cannot run here.

    Attributes:
        requested: the provider that was asked for.
        available: the providers that actually loaded.
    """

    def __init__(self, requested: str, available: list[str], reason: str = "") -> None:
        self.requested = requested
        self.available = list(available)
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"execution provider {requested!r} was requested but cannot run here{detail}; "
            f"providers that loaded: {self.available}"
        )


# -- inputs ----------------------------------------------------------------------------
class InputError(PanorayError, ValueError):
    """An input item (image, frame, detections) is malformed.

    Attributes:
        field: what was wrong (for example ``frame.shape``).
    """

    def __init__(self, message: str, field: str = "") -> None:
        self.field = field
        super().__init__(message)


class InputTooLargeError(InputError):
    """An input exceeds a configured size limit.

    Attributes:
        size: the measured size.
        limit: the configured limit.
    """

    def __init__(self, message: str, size: int, limit: int, field: str = "") -> None:
        self.size = size
        self.limit = limit
        super().__init__(message, field)


# -- sources (camera ingest) -----------------------------------------------------------
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


# -- runtime: cameras, sinks, the pipeline --------------------------------------------
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


class SinkError(PanorayError):
    """A sink could not write its output.

    Attributes:
        path: the file or directory concerned.
    """

    def __init__(self, message: str, path: str) -> None:
        self.path = path
        super().__init__(f"{message}: {path}")


class CameraExistsError(ConfigError):
    """A camera with this id already runs.

    Attributes:
        camera_id: the id asked for.
    """

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        super().__init__(f"camera {camera_id!r} already exists; remove it first", "id")


class UnknownCameraError(PanorayError):
    """No camera with this id runs.

    Attributes:
        camera_id: the id asked for.
        known: the ids that do run.
    """

    def __init__(self, camera_id: str, known: Iterable[str] = ()) -> None:
        self.camera_id = camera_id
        self.known = sorted(known)
        super().__init__(f"no camera {camera_id!r}; cameras: {self.known}")


class SourceNotAllowedError(InputError):
    """A camera added through the API names a source it may not read (``field``: url)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "url")


class PipelineUnavailableError(PanorayError):
    """No pipeline runs (none started, or it is shutting down), so it takes no calls."""


class FrameGeometryError(SourceError):
    """A camera's pixel zone or line lies outside its frame (not retryable)."""


class GeometryConflictError(PanorayError):
    """The camera's geometry changed since the editor read it.

    Attributes:
        camera_id: the camera.
        expected: the version the edit was made from.
        current: the camera's version now.
    """

    def __init__(self, camera_id: str, expected: int, current: int) -> None:
        self.camera_id, self.expected, self.current = camera_id, expected, current
        super().__init__(f"camera {camera_id!r}: the edit was made on geometry_version "
                         f"{expected}, but the camera is at version {current} now; reload "
                         "its geometry and edit again")


class DeliveryError(PanorayError):
    """One delivery attempt failed; the event stays in the outbox and is retried.

    Attributes:
        sink: the sink's name.
        reason: what went wrong, with credentials masked (safe to log and to show).
        status: the HTTP status or MQTT reason code, when there was one.
    """

    def __init__(self, sink: str, reason: str, status: int | None = None) -> None:
        self.sink = sink
        self.reason = reason
        self.status = status
        super().__init__(f"alert sink {sink!r}: {reason}")


class OutboxError(PanorayError):
    """The outbox file cannot be opened or written.

    Attributes:
        path: the outbox file.
    """

    def __init__(self, message: str, path: str) -> None:
        self.path = path
        super().__init__(f"alert outbox {path}: {message}")


def error_message(exc: BaseException) -> str:
    """What went wrong, as a user or client reads it: for an error raised in another actor
    (Ray re-raises it as a ``RayTaskError`` subclass of its type), the original's message,
    never the remote traceback, which names the server's files and lines."""
    return str(getattr(exc, "cause", None) or exc)
