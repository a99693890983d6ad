"""Analytics plugins that break the rules, for the tests: each must stop only itself.

Referenced by dotted path (``tests.plugin_fixtures:Raises``), so that Ray's actors, which
see the driver's ``sys.path``, load them too."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

ROWS = pa.schema([("frames", pa.int64()), ("distinct_tracks", pa.int64())])


class CountConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_after: int = Field(3, ge=1, description="Frames before a bad plugin misbehaves.")


class Frames:
    """Counts frames and tracks per window: a well-behaved plugin."""

    Config = CountConfig
    ROWS = ROWS

    def __init__(self, config: CountConfig, camera) -> None:
        self.config, self.frames, self.ids = config, 0, set()

    def update(self, frame) -> list:
        self.frames += 1
        self.ids.update(np.asarray(frame.tracks.track_ids).tolist())
        return []

    def close_window(self, window) -> list[dict]:
        row = {"frames": self.frames, "distinct_tracks": len(self.ids)}
        self.frames, self.ids = 0, set()
        return [row]


class Raises(Frames):
    """Raises from update after ``fail_after`` frames."""

    def update(self, frame) -> list:
        if self.frames >= self.config.fail_after:
            raise RuntimeError("plugin bug")
        return super().update(frame)


class WrongShape(Frames):
    """Returns a dict, not a list of rows."""

    def close_window(self, window):
        return {"frames": self.frames}


class LeaksIds(Frames):
    """Slips the track ids into a value: a list, not a scalar."""

    def close_window(self, window) -> list[dict]:
        return [{"frames": sorted(self.ids), "distinct_tracks": len(self.ids)}]


class ExtraColumn(Frames):
    """Returns a column its schema does not declare."""

    def close_window(self, window) -> list[dict]:
        return [{**super().close_window(window)[0], "track_id": 7}]


class DeclaresIds(Frames):
    """Declares an id column: refused when the config loads."""

    ROWS = pa.schema([("track_id", pa.int64()), ("distinct_tracks", pa.int64())])


class Ticks(Frames):
    """Emits an event every 10th frame: how many people are in view (no ids)."""

    EVENTS = pa.schema([("kind", pa.string()), ("pts_s", pa.float64()),
                        ("in_view", pa.int64())])

    def update(self, frame) -> list:
        super().update(frame)
        if frame.meta.frame_index % 10:
            return []
        return [{"kind": "tick", "pts_s": frame.meta.pts_s, "in_view": len(frame.tracks)}]


class Slow(Frames):
    """Sleeps ``fail_after`` hundredths of a second in every update."""

    def update(self, frame) -> list:
        time.sleep(self.config.fail_after / 100)
        return super().update(frame)


class Hangs(Frames):
    """Never returns from its update of frame ``fail_after``, and swallows every
    ``Exception`` meanwhile (as careless plugin code does)."""

    def update(self, frame) -> list:
        while frame.meta.frame_index >= self.config.fail_after:
            try:
                time.sleep(3600)
            except Exception:  # noqa: BLE001, S110 - the point of this fixture
                pass
        return super().update(frame)


class Hoards(Frames):
    """Keeps 1 MB more with every frame."""

    def update(self, frame) -> list:
        self.__dict__.setdefault("hoard", []).append(bytes(1_000_000))
        return super().update(frame)


class Unpicklable(Frames):
    """Holds a lock: its state cannot go into a checkpoint."""

    def __init__(self, config: CountConfig, camera) -> None:
        super().__init__(config, camera)
        self.lock = threading.Lock()


class PlainConfig(Frames):
    """Its Config is not a pydantic model."""

    Config = dict
