"""A bounded history of each camera's closed windows, for the dashboard's charts.

Only what was published is kept: the windows' metric rows exactly as the sink gets them
(suppressed rows stay nulled); heatmap grids are dropped. Per camera at most
``max_windows`` windows are held and those that ended more than ``horizon_s`` media
seconds before the camera's newest window are pruned, so memory stays bounded however
long a run lasts and however short its windows are.

Example:
    >>> from pipeline.analytics.events import ClosedWindow
    >>> h = WindowHistory(horizon_s=120, max_windows=10)
    >>> for start in range(0, 300, 60):
    ...     h.add(ClosedWindow("cam1", start, start + 60, None, True, (), None))
    >>> [w.start_s for w in h.windows("cam1")]
    [180, 240]
"""

from __future__ import annotations

import dataclasses
from collections import deque

from pipeline.analytics.events import ClosedWindow
from pipeline.errors import ConfigError

HISTORY_HORIZON_S = 3600.0
"""Default span of the history, media seconds: the dashboard charts the last hour."""
HISTORY_MAX_WINDOWS = 720
"""Default most windows kept per camera (an hour of 5 s windows); a cap on memory that
holds whatever the window length."""


class WindowHistory:
    """Closed windows per camera over the last ``horizon_s`` media seconds.

    Args:
        horizon_s: windows that ended this many media seconds or more before the end of
            the camera's newest window are dropped (> 0).
        max_windows: most windows kept per camera; the oldest go first (>= 1).

    Raises:
        ConfigError: a bound is out of range.
    """

    def __init__(
        self, horizon_s: float = HISTORY_HORIZON_S, max_windows: int = HISTORY_MAX_WINDOWS
    ) -> None:
        if not horizon_s > 0:
            raise ConfigError(f"history horizon_s must be > 0, got {horizon_s}", "horizon_s")
        if max_windows < 1:
            raise ConfigError(f"history max_windows must be >= 1, got {max_windows}",
                              "max_windows")
        self.horizon_s = float(horizon_s)
        self.max_windows = int(max_windows)
        self._cameras: dict[str, deque[ClosedWindow]] = {}

    def add(self, window: ClosedWindow) -> None:
        """Keeps a closed window (without its heatmap) and prunes the camera's old ones."""
        kept = self._cameras.setdefault(window.camera_id, deque(maxlen=self.max_windows))
        kept.append(dataclasses.replace(window, heatmap=None) if window.heatmap else window)
        newest = max(w.end_s for w in kept)
        while kept and kept[0].end_s <= newest - self.horizon_s:
            kept.popleft()

    def windows(self, camera_id: str) -> tuple[ClosedWindow, ...]:
        """The camera's kept windows, oldest first (empty for an unknown camera)."""
        return tuple(self._cameras.get(camera_id, ()))

    def all(self) -> dict[str, tuple[ClosedWindow, ...]]:
        """Every camera's kept windows, by camera id (sorted)."""
        return {cid: tuple(self._cameras[cid]) for cid in sorted(self._cameras)}

    def drop_camera(self, camera_id: str) -> None:
        """Forgets a camera's history (it was removed)."""
        self._cameras.pop(camera_id, None)

    def __len__(self) -> int:
        """Windows kept over all cameras."""
        return sum(len(d) for d in self._cameras.values())
