"""The accuracy benchmark's own logic: skipping absent data, the ground-truth ruler, the
error measure and the mapping of supervision's line directions onto ours."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import accuracy, peer, scenes
from pipeline.analytics.camera import CameraAnalytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.types import Tracks
from tests.unit.analytics_helpers import at


def test_absent_sequences_are_skipped_with_a_message(tmp_path, capsys):
    assert accuracy.main(["--quick", "--data", str(tmp_path)]) == 0
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last["skipped"]) == {"TUD-Campus", "TUD-Stadtmitte"}
    assert "TUD-Campus.mp4 or its gt/gt.txt is absent" in last["skipped"]["TUD-Campus"]
    assert last["goals"] == {}


@pytest.mark.parametrize(("value", "truth", "error"), [(4, 4, 0.0), (3, 4, 0.25), (5, 4, 0.25),
                                                       (0, 0, 0.0), (2, 0, 2.0)])
def test_relative_error(value, truth, error):
    assert accuracy.rel_error(value, truth) == pytest.approx(error)


def test_truth_turns_the_noise_guards_off_and_keeps_the_definitions():
    scene = scenes.SCENES["TUD-Campus"]
    ours, truth = scenes.analytics_config(scene), scenes.analytics_config(scene, truth=True)
    assert [ln.min_side_s for ln in truth.lines] == [0.0, 0.0]
    assert [z.exit_grace_s for z in truth.zones] == [0.0]
    for a, b in zip(ours.lines, truth.lines, strict=True):
        assert (a.hysteresis_px, a.hysteresis_box_fraction) == (b.hysteresis_px,
                                                                b.hysteresis_box_fraction)
    assert [z.min_visit_s for z in ours.zones] == [z.min_visit_s for z in truth.zones]


@pytest.mark.parametrize(("start", "end"), [((0.5, 0.1), (0.5, 0.9)), ((0.5, 0.9), (0.5, 0.1)),
                                            ((0.1, 0.5), (0.9, 0.5)), ((0.2, 0.2), (0.8, 0.7))])
def test_supervision_directions_are_mapped_onto_ours(start, end):
    pytest.importorskip("supervision")
    import supervision as sv

    cfg = AnalyticsConfig(lines=[{"id": "l", "start": list(start), "end": list(end)}],
                          min_distinct_tracks=1)
    line = cfg.lines[0]
    # One person walking across the middle from our left side to our right side.
    ax, ay, bx, by = start[0] * 640, start[1] * 480, end[0] * 640, end[1] * 480
    nx, ny = -(by - ay), bx - ax
    norm = np.hypot(nx, ny)
    frames = []
    for s in np.linspace(-60, 60, 13):
        x, y = (ax + bx) / 2 + s * nx / norm, (ay + by) / 2 + s * ny / norm
        frames.append(sv.Detections(xyxy=np.array([[x - 5, y - 30, x + 5, y]], np.float32),
                                    tracker_id=np.array([1]), class_id=np.array([0])))
    counts = peer.sv_line_counts(frames, cfg, 640, 480)["l"]
    assert counts == {line.left_to_right: 1, line.right_to_left: 0}
    # And our analytics call the same walk left_to_right.
    cam = CameraAnalytics("c", cfg, 640, 480)
    events = [e for k, f in enumerate(frames)
              for e in cam.update(at(Tracks(f.xyxy, np.ones(1, np.float32), np.zeros(1, np.int16),
                                         np.array([1])), k / 25))]
    assert [e.direction for e in events] == [line.left_to_right]


def test_the_tud_matrix_goal_is_the_worst_cell_of_the_default_mode():
    from benchmarks.tud_matrix import cell_name, matrix_goals, worst_cells

    cells = {cell_name("A", 1, 1.0, "tiled"): 0.70, cell_name("A", 3, 0.5, "tiled"): 0.54,
             cell_name("A", 1, 1.0, "full"): 0.60, cell_name("A", 3, 1.0, "full"): 0.56}
    g = matrix_goals(cells)
    assert list(g) == ["tud_matrix.worst_hota"]
    assert g["tud_matrix.worst_hota"]["value"] == 0.54
    assert g["tud_matrix.worst_hota"]["where"] == "A/every3/half/tiled"
    assert not g["tud_matrix.worst_hota"]["met"]
    assert worst_cells(cells)["full"] == {"hota": 0.56, "where": "A/every3/full/full"}
