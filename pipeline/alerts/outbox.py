"""The durable outbox: alert events wait on disk until every sink has acknowledged them.

Why SQLite (the standard library's ``sqlite3``), in WAL mode:

- a write is a transaction: an event is either wholly in the outbox or not at all, and a
  sink's "delivered up to here" moves in a single committed statement, so a process
  killed at any instant (SIGKILL, power loss with ``synchronous=FULL``) leaves a
  consistent file, and the next start finds every event not yet acknowledged;
- WAL lets the delivery threads read while the engine writes, and several processes on
  one host (an aggregator and a delivery actor) can share the file safely;
- pruning is a ``DELETE`` on the primary key, not a rewrite of log files; and it is in
  every Python, with nothing to run beside panoray.

Layout: ``messages`` holds each event once (``seq`` increases and is never reused,
``event_id`` unique); ``cursors`` holds per sink the highest ``seq`` it acknowledged,
so each sink gets every event in order, at its own pace; ``open_alerts`` holds the open
event of every alert not yet closed, so a restarted engine can adopt them
(:meth:`pipeline.alerts.engine.RuleEngine.restore`).

Delivery guarantee: events are added before any delivery is tried; a sink's cursor moves
past an event only after the sink acknowledged it (an HTTP 2xx, an MQTT PUBACK), in one
committed statement; so an acknowledged event is never sent to that sink again, and an
unacknowledged one is sent again after a failure or a restart. The one window left: the
process dies after the receiver acknowledged but before the cursor's commit; the next
start sends that event once more, with the same ``event_id``, for the consumer to drop.

Bounds: events every sink has are deleted ``retention_s`` after they were added; past
``max_rows`` events, delivered ones go first and then the oldest undelivered ones are
dropped for the sinks that lack them (counted per sink as ``dropped`` and logged).

Example:
    >>> import tempfile, pathlib
    >>> from pipeline.alerts.sink_config import OutboxConfig
    >>> from pipeline.alerts.events import AlertEvent
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "outbox.sqlite"
    >>> box = Outbox(OutboxConfig(path=path), sinks=["ops"])
    >>> ev = AlertEvent("e1", "a1", "open", "triggered", "hq", "crowd", "occupancy",
    ...                 "warning", "c1", "z", None, None, None, ("person",), 9.0, 5.0,
    ...                 3.0, 1.8e9)
    >>> box.add([ev])
    1
    >>> [m.event_id for m in box.pending("ops")], box.pending_count("ops")
    (['e1'], 1)
    >>> box.ack("ops", box.pending("ops")[0].seq); box.pending_count("ops")
    0
    >>> [a.alert_id for a in box.open_alerts()]
    ['a1']
    >>> box.close()
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.alerts.events import AlertEvent
from pipeline.alerts.sink_config import OutboxConfig
from pipeline.errors import InputError, OutboxError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    alert_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    added_at REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    sink TEXT PRIMARY KEY,
    acked_seq INTEGER NOT NULL,
    delivered_total INTEGER NOT NULL DEFAULT 0,
    dropped_total INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS open_alerts (
    alert_id TEXT PRIMARY KEY,
    opened_seq INTEGER NOT NULL,
    payload BLOB NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One event waiting for a sink.

    Attributes:
        seq: its position in the outbox (increasing, never reused).
        event_id: the event's id (consumers de-duplicate by it).
        rule_id: the rule that raised it (MQTT topics use it).
        payload: the exact bytes to deliver (:meth:`AlertEvent.to_json`).
    """

    seq: int
    event_id: str
    rule_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class CursorState:
    """Where one sink stands.

    Attributes:
        acked_seq: the last ``seq`` it acknowledged.
        pending: events it has not acknowledged.
        delivered_total: events it acknowledged, since the outbox file was created.
        dropped_total: events it never got because the backlog passed ``max_rows``.
    """

    acked_seq: int
    pending: int
    delivered_total: int
    dropped_total: int


class Outbox:
    """A durable, bounded queue of alert events with one delivery cursor per sink.

    Thread-safe: one connection, used under a lock (each call is short; no network I/O
    happens inside). Other processes on the same host may open the same file (an
    aggregator adding, a delivery actor sending); each must pass the same ``sinks``.

    Args:
        config: the file and its bounds.
        sinks: names of the configured sinks. A new name starts at the end of the outbox
            (it gets events added from now on); cursors of names no longer configured
            are deleted, so they do not hold back pruning.
        clock: wall clock for ``added_at`` and retention (s since the epoch).

    Raises:
        OutboxError: the file cannot be opened, or was written by a newer panoray.
    """

    def __init__(
        self,
        config: OutboxConfig,
        sinks: Sequence[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.path = config.path
        self._clock = clock
        self._lock = threading.Lock()
        self._sinks = tuple(dict.fromkeys(sinks))
        self._last_prune = -float("inf")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path),
                timeout=config.busy_timeout_s,
                isolation_level=None,  # explicit BEGIN/COMMIT below
                check_same_thread=False,
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            with self._transaction():
                self._check_version()
                self._register_sinks()
        except sqlite3.Error as exc:
            raise OutboxError(str(exc), str(self.path)) from None
        self.prune()

    # ------------------------------------------------------------------ writing

    def add(self, events: Sequence[AlertEvent]) -> int:
        """Stores events before any delivery (one transaction); returns how many were new.

        An event whose ``event_id`` is already stored is skipped, so adding twice is safe.
        Opens are remembered as open alerts until their close is added.
        """
        if not events:
            return 0
        rows = [(e, e.to_json()) for e in events]
        now = self._clock()
        added = 0
        with self._lock, self._transaction():
            for e, payload in rows:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO messages (event_id, alert_id, rule_id, phase, "
                    "added_at, payload) VALUES (?, ?, ?, ?, ?, ?)",
                    (e.event_id, e.alert_id, e.rule_id, e.phase, now, payload),
                )
                if cur.rowcount == 0:
                    continue
                added += 1
                if e.phase == "open":
                    self._db.execute(
                        "INSERT OR REPLACE INTO open_alerts (alert_id, opened_seq, payload) "
                        "VALUES (?, ?, ?)",
                        (e.alert_id, cur.lastrowid, payload),
                    )
                else:
                    self._db.execute("DELETE FROM open_alerts WHERE alert_id = ?", (e.alert_id,))
            self._enforce_cap()
        if now - self._last_prune >= self.config.prune_interval_s:
            self.prune()
        return added

    def ack(self, sink: str, seq: int) -> None:
        """Records that ``sink`` acknowledged the event ``seq`` (and so all before it).

        Committed before it returns: the event is never given to this sink again.
        """
        with self._lock, self._transaction():
            self._db.execute(
                "UPDATE cursors SET acked_seq = ?, delivered_total = delivered_total + 1 "
                "WHERE sink = ? AND acked_seq < ?",
                (seq, self._known(sink), seq),
            )

    def prune(self) -> int:
        """Deletes events every sink has that are older than the retention; returns how many."""
        now = self._clock()
        with self._lock, self._transaction():
            floor = self._min_acked()
            cur = self._db.execute(
                "DELETE FROM messages WHERE seq <= ? AND added_at < ?",
                (floor, now - self.config.retention_s),
            )
        self._last_prune = now
        return cur.rowcount

    # ------------------------------------------------------------------ reading

    def pending(self, sink: str, limit: int = 100) -> list[OutboxMessage]:
        """The next events ``sink`` has not acknowledged, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, rule_id, payload FROM messages WHERE seq > "
                "(SELECT acked_seq FROM cursors WHERE sink = ?) ORDER BY seq LIMIT ?",
                (self._known(sink), limit),
            ).fetchall()
        return [OutboxMessage(int(s), e, r, bytes(p)) for s, e, r, p in rows]

    def pending_count(self, sink: str) -> int:
        """How many events ``sink`` has not acknowledged."""
        return self.cursor(sink).pending

    def cursor(self, sink: str) -> CursorState:
        """Where ``sink`` stands (its cursor, backlog and totals)."""
        with self._lock:
            acked, delivered, dropped = self._db.execute(
                "SELECT acked_seq, delivered_total, dropped_total FROM cursors WHERE sink = ?",
                (self._known(sink),),
            ).fetchone()
            (pending,) = self._db.execute(
                "SELECT COUNT(*) FROM messages WHERE seq > ?", (acked,)
            ).fetchone()
        return CursorState(int(acked), int(pending), int(delivered), int(dropped))

    def open_alerts(self) -> list[AlertEvent]:
        """The open events of alerts not closed yet, oldest first (for ``RuleEngine.restore``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT payload FROM open_alerts ORDER BY opened_seq"
            ).fetchall()
        return [AlertEvent.from_json(bytes(p)) for (p,) in rows]

    def row_count(self) -> int:
        """Events stored now (delivered ones within retention, and pending ones)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def close(self) -> None:
        """Closes the file (committed data is already on disk)."""
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ internals

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _known(self, sink: str) -> str:
        if sink not in self._sinks:
            raise InputError(
                f"alert outbox: unknown sink {sink!r}; configured: {list(self._sinks)}", "sink"
            )
        return sink

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"written by a newer panoray (schema {row[0]}, this one reads {SCHEMA_VERSION})"
            )

    def _register_sinks(self) -> None:
        (end,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages").fetchone()
        known = {s for (s,) in self._db.execute("SELECT sink FROM cursors")}
        for sink in self._sinks:
            if sink not in known:
                self._db.execute(
                    "INSERT INTO cursors (sink, acked_seq) VALUES (?, ?)", (sink, end)
                )
        for gone in known - set(self._sinks):
            logger.info(
                "alert outbox: forgetting the cursor of sink %r (no longer configured)", gone
            )
            self._db.execute("DELETE FROM cursors WHERE sink = ?", (gone,))

    def _min_acked(self) -> int:
        (floor,) = self._db.execute(
            "SELECT COALESCE(MIN(acked_seq), (SELECT COALESCE(MAX(seq), 0) FROM messages)) "
            "FROM cursors"
        ).fetchone()
        return int(floor)

    def _enforce_cap(self) -> None:
        """Keeps at most ``max_rows`` events: delivered ones go first, then the oldest."""
        cap = self.config.max_rows
        (count,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        if count <= cap:
            return
        self._db.execute(
            "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE seq <= ? "
            "ORDER BY seq LIMIT ?)",
            (self._min_acked(), count - cap),
        )
        (count,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        if count <= cap:
            return
        # Every stored event is undelivered to some sink: drop the oldest down to the cap.
        (cut,) = self._db.execute(
            "SELECT seq FROM messages ORDER BY seq LIMIT 1 OFFSET ?", (count - cap - 1,)
        ).fetchone()
        lagging = self._db.execute(
            "SELECT sink, acked_seq FROM cursors WHERE acked_seq < ?", (cut,)
        ).fetchall()
        for sink, acked in lagging:
            (lost,) = self._db.execute(
                "SELECT COUNT(*) FROM messages WHERE seq > ? AND seq <= ?", (acked, cut)
            ).fetchone()
            self._db.execute(
                "UPDATE cursors SET acked_seq = ?, dropped_total = dropped_total + ? "
                "WHERE sink = ?",
                (cut, lost, sink),
            )
            logger.warning(
                "alert outbox: more than max_rows=%d events wait; dropped the %d oldest that "
                "sink %r had not acknowledged (is it down? see its last error)",
                cap, lost, sink,
            )
        self._db.execute("DELETE FROM messages WHERE seq <= ?", (cut,))


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on a connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
