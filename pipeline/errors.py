"""The project's exception hierarchy.

Every error panoray raises on purpose derives from :class:`PanorayError`, carries the
fields a caller needs to react, and says what was expected and what arrived.
"""

from __future__ import annotations


class PanorayError(Exception):
    """Root of all panoray errors."""


class ConfigError(PanorayError, ValueError):
    """A configuration value is invalid.

    Attributes:
        path: dotted key path of the offending value (for example ``model.threshold``).
    """

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


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
