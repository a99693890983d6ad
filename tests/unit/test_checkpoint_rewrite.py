"""An aggregator that dies right after writing a file, restored from its checkpoint, writes
no row twice and loses none (the aggregator actor's class in this process, no Ray)."""

from __future__ import annotations

import atexit
import os
from pathlib import Path

import pandas as pd
import pytest

from actors.aggregator_actor import AggregatorActor
from pipeline.sinks import ParquetSinkConfig
from pipeline.sinks.checkpoint import checkpoint_path
from pipeline.sinks.files import write_atomically
from tests.unit.test_fault_state import ZONE, frames

AGGREGATOR = AggregatorActor.__ray_actor_class__
FRAMES = frames(160)  # 16 s at 10 fps, 5 s windows: windows close at 7, 12 and 17 s


class Crash(BaseException):
    """The process dies here (nothing after it runs)."""


def aggregator(root: Path, config: object = ZONE) -> object:
    """An aggregator on ``root`` restored from its checkpoint, or new with camera cam1."""
    agg = AGGREGATOR([ParquetSinkConfig(root=root, heatmap_png=False)], "run-1",
                     checkpoint=str(checkpoint_path(root, "run-1", 0)), checkpoint_s=2.0)
    # The actor closes itself at process exit; one that "died" here must not come back to
    # life when pytest exits and write into a finished test's folder.
    atexit.unregister(agg._on_exit)
    if not agg.restored():
        agg.add_camera("cam1", config)
    return agg


def died(agg: object) -> None:
    """What the kernel does when an aggregator's process dies: lets go of its lock on the
    checkpoint (a replacement waits for it)."""
    os.close(agg._holder)
    agg._holder = None


def crash_after_files(agg: object, n: int) -> None:
    """Makes the aggregator's sink die right after its ``n``-th file is in place."""
    written = []

    def write(final: Path, fill, token: str) -> None:
        write_atomically(final, fill, token)
        written.append(final)
        if len(written) == n:
            raise Crash(final)

    agg._sinks._sinks[0].write_file = write


def output(root: Path) -> dict[str, pd.DataFrame]:
    events = pd.read_parquet(root / "events")
    metrics = pd.read_parquet(root / "metrics").drop(columns=["complete"])
    heatmaps = sorted(p.name for p in root.glob("heatmaps/*/*/*.npy"))
    return {"events": events.sort_values(list(events.columns)).reset_index(drop=True),
            "metrics": metrics.sort_values(["window_start_s", "element_id"]).reset_index(
                drop=True), "heatmaps": pd.DataFrame({"n": [len(heatmaps)]})}


def run(root: Path, crash_at: int | None) -> dict[str, pd.DataFrame]:
    agg = aggregator(root)
    if crash_at is not None:
        crash_after_files(agg, crash_at)
    try:
        for i in range(0, len(FRAMES), 2):
            agg.update(FRAMES[i:i + 2])
        agg.close()
    except Crash:
        died(agg)
        agg = aggregator(root)  # the replacement, from the checkpoint on disk
        if "cam1" in agg.restored():  # not when it died closing
            after = agg.restored()["cam1"]
            agg.update([f for f in FRAMES if f.meta.pts_s > after])  # the tracker's replay
        agg.close()
    return output(root)


@pytest.mark.parametrize("crash_at", [1, 2, 3, 5, 7, 9])
def test_a_file_written_before_a_crash_is_replaced_not_duplicated(tmp_path, crash_at) -> None:
    base = run(tmp_path / "base", None)
    got = run(tmp_path / "crashed", crash_at)
    assert len(base["events"]) and len(base["metrics"]) >= 3
    for table in base:
        pd.testing.assert_frame_equal(got[table], base[table], check_like=True)
