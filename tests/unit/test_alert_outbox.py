"""The alert outbox on a real SQLite file: cursors per sink, idempotence, bounds, open alerts."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3

import pyarrow as pa
import pytest

from pipeline.alerts.sink_config import OutboxConfig
from pipeline.alerts.events import ALERTS_SCHEMA, AlertEvent, alerts_to_table
from pipeline.alerts.outbox import Outbox
from pipeline.errors import InputError, OutboxError


def event(i: int, phase: str = "open", alert: str | None = None) -> AlertEvent:
    return AlertEvent(
        event_id=f"e{i}", alert_id=alert or f"a{i}", phase=phase,
        reason="triggered" if phase == "open" else "cleared", site="hq", rule_id="crowd",
        kind="occupancy", severity="warning", camera_id="c1", zone_id="z", line_id=None,
        group=None, direction=None, classes=("person",), value=float(i), threshold=5.0,
        pts_s=float(i), at=1.8e9 + i, duration_s=None if phase == "open" else 1.0,
    )


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1.8e9) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def outbox(tmp_path, sinks=("a", "b"), clock=None, **cfg) -> Outbox:
    config = OutboxConfig(path=tmp_path / "alerts" / "outbox.sqlite", **cfg)
    return Outbox(config, list(sinks), **({"clock": clock} if clock else {}))


def drain(box: Outbox, sink: str, limit: int = 1000) -> list[str]:
    out = []
    for m in box.pending(sink, limit):
        box.ack(sink, m.seq)
        out.append(m.event_id)
    return out


def test_each_sink_has_its_own_cursor(tmp_path):
    box = outbox(tmp_path)
    assert box.add([event(i) for i in range(5)]) == 5
    assert drain(box, "a", limit=3) == ["e0", "e1", "e2"]
    assert (box.pending_count("a"), box.pending_count("b")) == (2, 5)
    assert [m.event_id for m in box.pending("b", 2)] == ["e0", "e1"]
    assert drain(box, "b") == ["e0", "e1", "e2", "e3", "e4"]
    assert drain(box, "a") == ["e3", "e4"]
    assert box.cursor("a").delivered_total == 5


def test_payload_is_the_events_json_and_adding_twice_stores_once(tmp_path):
    box = outbox(tmp_path)
    assert box.add([event(1), event(2)]) == 2
    assert box.add([event(2), event(3)]) == 1
    msgs = box.pending("a")
    assert [m.event_id for m in msgs] == ["e1", "e2", "e3"]
    assert AlertEvent.from_json(msgs[1].payload) == event(2) and msgs[1].rule_id == "crowd"


def test_acknowledged_events_survive_a_reopen_as_acknowledged(tmp_path):
    box = outbox(tmp_path)
    box.add([event(i) for i in range(4)])
    drain(box, "a", limit=2)
    box.ack("a", 1)  # an old ack never moves the cursor back
    box.close()
    again = outbox(tmp_path)
    assert [m.event_id for m in again.pending("a")] == ["e2", "e3"]
    assert again.pending_count("b") == 4


def test_sinks_added_later_start_at_the_end_and_removed_ones_stop_holding_rows(tmp_path):
    clock = Clock()
    box = outbox(tmp_path, sinks=["a"], clock=clock, retention_s=60)
    box.add([event(1), event(2)])
    drain(box, "a")
    box.close()
    box = outbox(tmp_path, sinks=["a", "new"], clock=clock, retention_s=60)
    assert box.pending_count("new") == 0
    box.add([event(3)])
    assert [m.event_id for m in box.pending("new")] == ["e3"]
    box.close()
    # "new" is removed from the config before it acknowledged e3: e3 is prunable once "a" has it
    box = outbox(tmp_path, sinks=["a"], clock=clock, retention_s=60)
    drain(box, "a")
    clock.now += 61
    assert box.prune() == 3 and box.row_count() == 0
    with pytest.raises(InputError, match="unknown sink 'new'"):
        box.pending("new")


def test_retention_deletes_only_what_every_sink_has(tmp_path):
    clock = Clock()
    box = outbox(tmp_path, clock=clock, retention_s=3600)
    box.add([event(i) for i in range(6)])
    drain(box, "a")
    drain(box, "b", limit=2)
    clock.now += 3599
    assert box.prune() == 0
    clock.now += 2
    assert box.prune() == 2  # e0, e1: both sinks have them; b still lacks e2..e5
    assert box.row_count() == 4 and box.pending_count("b") == 4


def test_an_undeliverable_backlog_is_capped_and_counted(tmp_path, caplog):
    box = outbox(tmp_path, max_rows=10)
    with caplog.at_level(logging.WARNING, logger="pipeline.alerts.outbox"):
        for i in range(25):
            box.add([event(i)])
            drain(box, "a")  # sink a keeps up, sink b is down
    assert box.row_count() == 10
    b = box.cursor("b")
    assert (b.pending, b.dropped_total, box.cursor("a").dropped_total) == (10, 15, 0)
    assert [m.event_id for m in box.pending("b")] == [f"e{i}" for i in range(15, 25)]
    assert "dropped the 1 oldest that sink 'b' had not acknowledged" in caplog.text
    # delivered events go before undelivered ones: when b keeps up, a lagging a loses nothing
    drain(box, "b")
    for i in range(25, 30):
        box.add([event(i)])
        drain(box, "b")
    assert box.cursor("a").dropped_total == 0 and box.pending_count("a") == 5


def test_open_alerts_are_kept_until_closed_even_past_retention(tmp_path):
    clock = Clock()
    box = outbox(tmp_path, clock=clock, retention_s=0, max_rows=10)
    box.add([event(1), event(2), event(3, "close", alert="a1")])
    drain(box, "a"), drain(box, "b")
    clock.now += 1
    box.prune()
    for i in range(10, 40):  # rows of other alerts push the originals past the cap
        box.add([event(i, "close", alert=f"gone{i}")])
    box.close()
    assert [e.alert_id for e in outbox(tmp_path, clock=clock).open_alerts()] == ["a2"]


def test_a_newer_schema_is_refused(tmp_path):
    outbox(tmp_path).close()
    db = sqlite3.connect(tmp_path / "alerts" / "outbox.sqlite")
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(OutboxError, match="written by a newer panoray"):
        outbox(tmp_path)


def test_wal_mode_and_full_sync(tmp_path):
    box = outbox(tmp_path)
    assert box._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_alerts_table_schema():
    table = alerts_to_table([event(1), event(2, "close", alert="a1")])
    assert table.schema.equals(ALERTS_SCHEMA)
    assert table.column("classes").to_pylist() == [["person"], ["person"]]
    assert table.column("duration_s").to_pylist() == [None, 1.0]
    assert ALERTS_SCHEMA.field("classes").type == pa.list_(pa.string())
    assert not {"track_id", "box", "image"} & set(ALERTS_SCHEMA.names)
    with pytest.raises(InputError, match="alert a9 of rule 'crowd' has a non-finite value"):
        alerts_to_table([dataclasses.replace(event(9), value=float("inf"))])
    with pytest.raises(ValueError):
        dataclasses.replace(event(9), value=float("nan")).to_json()
