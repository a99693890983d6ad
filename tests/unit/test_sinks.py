"""The Parquet sink: layout, schemas, atomic writes, buffering, retention, readability."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.analytics.events import EVENTS_SCHEMA, METRICS_SCHEMA, Event, events_to_table
from pipeline.errors import ConfigError, InputError, SinkError
from pipeline.sinks.parquet import ParquetSink, ParquetSinkConfig, utc_dates
from tests.unit.analytics_helpers import at, tracks_at

DAY = 86400.0
T0 = 1_795_651_200.0  # 2026-11-26T00:00:00Z


def event(
    camera: str = "cam1", at: float = T0 + 3600, track: int = 1, kind: str = "line_cross"
) -> Event:
    return Event(
        camera,
        kind,
        "door",
        "in" if kind == "line_cross" else None,
        track,
        at - T0,
        at,
        2.5 if kind == "zone_exit" else None,
    )


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_utc_dates_come_from_captured_at() -> None:
    assert utc_dates([T0 - 1, T0, T0 + DAY - 0.001]).tolist() == [
        "2026-11-25",
        "2026-11-26",
        "2026-11-26",
    ]


def test_events_are_partitioned_by_date_and_camera_and_read_back(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path))
    sink.write_events(
        [
            event("cam1", T0 - 10, 1),
            event("cam1", T0 + 10, 2),
            event("cam2", T0 + 20, 3, "zone_exit"),
        ]
    )
    assert files(tmp_path) == []  # buffered until a flush
    result = sink.close()
    assert result.events_rows == 3 and len(result.files) == 3
    layout = [f.rsplit("/", 1)[0] for f in files(tmp_path)]
    assert layout == [
        "events/date=2026-11-25/camera_id=cam1",
        "events/date=2026-11-26/camera_id=cam1",
        "events/date=2026-11-26/camera_id=cam2",
    ]
    df = pd.read_parquet(tmp_path / "events").sort_values("track_id")
    assert df["camera_id"].astype(str).tolist() == ["cam1", "cam1", "cam2"]
    assert df["date"].astype(str).tolist() == ["2026-11-25", "2026-11-26", "2026-11-26"]
    assert df["kind"].tolist() == ["line_cross", "line_cross", "zone_exit"]
    assert df["direction"].tolist()[:2] == ["in", "in"] and df["direction"].isna().tolist()[2]
    assert df["dwell_s"].tolist()[2] == 2.5 and math.isnan(df["dwell_s"].tolist()[0])
    # Inside a file, the columns are the schema without the partition column, plus run_id.
    one = pq.read_schema(next((tmp_path / "events").rglob("*.parquet")))
    assert one.names == [n for n in EVENTS_SCHEMA.names if n != "camera_id"] + ["run_id"]
    assert set(df["run_id"]) == {sink.run_id}


def test_every_row_names_its_run_so_runs_sharing_a_partition_stay_apart(
    tmp_path: Path,
) -> None:
    # Track ids restart at 1 in every run: two runs write the same ids to one partition.
    first = ParquetSink(ParquetSinkConfig(root=tmp_path))
    first.write_events([event(track=1), event(track=2)])
    first.close()
    second = ParquetSink(ParquetSinkConfig(root=tmp_path), run_id="run-b")
    second.write_events([event(track=1)])
    second.close()
    assert len(first.run_id) == 32 and first.run_id != "run-b"
    config = ParquetSinkConfig(root=tmp_path)
    assert ParquetSink(config).run_id != ParquetSink(config).run_id
    df = pd.read_parquet(tmp_path / "events")
    assert sorted(zip(df["run_id"], df["track_id"])) == sorted(
        [(first.run_id, 1), (first.run_id, 2), ("run-b", 1)]
    )
    with pytest.raises(ConfigError, match="run_id must be 1-64 letters"):
        ParquetSink(config, run_id="../x")


def test_buffer_is_written_when_it_reaches_max_rows_in_row_groups(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, max_buffer_rows=10, row_group_rows=4))
    sink.write_events([event(track=i) for i in range(6)])
    assert files(tmp_path) == []
    sink.write_events([event(track=i) for i in range(6, 10)])
    written = list((tmp_path / "events").rglob("*.parquet"))
    assert len(written) == 1
    meta = pq.ParquetFile(written[0]).metadata
    assert (meta.num_rows, meta.num_row_groups) == (10, 3)


def test_writes_are_atomic_and_leave_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path))
    sink.write_events([event("cam1", T0), event("cam2", T0)])
    real = pq.write_table
    calls = []

    def failing_second(table: pa.Table, where: object, **kw: object) -> None:
        calls.append(where)
        if len(calls) == 2:
            raise OSError("disk full")
        real(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", failing_second)
    with pytest.raises(SinkError, match=r"could not write \(disk full\)"):
        sink.flush()
    assert [f for f in files(tmp_path) if "tmp" in f] == []
    assert len(files(tmp_path)) == 1  # cam1's partition made it
    monkeypatch.setattr(pq, "write_table", real)
    sink.close()  # the retry writes only what was not written: nothing lost, nothing twice
    df = pd.read_parquet(tmp_path / "events")
    assert sorted(df["camera_id"].astype(str)) == ["cam1", "cam2"]
    assert all(Path(c).name.startswith(".") for c in calls)  # temp files are hidden from readers


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (events_to_table([event()]).drop_columns(["dwell_s"]), "missing dwell_s (double)"),
        (
            events_to_table([event()]).cast(
                EVENTS_SCHEMA.set(EVENTS_SCHEMA.get_field_index("track_id"),
                              pa.field("track_id", pa.int32(), False))
            ),
            "track_id: expected int64 not null, got int32 not null",
        ),
        (
            events_to_table([event()]).append_column("face", pa.array(["x"])),
            "unexpected column face",
        ),
    ],
)
def test_schema_mismatch_raises(tmp_path: Path, table: pa.Table, message: str) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path))
    with pytest.raises(InputError) as err:
        sink.write_events(table)
    assert "events table does not match its schema" in str(err.value) and message in str(err.value)


def test_events_without_capture_time_or_with_unsafe_camera_id_are_rejected(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path))
    with pytest.raises(InputError, match="has no captured_at; pass captured_at"):
        sink.write_events([Event("cam1", "zone_enter", "z", None, 1, 0.0, None, None)])
    with pytest.raises(InputError, match=r"camera_id '\.\./etc' cannot name a partition directory"):
        sink.write_events([event("../etc", T0)])
    sink.write_events([event("cam1", T0)])
    assert sink.flush().events_rows == 1  # the bad row was never buffered


def test_closed_sink_refuses_input(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path))
    sink.close()
    sink.close()
    with pytest.raises(SinkError, match="sink is closed"):
        sink.write_events([event()])


def closed_windows(camera: str = "cam1", start_at: float = T0) -> list:
    cfg = AnalyticsConfig(
        zones=[
            {
                "id": "z",
                "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]],
                "min_visit_s": 0,
                "queue": True,
            }
        ],
        lines=[{"id": "l", "start": [0.75, 0], "end": [0.75, 1]}],
        window_s=10.0,
        window_grace_s=2.0,
        min_distinct_tracks=1,
        heatmap={"columns": 8},
    )
    cam = CameraAnalytics(camera, cfg, 320, 240)
    for i in range(60):
        x = 100 + 4 * i
        cam.update(at(
            tracks_at([(1, x, 200), (2, 50, 100)]), i * 0.25, captured_at=start_at + i * 0.25
        ))
    return cam.pop_closed_windows() + cam.close()


def test_windows_write_metrics_and_heatmaps(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path))
    windows = closed_windows()
    still = np.full((240, 320, 3), 30, np.uint8)
    result = sink.write_windows(windows, stills={"cam1": still})
    assert result.metrics_rows == 4 and result.heatmaps == 2
    df = pd.read_parquet(tmp_path / "metrics").sort_values(["window_start_s", "element_id"])
    assert df[["element_id", "window_start_s", "complete"]].values.tolist() == [
        ["l", 0.0, True],
        ["z", 0.0, True],
        ["l", 10.0, False],
        ["z", 10.0, False],
    ]
    assert df["lr_count"].fillna(-1).tolist()[:1] + df["rl_count"].fillna(-1).tolist()[:1] == [
        0.0,
        1.0,
    ]
    assert set(df["date"].astype(str)) == {"2026-11-26"}
    assert pq.read_schema(next((tmp_path / "metrics").rglob("*.parquet"))).names == [
        n for n in METRICS_SCHEMA.names if n != "camera_id"
    ] + ["run_id"]
    assert set(df["run_id"]) == {sink.run_id}
    heat_dir = tmp_path / "heatmaps" / "date=2026-11-26" / "camera_id=cam1"
    names = sorted(p.name for p in heat_dir.iterdir())
    assert [n.split("-" + sink.run_id)[0] + n[-4:] for n in names] == [
        "window-0.000.npy",
        "window-0.000.png",
        "window-10.000.npy",
        "window-10.000.png",
    ]
    counts = np.load(heat_dir / names[0])
    assert counts.shape == (6, 8) and counts.sum() == 80  # 40 frames x 2 tracks
    png = cv2.imread(str(heat_dir / names[1]))
    assert png.shape == (240, 320, 3)


def test_heatmap_without_still_uses_grey_background(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, heatmap_npy=False))
    sink.write_windows(closed_windows())
    pngs = sorted((tmp_path / "heatmaps").rglob("*.png"))
    assert len(pngs) == 2 and not list((tmp_path / "heatmaps").rglob("*.npy"))
    assert cv2.imread(str(pngs[0]))[0, 0].tolist() == [96, 96, 96]


def test_retention_deletes_whole_days_older_than_the_setting(tmp_path: Path) -> None:
    sink = ParquetSink(
        ParquetSinkConfig(root=tmp_path, events_retention_days=2, aggregates_retention_days=10)
    )
    sink.clock = lambda: T0  # the run's clock when it wrote them
    for day in range(5):
        sink.write_events([event(at=T0 + day * DAY + 100)])
    sink.write_windows(closed_windows(start_at=T0))
    sink.flush()
    now = T0 + 4 * DAY + 3600  # 2026-11-30 01:00
    removed = sink.apply_retention(now)
    # Events of 11-26 and 11-27 ended at least 2 days before now; 11-28 ended 1 day 23 h ago.
    assert sorted(p.name for p in removed) == ["date=2026-11-26", "date=2026-11-27"]
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == [
        "date=2026-11-28",
        "date=2026-11-29",
        "date=2026-11-30",
    ]
    assert (tmp_path / "metrics" / "date=2026-11-26").is_dir()
    assert len(sink.apply_retention(T0 + 11 * DAY)) == 5  # 3 event days, metrics, heatmaps
    assert list((tmp_path / "events").iterdir()) == []


def test_retention_uses_the_runs_clock_not_the_cameras(tmp_path: Path) -> None:
    old = tmp_path / "events" / "date=2026-11-20"  # written by an earlier run
    old.mkdir(parents=True)
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, events_retention_days=2))
    now = [T0 + 100]
    sink.clock = lambda: now[0]
    sink.write([event(at=T0 + 100)], closed_windows(start_at=T0), {})
    # a camera whose clock runs a year ahead deletes nothing
    sink.write([event(at=T0 + 365 * DAY)], closed_windows(start_at=T0 + 365 * DAY), {})
    assert not old.exists()  # 6 days old by the run's clock: deleted
    assert (tmp_path / "events" / "date=2026-11-26").is_dir()
    now[0] = T0 + 3 * DAY  # the run goes on: what it wrote ages by its own clock
    sink.write([], closed_windows(start_at=T0 + 3 * DAY), {})
    assert not (tmp_path / "events" / "date=2026-11-26").exists()
    assert (tmp_path / "events" / "date=2027-11-26").is_dir()


def test_an_offline_run_of_old_footage_keeps_its_output(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, events_retention_days=2))
    sink.clock = lambda: T0 + 30 * DAY
    sink.write([event(at=T0 + 100)], closed_windows(start_at=T0), {})
    assert (tmp_path / "events" / "date=2026-11-26").is_dir()


def test_retention_never_follows_symlinks(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep.txt").parent.mkdir()
    (elsewhere / "keep.txt").write_text("x")
    (tmp_path / "out" / "events").mkdir(parents=True)
    (tmp_path / "out" / "events" / "date=2020-01-01").symlink_to(elsewhere)
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path / "out", events_retention_days=2))
    sink.write([event(at=T0 + 100)], closed_windows(start_at=T0), {})  # no error
    sink.close()
    assert (elsewhere / "keep.txt").exists()
    assert (tmp_path / "out" / "events" / "date=2020-01-01").is_symlink()


def test_two_runs_on_one_output_never_overwrite_each_other(tmp_path: Path) -> None:
    for run in ("run-1", "run-2"):
        sink = ParquetSink(ParquetSinkConfig(root=tmp_path), run_id=run)
        sink.write([event(at=T0 + 100)], closed_windows(start_at=T0), {})
        sink.close()
    names = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    for suffix in (".parquet", ".png", ".npy"):
        files = [n for n in names if n.endswith(suffix)]
        assert {"run-1", "run-2"} == {r for r in ("run-1", "run-2") for n in files if r in n}
    assert len(pd.read_parquet(tmp_path / "events")) == 2


def test_a_full_disk_pauses_writes_and_loses_nothing_once_space_returns(tmp_path: Path) -> None:
    import errno

    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, max_buffer_rows=10))
    real = sink.write_file

    def full(*_args) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    sink.write_file = full
    for i in range(50):
        sink.write([event(track=i, at=T0 + i)], [], {})
    sink.write([], closed_windows(start_at=T0), {})  # no error: paused
    assert sink.disk.paused and sink.buffered_rows() == 50 + 4
    assert not list(tmp_path.rglob("*.parquet"))
    sink.write_file = real
    retry_writes_everything(sink, tmp_path, events=51, metrics=4)


def retry_writes_everything(sink: ParquetSink, root: Path, events: int, metrics: int) -> None:
    """Once the output can be written again, the next write (its retry due) writes every
    row kept while paused, and no more."""
    sink.disk._next_try = 0.0  # the retry is due
    sink.write([event(track=99, at=T0 + 99)], [], {})
    assert not sink.disk.paused and sink.buffered_rows() == 0
    sink.close()
    assert len(pd.read_parquet(root / "events")) == events
    assert len(pd.read_parquet(root / "metrics")) == metrics


def test_a_full_disk_bounds_the_buffers(tmp_path: Path) -> None:
    import errno

    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, max_buffer_rows=5, max_paused_rows=20))

    def full(*_args) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    sink.write_file = full
    for i in range(100):
        sink.write([event(track=i, at=T0 + i)], [], {})
    assert sink.buffered_rows() <= 20 and sink.disk.dropped_rows == 80


def test_nothing_is_lost_on_clean_shutdown(tmp_path: Path) -> None:
    sink = ParquetSink(ParquetSinkConfig(root=tmp_path, max_buffer_rows=1000))
    sent = [event(track=i, at=T0 + i) for i in range(2500)]
    for i in range(0, 2500, 100):
        sink.write_events(sent[i : i + 100])
    sink.write_windows(closed_windows())
    sink.close()
    df = pd.read_parquet(tmp_path / "events")
    assert sorted(df["track_id"].tolist()) == list(range(2500))
    assert len(pd.read_parquet(tmp_path / "metrics")) == 4
