"""Station-to-station flow time: how long people take from entering a zone to crossing a
line (a till queue to the exit door, a loading bay to a gate), per window, never per person.

An example of a panoray analytics plugin (README, "Extending panoray"), shipped outside
the core and found by its entry point ``flow_time`` (``pip install -e
examples/plugins/flowtime``), or by its dotted path ``panoray_flowtime:FlowTime``::

    analytics:
      plugins:
        - type: flow_time
          name: till_to_door                # rows in plugins/till_to_door/rows/
          cameras: [entrance]
          config: {from_zone: tills, to_line: door, direction: out}

It reads the built-in events each frame completed: a track's ``zone_enter`` of
``from_zone`` starts its clock (at its first frame inside), its ``line_cross`` of
``to_line`` (in ``direction``, if given) stops it. A window's row counts the flows that
ended in it, with their mean and percentiles; panoray suppresses rows of 1..k-1 people.
Track ids stay inside the plugin and are forgotten when the tracker drops the track or
after ``max_flow_s``.

Example:
    >>> import numpy as np
    >>> from pipeline.analytics.events import Event
    >>> from pipeline.analytics.plugins import PluginCamera, PluginFrame, WindowSpan
    >>> from pipeline.types import FrameMeta, Tracks
    >>> cam = PluginCamera("cam1", 100, 100, 60.0, ("tills",), ("door",), None)
    >>> flow = FlowTime(FlowTimeConfig(from_zone="tills", to_line="door"), cam)
    >>> def frame(pts, *events):
    ...     return PluginFrame(FrameMeta("cam1", 0, pts, 1.8e9 + pts, 100, 100),
    ...                        Tracks.empty(), np.zeros(0, np.int64), events)
    >>> flow.update(frame(3.0, Event("cam1", "zone_enter", "tills", None, 7, 2.0, None, None)))
    []
    >>> flow.update(frame(14.0, Event("cam1", "line_cross", "door", "out", 7, 14.0, None, None)))
    []
    >>> row = flow.close_window(WindowSpan(0.0, 60.0, True))[0]
    >>> row["flows"], row["flow_mean_s"], row["distinct_tracks"]
    (1, 12.0, 1)
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import ConfigError


class FlowTimeConfig(BaseModel):
    """Settings of one flow-time plugin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_zone: str = Field(description="Zone whose zone_enter starts a track's clock.")
    to_line: str = Field(description="Line whose crossing stops it.")
    direction: str | None = Field(None, description="Only crossings in this direction "
                                  "(the line's direction name); unset: either.")
    max_flow_s: float = Field(600.0, gt=0, le=86400, description="Longer flows are not "
                              "counted, and a track's clock is forgotten after this long "
                              "(media s).")
    max_tracks: int = Field(10_000, ge=1, le=1_000_000, description="Most clocks running "
                            "at once; beyond it the oldest is forgotten.")


class FlowTime:
    """Time from a track's zone_enter of ``from_zone`` to its crossing of ``to_line``."""

    Config = FlowTimeConfig
    ROWS = pa.schema([
        ("from_zone", pa.string()), ("to_line", pa.string()),
        ("flows", pa.int64()), ("flow_mean_s", pa.float64()),
        ("flow_p50_s", pa.float64()), ("flow_p90_s", pa.float64()),
        ("distinct_tracks", pa.int64()),
    ])
    EVENTS = None

    def __init__(self, config: FlowTimeConfig, camera) -> None:
        if config.from_zone not in camera.zones:
            raise ConfigError(f"camera {camera.camera_id!r} has no zone {config.from_zone!r}")
        if config.to_line not in camera.lines:
            raise ConfigError(f"camera {camera.camera_id!r} has no line {config.to_line!r}")
        self.config = config
        self.window_s = camera.window_s
        self._started: dict[int, float] = {}  # track id: media time it entered (ordered)
        self._windows: dict[int, tuple[list[float], set[int]]] = {}  # index: flows, tracks

    def update(self, frame) -> list:
        cfg = self.config
        for e in frame.events:
            if e.kind == "zone_enter" and e.element_id == cfg.from_zone:
                self._started.setdefault(e.track_id, e.pts_s)
                if len(self._started) > cfg.max_tracks:
                    self._started.pop(next(iter(self._started)))
            elif (e.kind == "line_cross" and e.element_id == cfg.to_line
                  and cfg.direction in (None, e.direction) and e.track_id in self._started):
                flow = e.pts_s - self._started.pop(e.track_id)
                if 0.0 <= flow <= cfg.max_flow_s:
                    flows, tracks = self._windows.setdefault(
                        math.floor(e.pts_s / self.window_s), ([], set()))
                    flows.append(flow)
                    tracks.add(e.track_id)
        for tid in np.asarray(frame.removed_ids).tolist():
            self._started.pop(tid, None)
        oldest = frame.meta.pts_s - cfg.max_flow_s
        while self._started and next(iter(self._started.values())) < oldest:
            self._started.pop(next(iter(self._started)))
        return []

    def close_window(self, window) -> list[dict]:
        index = round(window.start_s / self.window_s)
        flows, tracks = self._windows.pop(index, ([], set()))
        for old in [i for i in self._windows if i < index]:  # nothing lands there; bound
            del self._windows[old]
        values = np.asarray(flows, np.float64)
        stats = ({"flow_mean_s": float(values.mean()),
                  "flow_p50_s": float(np.percentile(values, 50)),
                  "flow_p90_s": float(np.percentile(values, 90))} if len(values)
                 else dict.fromkeys(("flow_mean_s", "flow_p50_s", "flow_p90_s")))
        return [{"from_zone": self.config.from_zone, "to_line": self.config.to_line,
                 "flows": len(flows), **stats, "distinct_tracks": len(tracks)}]
