"""Output files whose name and content are fixed before they are written. No Ray.

A sink seals what it buffered into :class:`PendingFile` s (path, rows, payload), then
writes them one by one. The aggregator saves its checkpoint between the two
(:mod:`pipeline.sinks.checkpoint`), so every file on disk is named in a checkpoint: an
aggregator restored from it writes the same file again under the same name, which
replaces it, and never a second copy of its rows. Files sealed after the checkpoint were
never written, so the names a restored sink draws next are free.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> f = PendingFile(Path(tempfile.mkdtemp()) / "x.png", "heatmaps", 0, b"png")
    >>> f.write_to(f.path); f.path.read_bytes()
    b'png'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.sinks.files import save_npy


@dataclass
class PendingFile:
    """One sealed output file.

    Attributes:
        path: where it goes (final name).
        dataset: ``events``, ``metrics``, ``heatmaps`` or ``incidents``.
        rows: its event, metric or incident rows (0 for heatmaps).
        payload: a Parquet table, a heatmap's (rows, columns) counts (.npy) or PNG bytes.
    """

    path: Path
    dataset: str
    rows: int
    payload: pa.Table | np.ndarray | bytes

    def write_to(self, tmp: Path, row_group_rows: int = 65_536,
                 compression: str | None = None) -> None:
        """Writes the payload to ``tmp`` (the file layer renames it into place)."""
        if isinstance(self.payload, pa.Table):
            pq.write_table(self.payload, tmp, row_group_size=row_group_rows,
                           compression=compression)
        elif isinstance(self.payload, np.ndarray):
            save_npy(tmp, self.payload)
        else:
            tmp.write_bytes(self.payload)

    def drop_oldest(self, n: int) -> int:
        """Drops up to ``n`` of an events file's first rows (a full disk's bound); returns
        how many. A file never written may shrink: a restored copy only has more rows."""
        if self.dataset != "events" or not isinstance(self.payload, pa.Table):
            return 0
        cut = min(n, self.rows)
        self.payload, self.rows = self.payload.slice(cut), self.rows - cut
        return cut


@dataclass(frozen=True)
class FlushResult:
    """What one flush wrote.

    Attributes:
        files: paths written, in order.
        events_rows: event rows written.
        metrics_rows: metric rows written.
        heatmaps: heatmap windows written.
    """

    files: tuple[Path, ...] = ()
    events_rows: int = 0
    metrics_rows: int = 0
    heatmaps: int = 0

    @classmethod
    def of(cls, written: list[PendingFile]) -> FlushResult:
        """The result of writing ``written``."""
        rows = {d: sum(f.rows for f in written if f.dataset == d) for d in ("events", "metrics")}
        return cls(tuple(f.path for f in written), rows["events"], rows["metrics"],
                   len({f.path.stem for f in written if f.dataset == "heatmaps"}))


def combined(tables: list[pa.Table]) -> list[pa.Table]:
    """``tables`` as at most one table of one chunk: what a checkpoint pickles (one
    Arrow buffer per column, not thousands of tiny tables)."""
    if len(tables) <= 1:
        return tables
    return [pa.concat_tables(tables).combine_chunks()]
