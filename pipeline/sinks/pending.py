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

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from pipeline.sinks.files import save_npy


@dataclass
class PendingFile:
    """One sealed output file.

    Attributes:
        path: where it goes (final name).
        dataset: ``events``, ``metrics``, ``heatmaps``, ``incidents``, or a plugin
            table's partition (``plugins/<name>/<kind>/date=...``).
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


class PackedTables:
    """A sink's buffer of Arrow tables as checkpoints pickle it: the tables added since the
    last checkpoint folded into one (one Arrow buffer per column, not hundreds of tiny
    tables) and each folded table serialised once (an Arrow IPC stream: a tenth of what
    pickling a table costs), its bytes reused by every later checkpoint
    while it stays buffered. A checkpoint then costs the new rows, not the whole buffer
    (a window's events grow to hundreds of KB).

    Example:
        >>> buffer = [pa.table({"x": [1]}), pa.table({"x": [2]})]
        >>> packs = PackedTables()
        >>> blobs = packs.pack(buffer); len(buffer), packs.pack(buffer) == blobs
        (1, True)
        >>> unpack(blobs)[0].column("x").to_pylist()
        [1, 2]
    """

    def __init__(self) -> None:
        self._blobs: dict[int, tuple[pa.Table, bytes]] = {}  # by id: the table, its pickle

    def pack(self, tables: list[pa.Table]) -> list[bytes]:
        """Folds each run of tables not packed before into one, in place in ``tables``;
        returns every table's pickle bytes, in order."""
        folded: list[pa.Table] = []
        run: list[pa.Table] = []
        for t in [*tables, None]:
            if t is not None and not self._known(t):
                run.append(t)
                continue
            if run:
                folded.append(run[0] if len(run) == 1 else
                              pa.concat_tables(run).combine_chunks())
                run = []
            if t is not None:
                folded.append(t)
        tables[:] = folded
        self._blobs = {id(t): (t, self._blobs[id(t)][1] if self._known(t) else
                               _to_ipc(t))
                       for t in folded}
        return [self._blobs[id(t)][1] for t in folded]

    def _known(self, table: pa.Table) -> bool:
        entry = self._blobs.get(id(table))
        return entry is not None and entry[0] is table


def _to_ipc(table: pa.Table) -> bytes:
    """``table`` as an Arrow IPC stream (schema and its metadata included)."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _from_blob(blob: bytes) -> pa.Table:
    """A table from :func:`_to_ipc`, or pickled (checkpoints of earlier versions)."""
    if blob[:1] == b"\x80":  # a pickle's protocol opcode; an IPC stream starts 0xffffffff
        return pickle.loads(blob)  # noqa: S301 - written by an aggregator of this output
    return ipc.open_stream(blob).read_all()


def unpack(blobs: list[bytes | pa.Table]) -> list[pa.Table]:
    """The tables :meth:`PackedTables.pack` packed (tables pass unchanged)."""
    return [_from_blob(b) if isinstance(b, bytes) else b for b in blobs]
