"""The identity benchmark's analytics ladder (benchmarks/identity_visits.py): tracks named
after the labelled people they cover, each kind of error taken out, and visit joins
judged. No Ray, no model, no ../shared data."""

from __future__ import annotations

import numpy as np

from benchmarks.detsim_views import Clip
from benchmarks.evaluation import MotSequence
from benchmarks.identity_visits import (
    SPARE_ID,
    join_outcomes,
    majority_of,
    recording,
    rung_frames,
)
from benchmarks.scene_analytics import run_analytics
from pipeline.analytics.config import AnalyticsConfig
from pipeline.types import FrameMeta, TrackedFrame, Tracks

N = 6
# Person 1 walks along y 0..40, person 2 along y 100..140; both at x 10 + 5 per frame.
def person_box(pid: int, f: int) -> list[float]:
    y0 = 0 if pid == 1 else 100
    return [10 + 5 * f, y0, 30 + 5 * f, y0 + 40]


def clip() -> Clip:
    rows = [(f + 1, pid, *person_box(pid, f)) for f in range(N) for pid in (1, 2)]
    b = np.array([r[2:] for r in rows], np.float64)
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1)
    truth = MotSequence(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), xywh,
                        np.ones(len(rows)), num_frames=N)
    return Clip("toy", truth, np.arange(N) / 10.0, 200, 200)


def frames() -> list[TrackedFrame]:
    """Person 1 is track 10 then (a break) track 11; track 20 follows person 2 but
    swaps onto person 1 in the last frame while track 11 takes person 2; track 99 is false
    (far from anyone)."""
    out = []
    for f in range(N):
        rows = [(10 if f < 3 else 11, person_box(1 if f < 5 else 2, f)),
                (20, person_box(2 if f < 5 else 1, f)), (99, [150, 150, 170, 190])]
        b = np.array([r[1] for r in rows], np.float32)
        tracks = Tracks(b, np.ones(len(rows), np.float32), np.ones(len(rows), np.int16),
                        np.array([r[0] for r in rows], np.int64))
        out.append(TrackedFrame(FrameMeta("toy", f, f / 10.0, 0.0, 200, 200), tracks))
    return out


def ids(frames: list[TrackedFrame]) -> list[list[int]]:
    return [sorted(f.tracks.track_ids.tolist()) for f in frames]


def test_majority_names_each_track_after_the_person_it_mostly_covers():
    assert majority_of(np.array([5, 5, 5, 6]), np.array([1, 1, 2, -1])) == {5: 1, 6: -1}


def test_each_rung_takes_out_one_more_kind_of_error():
    r = rung_frames(clip(), frames())
    assert ids(r["as_is"]) == ids(frames())
    assert ids(r["no_false_tracks"])[0] == [10, 20]  # track 99 covers nobody
    # Broken track 10/11 becomes person 1; track 20 stays person 2 even where it swapped.
    merged = ids(r["fragments_merged"])
    assert merged[0] == [1, 2, 99 + SPARE_ID] and merged[5][:2] == [1, 2]
    # Every box named by whom it covers in its frame; the false box dropped.
    assert ids(r["swaps_fixed"]) == [[1, 2]] * N
    last = r["swaps_fixed"][5]
    assert last.tracks.boxes[list(last.tracks.track_ids).index(1)].tolist() == person_box(1, 5)
    # Removals are synthesised at each id's last frame.
    assert [f.removed_ids.tolist() for f in r["swaps_fixed"]] == [[]] * N


def test_join_outcomes_count_right_wrong_and_zone_joins():
    maj = {10: 1, 11: 1, 20: 2, 99: -1}
    out = join_outcomes([(10, 11, True), (20, 11, False), (99, 11, True)], maj)
    assert out == {"joins": 3, "judged": 2, "right": 1, "zone_joins": 2, "zone_judged": 1,
                   "zone_right": 1}


def broken_stay() -> list[TrackedFrame]:
    """One person in a zone for 3 s at 10 fps whose track breaks (id 1 then 2) after 1.5 s."""
    out = []
    for f in range(30):
        tid = 1 if f < 15 else 2
        tracks = Tracks(np.array([[90, 60, 110, 100]], np.float32), np.ones(1, np.float32),
                        np.ones(1, np.int16), np.array([tid], np.int64))
        removed = np.array([1], np.int64) if f == 17 else np.zeros(0, np.int64)
        out.append(TrackedFrame(FrameMeta("toy", f, f / 10.0, 0.0, 200, 200), tracks, removed))
    return out


def test_recording_notes_the_joins_and_the_oracle_refuses_wrong_ones():
    config = AnalyticsConfig(zones=[{"id": "zone", "points": [[0.2, 0.2], [0.8, 0.2],
                                                             [0.8, 0.8], [0.2, 0.8]]}],
                             min_distinct_tracks=1)
    joins: list = []
    got = run_analytics(broken_stay(), config, 200, 200, 10.0, recording(joins.append))
    assert joins == [(1, 2, True)] and got["zone"]["visits"] == 1
    refused: list = []
    got = run_analytics(broken_stay(), config, 200, 200, 10.0,
                        recording(refused.append, lambda a, b: False))
    assert refused == [] and got["zone"]["visits"] == 2
