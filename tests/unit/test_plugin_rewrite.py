"""Plugin tables get the sealing the built-in tables get: an aggregator that dies right
after writing a plugin file, restored from its checkpoint, and a recovery of a lost run's
checkpoint cut short and done again, write no plugin row twice and lose none (the
aggregator actor's class in this process, no Ray)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import pipeline.sinks.files as files
from pipeline.analytics.config import AnalyticsConfig
from pipeline.sinks.recovery import recover_run
from tests.unit.test_checkpoint_rewrite import aggregator as checkpointed_aggregator, died
from tests.unit.test_fault_state import frames

CONFIG = AnalyticsConfig(
    zones=[{"id": "all", "min_visit_s": 0, "units": "pixel",
            "points": [[0, 0], [1000, 0], [1000, 1000], [0, 1000]]}],
    window_s=5, window_grace_s=2, min_distinct_tracks=1,
    plugins=[{"type": "tests.plugin_fixtures:Ticks", "name": "ticks"},
             {"type": "tests.plugin_fixtures:Frames", "name": "frames"}])
FRAMES = frames(160)  # 16 s at 10 fps, 5 s windows: windows close at 7, 12 and 17 s


class Crash(BaseException):
    """The process dies here (nothing after it runs)."""


@pytest.fixture
def crash_after_plugin_files(monkeypatch):
    """Makes the process die right after its ``n``-th plugin file is in place."""
    written: list[Path] = []
    real = files.write_atomically

    def arm(n: int) -> None:
        def write(final: Path, fill, token: str) -> None:
            real(final, fill, token)
            written.append(final)
            if len(written) == n:
                raise Crash(final)

        monkeypatch.setattr("pipeline.sinks.plugin_tables.write_atomically", write)

    def disarm() -> None:
        monkeypatch.setattr("pipeline.sinks.plugin_tables.write_atomically", real)

    arm.disarm = disarm  # type: ignore[attr-defined]
    return arm


def aggregator(root: Path) -> object:
    return checkpointed_aggregator(root, CONFIG)


def plugin_rows(root: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name, kind in (("ticks", "events"), ("frames", "rows")):
        table = pd.read_parquet(root / "plugins" / name / kind)
        out[name] = table.sort_values(list(table.columns)).reset_index(drop=True)
    return out


def feed(agg: object, until: int) -> None:
    for i in range(0, until, 2):
        agg.update(FRAMES[i:i + 2])


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_an_aggregator_dying_after_a_plugin_file_writes_no_plugin_row_twice(
        tmp_path, crash_after_plugin_files, crash_at) -> None:
    base = aggregator(tmp_path / "base")
    feed(base, len(FRAMES))
    base.close()
    crash_after_plugin_files(crash_at)
    agg = aggregator(tmp_path / "crashed")
    try:
        feed(agg, len(FRAMES))
        agg.close()
    except Crash:
        died(agg)
        crash_after_plugin_files.disarm()
        agg = aggregator(tmp_path / "crashed")  # the replacement, from the checkpoint
        if "cam1" in agg.restored():
            after = agg.restored()["cam1"]
            agg.update([f for f in FRAMES if f.meta.pts_s > after])  # the tracker's replay
        agg.close()
    want, got = plugin_rows(tmp_path / "base"), plugin_rows(tmp_path / "crashed")
    assert len(want["ticks"]) == 16 and len(want["frames"]) >= 3
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_like=True)


@pytest.mark.parametrize("crash_at", [1, 2])
def test_a_recovery_cut_short_and_done_again_writes_no_plugin_row_twice(
        tmp_path, crash_after_plugin_files, crash_at) -> None:
    def lost_run(root: Path) -> None:  # its controller died at 10.9 s: never closed
        agg = aggregator(root)
        feed(agg, 110)
        agg._writer.drain()  # died after its writer thread's last write (none half done)
        died(agg)

    lost_run(tmp_path / "base")
    recover_run(tmp_path / "base", "run-1", "controller lost")
    lost_run(tmp_path / "cut")
    crash_after_plugin_files(crash_at)
    with pytest.raises(Crash):
        recover_run(tmp_path / "cut", "run-1", "controller lost")
    crash_after_plugin_files.disarm()
    recover_run(tmp_path / "cut", "run-1", "controller lost")  # the next run's
    want, got = plugin_rows(tmp_path / "base"), plugin_rows(tmp_path / "cut")
    # 0-5 written by the run, 5-10 closed early by the recovery (what came after the
    # last checkpoint, at most checkpoint_s, is lost)
    assert len(want["ticks"]) >= 9 and len(want["frames"]) == 2
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name], check_like=True)
