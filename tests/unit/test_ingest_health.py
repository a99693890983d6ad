"""The camera state machine, counters and rate meters."""

import threading

import pytest

from pipeline.errors import StateTransitionError
from pipeline.ingest.health import (
    ALLOWED_TRANSITIONS,
    CameraState,
    HealthTracker,
    RateMeter,
)

S = CameraState


@pytest.mark.parametrize(
    "path",
    [
        [S.CONNECTING, S.STREAMING, S.ENDED],
        [S.CONNECTING, S.STREAMING, S.RECONNECTING, S.STREAMING, S.STOPPED],
        [S.CONNECTING, S.RECONNECTING, S.RECONNECTING, S.FAILED],
        [S.CONNECTING, S.FAILED, S.CONNECTING, S.STREAMING],       # restart after failure
        [S.CONNECTING, S.STREAMING, S.ENDED, S.CONNECTING],
        [S.STOPPED, S.CONNECTING],
    ],
)
def test_allowed_paths(path):
    h = HealthTracker("cam")
    for state in path:
        h.set_state(state)
    assert h.state == path[-1]


@pytest.mark.parametrize(
    ("path", "bad", "message"),
    [
        ([], S.STREAMING, "camera 'cam' cannot go from idle to streaming"),
        ([S.CONNECTING, S.STREAMING], S.CONNECTING,
         "camera 'cam' cannot go from streaming to connecting"),
        ([S.CONNECTING, S.RECONNECTING], S.ENDED,
         "camera 'cam' cannot go from reconnecting to ended"),
        ([S.CONNECTING, S.FAILED], S.STREAMING, "camera 'cam' cannot go from failed to streaming"),
        ([S.CONNECTING, S.STREAMING, S.ENDED], S.RECONNECTING,
         "camera 'cam' cannot go from ended to reconnecting"),
    ],
)
def test_forbidden_transitions_raise_with_both_states(path, bad, message):
    h = HealthTracker("cam")
    for state in path:
        h.set_state(state)
    with pytest.raises(StateTransitionError, match=message) as info:
        h.set_state(bad)
    assert (info.value.current, info.value.requested) == (h.state.value, bad.value)


def test_every_state_has_transitions_and_terminal_states_only_restart():
    assert set(ALLOWED_TRANSITIONS) == set(CameraState)
    for state in CameraState:
        if state.terminal:
            assert ALLOWED_TRANSITIONS[state] == {S.CONNECTING}


def test_same_state_is_a_no_op_that_updates_the_reason():
    now = [10.0]
    h = HealthTracker("cam", clock=lambda: now[0])
    h.set_state(S.CONNECTING)
    h.set_state(S.RECONNECTING, "refused")
    now[0] = 20.0
    assert h.set_state(S.RECONNECTING, "timed out") is False
    snap = h.snapshot()
    assert (snap.reason, snap.state_since) == ("timed out", 10.0)


def test_snapshot_has_counters_errors_and_gauges():
    h = HealthTracker("cam", url="rtsp://u:***@h/x", clock=lambda: 5.0)
    h.gauges = lambda: {"in_flight": 2, "pending": 1, "buffered": 7}
    h.add("frames_dropped", 3)
    h.add("reconnects")
    h.record_error("stream stalled")
    for _ in range(4):
        h.decoded()
    h.delivered(latency_ms=20.0)
    s = h.snapshot()
    assert (s.frames_decoded, s.frames_dropped, s.reconnects, s.frames_delivered) == (4, 3, 1, 1)
    assert (s.in_flight, s.pending, s.buffered) == (2, 1, 7)
    assert (s.last_error, s.last_error_at, s.latency_ms) == ("stream stalled", 5.0, 20.0)
    health = s.health()
    assert health.reconnects == 1 and health.url == "rtsp://u:***@h/x"
    assert set(health.to_dict()) < set(s.to_dict())


def test_counters_are_thread_safe():
    h = HealthTracker("cam")

    def work():
        for _ in range(10_000):
            h.add("frames_sent")
            h.decoded(now=0.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = h.snapshot()
    assert s.frames_sent == s.frames_decoded == 40_000


@pytest.mark.parametrize(
    ("times", "now", "expected"),
    [
        ([], 1.0, 0.0),
        ([0.5], 1.0, 0.0),
        ([0.0, 0.1, 0.2, 0.3, 0.4], 0.5, 10.0),
        ([0.0, 0.1, 5.0, 5.5], 6.0, 2.0),      # old samples leave the 2 s window
        ([0.0, 0.1], 10.0, 0.0),               # nothing recent: 0 fps
    ],
)
def test_rate_meter(times, now, expected):
    meter = RateMeter(window_s=2.0)
    for t in times:
        meter.record(t)
    assert meter.rate(now) == pytest.approx(expected)


def test_rate_meter_memory_is_bounded():
    meter = RateMeter(window_s=1e9, max_samples=16)
    for i in range(10_000):
        meter.record(i * 0.001)
    assert len(meter._times) == 16
    assert meter.rate(10.0) == pytest.approx(1000.0)


def test_latency_percentiles_cover_a_bounded_recent_window():
    from pipeline.ingest.health import LATENCY_SAMPLES

    h = HealthTracker("cam")
    for ms in range(1, 101):  # 1..100 ms
        h.delivered(latency_ms=float(ms))
    s = h.snapshot()
    assert (s.latency_p50_ms, s.latency_p95_ms) == (50.5, 95.05)
    for _ in range(LATENCY_SAMPLES):  # old samples age out
        h.delivered(latency_ms=7.0)
    s = h.snapshot()
    assert (s.latency_p50_ms, s.latency_p95_ms) == (7.0, 7.0)
