"""Runs one camera's analytics plugins and turns what they return into private tables.

A :class:`PluginHost` is made with its camera's analytics (by the
:class:`~pipeline.analytics.aggregator.Aggregator`), fed every frame with its built-in
events, and told which windows closed. What comes out is a list of :class:`PluginTable`
(the plugin's name, ``rows`` or ``events``, an Arrow table with the host's columns),
which the sinks write under ``plugins/<name>/``. Everything a plugin returns is checked
against its declared schema (see :mod:`pipeline.analytics.plugins`); rows covering 1..k-1
distinct tracks are suppressed here, so a plugin cannot forget to. A plugin that raises
or returns anything else is stopped alone: the error is logged once and kept for the
camera's status; the camera and the other plugins go on. So is one that takes more than its
``max_busy_s`` of wall time over its last :data:`BUSY_CALLS` calls (it runs in the
aggregator, which serves every camera there), and one whose state pickles to more than its
``max_state_mb`` or not at all (checked as the aggregator's checkpoint pickles the host).

Example:
    >>> import numpy as np, pyarrow as pa
    >>> from pipeline.analytics.config import AnalyticsConfig
    >>> from pipeline.analytics.plugins import PluginCamera
    >>> from pipeline.types import FrameMeta, TrackedFrame, Tracks
    >>> class Count:
    ...     ROWS = pa.schema([("seen", pa.int64()), ("distinct_tracks", pa.int64())])
    ...     def __init__(self): self.ids = set()
    ...     def update(self, frame): self.ids.update(frame.tracks.track_ids.tolist()); return []
    ...     def close_window(self, window):
    ...         n, self.ids = len(self.ids), set()
    ...         return [{"seen": n, "distinct_tracks": n}]
    >>> camera = PluginCamera("cam1", 100, 100, 10.0, (), (), None)
    >>> host = PluginHost(camera, k=2, plugins={"count": Count()})
    >>> t = Tracks(np.array([[40, 40, 60, 60]], np.float32), np.ones(1, np.float32),
    ...            np.zeros(1, np.int16), np.array([1]))
    >>> host.update(TrackedFrame(FrameMeta("cam1", 0, 0.0, 1.8e9, 100, 100), t), [])
    []
    >>> [out] = host.close_windows([(0.0, 10.0, 1.8e9, True)])
    >>> out.table.select(["camera_id", "seen", "suppressed"]).to_pylist()
    [{'camera_id': 'cam1', 'seen': None, 'suppressed': True}]
"""

from __future__ import annotations

import logging
import math
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipeline.analytics.plugins import (
    BUSY_CALLS,
    MAX_TEXT,
    Deadline,
    PluginCamera,
    PluginConfig,
    PluginFrame,
    PluginTimeout,
    WindowSpan,
    plugin_class,
    settings,
)
from pipeline.types import TrackedFrame

logger = logging.getLogger(__name__)

MIN_DEADLINE_S = 0.01
"""Shortest deadline a plugin call gets, when its recent calls spent nearly its budget."""

ROW_HOST_FIELDS = [pa.field("camera_id", pa.string(), nullable=False),
                   pa.field("window_start_s", pa.float64(), nullable=False),
                   pa.field("window_end_s", pa.float64(), nullable=False),
                   pa.field("window_start_at", pa.float64(), nullable=False),
                   pa.field("complete", pa.bool_(), nullable=False),
                   pa.field("suppressed", pa.bool_(), nullable=False)]
"""Columns the host puts before a plugin's rows (``window_start_at`` partitions by date)."""
EVENT_HOST_FIELDS = [pa.field("camera_id", pa.string(), nullable=False),
                     pa.field("captured_at", pa.float64(), nullable=False)]
"""Columns the host puts before a plugin's events (``captured_at`` partitions by date)."""


@dataclass(frozen=True)
class PluginTable:
    """Output of one plugin of one camera: ``kind`` is ``rows`` or ``events``; the table
    has the host's columns, then the plugin's declared ones."""

    name: str
    kind: str
    table: pa.Table


class PluginHost:
    """The plugins of one camera.

    Args:
        camera: what the plugins are told of the camera.
        k: the minimum-count rule's k (``min_distinct_tracks``).
        plugins: instances by table name (made by :func:`make_plugins`).
        errors: why each plugin that could not be made was not (by name).
        configs: the plugins' configs, for their limits (``max_busy_s``,
            ``max_state_mb``; a plugin without one gets the defaults).
        clock: wall seconds (``time.perf_counter``), to hold plugins to ``max_busy_s``;
            None: not held (the analytics themselves never read the wall clock).
        deadline: interrupts a call that would take a plugin past its ``max_busy_s``
            (:data:`~pipeline.analytics.plugins.Deadline`): a call that never returns
            stops that plugin, not the aggregator; None: calls are not interrupted.
    """

    def __init__(self, camera: PluginCamera, k: int, plugins: dict[str, Any],
                 errors: dict[str, str] | None = None,
                 configs: Sequence[PluginConfig] = (),
                 clock: Callable[[], float] | None = None,
                 deadline: Deadline | None = None) -> None:
        self.camera = camera
        self.k = k
        self._plugins = dict(plugins)
        self.errors: dict[str, str] = dict(errors or {})  # name: why it was stopped
        self._offset: float | None = None  # captured_at - pts_s of the latest frame
        by_name = {c.name: c for c in configs}
        self._limits = {n: _limits(by_name.get(n)) for n in self._plugins}
        self._clock = clock
        self._deadline = deadline
        self._busy = {n: deque(maxlen=BUSY_CALLS) for n in self._plugins}  # wall s a call

    def __getstate__(self) -> dict[str, Any]:
        """Pickles each plugin on its own: one that does not pickle, or pickles to more
        than its ``max_state_mb``, is stopped (the checkpoint goes on without it)."""
        kept = {}
        for name, plugin in list(self._plugins.items()):
            try:
                blob = pickle.dumps(plugin, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001 - a plugin's failure stops only itself
                self._stop(name, f"its state cannot be pickled for the checkpoint: "
                           f"{type(exc).__name__}: {exc}")
                continue
            limit_mb = self._limits[name][1]
            if len(blob) > limit_mb * 1e6:
                self._stop(name, f"its state grew to {len(blob) / 1e6:.0f} MB, over its "
                           f"max_state_mb ({limit_mb:g})")
                continue
            kept[name] = blob
        return {**self.__dict__, "_plugins": kept}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._plugins = {n: pickle.loads(blob) for n, blob in state["_plugins"].items()}

    @property
    def names(self) -> tuple[str, ...]:
        """The plugins still running."""
        return tuple(self._plugins)

    def update(self, frame: TrackedFrame, events: Sequence[Any]) -> list[PluginTable]:
        """Hands the frame and its built-in events to every plugin; returns their events."""
        self._offset = float(frame.meta.captured_at) - float(frame.meta.pts_s)
        view = PluginFrame(frame.meta, frame.tracks, frame.removed_ids, tuple(events))
        out = []
        for name, plugin in list(self._plugins.items()):
            returned = self._call(name, lambda p=plugin: p.update(view))
            if returned:
                table = self._events_table(name, plugin, returned)
                if table is not None:
                    out.append(PluginTable(name, "events", table))
        return out

    def close_windows(self, windows: Iterable[tuple[float, float, float | None, bool]]
                      ) -> list[PluginTable]:
        """Closes each window ``(start_s, end_s, start_at, complete)`` in every plugin and
        returns their rows, suppressed where they cover 1..k-1 distinct tracks."""
        out = []
        for start_s, end_s, start_at, complete in windows:
            span = WindowSpan(start_s, end_s, complete)
            for name, plugin in list(self._plugins.items()):
                returned = self._call(name, lambda p=plugin: p.close_window(span))
                if returned is None or start_at is None:
                    continue
                host = [self.camera.camera_id, start_s, end_s, start_at, complete]
                table = self._rows_table(name, plugin, returned, host)
                if table is not None and table.num_rows:
                    out.append(PluginTable(name, "rows", table))
        return out

    # -- checks -----------------------------------------------------------------------
    def _call(self, name: str, fn: Any) -> Any:
        started = self._clock() if self._clock is not None else 0.0
        busy, limit_s = self._busy[name], self._limits[name][0]
        try:
            if self._deadline is None:
                returned = fn()
            else:  # what is left of its budget over its last calls (the oldest drops)
                spent = sum(busy) - (busy[0] if len(busy) == busy.maxlen else 0.0)
                with self._deadline(max(MIN_DEADLINE_S, limit_s - spent)):
                    returned = fn()
        except PluginTimeout:
            self._stop(name, f"interrupted: this call took its calls past its max_busy_s "
                       f"({limit_s:g} s over its last {BUSY_CALLS} calls)")
            return None
        except Exception as exc:  # noqa: BLE001 - a plugin's failure stops only itself
            self._stop(name, f"raised {type(exc).__name__}: {exc}")
            return None
        busy.append(self._clock() - started if self._clock is not None else 0.0)
        if sum(busy) > limit_s:
            self._stop(name, f"too slow: its last {len(busy)} calls took {sum(busy):.1f} s, "
                       f"over its max_busy_s ({limit_s:g})")
            return None
        if not isinstance(returned, (list, tuple)):
            self._stop(name, f"returned {type(returned).__name__}, not a list of rows")
            return None
        return returned

    def _stop(self, name: str, why: str) -> None:
        self._plugins.pop(name, None)
        self._busy.pop(name, None)
        self.errors[name] = why[:500]
        logger.error("camera %s: analytics plugin %r stopped: %s", self.camera.camera_id,
                     name, self.errors[name])

    def _checked(self, name: str, schema: pa.Schema, rows: Sequence[Any]) -> list[dict] | None:
        """The rows as dicts of exactly the schema's columns and scalar values, or None
        (the plugin is stopped) when any row breaks that."""
        out = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != set(schema.names):
                got = sorted(row) if isinstance(row, dict) else type(row).__name__
                self._stop(name, f"row {i} has columns {got}, not {schema.names}")
                return None
            clean = {}
            for f in schema:
                value = _scalar(row[f.name], f.type)
                if value is _BAD:
                    self._stop(name, f"row {i}: {f.name} = {type(row[f.name]).__name__} is "
                               f"not a {f.type} scalar")
                    return None
                clean[f.name] = value
            out.append(clean)
        return out

    def _rows_table(self, name: str, plugin: Any, rows: Sequence[Any], host: list
                    ) -> pa.Table | None:
        schema = plugin.ROWS
        checked = self._checked(name, schema, rows)
        if checked is None:
            return None
        numbers = [f.name for f in schema if f.type != pa.string()]
        for row in checked:
            n = row["distinct_tracks"]
            if n is None or n < 0:
                self._stop(name, f"distinct_tracks must be a count, got {n}")
                return None
            row["suppressed"] = 0 < n < self.k
            if row["suppressed"]:
                row.update(dict.fromkeys(numbers))
        full = pa.schema(ROW_HOST_FIELDS + list(schema))
        columns = {f.name: [v] * len(checked) for f, v in zip(ROW_HOST_FIELDS, host)}
        columns["suppressed"] = [r.pop("suppressed") for r in checked]
        columns.update({f.name: [r[f.name] for r in checked] for f in schema})
        return pa.Table.from_pydict(columns, schema=full)

    def _events_table(self, name: str, plugin: Any, events: Sequence[Any]) -> pa.Table | None:
        schema = getattr(plugin, "EVENTS", None)
        if schema is None:
            self._stop(name, "returned events but declares no EVENTS schema")
            return None
        checked = self._checked(name, schema, events)
        if checked is None:
            return None
        if any(e["pts_s"] is None or e["kind"] is None for e in checked):
            self._stop(name, "an event lacks kind or pts_s")
            return None
        full = pa.schema(EVENT_HOST_FIELDS + list(schema))
        columns = {"camera_id": [self.camera.camera_id] * len(checked),
                   "captured_at": [e["pts_s"] + (self._offset or 0.0) for e in checked]}
        columns.update({f.name: [e[f.name] for e in checked] for f in schema})
        return pa.Table.from_pydict(columns, schema=full)


_BAD = object()


def _limits(config: PluginConfig | None) -> tuple[float, float]:
    """``(max_busy_s, max_state_mb)`` of a plugin (the defaults without a config)."""
    fields = PluginConfig.model_fields
    if config is None:
        return fields["max_busy_s"].default, fields["max_state_mb"].default
    return config.max_busy_s, config.max_state_mb


def _scalar(value: Any, kind: pa.DataType) -> Any:
    """``value`` as a plain Python scalar of ``kind`` (None stays None), or ``_BAD``."""
    if value is None:
        return None
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()  # numpy scalars
    if kind == pa.string():
        return value if isinstance(value, str) and len(value) <= MAX_TEXT else _BAD
    if kind == pa.bool_():
        return value if isinstance(value, bool) else _BAD
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _BAD
    if kind == pa.int64():
        return int(value) if float(value).is_integer() else _BAD
    return float(value) if math.isfinite(value) else None


def make_plugins(configs: Sequence[PluginConfig], camera: PluginCamera
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """Makes the plugins that run on ``camera``: instances by name, and for each that
    could not be made, why (logged; the camera runs without it)."""
    plugins, errors = {}, {}
    for cfg in configs:
        if cfg.cameras and camera.camera_id not in cfg.cameras:
            continue
        try:
            cls = plugin_class(cfg.type, cfg.name)
            plugins[cfg.name] = cls(settings(cfg, cls), camera)
        except Exception as exc:  # noqa: BLE001 - one plugin's failure stops only itself
            errors[cfg.name] = f"not started: {type(exc).__name__}: {exc}"[:500]
            logger.error("camera %s: analytics plugin %r %s", camera.camera_id, cfg.name,
                         errors[cfg.name])
    return plugins, errors
