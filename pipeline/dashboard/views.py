"""The JSON shapes of the dashboard's reads (no Ray; the controller calls these).

Example:
    >>> from pipeline.analytics.events import ClosedWindow, WindowMetrics
    >>> row = WindowMetrics("cam1", 0.0, 60.0, 1.8e9, True, "line", "door", False, 40, 0,
    ...                     False, 7, lr_direction="in", lr_count=4, rl_direction="out",
    ...                     rl_count=3)
    >>> view = history_view({"cam1": (ClosedWindow("cam1", 0.0, 60.0, 1.8e9, True, (row,),
    ...                                            None),)}, 3600.0)
    >>> view["cameras"]["cam1"][0]["rows"][0]["lr_count"]
    4
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.analytics.events import ClosedWindow, WindowMetrics, finite_or_none

ROW_ID_FIELDS = ("element_kind", "element_id", "is_queue", "suppressed")
"""Fields of a metric row that are always present in the history view."""
WINDOW_FIELDS = frozenset({"camera_id", "window_start_s", "window_end_s", "window_start_at",
                           "complete", "frames"})
"""Fields shared by all rows of a window, given once per window instead."""


def history_row(row: WindowMetrics) -> dict[str, Any]:
    """One metric row as JSON: its identity plus every metric that is not null (a
    suppressed row has none)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(row):
        if f.name in WINDOW_FIELDS:
            continue
        value = getattr(row, f.name)
        if isinstance(value, float):
            value = finite_or_none(value)
        if value is not None or f.name in ROW_ID_FIELDS:
            out[f.name] = value
    return out


def history_window(window: ClosedWindow) -> dict[str, Any]:
    """One closed window as JSON: ``start_s``/``end_s`` (media s), ``start_at`` (wall s
    since the epoch, or None), ``complete``, ``frames`` and its ``rows`` (zones first)."""
    frames = window.metrics[0].frames if window.metrics else 0
    return {
        "start_s": window.start_s,
        "end_s": window.end_s,
        "start_at": None if window.start_at is None else finite_or_none(window.start_at),
        "complete": window.complete,
        "frames": frames,
        "rows": [history_row(r) for r in window.metrics],
    }


def history_view(
    windows: Mapping[str, Sequence[ClosedWindow]], horizon_s: float
) -> dict[str, Any]:
    """The ``GET /v1/history`` body: every camera's closed windows, oldest first.

    Args:
        windows: per camera id, its kept windows (see
            :class:`pipeline.dashboard.history.WindowHistory`).
        horizon_s: the history's span, media seconds.
    """
    return {
        "horizon_s": horizon_s,
        "cameras": {cid: [history_window(w) for w in ws] for cid, ws in sorted(windows.items())},
    }
