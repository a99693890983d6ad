"""When an aggregator checkpoints: every ``checkpoint_s`` of each camera's media time from
its first frame, at once after a failed save, and what it saves comes back exactly (the
aggregator actor's class in this process, no Ray)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pipeline.sinks.checkpoint_writer as writer_module
from actors.aggregator_actor import AggregatorActor
from pipeline.sinks import ParquetSinkConfig
from pipeline.sinks.checkpoint import checkpoint_path, load_checkpoint
from pipeline.types import FrameMeta, TrackedFrame
from tests.unit.analytics_helpers import WALL0, tracks_at
from tests.unit.test_fault_state import ZONE

AGGREGATOR = AggregatorActor.__ray_actor_class__
CHECKPOINT_S = 2.0


def frames(n: int, start_s: float, camera_id: str = "cam1") -> list[TrackedFrame]:
    """One track walking right at 10 fps, media time from ``start_s`` (a camera whose
    stream did not start at 0)."""
    return [TrackedFrame(FrameMeta(camera_id, i, start_s + i / 10, WALL0 + i / 10, 1000, 1000),
                         tracks_at([(1, 100.0 + i, 200.0)])) for i in range(n)]


def aggregator(root: Path, checkpoint_s: float = CHECKPOINT_S) -> object:
    return AGGREGATOR([ParquetSinkConfig(root=root, heatmap_png=False)], "run-1",
                      checkpoint=str(checkpoint_path(root, "run-1", 0)),
                      checkpoint_s=checkpoint_s)


def counting_saves(agg: object) -> list[tuple[bool, float]]:
    """Each save of ``agg`` from now on: (waited for, media time of cam1 it holds)."""
    saves: list[tuple[bool, float]] = []
    real = agg._writer.save
    agg._writer.save = lambda state, wait=False: saves.append(
        (wait, round(state["last_pts"]["cam1"], 3))) or real(state, wait)
    return saves


def on_disk(agg: object) -> dict:
    agg._writer.drain()
    return load_checkpoint(agg._writer.path)


def test_saves_come_every_checkpoint_s_of_each_cameras_media_from_its_first_frame(
        tmp_path) -> None:
    agg = aggregator(tmp_path)
    agg.add_camera("cam1", ZONE)
    agg.add_camera("cam2", ZONE)
    saves = counting_saves(agg)
    one, two = frames(100, 500.0, "cam1"), frames(60, 20.0, "cam2")
    for i in range(0, 100, 2):
        agg.update(one[i:i + 2] + two[i:i + 2])
        held = on_disk(agg)["last_pts"]
        for cid, seen in agg._last_pts.items():  # the bound: at most checkpoint_s lost
            first = (one if cid == "cam1" else two)[0].meta.pts_s
            assert seen - held.get(cid, first) < CHECKPOINT_S, (cid, seen, held)
    # 10 s of cam1 from 500 s, in batches of 0.2 s (cam2's 6 s from 20 s ride along): none
    # at either camera's first frame, one every 2 s, and one waited for before the window
    # [500, 505) is written at 507 s, which starts the next period
    assert saves == [(False, 502.1), (False, 504.1), (False, 506.1), (True, 507.1),
                     (False, 509.1)]
    assert on_disk(agg)["last_pts"] == {"cam1": 509.1, "cam2": 25.9}
    agg.close()


def test_a_failed_save_is_made_at_the_next_update_and_restores_exactly(
        tmp_path, monkeypatch) -> None:
    agg = aggregator(tmp_path / "a")
    agg.add_camera("cam1", ZONE)
    seq = frames(60, 0.0)
    agg.update(seq[:3])
    real = writer_module.write_checkpoint

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module, "write_checkpoint", full)
    agg.add_camera("cam2", ZONE)  # its waited save fails
    monkeypatch.setattr(writer_module, "write_checkpoint", real)
    assert on_disk(agg)["analytics"].camera_ids == ("cam1",)  # the previous one stays
    agg.update(seq[3:4])  # not due (0.3 s of media): saved as the last save failed
    state = on_disk(agg)
    assert state["analytics"].camera_ids == ("cam1", "cam2")
    assert state["last_pts"] == {"cam1": 0.3}
    # a replacement restored from it goes on exactly as the live one does
    shutil.copytree(tmp_path / "a" / ".checkpoints", tmp_path / "b" / ".checkpoints")
    twin = aggregator(tmp_path / "b")
    assert twin.restored() == {"cam1": 0.3, "cam2": None}
    for i in range(4, 60, 2):
        assert twin.update(seq[i:i + 2]) == agg.update(seq[i:i + 2])
    assert twin.snapshot().cameras == agg.snapshot().cameras
    agg.close()
    twin.close()


def test_a_save_before_a_write_is_the_periods_save(tmp_path) -> None:
    agg = aggregator(tmp_path, checkpoint_s=1.0)  # a save due at every 1-s batch
    agg.add_camera("cam1", ZONE)
    saves = counting_saves(agg)
    seq = frames(100, 0.0)
    for i in range(0, 100, 10):
        agg.update(seq[i:i + 10])
    # the window [0, 5) is written at 7 s: the save waited for before it is the only one
    assert saves == [(False, 1.9), (False, 2.9), (False, 3.9), (False, 4.9), (False, 5.9),
                     (False, 6.9), (True, 7.9), (False, 8.9), (False, 9.9)]
    agg.close()
