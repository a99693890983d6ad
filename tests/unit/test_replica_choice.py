"""How ReplicaCaller chooses a replica (actors/replicas.py), without Ray."""

from types import SimpleNamespace

from actors.replicas import STALE_S, ReplicaCaller

HANDLE = SimpleNamespace(app_name="panoray", deployment_name="Detector")


def caller_with(*names: str) -> ReplicaCaller:
    c = ReplicaCaller(HANDLE)
    for n in names:
        c._replicas[n] = None  # noqa: SLF001 - the choice reads names only
        c._in_flight[n] = 0  # noqa: SLF001
    return c


def test_untimed_replicas_are_tried_first_and_spread_at_random():
    c = caller_with("a", "b")
    assert {c._pick(8) for _ in range(200)} == {"a", "b"}  # noqa: SLF001
    c._observe("a", 0.01)  # noqa: SLF001
    assert {c._pick(8) for _ in range(50)} == {"b"}  # noqa: SLF001


def test_the_replica_expected_to_finish_first_is_chosen():
    c = caller_with("a", "b")
    c._observe("a", 0.010)  # noqa: SLF001 - 10 ms a frame
    c._observe("b", 0.030)  # noqa: SLF001 - 30 ms a frame: behind
    assert c._pick(8) == "a"  # noqa: SLF001
    c._in_flight["a"] = 32  # noqa: SLF001 - 0.4 s of work out there against 0.24 s
    assert c._pick(8) == "b"  # noqa: SLF001


def test_a_slower_call_counts_at_once_and_a_faster_one_eases_it_down():
    c = caller_with("a")
    c._observe("a", 0.010)  # noqa: SLF001
    c._observe("a", 0.050)  # noqa: SLF001
    assert c._cost["a"] == 0.050  # noqa: SLF001
    c._observe("a", 0.010)  # noqa: SLF001
    assert 0.010 < c._cost["a"] < 0.050  # noqa: SLF001


def test_a_forgotten_replica_is_no_longer_chosen():
    c = caller_with("a", "b")
    c._forget("a")  # noqa: SLF001
    assert {c._pick(1) for _ in range(20)} == {"b"} and c.replicas == ["b"]  # noqa: SLF001


def test_a_replica_priced_out_by_one_slow_call_is_tried_again_once_its_estimate_is_stale():
    """One slow call (a warm-up, a queue behind other cameras) must not price a replica out
    for good: only calls to it update its estimate, so a camera alone would send every
    group to the other replica and leave a core idle."""
    c = caller_with("a", "b")
    c._observe("a", 0.020)  # noqa: SLF001
    c._observe("b", 0.190)  # noqa: SLF001 - one slow first call
    t = c._timed_at["b"]  # noqa: SLF001
    c._in_flight["a"] = 8  # noqa: SLF001 - a group out on a
    assert c._pick(8, now=t + 0.5) == "a"  # noqa: SLF001 - b's estimate still counts
    assert c._pick(8, now=t + STALE_S + 0.1) == "b"  # noqa: SLF001 - stale: tried again
    c._in_flight["b"] = 8  # noqa: SLF001 - while work of ours is out there, it still counts
    c._in_flight["a"] = 0  # noqa: SLF001
    assert c._pick(8, now=t + STALE_S + 0.1) == "a"  # noqa: SLF001
