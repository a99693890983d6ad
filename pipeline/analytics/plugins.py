"""Analytics plugins: analytics of one's own, run beside the built-ins, under their rules.

A plugin is a class, found by the ``type`` of its config entry: the name of an entry point
in the ``panoray.analytics`` group, or a dotted path (``package.module:Class`` or
``package.module.Class``). It declares its own pydantic config and the Arrow schema of
the rows it writes, and is made once per camera::

    class MyPlugin:
        Config = MyConfig                        # pydantic model of `config:` (extra=forbid)
        ROWS = pa.schema([...])                  # close_window's columns; distinct_tracks int64
        EVENTS = None                            # or update's columns (kind, pts_s, ...)

        def __init__(self, config: MyConfig, camera: PluginCamera) -> None: ...
        def update(self, frame: PluginFrame) -> list[dict]: ...      # events, often []
        def close_window(self, window: WindowSpan) -> list[dict]: ...  # rows of that window

``update`` sees every frame of the camera in media order (its tracks and the built-in
events it completed, track ids included: they never leave the plugin); ``close_window``
is called once per window, oldest first, after every frame up to ``end_s +
window_grace_s`` was seen, exactly when the built-in metrics of that window are written.

What a plugin may not do, enforced here: its columns may not look like identifiers
(``id``, ``*_id``, ``*_ids``, anything naming tracks, people, faces, boxes, images or
embeddings) or take the host's names; every value is a scalar of its declared type
(int64, float64, bool, string up to :data:`MAX_TEXT`); rows carry ``distinct_tracks``
and those covering 1..k-1 tracks are suppressed (every number nulled, as built-in
metrics). A plugin that raises or returns anything else is stopped (its camera and the
other plugins go on) and the error is logged and shown in the camera's status.

Frames of a later window arrive before a window is closed (it closes ``window_grace_s``
after its end), so a plugin files what it sees under the window of its media time.

Example:
    >>> import math
    >>> import pyarrow as pa
    >>> from pydantic import BaseModel
    >>> class Frames:
    ...     class Config(BaseModel):
    ...         pass
    ...     ROWS = pa.schema([("frames", pa.int64()), ("distinct_tracks", pa.int64())])
    ...     def __init__(self, config, camera):
    ...         self.window_s, self.seen = camera.window_s, {}  # window index: its figures
    ...     def update(self, frame):  # window i is [i * window_s, (i + 1) * window_s)
    ...         i = math.floor(frame.meta.pts_s / self.window_s)
    ...         seen = self.seen.setdefault(i, {"frames": 0, "ids": set()})
    ...         seen["frames"] += 1
    ...         seen["ids"].update(frame.tracks.track_ids.tolist())
    ...         return []
    ...     def close_window(self, window):
    ...         seen = self.seen.pop(round(window.start_s / self.window_s), None)
    ...         n, ids = (seen["frames"], seen["ids"]) if seen else (0, ())
    ...         return [{"frames": n, "distinct_tracks": len(ids)}]
    >>> check_plugin_class(Frames, "frames")
    >>> class Leaky(Frames):
    ...     ROWS = pa.schema([("track_id", pa.int64()), ("distinct_tracks", pa.int64())])
    >>> check_plugin_class(Leaky, "leaky")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    pipeline.errors.ConfigError: type: plugin 'leaky': column 'track_id' looks like an
    identifier; plugins write aggregates, never ids
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field, ValidationError, model_validator

from pipeline.config import StrictModel
from pipeline.errors import ConfigError

ENTRY_POINT_GROUP = "panoray.analytics"
"""Entry point group of analytics plugins (``[project.entry-points."panoray.analytics"]``)."""
MAX_TEXT = 256
"""Longest string value a plugin may write (characters)."""
SCALAR_TYPES = (pa.int64(), pa.float64(), pa.bool_(), pa.string())
"""The column types a plugin may declare."""
HOST_COLUMNS = ("camera_id", "window_start_s", "window_end_s", "window_start_at",
                "complete", "suppressed", "captured_at", "run_id", "date", "plugin")
"""Columns the host writes; a plugin may not declare them (but ``pts_s`` and ``kind``
in events, ``distinct_tracks`` in rows)."""
ID_LIKE = re.compile(r"(^|_)(ids?|uuid|tracks?|tracker|person|people|face|faces|embedding|"
                     r"embeddings|features?|box|boxes|bbox|image|images|pixels?|crop|still)"
                     r"($|_)", re.IGNORECASE)
"""Column names refused as identifiers or image data."""
_NAME = r"^[a-z][a-z0-9_]{0,62}$"
BUSY_CALLS = 64
"""Calls over which a plugin's wall time is held to its ``max_busy_s``."""
Deadline = Callable[[float], AbstractContextManager[None]]
"""``deadline(seconds)``: a context in which a plugin call that runs past ``seconds`` of
wall time is interrupted with :class:`PluginTimeout` (given by the aggregator actor)."""


class PluginTimeout(BaseException):
    """A plugin call ran past its deadline. A ``BaseException``, so that a plugin's own
    ``except Exception`` does not swallow it."""


class PluginConfig(StrictModel):
    """One analytics plugin: which class, the table it writes, its cameras, its settings."""

    type: str = Field(min_length=1, max_length=256, description="An entry point name of the "
                      "`panoray.analytics` group, or a dotted path `package.module:Class`.")
    name: str = Field(pattern=_NAME, description="Its table: rows go to "
                      "`plugins/<name>/rows/`, events to `plugins/<name>/events/`.")
    cameras: tuple[str, ...] = Field((), max_length=1024, description="Cameras it runs on; "
                                     "empty: every camera.")
    config: dict[str, Any] = Field(default_factory=dict, description="The plugin's own "
                                   "settings, checked by its `Config` model.")
    max_busy_s: float = Field(2.0, gt=0.0, le=600.0, description="Most wall time its last "
                              f"{BUSY_CALLS} calls (update and close_window) may take "
                              "together; more stops it: it runs in the aggregator, which "
                              "serves every camera there (steady use: about 30 ms a call).")
    max_state_mb: float = Field(64.0, gt=0.0, le=4096.0, description="Largest its pickled "
                                "state may grow, checked as the aggregator writes its "
                                "checkpoint (every run.checkpoint_s); larger stops it.")

    @model_validator(mode="after")
    def _check(self) -> PluginConfig:
        settings(self, plugin_class(self.type, self.name))  # fails here, at config load
        return self


def plugin_class(type_: str, name: str = "?") -> type:
    """The plugin class named by ``type_`` (entry point first, then dotted path), checked.

    Raises:
        ConfigError: nothing of that name, or a class that breaks the interface.
    """
    found = [ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
             if ep.name == type_]
    try:
        if found:
            cls = found[0].load()
        elif ":" in type_ or "." in type_:
            module, _, attr = type_.partition(":") if ":" in type_ else type_.rpartition(".")
            cls = getattr(importlib.import_module(module), attr)
        else:
            names = sorted(ep.name for ep in importlib.metadata.entry_points(
                group=ENTRY_POINT_GROUP))
            raise ConfigError(f"plugin {name!r}: no {ENTRY_POINT_GROUP!r} entry point named "
                              f"{type_!r} (installed: {names}) and not a dotted path", "type")
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - its module's own error (syntax, at import)
        raise ConfigError(f"plugin {name!r}: cannot load {type_!r}: {type(exc).__name__}: "
                          f"{exc}", "type") from None
    check_plugin_class(cls, name)
    return cls


def check_plugin_class(cls: Any, name: str) -> None:
    """Raises ConfigError unless ``cls`` has the plugin interface and a private schema."""
    missing = [a for a in ("Config", "ROWS", "update", "close_window") if not hasattr(cls, a)]
    if missing:
        raise ConfigError(f"plugin {name!r}: {getattr(cls, '__name__', cls)!r} lacks "
                          f"{', '.join(missing)}", "type")
    if not (isinstance(cls.Config, type) and issubclass(cls.Config, BaseModel)
            and cls.Config is not BaseModel):
        raise ConfigError(f"plugin {name!r}: its Config must be a pydantic model class "
                          f"(a subclass of BaseModel), got {cls.Config!r}", "type")
    schemas = {"ROWS": cls.ROWS, "EVENTS": getattr(cls, "EVENTS", None)}
    for what, schema in schemas.items():
        if schema is None and what == "EVENTS":
            continue
        if not isinstance(schema, pa.Schema):
            raise ConfigError(f"plugin {name!r}: {what} must be a pyarrow.Schema", "type")
        for f in schema:
            if ID_LIKE.search(f.name) and f.name != "distinct_tracks":
                raise ConfigError(f"plugin {name!r}: column {f.name!r} looks like an "
                                  "identifier; plugins write aggregates, never ids", "type")
            if f.name in HOST_COLUMNS or not re.match(_NAME, f.name):
                raise ConfigError(f"plugin {name!r}: column {f.name!r} is the host's or not "
                                  "a lower-case name", "type")
            if f.type not in SCALAR_TYPES:
                raise ConfigError(f"plugin {name!r}: column {f.name!r} is {f.type}; only "
                                  "int64, float64, bool and string are allowed", "type")
    rows = cls.ROWS
    if "distinct_tracks" not in rows.names or rows.field("distinct_tracks").type != pa.int64():
        raise ConfigError(f"plugin {name!r}: ROWS needs an int64 distinct_tracks column "
                          "(the minimum-count rule reads it)", "type")
    events = schemas["EVENTS"]
    if events is not None and events.names[:2] != ["kind", "pts_s"]:
        raise ConfigError(f"plugin {name!r}: EVENTS must start with kind (string) and "
                          "pts_s (float64)", "type")


def settings(config: PluginConfig, cls: type) -> Any:
    """The plugin's own settings, validated by its ``Config`` model.

    Raises:
        ConfigError: they do not fit it (the message names the field).
    """
    try:
        return cls.Config.model_validate(config.config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"plugin {config.name!r}: config.{where}: {first['msg']}",
                          "config") from None
    except Exception as exc:  # noqa: BLE001 - its own validators' errors
        raise ConfigError(f"plugin {config.name!r}: its Config failed on config: "
                          f"{type(exc).__name__}: {exc}", "config") from None


@dataclass(frozen=True)
class PluginCamera:
    """What a plugin knows of its camera when it is made.

    Attributes:
        camera_id: the camera's id (the host stamps it on every row; do not copy it).
        width, height: frame size, pixels.
        window_s: length of the tumbling windows, media seconds.
        zones, lines: the camera's zone and line ids, in config order.
        geometry: the camera's zones and lines resolved to pixels
            (:class:`~pipeline.analytics.geometry.CameraGeometry`).
    """

    camera_id: str
    width: int
    height: int
    window_s: float
    zones: tuple[str, ...]
    lines: tuple[str, ...]
    geometry: Any


@dataclass(frozen=True)
class PluginFrame:
    """One frame as a plugin sees it: the tracked frame and the built-in events it
    completed (line crossings, zone enters and exits, stamped with their own media time).

    Attributes:
        meta: the frame's :class:`~pipeline.types.FrameMeta` (``pts_s``: media time).
        tracks: its :class:`~pipeline.types.Tracks` (boxes in pixels, anonymous ids).
        removed_ids: ids the tracker removed with this frame (forget their state).
        events: the built-in :class:`~pipeline.analytics.events.Event` s.
    """

    meta: Any
    tracks: Any
    removed_ids: Any
    events: tuple


@dataclass(frozen=True)
class WindowSpan:
    """The window a plugin is asked to close: ``[start_s, end_s)`` media seconds;
    ``complete`` is False when it was closed early (shutdown, camera removed)."""

    start_s: float
    end_s: float
    complete: bool
