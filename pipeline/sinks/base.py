"""The interface every analytics sink implements, and sinks chosen by their ``type``.

A sink receives what the analytics produced: events as they happen and windows as they
close, with each camera's still to draw heatmaps on. Sinks are plain classes (no Ray);
the aggregator actor owns one :class:`Sinks` that fans out to every configured sink, as
models are chosen by their family and sources by their kind. A new sink type is a config
model with a ``type`` literal, a class with this interface, and an entry in
:data:`SINK_TYPES`.

Example:
    >>> import tempfile
    >>> sinks = Sinks([ParquetSinkConfig(root=tempfile.mkdtemp())], run_id="run-1")
    >>> sinks.write([], [], {})
    >>> sinks.close()
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from pipeline.analytics.events import ClosedWindow, Event
from pipeline.analytics.plugin_host import PluginTable
from pipeline.errors import SinkError
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig
from pipeline.sinks.plugin_tables import PluginTableSink

log = logging.getLogger(__name__)

SinkConfig = ParquetSinkConfig
"""The config of one sink; more types join as ``Annotated[A | B, Field(discriminator=
"type")]``."""

SINK_TYPES: dict[str, type] = {"parquet": ParquetSink}
"""Sink class by config ``type``."""


class Sink(Protocol):
    """Receives events and closed windows; buffers and writes them.

    ``write`` is called on the hot path with each batch of frames' output and must not
    block on disk for long: sinks buffer; windows close about once per window length per
    camera, and may be written at once. ``close`` must leave nothing buffered.
    """

    def write(
        self,
        events: Sequence[Event],
        windows: Sequence[ClosedWindow],
        stills: Mapping[str, npt.NDArray[np.uint8]],
    ) -> Any: ...

    def flush(self) -> Any: ...

    def close(self) -> Any: ...


class Sinks:
    """Every configured sink of one aggregator, fed together.

    Args:
        configs: one config per sink (its ``type`` picks the class).
        run_id: the pipeline run's id, shared by every sink of the run; None: each
            draws its own.
    """

    def __init__(self, configs: Sequence[SinkConfig], run_id: str | None = None) -> None:
        self._sinks: list[Sink] = [SINK_TYPES[c.type](c, run_id) for c in configs]
        self._plugin_sinks = [PluginTableSink(c, run_id) for c in configs if c.type == "parquet"]
        self._close_errors: list[str] = []  # one per sink whose close could not write

    def write_plugin_tables(self, tables: Sequence[PluginTable]) -> None:
        """Hands analytics plugins' tables to every Parquet sink's plugin writer."""
        if tables:
            for sink in self._plugin_sinks:
                sink.write(tables)

    def write(
        self,
        events: Sequence[Event],
        windows: Sequence[ClosedWindow],
        stills: Mapping[str, npt.NDArray[np.uint8]],
    ) -> None:
        """Hands one batch's events and closed windows to every sink.

        Args:
            events: events in frame order.
            windows: windows closed by the batch.
            stills: per camera id, its people-blurred BGR still (heatmap background).
        """
        if not events and not windows:
            return
        for sink in self._sinks:
            sink.write(events, windows, stills)

    def health(self) -> dict[str, Any]:
        """Whether output is paused by a full disk (see :mod:`pipeline.sinks.diskfull`),
        why, and rows buffered and dropped, over every sink."""
        states = [s.disk.health() for s in self._sinks if hasattr(s, "disk")]
        reasons = [h["reason"] for h in states if h["reason"]] + self._close_errors
        return {"paused": any(h["paused"] for h in states),
                "reason": "; ".join(dict.fromkeys(reasons)),
                "dropped_rows": sum(h["dropped_rows"] for h in states),
                "buffered_rows": sum(s.buffered_rows() for s in self._sinks
                                     if hasattr(s, "buffered_rows"))}

    def on_seal(self, hook: Callable[[], None]) -> None:
        """Has every sink that seals its files (:mod:`pipeline.sinks.pending`) call
        ``hook`` after sealing and before writing them."""
        for sink in [*self._sinks, *self._plugin_sinks]:
            if hasattr(sink, "on_seal"):
                sink.on_seal = hook

    def rows_written(self) -> int:
        """Rows every sink has written so far (a change means files were written)."""
        return (sum(sum(getattr(s, "rows_written", {}).values()) for s in self._sinks)
                + sum(s.rows_written for s in self._plugin_sinks))

    def flush(self) -> None:
        """Writes everything every sink has buffered."""
        for sink in [*self._sinks, *self._plugin_sinks]:
            sink.flush()

    def close(self) -> None:
        """Flushes and closes every sink. A sink that cannot write its last rows (the disk
        still full) keeps them counted as ``buffered_rows`` in :meth:`health`, its error
        in ``reason``; the others close all the same."""
        for sink in [*self._sinks, *self._plugin_sinks]:
            try:
                sink.close()
            except (SinkError, OSError) as exc:
                log.error("output not fully written at the close: %s", exc)
                self._close_errors.append(f"not written at the close: {exc}")
