"""The offline batch's admission (which files run now) and progress, without Ray."""

from __future__ import annotations

import pytest

from pipeline.control.batch import QUEUED_REASON, Slots, batch_progress, demand_of
from pipeline.control.views import CameraRow
from pipeline.ingest.config import CameraConfig

CPU = {"CPU": 0.25}


def test_slots_admit_what_fits_and_the_next_when_one_ends():
    slots = Slots([{"CPU": 0.8}])
    assert [slots.take(f"c{i}", CPU) for i in range(4)] == [True, True, True, False]
    slots.release("c1")
    assert slots.take("c3", CPU) and not slots.take("c4", CPU)
    assert slots.running == 3


def test_slots_pack_per_node_not_the_cluster_total():
    # 0.4 free in all, but no node has 0.25 twice: a second camera would wait in Ray
    slots = Slots([{"CPU": 0.2}, {"CPU": 0.3}, {"CPU": 0.3}])
    assert slots.take("a", CPU) and slots.take("b", CPU) and not slots.take("c", CPU)


def test_slots_respect_custom_resources_and_the_limit():
    slots = Slots([{"CPU": 4.0, "site-north": 1.0}, {"CPU": 4.0}], limit=3)
    north = {"CPU": 0.25, "site-north": 0.5}
    assert slots.take("n1", north) and slots.take("n2", north)
    assert not slots.take("n3", north)  # the only node with site-north is full
    assert slots.take("x1", CPU) and not slots.take("x2", CPU)  # limit 3 reached
    slots.release("n1")
    assert slots.take("n3", north)


def test_a_camera_too_big_for_any_node_runs_when_nothing_else_does():
    slots = Slots([{"CPU": 0.5}])
    assert slots.take("small", CPU)
    assert not slots.take("big", {"CPU": 2.0})  # waits while anything of the batch runs
    slots.release("small")
    assert slots.take("big", {"CPU": 2.0})  # alone: Ray places it when the cluster grows
    assert slots.take("small", CPU)  # what fits still runs beside it


@pytest.mark.parametrize("limit, message", [(0, "at least 1"), (-2, "at least 1")])
def test_slots_refuse_a_bad_limit(limit, message):
    with pytest.raises(ValueError, match=message):
        Slots([{"CPU": 1.0}], limit)


def test_slots_refuse_a_camera_twice():
    slots = Slots([{"CPU": 1.0}])
    slots.take("a", CPU)
    with pytest.raises(ValueError, match="'a' already holds a slot"):
        slots.take("a", CPU)


def test_a_handed_over_slot_stays_on_its_node_until_the_next_file_releases_it():
    slots = Slots([{"CPU": 0.3, "site-north": 1.0}, {"CPU": 0.5}])
    north = {"CPU": 0.25, "site-north": 1.0}
    assert slots.take("file-0", north) and not slots.take("other", north)
    slots.hand_over("file-0", "file-1")  # the ended file's actor takes the next file
    assert slots.running == 1 and not slots.take("other", north)  # still held, same node
    with pytest.raises(KeyError):
        slots.hand_over("file-0", "file-2")  # gave its slot away already
    assert slots.take("x", CPU)
    with pytest.raises(ValueError, match="'x' already holds a slot"):
        slots.hand_over("file-1", "x")
    slots.release("file-1")
    assert slots.take("other", north)  # the north node's share came back


def test_demand_counts_cpus_and_resources():
    cam = CameraConfig.model_validate({"id": "a", "url": "/x.mp4", "placement": {
        "num_cpus": 0.5, "resources": {"gpu-site": 0.1}}})
    assert demand_of(cam) == {"CPU": 0.5, "gpu-site": 0.1}


def _row(cid: str, state: str, delivered: int, batch: bool = True) -> CameraRow:
    return CameraRow(cid, state, QUEUED_REASON if state == "idle" else "", 0.0, delivered,
                     delivered, 0, 0, 0, batch=batch)


def test_progress_counts_files_and_estimates_the_rest():
    rows = [_row("a", "ended", 100), _row("b", "ended", 300), _row("c", "streaming", 50),
            _row("d", "idle", 0), _row("live", "streaming", 999, batch=False)]
    p = batch_progress(rows, elapsed_s=10.0)
    assert (p.done, p.left, p.running, p.frames) == (2, 2, 1, 450)
    assert p.fps == pytest.approx(45.0)
    # 2 files left x 200 frames each, 50 already delivered, at 45 frames/s
    assert p.eta_s == pytest.approx(350 / 45.0)
    assert p.line() == "files 2 done, 2 left (1 running) · 45.0 frames/s · ETA 8s"


def test_progress_has_no_eta_before_a_file_ends_and_none_without_a_batch():
    p = batch_progress([_row("a", "streaming", 10), _row("b", "idle", 0)], 2.0)
    assert p.eta_s is None and p.line().endswith("ETA ?")
    assert batch_progress([_row("a", "streaming", 10, batch=False)], 2.0) is None
    done = batch_progress([_row("a", "ended", 10), _row("b", "failed", 0)], 4000.0)
    assert done.left == 0 and done.eta_s == 0.0


def test_the_plain_status_shows_the_batch_line_and_only_running_files(capsys):
    from pipeline.app.status_table import StatusDisplay, render

    rows = [_row("a", "ended", 100), _row("b", "streaming", 50), _row("c", "idle", 0)]
    with StatusDisplay(plain_every_s=0.0) as display:  # not a terminal under pytest
        display.update(rows)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[batch] files 1 done, 2 left (1 running)")
    assert [line.split("]")[0] for line in out[1:]] == ["[b"]
    assert render(rows, "files 1 done").title == "panoray · files 1 done"


def test_the_plain_status_says_why_a_camera_is_not_streaming(capsys):
    """Without a terminal (systemd, docker logs) a reconnecting camera's line gave no
    reason; the table on a terminal did."""
    from pipeline.app.status_table import StatusDisplay

    down = CameraRow("door", "reconnecting", "stream dropped after 172 frames", 0.0, 76, 76,
                     10, 0, 3)
    with StatusDisplay(plain_every_s=0.0) as display:
        display.update([down, _row("hall", "streaming", 50, batch=False)])
    out = capsys.readouterr().out.splitlines()
    assert out == ["[door] reconnecting fps=0.0 frames=76 drops=10 "
                   "(stream dropped after 172 frames)",
                   "[hall] streaming fps=0.0 frames=50 drops=0"]
