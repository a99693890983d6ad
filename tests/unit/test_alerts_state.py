"""The alerts actor's state across a lost controller: the rules' timers and open alerts,
the site's count of people inside, saved as the actor's process exits and taken up by the
actor of the resumed run; a clean close and a recovery delete it. No Ray: the actor's
class runs in this process."""

from __future__ import annotations

import atexit
from pathlib import Path

import pandas as pd

from actors.alerts_actor import AlertsActor
from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.inputs import CameraObservation, LineCrossing
from pipeline.alerts.runtime import AlertRuntime
from pipeline.alerts.site_occupancy import SiteFlowsConfig
from pipeline.sinks.checkpoint import alerts_state_path
from pipeline.sinks.recovery import recover_run

ACTOR = AlertsActor.__ray_actor_class__
T0 = 1_800_000_000.0
RULES = AlertsConfig.model_validate({"rules": [{
    "id": "crowd", "kind": "occupancy", "camera_id": "north", "zone_id": "hall",
    "threshold": 2, "for_s": 5, "min_interval_s": 0}]})
FLOWS = SiteFlowsConfig.model_validate({"occupancy": {
    "lines": [{"camera_id": "north", "line_id": "door", "in": "in"}],
    "reset_at": "04:00", "timezone": "UTC"}})


def actor(path: Path | None) -> object:
    out = ACTOR(RULES, [], None, "run-1", FLOWS, None, str(path) if path else None)
    atexit.unregister(out._on_exit)  # its exit is the test's to call
    return out


def sample(t: float, inside: int, entered: int = 0) -> list[CameraObservation]:
    return [CameraObservation("north", t - T0, t, {"hall": inside},
                              crossings=(LineCrossing("door", "in", 0.9),) * entered)]


def test_a_resumed_runs_alerts_go_on_from_the_lost_ones_state(tmp_path: Path) -> None:
    path = alerts_state_path(tmp_path, "run-1")
    first = actor(path)
    first.observe(sample(T0, 3, entered=4))  # the crowd rule pending from T0 (for_s 5)
    first._on_exit()  # its controller died: its process exits without close
    assert path.is_file()
    second = actor(path)
    assert second.view()["site_occupancy"]["value"] == 4  # not 0 again
    second.observe(sample(T0 + 6, 3))  # 6 s over the threshold since T0: it opens
    assert [a["rule_id"] for a in second.view()["open"]] == ["crowd"]
    second.close()  # a clean stop deletes the state
    assert not path.exists() and not path.parent.exists()


def test_without_the_saved_state_the_count_and_timers_start_again(tmp_path: Path) -> None:
    """What the test above guards against: an actor that does not read the state."""
    first = actor(None)
    first.observe(sample(T0, 3, entered=4))
    first.close()
    second = actor(None)
    second.observe(sample(T0 + 6, 3))
    view = second.view()
    assert view["site_occupancy"]["value"] == 0 and view["open"] == []
    second.close()


def test_a_recovered_run_leaves_no_alerts_state(tmp_path: Path) -> None:
    path = alerts_state_path(tmp_path, "run-1")
    lost = actor(path)
    lost.observe(sample(T0, 3, entered=1))
    lost._on_exit()
    assert path.is_file()
    recover_run(tmp_path, "run-1", "driver lost")
    assert not path.exists() and not path.parent.exists()


def test_an_unreadable_state_starts_afresh(tmp_path: Path) -> None:
    path = alerts_state_path(tmp_path, "run-1")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a pickle")
    fresh = actor(path)
    assert fresh.view()["site_occupancy"]["value"] == 0
    fresh.close()


def test_a_resumed_runs_alerts_tables_keep_the_lost_ones_rows(tmp_path: Path) -> None:
    """The alerts actor of a resumed run writes the same run's tables: beside the files
    of the one it replaces, never over them (their sequence numbers start again)."""
    for inside in (3, 5):  # the lost actor, then its successor
        rt = AlertRuntime(RULES, [], tmp_path, "run-1",
                          FLOWS.model_copy(update={"record_interval_s": 1.0}))
        rt.observe(sample(T0, inside, entered=1))
        rt.close(T0 + 2)
    rows = pd.read_parquet(tmp_path / "site")
    assert sorted(rows[rows.kind == "site_occupancy"].occupancy.unique()) == [1]
    assert len(list((tmp_path / "site").rglob("*.parquet"))) == 2 == rows.run_id.size


def test_the_state_is_written_again_only_when_it_changed(tmp_path: Path) -> None:
    path = alerts_state_path(tmp_path, "run-1")
    alerts = actor(path)
    alerts._save()
    first = path.stat().st_mtime_ns
    path.unlink()  # were it written again, it would be back
    alerts._save()
    assert not path.exists()
    alerts.observe(sample(T0, 3, entered=2))
    alerts._save()
    assert path.is_file() and path.stat().st_mtime_ns >= first
    alerts.close()
