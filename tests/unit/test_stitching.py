"""Which later tracklet continues an ended one (pipeline.tracking.stitching), and the
smoother's use of it: motion both ways, size and timing gates, the cost cap and the
ambiguity margin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.tracking.config import SmoothingConfig
from pipeline.tracking.smoothing import Smoother
from pipeline.tracking.stitching import Tracklet, choose_successor, join_cost
from pipeline.types import FrameMeta, TrackedFrame, Tracks

CFG = SmoothingConfig()
FPS = 25.0


def person(cx: float, bottom: float = 300.0, h: float = 100.0) -> np.ndarray:
    return np.array([cx - 0.2 * h, bottom - h, cx + 0.2 * h, bottom])


def end(cx: float = 100.0, vx: float = 50.0, t: float = 1.0, h: float = 100.0) -> Tracklet:
    return Tracklet(1, t, person(cx, h=h), (vx, 0.0), 0.0)


def start(cx: float, t: float = 1.5, vx: float = 50.0, h: float = 100.0, cls: int = 1
          ) -> Tracklet:
    return Tracklet(cls, t, person(cx, h=h), (vx, 0.0), t + 2.0)


def test_a_person_who_walks_on_continues_at_no_cost():
    assert join_cost(end(), start(125.0), CFG) == pytest.approx(0.0)


def test_someone_walking_the_other_way_does_not_continue():
    assert math.isinf(join_cost(end(vx=120.0), start(172.0, t=1.6, vx=-120.0), CFG))
    assert join_cost(end(vx=120.0), start(172.0, t=1.6, vx=120.0), CFG) == pytest.approx(0.0)


@pytest.mark.parametrize(("later", "why"), [
    (start(125.0, h=160.0), "60 % taller, beyond max_size_ratio 1.5"),
    (start(125.0, t=1.0 + CFG.max_gap_s + 0.1), "starts after max_gap_s"),
    (start(125.0, t=0.9), "starts before the ended track's last box"),
    (start(125.0, cls=2), "another class"),
    (start(125.0 + 200.0), "two heights away from where the motion puts it"),
])
def test_gates(later, why):
    assert math.isinf(join_cost(end(), later, CFG)), why


def test_cost_grows_with_the_miss_and_the_size_change():
    near, far = join_cost(end(), start(135.0), CFG), join_cost(end(), start(150.0), CFG)
    assert 0.0 < near < far <= 1.0
    assert join_cost(end(), start(135.0, h=120.0), CFG) > near


def test_the_cheapest_unambiguous_successor_is_chosen():
    starts = [start(190.0), start(126.0), start(125.0, vx=-200.0)]
    assert choose_successor(end(), starts, CFG) == 1
    assert choose_successor(end(), [], CFG) is None
    assert choose_successor(end(), [starts[2]], CFG) is None


def test_no_successor_when_two_fit_about_as_well():
    two = [start(130.0), start(120.0)]  # 5 px either side of where the motion puts it
    assert choose_successor(end(), two, CFG) is None
    assert choose_successor(end(), two, CFG.model_copy(update={"join_margin": 0.0})) in (0, 1)


def test_no_successor_beyond_the_cost_cap():
    costly = start(125.0 + 45.0, h=140.0)  # most of both tolerances
    cost = join_cost(end(), costly, CFG)
    assert 1.0 < cost < math.inf
    assert choose_successor(end(), [costly], CFG) is None
    assert choose_successor(end(), [costly], CFG.model_copy(update={"max_join_cost": 2.0})) == 0


# ----------------------------------------------------------------------------- smoother


def _frames(later: dict[int, float]) -> list[TrackedFrame]:
    """Track 1 walks 2 px a frame over frames 0-19 and is removed at 45 (the tracker's lost
    buffer); each later track ``tid`` starts at frame 30 at ``x`` and walks on to 60."""
    out = []
    for k in range(61):
        rows = [(1, 100.0 + 2 * k)] if k < 20 else []
        rows += [(tid, x + 2 * (k - 30)) for tid, x in later.items() if k >= 30]
        boxes = np.array([person(x) for _, x in rows], np.float32).reshape(-1, 4)
        tracks = Tracks(boxes, np.full(len(rows), 0.9, np.float32),
                        np.ones(len(rows), np.int16), np.array([t for t, _ in rows], np.int64))
        out.append(TrackedFrame(FrameMeta("cam", k, k / FPS, 0.0, 640, 480), tracks,
                                np.array([1] if k == 45 else [], np.int64)))
    return out


def _ids_at_the_end(config: SmoothingConfig, later: dict[int, float]) -> list[int]:
    smoother = Smoother(config)
    out = []
    for frame in _frames(later):
        out += smoother.push(frame)
    out += smoother.flush()
    return sorted(out[-1].tracks.track_ids.tolist())


def test_the_smoother_joins_a_lone_successor_and_leaves_an_ambiguous_pair():
    assert _ids_at_the_end(CFG, {2: 160.0}) == [1]
    assert _ids_at_the_end(CFG, {2: 150.0, 3: 170.0}) == [2, 3]
    assert _ids_at_the_end(CFG.model_copy(update={"join_margin": 0.0}),
                           {2: 150.0, 3: 170.0}) in ([1, 3], [1, 2])
