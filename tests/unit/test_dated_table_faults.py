"""The ``alerts`` and ``site`` tables (:class:`~pipeline.alerts.table.DatedTable`) under
faults: retention and a flush that fails part way. No Ray (the alerts actor's class runs
in this process); real pyarrow and real files.
"""

from __future__ import annotations

import atexit
import contextlib
import pathlib
import time
import uuid
from collections.abc import Callable, Iterator

import pandas as pd
import pytest

from actors.alerts_actor import AlertsActor
from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.events import AlertEvent
from pipeline.alerts.inputs import CameraObservation
from pipeline.alerts.site_occupancy import SiteFlowsConfig
from pipeline.alerts.table import AlertsTable
from pipeline.sinks.parquet import ParquetSinkConfig

DAY1 = 1577836800.0  # 2020-01-01T00:00:00Z
DAY2 = DAY1 + 86400.0  # 2020-01-02
ACTOR = AlertsActor.__ray_actor_class__  # the actor's class, run in this process
RULES = AlertsConfig.model_validate({"rules": [{
    "id": "crowd", "kind": "occupancy", "camera_id": "north", "zone_id": "hall",
    "threshold": 2, "for_s": 0, "min_interval_s": 0}]})
FLOWS = SiteFlowsConfig.model_validate({"occupancy": {
    "lines": [{"camera_id": "north", "line_id": "door", "in": "in"}], "timezone": "UTC"}})


def alert(at: float) -> AlertEvent:
    """An alert open at wall time ``at`` (s since the epoch), its ids unique."""
    return AlertEvent(uuid.uuid4().hex, uuid.uuid4().hex, "open", "triggered", "hq", "crowd",
                      "occupancy", "warning", "c1", "z", None, None, None, ("person",), 5.0,
                      3.0, 1.0, at, None)


def partition(folder: pathlib.Path) -> pathlib.Path:
    """A ``date=`` partition holding one file, as a previous run left it."""
    folder.mkdir(parents=True)
    (folder / "part-old-run.parquet").write_bytes(b"old")
    return folder


def test_alerts_and_site_tables_obey_the_parquet_sinks_retention(tmp_path) -> None:
    """As ``events/`` and ``metrics/``: alerts keep the events' period, site figures the
    aggregates'; a partition this run wrote is kept, a symlink is never followed."""
    sink = ParquetSinkConfig(root=tmp_path, events_retention_days=1,
                             aggregates_retention_days=1)
    old_alerts = partition(tmp_path / "alerts" / "date=2020-01-01")
    old_site = partition(tmp_path / "site" / "date=2020-01-01")
    outside = partition(tmp_path.parent / f"{tmp_path.name}-outside" / "date=2020-01-03")
    linked = tmp_path / "site" / "date=2020-01-03"
    linked.symlink_to(outside, target_is_directory=True)
    alerts = ACTOR(RULES, [], str(tmp_path), "run-1", FLOWS, None, None, sinks=(sink,))
    atexit.unregister(alerts._on_exit)  # its exit is the test's to call
    # an offline replay of old footage: this run writes a day past retention, kept
    alerts.observe([CameraObservation("north", 1.0, DAY1 + 4 * 86400.0, {"hall": 3})])
    alerts.close()  # writes both tables (the site figures now), then retention
    assert not old_alerts.exists() and not old_site.exists()
    assert linked.is_symlink() and (outside / "part-old-run.parquet").is_file()
    assert len(pd.read_parquet(tmp_path / "alerts" / "date=2020-01-05")) == 1
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(pd.read_parquet(tmp_path / "site" / f"date={today}")) == 1


@contextlib.contextmanager
def date_folder_is_a_file(root: pathlib.Path, token: str) -> Iterator[None]:
    """The second date's folder path is a regular file: creating the folder fails."""
    blocker = root / "alerts" / "date=2020-01-02"
    blocker.write_bytes(b"not a folder")
    yield
    blocker.unlink()


@contextlib.contextmanager
def final_name_is_a_folder(root: pathlib.Path, token: str) -> Iterator[None]:
    """The second date's file name (``part-<run_id>-<writer>-<seq>``, seq 3: after the
    first flush and the first date) is a folder: the rename, after the temporary file is
    written and synced, fails."""
    blocker = root / "alerts" / "date=2020-01-02" / f"part-r1-{token}-00000003.parquet"
    (blocker / "inside").mkdir(parents=True)
    yield
    (blocker / "inside").rmdir()
    blocker.rmdir()


@pytest.mark.parametrize("fault", [date_folder_is_a_file, final_name_is_a_folder])
def test_a_failed_date_keeps_only_its_rows_and_no_temporary_file(
        tmp_path, fault: Callable[[pathlib.Path, str], contextlib.AbstractContextManager]) -> None:
    table = AlertsTable(tmp_path, run_id="r1")
    first = alert(DAY1 - 3600.0)
    table.add([first])
    (path,) = table.flush()  # names the table's writer token
    token = path.name.split("-")[2]
    day1 = [alert(DAY1 + 10.0 + i) for i in range(3)]
    day2 = [alert(DAY2 + 10.0 + i) for i in range(5)]
    table.add(day2 + day1)
    with fault(tmp_path, token):
        with pytest.raises(OSError):
            table.flush()
        assert table.pending == len(day2), "the first date's rows stayed buffered"
        assert [p.name for p in tmp_path.rglob("*.tmp")] == []
        assert len(pd.read_parquet(tmp_path / "alerts" / "date=2020-01-01")) == len(day1)
    assert len(table.flush()) == 1
    rows = pd.read_parquet(tmp_path / "alerts")
    assert sorted(rows.event_id) == sorted(e.event_id for e in [first, *day1, *day2])
    assert table.rows_written == 1 + len(day1) + len(day2) and table.pending == 0


def test_a_table_that_cannot_be_written_keeps_a_bounded_buffer_and_says_so_once(
        tmp_path, caplog) -> None:
    """Writes that keep failing (a disk full for hours) never raise into alerting, are
    logged once, and hold at most MAX_BUFFERED rows (the oldest go, counted); once the
    table can be written, what is held is written and that is logged."""
    from pipeline.alerts.table import MAX_BUFFERED

    table = AlertsTable(tmp_path, run_id="r1")
    (tmp_path / "alerts").mkdir()
    with date_folder_is_a_file(tmp_path, ""):
        for chunk in range(3):  # ticks: rows arrive, each flush fails
            table.add([alert(DAY2 + chunk * 1000 + i) for i in range(MAX_BUFFERED // 2 + 1)])
            assert table.try_flush() is False
    assert table.pending == MAX_BUFFERED and table.dropped_rows == 3 * (MAX_BUFFERED // 2 + 1) \
        - MAX_BUFFERED
    failures = [r for r in caplog.records if "alerts table: not written" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]
    assert table.try_flush() is True and table.failing == ""
    assert len(pd.read_parquet(tmp_path / "alerts")) == MAX_BUFFERED
    assert any("written again" in r.getMessage() for r in caplog.records)
