"""The interface every analytics sink implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from pipeline.analytics.events import ClosedWindow, Event


@runtime_checkable
class Sink(Protocol):
    """Receives events and closed windows; buffers and writes them.

    ``write_events`` is called on the hot path and must not block on disk for long: sinks
    buffer. ``write_windows`` is called when windows close (about once per window length
    per camera) and may write. ``close`` must leave nothing buffered.
    """

    def write_events(self, events: Sequence[Event]) -> None: ...

    def write_windows(
        self,
        windows: Sequence[ClosedWindow],
        stills: Mapping[str, npt.NDArray[np.uint8]] | None = None,
    ) -> Any: ...

    def flush(self) -> Any: ...

    def close(self) -> Any: ...

    def apply_retention(self, now_s: float) -> Any: ...
