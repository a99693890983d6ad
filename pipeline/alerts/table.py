"""The Parquet ``alerts`` and ``site`` tables, beside ``events/`` and ``metrics/``.

Layout under the Parquet sink's root (hive style, readable as one dataset)::

    alerts/date=2026-11-26/part-<run_id>-<writer>-<seq>.parquet     (ALERTS_SCHEMA + run_id)

(and ``site/`` alike; ``writer`` is a token drawn per table object, so that the alerts actor of a
resumed run never writes over its predecessor's files). A row's date is the UTC date of
its ``at``. Rows are buffered and written on :meth:`AlertsTable.flush` (the alerts actor
calls it every ``alerts.check_interval_s`` when there is something to write, and at the
end), each file written to a dot-named temporary file, synced and renamed into place:
readers never see a partial file, and a failed write leaves none behind.

Retention (:class:`TableRetention`) is the Parquet sink's: ``alerts`` rows (one per alert
open or close) are events and keep ``events_retention_days``; ``site`` rows (figures
recorded every ``record_interval_s``) are aggregates, as ``metrics/``, and keep
``aggregates_retention_days``. It runs after each flush that wrote a file, as the sink's
after its writes, and keeps a partition this table wrote to within the period.

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

import contextlib
import datetime
import logging
import os
import pathlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.alerts.events import AlertEvent, alerts_to_table  # noqa: F401 - doctest

logger = logging.getLogger(__name__)

MAX_BUFFERED = 10_000
"""Events buffered before a write is forced (bounds memory between flushes)."""


ApplyRetention = Callable[[pathlib.Path, Sequence[tuple[Sequence[str], float | None]], float,
                           Mapping[str, float]], list[pathlib.Path]]
"""The signature of :func:`pipeline.sinks.retention.apply_retention`: (the sink's root,
(table names, days or None) pairs, now in s since the epoch, the run's clock at its last
write per ``<name>/date=...``) -> partitions deleted. Handed in by the actors: alerting
and the sinks are one layer and do not import each other."""


TABLE_KINDS = {"alerts": "events", "site": "aggregates"}
"""Which of the sink's retention periods each dated table keeps."""


class RetentionPeriods(Protocol):
    """The Parquet sink config's retention fields (days; None keeps forever)."""

    events_retention_days: float | None
    aggregates_retention_days: float | None


@dataclass(frozen=True)
class TableRetention:
    """How long the ``alerts`` and ``site`` tables keep their ``date=`` partitions.

    Attributes:
        apply: the sinks' retention function (see :data:`ApplyRetention`).
        events_days: days the ``alerts`` table keeps (the sink's
            ``events_retention_days``); None keeps forever.
        aggregates_days: days the ``site`` table keeps (the sink's
            ``aggregates_retention_days``); None keeps forever.
    """

    apply: ApplyRetention
    events_days: float | None
    aggregates_days: float | None

    @classmethod
    def of_sink(cls, sink: RetentionPeriods, apply: ApplyRetention) -> TableRetention:
        """The periods of the Parquet sink whose root the tables share."""
        return cls(apply, sink.events_retention_days, sink.aggregates_retention_days)

    def days_of(self, name: str) -> float | None:
        """The period of table ``name`` (``alerts``: events, ``site``: aggregates).

        Raises:
            ValueError: another name.
        """
        if name not in TABLE_KINDS:
            raise ValueError(f"retention: expected a table in {sorted(TABLE_KINDS)}, "
                             f"got {name!r}")
        return self.events_days if TABLE_KINDS[name] == "events" else self.aggregates_days


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
        retention: the sink's retention periods; None keeps every partition.

    Raises:
        ValueError: a retention for a table ``name`` it has no period for.
    """

    def __init__(self, root: str | os.PathLike[str], name: str, run_id: str,
                 to_table: Callable[[Sequence[Any]], pa.Table],
                 retention: TableRetention | None = None) -> None:
        self.name = name
        self.root = pathlib.Path(root) / name
        self.retention = retention
        self._retention_days = None if retention is None else retention.days_of(name)
        self.clock: Callable[[], float] = time.time  # the run's clock, for retention (s)
        # per "<name>/date=..." written to, the run's clock at the last write (one per day)
        self._written_dates: dict[str, float] = {}
        self.run_id = run_id
        self._to_table = to_table
        self._buffer: list[Any] = []
        self._token = uuid.uuid4().hex[:12]  # as the Parquet sink's writers
        self._seq = 0
        self.rows_written = 0
        self.dropped_rows = 0  # the oldest, past MAX_BUFFERED while writes failed
        self.failing = ""  # why the last flush failed; "" once one succeeds

    def add(self, rows: Sequence[Any]) -> None:
        """Buffers rows (a full buffer is written at once)."""
        self._buffer.extend(rows)
        if len(self._buffer) >= MAX_BUFFERED:
            self.try_flush()

    def try_flush(self) -> bool:
        """:meth:`flush`, a failure (a full disk, a folder that cannot be written in)
        logged once until a flush succeeds again and its rows kept for the next try, at
        most :data:`MAX_BUFFERED` (the oldest beyond go, counted in ``dropped_rows``).
        Returns True when every row is written."""
        try:
            self.flush()
        except (OSError, pa.ArrowException) as exc:
            if not self.failing:
                logger.error("%s table: not written (%s); rows wait, at most %d, and are "
                             "written once it can be", self.root.name, exc, MAX_BUFFERED)
            self.failing = str(exc)
            over = len(self._buffer) - MAX_BUFFERED
            if over > 0:
                del self._buffer[:over]
                self.dropped_rows += over
            return False
        if self.failing:
            logger.warning("%s table: written again (%d rows dropped meanwhile)",
                           self.root.name, self.dropped_rows)
        self.failing = ""
        return True

    @property
    def pending(self) -> int:
        """Rows buffered, not yet written."""
        return len(self._buffer)

    def flush(self) -> list[pathlib.Path]:
        """Writes the buffered rows, one file per UTC date, oldest first; returns the files.
        A date's rows leave the buffer as soon as its file is in place; then retention.

        Raises:
            OSError: a date's file could not be written (a full disk, ...): its temporary
                file is removed, its rows and the later dates' stay buffered for the next
                flush (the dates before it are written, once).
        """
        by_date: dict[str, list[Any]] = {}
        for row in self._buffer:
            by_date.setdefault(utc_date(row.at), []).append(row)
        dates = sorted(by_date)
        written = []
        for i, date in enumerate(dates):
            written.append(self._write(date, by_date[date]))
            self._buffer = [row for later in dates[i + 1:] for row in by_date[later]]
            self.rows_written += len(by_date[date])
            self._written_dates[f"{self.name}/date={date}"] = self.clock()
        if written:
            self._apply_retention()
        return written

    def _write(self, date: str, rows: Sequence[Any]) -> pathlib.Path:
        """Writes one date's rows aside, synced, renamed into place; returns the file. A
        failure removes the temporary file and raises."""
        table = self._to_table(rows)
        table = table.append_column("run_id", pa.array([self.run_id] * len(rows)))
        folder = self.root / f"date={date}"
        self._seq += 1
        final = folder / f"part-{self.run_id}-{self._token}-{self._seq:08d}.parquet"
        tmp = folder / f".{final.name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):  # none, or its folder is not one
                tmp.unlink(missing_ok=True)
            raise
        return final

    def _apply_retention(self) -> None:
        """Deletes this table's partitions past its period (never one it wrote within
        it); a failure to delete is logged by the retention function, never raised."""
        if self.retention is None or self._retention_days is None:
            return
        self.retention.apply(self.root.parent, [((self.name,), self._retention_days)],
                             self.clock(), self._written_dates)


def AlertsTable(root: str | os.PathLike[str], run_id: str,  # noqa: N802
                retention: TableRetention | None = None) -> DatedTable:
    """The ``alerts`` table (:data:`~pipeline.alerts.events.ALERTS_SCHEMA` + ``run_id``),
    kept for the sink's ``events_retention_days`` when ``retention`` is given."""
    return DatedTable(root, "alerts", run_id, alerts_to_table, retention)
