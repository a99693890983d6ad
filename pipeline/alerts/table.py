"""The Parquet ``alerts`` and ``site`` tables, beside ``events/`` and ``metrics/``.

Layout under the Parquet sink's root (hive style, readable as one dataset)::

    alerts/date=2026-11-26/part-<run_id>-<writer>-<seq>.parquet     (ALERTS_SCHEMA + run_id)

(and ``site/`` alike; ``writer`` is a token drawn per table object, so that the alerts actor of a
resumed run never writes over its predecessor's files). A row's date is the UTC date of
its ``at``. Rows are buffered and written on :meth:`AlertsTable.flush` (the alerts actor
calls it every ``alerts.check_interval_s`` when there is something to write, and at the
end), each file written to a dot-named temporary file, synced and renamed into place:
readers never see a partial file.

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
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.alerts.events import AlertEvent, alerts_to_table  # noqa: F401 - doctest

logger = logging.getLogger(__name__)

MAX_BUFFERED = 10_000
"""Events buffered before a write is forced (bounds memory between flushes)."""


def utc_date(epoch_s: float) -> str:
    """The UTC date (YYYY-MM-DD) of a wall time."""
    return datetime.datetime.fromtimestamp(epoch_s, datetime.UTC).strftime("%Y-%m-%d")


class DatedTable:
    """Buffers rows and writes them as Parquet files partitioned by the UTC date of
    their ``at``.

    Args:
        root: the Parquet sink's root folder.
        name: the table's folder under it (``alerts``, ``site``).
        run_id: the run's id, written as the last column of every row.
        to_table: rows -> an Arrow table (their schema).
    """

    def __init__(self, root: str | os.PathLike[str], name: str, run_id: str,
                 to_table: Callable[[Sequence[Any]], pa.Table]) -> None:
        self.root = pathlib.Path(root) / name
        self.run_id = run_id
        self._to_table = to_table
        self._buffer: list[Any] = []
        self._token = uuid.uuid4().hex[:12]  # as the Parquet sink's writers
        self._seq = 0
        self.rows_written = 0

    def add(self, rows: Sequence[Any]) -> None:
        """Buffers rows (a full buffer is written at once)."""
        self._buffer.extend(rows)
        if len(self._buffer) >= MAX_BUFFERED:
            self.flush()

    @property
    def pending(self) -> int:
        """Rows buffered, not yet written."""
        return len(self._buffer)

    def flush(self) -> list[pathlib.Path]:
        """Writes the buffered rows, one file per UTC date; returns the files."""
        if not self._buffer:
            return []
        by_date: dict[str, list[Any]] = {}
        for row in self._buffer:
            by_date.setdefault(utc_date(row.at), []).append(row)
        written = []
        for date, rows in sorted(by_date.items()):
            table = self._to_table(rows)
            table = table.append_column("run_id", pa.array([self.run_id] * len(rows)))
            folder = self.root / f"date={date}"
            folder.mkdir(parents=True, exist_ok=True)
            self._seq += 1
            final = folder / f"part-{self.run_id}-{self._token}-{self._seq:08d}.parquet"
            tmp = folder / f".{final.name}.tmp"
            pq.write_table(table, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            written.append(final)
        self.rows_written += len(self._buffer)
        self._buffer = []
        return written


def AlertsTable(root: str | os.PathLike[str], run_id: str) -> DatedTable:  # noqa: N802
    """The ``alerts`` table (:data:`~pipeline.alerts.events.ALERTS_SCHEMA` + ``run_id``)."""
    return DatedTable(root, "alerts", run_id, alerts_to_table)
