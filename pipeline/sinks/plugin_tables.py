"""Writes analytics plugins' tables beside the built-in ones, partitioned the same way.

Layout under the Parquet sink's root::

    plugins/<name>/rows/date=YYYY-MM-DD/camera_id=<id>/part-<run_id>-*.parquet
    plugins/<name>/events/date=YYYY-MM-DD/camera_id=<id>/part-<run_id>-*.parquet

Tables arrive already checked and suppressed (:mod:`pipeline.analytics.plugin_host`);
this module buffers them, writes each (date, camera) partition atomically with the run's
``run_id`` column, and applies the sink's retention: events as events, rows as
aggregates. Files are sealed as the built-in ones are (:mod:`pipeline.sinks.pending`):
a flush fixes every file's name and rows, calls ``on_seal`` (the aggregator saves its
checkpoint there), then writes them, so a sink restored from that checkpoint writes the
same files again under the same names, never a row twice. A write that fails keeps the
file sealed for the next flush (at most ``max_buffer_rows`` rows in all; beyond it the
oldest files are dropped and their rows counted).

Example:
    >>> import tempfile, pyarrow as pa
    >>> from pipeline.analytics.plugin_host import PluginTable
    >>> from pipeline.sinks.parquet import ParquetSinkConfig
    >>> sink = PluginTableSink(ParquetSinkConfig(root=tempfile.mkdtemp()), "run-1")
    >>> t = pa.table({"camera_id": ["cam1"], "window_start_at": [1.8e9], "n": [3]})
    >>> [p.relative_to(sink.root).parts[:4] for p in sink.write([PluginTable("flow", "rows", t)])]
    [('plugins', 'flow', 'rows', 'date=2027-01-15')]
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.analytics.events import RUN_ID_FIELD
from pipeline.analytics.plugin_host import PluginTable
from pipeline.sinks.files import write_atomically
from pipeline.sinks.parquet import ParquetSinkConfig, utc_dates
from pipeline.sinks.pending import PendingFile
from pipeline.sinks.retention import apply_retention

logger = logging.getLogger(__name__)

TIME_COLUMN = {"rows": "window_start_at", "events": "captured_at"}
"""The wall-time column that picks each kind's date partition."""


class PluginTableSink:
    """Buffers and writes plugins' tables under a Parquet sink's root.

    Args:
        config: the Parquet sink's config (root, compression, retention, buffer bound).
        run_id: the run's id, written as the ``run_id`` column.
    """

    def __init__(self, config: ParquetSinkConfig, run_id: str | None) -> None:
        self.config = config
        self.root = Path(config.root)
        self.run_id = run_id or uuid.uuid4().hex
        self._token = uuid.uuid4().hex[:12]
        self._seq = 0
        self._buffers: dict[tuple[str, str], list[pa.Table]] = {}
        self._pending: list[PendingFile] = []  # sealed, not yet written, in order
        self.rows_written = 0
        self.dropped_rows = 0
        self._written_dates: dict[str, float] = {}  # "plugins/<n>/<kind>/date=...": clock
        self.on_seal: Callable[[], None] | None = None  # called between sealing and writing

    def __getstate__(self) -> dict[str, Any]:
        """Pickled into aggregator checkpoints without its hook."""
        return {k: v for k, v in self.__dict__.items() if k != "on_seal"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A restored sink names its new files with a new token (see
        :class:`~pipeline.sinks.parquet.ParquetSink`)."""
        self.__dict__.update(state)
        self._token = uuid.uuid4().hex[:12]
        self.on_seal = None

    def write(self, tables: Sequence[PluginTable]) -> list[Path]:
        """Buffers plugins' tables; rows (window
        closes) are written at once with everything buffered, events when they pass the
        buffer bound or at :meth:`flush`. Returns the files written."""
        for t in tables:
            self._buffers.setdefault((t.name, t.kind), []).append(t.table)
        if any(t.kind == "rows" for t in tables) or any(
                sum(b.num_rows for b in bufs) >= self.config.max_buffer_rows
                for bufs in self._buffers.values()):
            return self.flush()
        return []

    def flush(self) -> list[Path]:
        """Seals everything buffered, calls ``on_seal``, writes the sealed files; a file
        whose write fails stays sealed, with those after it."""
        if self._buffers:
            for key in list(self._buffers):
                self._pending += self._seal(*key, pa.concat_tables(self._buffers.pop(key)))
            if self.on_seal is not None:
                self.on_seal()
        files: list[Path] = []
        compression = None if self.config.compression == "none" else self.config.compression
        while self._pending:
            f = self._pending[0]
            try:
                write_atomically(f.path, lambda tmp, f=f: f.write_to(
                    tmp, compression=compression), self._token)
            except OSError as exc:
                logger.error("plugin table %s not written (kept for the next flush): %s",
                             f.dataset, exc)
                self._bound()
                break
            self._pending.pop(0)
            self.rows_written += f.rows
            self._written_dates[f.dataset] = time.time()
            files.append(f.path)
        if files:
            self._retention()
        return files

    def close(self) -> None:
        """Writes everything buffered."""
        self.flush()

    def _bound(self) -> None:
        """Drops the oldest sealed files while more than ``max_buffer_rows`` rows wait."""
        while sum(f.rows for f in self._pending) > self.config.max_buffer_rows:
            self.dropped_rows += self._pending.pop(0).rows

    def _seal(self, name: str, kind: str, table: pa.Table) -> list[PendingFile]:
        """One file per (date, camera) partition of a table, its name fixed; the dataset
        names the partition (for retention)."""
        dates = utc_dates(table.column(TIME_COLUMN[kind]).to_numpy())
        cams = np.asarray(table.column("camera_id").to_pylist(), dtype=object)
        body = table.drop_columns(["camera_id"]).append_column(
            RUN_ID_FIELD, pa.array([self.run_id] * table.num_rows, pa.string()))
        files = []
        for date, cam in sorted(set(zip(dates.tolist(), cams.tolist()))):
            part = body.filter(pa.array((dates == date) & (cams == cam)))
            self._seq += 1
            path = (self.root / "plugins" / name / kind / f"date={date}" / f"camera_id={cam}"
                    / f"part-{self.run_id}-{self._token}-{self._seq:08d}.parquet")
            files.append(PendingFile(path, f"plugins/{name}/{kind}/date={date}",
                                     part.num_rows, part))
        return files

    def _retention(self) -> None:
        base = self.root / "plugins"
        names = [p.name for p in base.iterdir() if p.is_dir() and not p.is_symlink()]
        apply_retention(self.root, (
            ([f"plugins/{n}/events" for n in names], self.config.events_retention_days),
            ([f"plugins/{n}/rows" for n in names], self.config.aggregates_retention_days),
        ), time.time(), self._written_dates)
