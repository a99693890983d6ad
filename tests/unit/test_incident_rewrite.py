"""A gap is one incident row however its writer died: an aggregator killed right after
writing an incidents file (a gap that closed, or the open ones at close), restored from
its checkpoint, and a driver killed right after its recovery wrote one, recovered again
(the aggregator actor's class in this process, no Ray)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from pipeline.sinks.recovery import recover_run
from tests.unit.test_checkpoint_rewrite import FRAMES, Crash, aggregator, died

BEFORE, AFTER = FRAMES[:60], FRAMES[90:]  # 0 .. 5.9 s, then 9 .. 15.9 s: a 3 s gap


def crash_after_incidents(monkeypatch, n: int) -> None:
    """The process dies right after its ``n``-th incidents file is in place."""
    real, done = os.replace, []

    def replace(src, dst, *args, **kwargs):
        real(src, dst, *args, **kwargs)
        if "/incidents/" in str(dst):
            done.append(dst)
            if len(done) == n:
                raise Crash(dst)

    monkeypatch.setattr(os, "replace", replace)


def feed(agg, frames) -> None:
    for i in range(0, len(frames), 2):
        agg.update(frames[i:i + 2])


def incidents(root: Path) -> pd.DataFrame:
    files = sorted(root.glob("incidents/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files]) if files else pd.DataFrame(
        columns=["camera_id", "kind", "from_pts_s", "to_pts_s"])


def run_aggregator(root: Path) -> str:
    """Runs the scenario; returns where it died ("" when it did not)."""
    agg = aggregator(root)
    try:
        feed(agg, BEFORE)
        agg.record_failure("cam1", "tracker restarted")
        feed(agg, AFTER)  # the gap closes: its incidents file
        agg.record_failure("cam1", "camera actor restarted")  # open at close
        agg.close()  # the open gap's incidents file
        return ""
    except Crash:
        died(agg)
        agg = aggregator(root)  # the replacement, from the checkpoint on disk
        if "cam1" in agg.restored():  # the tracker's replay; not when it died closing
            after = agg.restored()["cam1"]
            feed(agg, [f for f in AFTER if f.meta.pts_s > after])
            agg.record_failure("cam1", "camera actor restarted")
        agg.close()
        return "closing" if "cam1" not in agg.restored() else "running"


@pytest.mark.parametrize("crash_at", [None, 1, 2])
def test_an_aggregator_killed_after_writing_incidents_writes_none_twice(
        tmp_path, monkeypatch, crash_at) -> None:
    if crash_at is not None:
        crash_after_incidents(monkeypatch, crash_at)
    died = run_aggregator(tmp_path)
    rows = incidents(tmp_path)
    kinds = rows.kind.value_counts().to_dict()
    expected = {"tracker restarted": 1, "camera actor restarted": 1}
    if died == "running":  # the crash itself is a gap of its own
        expected["aggregator restarted"] = 1
    assert died == {None: "", 1: "running", 2: "closing"}[crash_at]
    assert kinds == expected, rows
    gap = rows[rows.kind == "tracker restarted"].iloc[0]
    assert (gap.from_pts_s, gap.to_pts_s) == (BEFORE[-1].meta.pts_s, AFTER[0].meta.pts_s)
    assert not list(tmp_path.glob("incidents/.*")), "temporary files left"


@pytest.mark.parametrize("crash_at", [1, 2])  # the aggregator's sealed file, then its own
def test_a_driver_killed_after_its_recovery_wrote_incidents_writes_none_twice(
        tmp_path, monkeypatch, crash_at) -> None:
    agg = aggregator(tmp_path)
    feed(agg, BEFORE)
    agg.record_failure("cam1", "tracker restarted")
    crash_after_incidents(monkeypatch, 1)
    with pytest.raises(Crash):  # the whole run dies right after the gap's file is written
        feed(agg, AFTER)
    died(agg)
    monkeypatch.undo()
    crash_after_incidents(monkeypatch, crash_at)
    with pytest.raises(Crash):  # and the driver recovering its checkpoint too
        recover_run(tmp_path, "run-1", "controller lost")
    monkeypatch.undo()
    assert recover_run(tmp_path, "run-1", "controller lost")["checkpoints"] == 1
    kinds = incidents(tmp_path).kind.value_counts().to_dict()
    assert kinds == {"tracker restarted": 1, "controller lost": 1}
    assert not list(tmp_path.glob(".checkpoints/run-1/*.pkl"))
