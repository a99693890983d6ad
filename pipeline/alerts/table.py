"""The Parquet ``alerts`` table, beside ``events/`` and ``metrics/``.

Layout under the Parquet sink's root (hive style, readable as one dataset)::

    alerts/date=2026-11-26/part-<run_id>-<seq>.parquet     (ALERTS_SCHEMA + run_id)

A row's date is the UTC date of its ``at``. Events are buffered and written on
:meth:`AlertsTable.flush` (the alerts actor calls it every ``alerts.check_interval_s``
when there is something to write, and at the end), each file written to a dot-named
temporary file, synced and renamed into place: readers never see a partial file.

Example:
    >>> import tempfile, pandas as pd
    >>> root = tempfile.mkdtemp()
    >>> table = AlertsTable(root, run_id="r1")
    >>> table.add([AlertEvent("e1", "a1", "open", "triggered", "hq", "crowd", "occupancy",
    ...            "warning", "c1", "z", None, None, None, ("person",), 5.0, 3.0, 1.0,
    ...            1.8e9, None)])
    >>> len(table.flush())
    1
    >>> pd.read_parquet(f"{root}/alerts")[["rule_id", "phase", "run_id"]].values.tolist()
    [['crowd', 'open', 'r1']]
"""

from __future__ import annotations

import datetime
import logging
import os
import pathlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.alerts.events import AlertEvent, alerts_to_table

logger = logging.getLogger(__name__)

MAX_BUFFERED = 10_000
"""Events buffered before a write is forced (bounds memory between flushes)."""


def utc_date(epoch_s: float) -> str:
    """The UTC date (YYYY-MM-DD) of a wall time."""
    return datetime.datetime.fromtimestamp(epoch_s, datetime.UTC).strftime("%Y-%m-%d")


class AlertsTable:
    """Buffers alert events and writes them as Parquet files partitioned by date.

    Args:
        root: the Parquet sink's root folder.
        run_id: the run's id, written as the last column of every row.
    """

    def __init__(self, root: str | os.PathLike[str], run_id: str) -> None:
        self.root = pathlib.Path(root) / "alerts"
        self.run_id = run_id
        self._buffer: list[AlertEvent] = []
        self._seq = 0
        self.rows_written = 0

    def add(self, events: Sequence[AlertEvent]) -> None:
        """Buffers events (a full buffer is written at once)."""
        self._buffer.extend(events)
        if len(self._buffer) >= MAX_BUFFERED:
            self.flush()

    @property
    def pending(self) -> int:
        """Events buffered, not yet written."""
        return len(self._buffer)

    def flush(self) -> list[pathlib.Path]:
        """Writes the buffered events, one file per UTC date; returns the files."""
        if not self._buffer:
            return []
        by_date: dict[str, list[AlertEvent]] = {}
        for e in self._buffer:
            by_date.setdefault(utc_date(e.at), []).append(e)
        written = []
        for date, events in sorted(by_date.items()):
            table = alerts_to_table(events)
            table = table.append_column("run_id", pa.array([self.run_id] * len(events)))
            folder = self.root / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            final = folder / f"part-{self.run_id}-{self._seq:08d}.parquet"
            tmp = folder / f".{final.name}.tmp"
            pq.write_table(table, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            written.append(final)
        self.rows_written += len(self._buffer)
        self._buffer = []
        return written
