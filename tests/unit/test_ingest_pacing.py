"""Media time: timestamps across sessions, subsampling, live pacing, newest-wins dropping."""

import pytest

from pipeline.errors import ConfigError
from pipeline.ingest.pacing import DropOldestBuffer, FrameSubsampler, LivePacer, MediaClock


def kept(target_fps, source_fps, seconds=2.0, offset=0.0):
    sub = FrameSubsampler(target_fps)
    n = int(round(seconds * source_fps))
    return [i for i in range(n) if sub.keep(offset + i / source_fps)]


@pytest.mark.parametrize(
    ("target", "source", "expected_first"),
    [
        (None, 30, list(range(10))),          # no target: every frame
        (30, 30, list(range(10))),            # target = source: every frame
        (10, 30, [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]),
        (15, 30, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]),
        (10, 25, [0, 3, 5, 8, 10, 13, 15, 18, 20, 23]),   # 25 -> 10: alternating 3 and 2
        (1, 12, [0, 12]),
        (60, 30, list(range(10))),            # target above source: every frame
    ],
)
def test_subsampling_by_media_time(target, source, expected_first):
    assert kept(target, source)[: len(expected_first)] == expected_first


@pytest.mark.parametrize(("target", "source"), [(10, 30), (10, 25), (7, 29.97), (5, 12)])
def test_subsampling_keeps_the_target_rate(target, source):
    assert len(kept(target, source, seconds=10)) == pytest.approx(10 * target, abs=1)


def test_subsampling_depends_on_media_time_only():
    # The same media timestamps give the same frames, whatever the offset or call timing.
    assert kept(10, 30, offset=0.0) == kept(10, 30, offset=1234.5)


def test_subsampling_restarts_after_a_gap():
    sub = FrameSubsampler(10)
    assert [sub.keep(t) for t in (0.0, 0.05, 5.0, 5.05, 5.1)] == [True, False, True, False, True]


def test_subsampler_rejects_bad_target():
    with pytest.raises(ConfigError, match="target_fps: must be > 0, got 0"):
        FrameSubsampler(0)


def test_pacer_waits_for_media_time():
    p = LivePacer(max_lag_s=1.0)
    assert p.delay(pts_s=10.0, wall_s=100.0) == 0.0          # first frame anchors
    assert p.delay(pts_s=10.1, wall_s=100.0) == pytest.approx(0.1)
    assert p.delay(pts_s=10.2, wall_s=100.25) == 0.0         # late: no wait, no resync
    assert p.resyncs == 0


def test_pacer_resyncs_instead_of_rushing_or_sleeping_through_gaps():
    p = LivePacer(max_lag_s=0.5)
    p.delay(0.0, 100.0)
    assert p.delay(1.0, 102.0) == 0.0 and p.resyncs == 1     # 1 s behind: re-anchor
    assert p.delay(1.1, 102.0) == pytest.approx(0.1)         # paced from the new anchor
    assert p.delay(60.0, 102.1) == 0.0 and p.resyncs == 2    # jump ahead: no long sleep
    p.reset()
    assert p.delay(0.0, 500.0) == 0.0


@pytest.mark.parametrize(
    ("capacity", "pushed", "evicted", "left"),
    [
        (1, [1, 2, 3, 4], [1, 2, 3], [4]),           # newest wins
        (2, [1, 2, 3, 4], [1, 2], [3, 4]),
        (3, [1, 2], [], [1, 2]),
    ],
)
def test_drop_oldest_buffer_counts_what_it_drops(capacity, pushed, evicted, left):
    buf = DropOldestBuffer(capacity)
    dropped = [e for e in (buf.push(x) for x in pushed) if e is not None]
    assert dropped == evicted
    assert buf.pop_many(10) == left and len(buf) == 0


def test_drop_oldest_buffer_rejects_zero_capacity():
    with pytest.raises(ConfigError, match="capacity: must be >= 1, got 0"):
        DropOldestBuffer(0)


def stamps(clock, positions, walls=None):
    walls = walls or [0.0] * len(positions)
    return [round(clock.stamp(p, w)[0], 6) for p, w in zip(positions, walls)]


def test_clock_uses_stream_positions_relative_to_session_start():
    clock = MediaClock()
    clock.start_session(fps=10, live=False, use_stream=True)
    assert stamps(clock, [5.0, 5.1, 5.2]) == [0.0, 0.1, 0.2]


def test_clock_continues_after_a_file_loop():
    clock = MediaClock()
    clock.start_session(fps=10, live=False, use_stream=True)
    stamps(clock, [0.0, 0.1, 0.2])
    clock.start_session(fps=10, live=False, use_stream=True)
    assert stamps(clock, [0.0, 0.1]) == [0.3, 0.4]


def test_clock_adds_the_outage_to_a_reconnected_live_stream():
    clock = MediaClock()
    clock.start_session(fps=10, live=True, use_stream=True)
    stamps(clock, [0.0, 0.1], walls=[1000.0, 1000.1])
    clock.start_session(fps=10, live=True, use_stream=True)   # 5 s outage
    assert stamps(clock, [77.0, 77.1], walls=[1005.1, 1005.2]) == [5.1, 5.2]


def test_clock_falls_back_to_index_over_fps_for_files_without_positions():
    clock = MediaClock()
    clock.start_session(fps=4, live=False, use_stream=True)
    out = [clock.stamp(p, 0.0) for p in (None, float("nan"), -1.0)]
    assert [round(t, 6) for t, _ in out] == [0.0, 0.25, 0.5]
    assert [fell for _, fell in out] == [True, True, True]


def test_clock_uses_wall_time_for_live_streams_without_positions():
    clock = MediaClock()
    clock.start_session(fps=25, live=True, use_stream=False)
    assert stamps(clock, [None, None, None], walls=[50.0, 50.04, 50.5]) == [0.0, 0.04, 0.5]


def test_clock_switches_a_live_stream_with_stuck_positions_to_wall_time():
    clock = MediaClock(stall_limit=3)
    clock.start_session(fps=10, live=True, use_stream=True)
    walls = [0.0, 0.1, 0.2, 0.3, 0.4, 1.4]
    out = stamps(clock, [0.0, 0.1, 0.1, 0.1, 0.1, 0.1], walls)
    assert not clock.uses_stream
    assert out[:2] == [0.0, 0.1] and out[-1] == pytest.approx(1.1 + 0.001, abs=0.002)
    assert all(b > a for a, b in zip(out, out[1:]))


def test_clock_is_strictly_increasing_on_repeated_positions():
    # RTSP streams often report the first position twice (seen with gst-rtsp-server).
    clock = MediaClock(min_step_s=0.001)
    clock.start_session(fps=15, live=True, use_stream=True)
    assert stamps(clock, [0.0, 0.0, 0.0667, 0.1333]) == [0.0, 0.001, 0.0667, 0.1333]
