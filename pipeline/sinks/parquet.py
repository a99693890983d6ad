"""Parquet sink: events, window metrics and heatmaps, partitioned by date and camera.

Layout under ``root`` (hive style, readable as one dataset by pandas, DuckDB, polars)::

    events/date=2026-11-26/camera_id=cam1/part-<...>.parquet     (EVENTS_SCHEMA)
    metrics/date=2026-11-26/camera_id=cam1/part-<...>.parquet    (METRICS_SCHEMA)
    heatmaps/date=2026-11-26/camera_id=cam1/window-<start_s>.png  (+ .npy counts)

The partition columns ``date`` and ``camera_id`` live in the directory names only; a
row's date is the UTC date of its ``captured_at`` (events) or ``window_start_at``
(metrics). Every events and metrics file ends with a ``run_id`` column
(:data:`~pipeline.analytics.events.RUN_ID_FIELD`): the id of the run that wrote it, so
that track ids, counters that start again in every run, are never confused between runs
that wrote to one partition. Rows are buffered in memory as Arrow tables and written
when windows close, when a buffer reaches ``max_buffer_rows``, on :meth:`ParquetSink.flush`
and on :meth:`ParquetSink.close`; date partitions older than the retention periods are
deleted as windows are written, measured against the newest capture time written. Every
file is written to a dot-named temporary file in its partition directory, synced and
renamed into place with ``os.replace``, so readers never see a partial file. A flush first
seals what is buffered into files with fixed names (:mod:`pipeline.sinks.pending`), calls
``on_seal`` (the aggregator saves its checkpoint there), then writes them: a sink restored
from that checkpoint writes the same files again under the same names instead of
duplicating rows.

Example:
    >>> import tempfile
    >>> from pipeline.analytics.events import Event
    >>> root = tempfile.mkdtemp()
    >>> sink = ParquetSink(ParquetSinkConfig(root=root), run_id="run-1")
    >>> sink.write([Event("cam1", "line_cross", "door", "in", 1, 3.0, 1.8e9, None)], [], {})
    >>> sink.close().events_rows
    1
    >>> import pandas as pd
    >>> pd.read_parquet(f"{root}/events")[["camera_id", "date", "kind", "run_id"]].values.tolist()
    [['cam1', '2027-01-15', 'line_cross', 'run-1']]
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from pipeline.analytics.events import (
    EVENTS_SCHEMA,
    RUN_ID_FIELD,
    ClosedWindow,
    Event,
    HeatmapGrid,
    check_table,
    events_to_table,
    metrics_to_table,
)
from pipeline.analytics.heatmap import render_heatmap
from pipeline.config import StrictModel
from pipeline.errors import ConfigError, InputError, SinkError
from pipeline.privacy import grey_background
from pipeline.sinks.diskfull import DiskState
from pipeline.sinks.files import write_atomically
from pipeline.sinks.pending import FlushResult, PackedTables, PendingFile, unpack
from pipeline.sinks.retention import SECONDS_PER_DAY, apply_retention

logger = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
"""What a run id may be: 1-64 letters, digits, '_', '.', '-' (a uuid4 hex by default)."""


class ParquetSinkConfig(StrictModel):
    """Where and how the Parquet sink writes."""

    type: Literal["parquet"] = Field("parquet", description="Sink type.")
    root: Path = Field(Path("panoray-output"), description="Output directory; events/, "
                       "metrics/ and heatmaps/ go below (relative: to where panoray runs).")
    max_buffer_rows: int = Field(
        50_000,
        ge=1,
        le=10_000_000,
        description="Rows of one table buffered in memory before they are written without "
        "waiting for a window to close.",
    )
    row_group_rows: int = Field(
        65_536, ge=1, le=10_000_000, description="Most rows per Parquet row group."
    )
    compression: Literal["zstd", "snappy", "gzip", "none"] = Field(
        "zstd", description="Parquet compression codec."
    )
    events_retention_days: float | None = Field(
        30.0,
        gt=0,
        description="Raw event partitions whose whole day is older than this are deleted; "
        "unset keeps them forever.",
    )
    aggregates_retention_days: float | None = Field(
        None,
        gt=0,
        description="The same for metrics and heatmaps; unset keeps them forever.",
    )
    heatmap_png: bool = Field(True, description="Write each window's heatmap as a PNG.")
    heatmap_npy: bool = Field(True, description="Write each window's heatmap counts as .npy.")
    max_paused_rows: int = Field(
        1_000_000, ge=1, le=100_000_000,
        description="While the disk is full, writes pause and rows wait in memory; beyond "
        "this many the oldest events are dropped (counted). Nothing is lost below it once "
        "space returns.",
    )


def utc_dates(epoch_s: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """Returns the UTC dates (``YYYY-MM-DD``) of (n,) seconds since the epoch."""
    days = np.floor(np.asarray(epoch_s, np.float64) / SECONDS_PER_DAY).astype("int64")
    return days.astype("datetime64[D]").astype(str)


class ParquetSink:
    """Buffers analytics output and writes it as partitioned Parquet, PNG and .npy files.

    Args:
        config: where and how to write.
        run_id: the pipeline run's id, written as the ``run_id`` column of every events
            and metrics row (track ids are only unique within one run; every sink of a run
            gets the same id); None draws a random one. 1-64 letters, digits, ``_``,
            ``.`` or ``-``.

    Raises:
        ConfigError: ``run_id`` is not a valid id.

    Example: see the module docstring.
    """

    def __init__(self, config: ParquetSinkConfig, run_id: str | None = None) -> None:
        self.run_id = uuid.uuid4().hex if run_id is None else run_id
        if not re.match(RUN_ID_PATTERN, self.run_id):
            raise ConfigError(f"run_id must be 1-64 letters, digits, '_', '.' or '-', got "
                              f"{self.run_id!r}", "run_id")
        self.config = config
        self.root = Path(config.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._events: list[pa.Table] = []
        self._events_rows = 0
        self._metrics: list[pa.Table] = []
        self._metrics_rows = 0
        self._heatmaps: list[tuple[HeatmapGrid, np.ndarray | None]] = []
        self._pending: list[PendingFile] = []  # sealed, not yet written, in order
        self._seq = 0
        self._token = uuid.uuid4().hex[:12]
        self._closed = False
        # Per "<dataset>/date=..." this sink wrote to, the run's clock at the last write
        # (one entry per dataset and day).
        self._written_dates: dict[str, float] = {}
        self.rows_written = {"events": 0, "metrics": 0}
        self.clock: Callable[[], float] = time.time  # the run's clock, for retention
        self.write_file: Callable[[Path, Callable[[Path], Any], str], None] = write_atomically
        self.on_seal: Callable[[], None] | None = None  # called between sealing and writing
        self.disk = DiskState(config.max_paused_rows)
        self._packs = {"_events": PackedTables(), "_metrics": PackedTables()}

    def __getstate__(self) -> dict[str, Any]:
        """Pickled into aggregator checkpoints: buffers packed (see
        :class:`~pipeline.sinks.pending.PackedTables`), no stills of unsealed heatmaps
        (they are drawn on grey if restored), no clock, file layer or hook."""
        state = dict(self.__dict__)
        for name in ("clock", "write_file", "on_seal", "_packs"):
            state.pop(name, None)
        for name, packs in self._packs.items():
            state[name] = packs.pack(getattr(self, name))
        state["_heatmaps"] = [(grid, None) for grid, _ in self._heatmaps]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A restored sink names its new files with a new token: names drawn after its
        checkpoint by the sink that died never clash with them."""
        self.__dict__.update(state)
        self._events, self._metrics = unpack(self._events), unpack(self._metrics)
        self._packs = {"_events": PackedTables(), "_metrics": PackedTables()}
        self._token = uuid.uuid4().hex[:12]
        self.clock = time.time
        self.write_file = write_atomically
        self.on_seal = None

    def buffered_rows(self) -> int:
        """Event and metric rows waiting to be written (sealed files included)."""
        return self._events_rows + self._metrics_rows + sum(f.rows for f in self._pending)

    def drop_oldest_events(self, n: int) -> int:
        """Drops up to ``n`` of the oldest unwritten event rows (a full disk's bound);
        returns how many."""
        dropped = 0
        for f in self._pending:
            dropped += f.drop_oldest(n - dropped)
        self._pending = [f for f in self._pending if f.rows or f.dataset == "heatmaps"]
        while dropped < n and self._events:
            first = self._events[0]
            cut = min(first.num_rows, n - dropped)
            if cut == first.num_rows:
                self._events.pop(0)
            else:
                self._events[0] = first.slice(cut)
            self._events_rows -= cut
            dropped += cut
        return dropped

    # ------------------------------------------------------------------ input

    def write(
        self,
        events: Sequence[Event],
        windows: Sequence[ClosedWindow],
        stills: Mapping[str, npt.NDArray[np.uint8]],
    ) -> None:
        """The :class:`~pipeline.sinks.base.Sink` call: buffers ``events``; writes
        ``windows`` (and everything buffered) at once, then applies retention."""
        if events:
            self._buffer_events(events)
        if windows:
            self._buffer_windows(windows, stills)
        if self.disk.paused and not self.disk.retry_due():
            self.disk.bound(self)
            return
        try:
            if windows or self.disk.paused:
                self.flush()
            elif self._events_rows >= self.config.max_buffer_rows:
                self._flush_events()
        except SinkError as exc:  # a full disk, a read-only folder: retried, bounded
            self.disk.pause(exc)
            self.disk.bound(self)
            return
        self.disk.resume()
        if windows:
            self.apply_retention()

    def write_events(self, events: Sequence[Event] | pa.Table) -> None:
        """Buffers events (objects, or a table of exactly :data:`EVENTS_SCHEMA`).

        Raises:
            InputError: the table's schema differs, an event lacks captured_at, or a camera
                id is not safe as a directory name.
        """
        self._buffer_events(events)
        if self._events_rows >= self.config.max_buffer_rows:
            self._flush_events()

    def _buffer_events(self, events: Sequence[Event] | pa.Table) -> None:
        self._check_open()
        table = events if isinstance(events, pa.Table) else events_to_table(events)
        check_table(table, EVENTS_SCHEMA, "events")
        self._check_camera_ids(table)
        if not table.num_rows:
            return
        self._events.append(table)
        self._events_rows += table.num_rows

    def write_windows(
        self,
        windows: Sequence[ClosedWindow],
        stills: Mapping[str, npt.NDArray[np.uint8]] | None = None,
    ) -> FlushResult:
        """Buffers closed windows (metrics rows and heatmaps) and flushes everything.

        Args:
            windows: closed windows from :meth:`CameraAnalytics.pop_closed_windows`.
            stills: per camera id, an already people-blurred BGR still to draw heatmaps
                over; cameras without one get a neutral grey background.
        """
        self._buffer_windows(windows, stills)
        return self.flush()

    def _buffer_windows(self, windows: Sequence[ClosedWindow],
                        stills: Mapping[str, npt.NDArray[np.uint8]] | None) -> None:
        self._check_open()
        rows = [m for w in windows for m in w.metrics]
        for w in windows:
            self._partition_dir("heatmaps", "x", w.camera_id)  # validates the camera id
        if rows:
            table = metrics_to_table(rows)
            self._metrics.append(table)
            self._metrics_rows += table.num_rows
        for w in windows:
            if w.heatmap is not None and (self.config.heatmap_png or self.config.heatmap_npy):
                if w.heatmap.window_start_at is None:
                    raise InputError(
                        f"heatmap of camera {w.camera_id!r} has no window_start_at; pass "
                        "captured_at to CameraAnalytics.update",
                        "window_start_at",
                    )
                still = (stills or {}).get(w.camera_id)
                self._heatmaps.append((w.heatmap, still))

    # ------------------------------------------------------------------ output

    def flush(self) -> FlushResult:
        """Writes everything buffered. Nothing buffered is lost if this returns.

        Raises:
            SinkError: a file could not be written; it and the files after it stay
                sealed for the next flush.
        """
        sealed = [self._seal("events", self._events, "captured_at"),
                  self._seal("metrics", self._metrics, "window_start_at"),
                  self._seal_heatmaps()]
        if any(sealed) and self.on_seal is not None:
            self.on_seal()
        return self._write_pending()

    def close(self) -> FlushResult:
        """Flushes and refuses further input. Safe to call twice."""
        if self._closed:
            return FlushResult()
        result = self.flush()
        self.disk.resume()  # everything is written: no longer paused
        self._closed = True
        return result

    def _check_camera_ids(self, table: pa.Table) -> None:
        for cam in pc.unique(table.column("camera_id")).to_pylist():
            self._partition_dir("events", "x", cam)

    def _check_open(self) -> None:
        if self._closed:
            raise SinkError("sink is closed", str(self.root))

    def _flush_events(self) -> FlushResult:
        if self._seal("events", self._events, "captured_at") and self.on_seal is not None:
            self.on_seal()
        return self._write_pending()

    def _seal(self, name: str, buffer: list[pa.Table], time_column: str) -> bool:
        """Moves a buffer into sealed files, one per (date, camera) partition; returns
        whether there was anything."""
        if not buffer:
            return False
        self._pending += self._partitioned(name, pa.concat_tables(buffer), time_column)
        buffer.clear()
        if name == "events":
            self._events_rows = 0
        else:
            self._metrics_rows = 0
        return True

    def _write_pending(self) -> FlushResult:
        """Writes the sealed files in order, each removed once written."""
        written: list[PendingFile] = []
        compression = None if self.config.compression == "none" else self.config.compression
        while self._pending:
            f = self._pending[0]
            self._atomic_write(f.path, lambda tmp, f=f: f.write_to(
                tmp, self.config.row_group_rows, compression))
            self._pending.pop(0)
            if f.dataset in self.rows_written:
                self.rows_written[f.dataset] += f.rows
            written.append(f)
        return FlushResult.of(written)

    def _partition_dir(self, name: str, date: str, camera_id: str) -> Path:
        if not _SAFE_ID.match(camera_id):
            raise InputError(
                f"camera_id {camera_id!r} cannot name a partition directory (letters, digits, "
                "'_', '.', '-' only, starting with a letter or digit)",
                "camera_id",
            )
        return self.root / name / f"date={date}" / f"camera_id={camera_id}"

    def _atomic_write(self, final: Path, write) -> None:
        try:
            self.write_file(final, write, self._token)
        except OSError as e:
            raise SinkError(f"could not write ({e})", str(final)) from e
        self._written_dates["/".join(final.relative_to(self.root).parts[:2])] = self.clock()

    def _partitioned(self, name: str, table: pa.Table, time_column: str) -> list[PendingFile]:
        """One sealed file per (date, camera) partition of ``table``."""
        dates = utc_dates(table.column(time_column).to_numpy())
        cams = table.column("camera_id").to_pylist()
        keys = np.array([f"{d}/{c}" for d, c in zip(dates.tolist(), cams, strict=True)])
        uniq, inverse = np.unique(keys, return_inverse=True)
        for cam in {k.split("/", 1)[1] for k in uniq.tolist()}:
            self._partition_dir(name, "x", cam)  # validates every camera id before writing
        body = table.drop_columns(["camera_id"]).append_column(
            RUN_ID_FIELD, pa.array([self.run_id] * table.num_rows, pa.string())
        )
        files = []
        for k, key in enumerate(uniq.tolist()):
            date, cam = key.split("/", 1)
            part = body.take(pa.array(np.flatnonzero(inverse == k)))
            self._seq += 1
            path = (self._partition_dir(name, date, cam)
                    / f"part-{self.run_id}-{self._token}-{self._seq:08d}.parquet")
            files.append(PendingFile(path, name, part.num_rows, part))
        return files

    def _seal_heatmaps(self) -> bool:
        """Seals each buffered heatmap as its .npy counts and its PNG over the still;
        returns whether there was any."""
        if not self._heatmaps:
            return False
        for grid, still in self._heatmaps:
            assert grid.window_start_at is not None
            date = str(utc_dates([grid.window_start_at])[0])
            folder = self._partition_dir("heatmaps", date, grid.camera_id)
            self._seq += 1
            stem = (f"window-{grid.window_start_s:.3f}-{self.run_id}-{self._token}-"
                    f"{self._seq:08d}")
            if self.config.heatmap_npy:
                counts = np.asarray(grid.counts)
                self._pending.append(PendingFile(folder / f"{stem}.npy", "heatmaps", 0, counts))
            if self.config.heatmap_png:
                if still is None:
                    still = grey_background(grid.width, grid.height)
                png = render_heatmap(grid.counts, still)
                self._pending.append(PendingFile(folder / f"{stem}.png", "heatmaps", 0, png))
        self._heatmaps = []
        return True

    # ------------------------------------------------------------------ retention

    def apply_retention(self, now_s: float | None = None) -> list[Path]:
        """Deletes date partitions whose whole day is older than the retention periods
        (see :mod:`pipeline.sinks.retention`); never those this sink wrote.

        Args:
            now_s: the present, seconds since the epoch; None reads the run's clock
                (``clock``).

        Returns:
            The partition directories deleted.
        """
        plans = ((("events",), self.config.events_retention_days),
                 (("metrics", "heatmaps"), self.config.aggregates_retention_days))
        return apply_retention(self.root, plans, self.clock() if now_s is None else now_s,
                               self._written_dates)
