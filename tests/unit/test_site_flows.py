"""Site-wide flows: people inside from entrance lines (clamped, reset daily in local
time), zone groups' sums, their rows for the Parquet `site` table, and their config."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipeline.alerts.config import AlertsConfig
from pipeline.alerts.flows import SiteFlows
from pipeline.alerts.inputs import CameraObservation, LineCrossing
from pipeline.alerts.runtime import AlertRuntime
from pipeline.analytics.groups import ZoneGroupConfig
from pipeline.alerts.site_occupancy import SiteFlowsConfig, SiteOccupancy, SiteOccupancyConfig
from pipeline.config import load_config
from pipeline.errors import ConfigFileError
from pipeline.site_config import SiteConfig

PARIS = dt.timezone(dt.timedelta(hours=1))  # Europe/Paris in January


def paris(day: int, hour: int, minute: int = 0) -> float:
    return dt.datetime(2027, 1, day, hour, minute, tzinfo=PARIS).timestamp()


def doors() -> SiteOccupancyConfig:
    return SiteOccupancyConfig(
        lines=[{"camera_id": "north", "line_id": "door", "in": "in"},
               {"camera_id": "south", "line_id": "door", "in": "enter"}],
        reset_at="04:00", timezone="Europe/Paris")


def test_in_minus_out_over_two_doors_clamped_at_zero() -> None:
    occ = SiteOccupancy(doors())
    t = paris(15, 9)
    assert occ.add("north", [("door", "in")] * 3, t) == 3
    assert occ.add("south", [("door", "enter"), ("door", "leave")], t) == 3
    assert occ.add("south", [("door", "leave")] * 5, t) == 0  # never negative
    assert occ.add("north", [("door", "in")], t) == 1
    assert occ.add("north", [("other-line", "in")], t) == 1  # not an entrance
    assert occ.add("east", [("door", "in")], t) == 1  # not an entrance camera
    assert (occ.entered, occ.left) == (5, 6)


def test_the_count_starts_again_at_the_reset_time_in_local_time() -> None:
    occ = SiteOccupancy(doors())
    assert occ.add("north", [("door", "in")] * 4, paris(15, 22)) == 4
    assert occ.add("north", [], paris(16, 3, 59)) == 4  # still before 04:00 Paris
    assert occ.add("north", [], paris(16, 4, 0)) == 0
    assert occ.add("north", [("door", "in")], paris(16, 5)) == 1
    assert occ.add("north", [], paris(16, 23)) == 1  # no second reset the same day


def test_flows_record_rows_per_group_and_for_the_site_every_interval() -> None:
    g = ZoneGroupConfig(name="floor", zones=[{"camera_id": "north", "zone_id": "z"},
                                             {"camera_id": "south", "zone_id": "z"}])
    flows = SiteFlows([g], SiteFlowsConfig(occupancy=doors(), record_interval_s=60))
    t = paris(15, 9)
    flows.observe(CameraObservation("north", 1.0, t, {"z": 5},
                                    crossings=(LineCrossing("door", "in", 0.9),) * 2))
    flows.observe(CameraObservation("south", 1.0, t, {"z": 3}))
    flows.observe(CameraObservation("north", 2.0, t + 1, {"z": 1}))
    rows = {r.kind: r for r in flows.due(t + 1)}
    assert (rows["group"].occupancy, rows["group"].occupancy_max) == (4, 8)
    assert rows["group"].upper_bound and not rows["site_occupancy"].upper_bound
    assert (rows["site_occupancy"].occupancy, rows["site_occupancy"].entered) == (2, 2)
    assert flows.due(t + 30) == []  # not yet
    assert rows["group"].name == "floor" and len(flows.due(t + 61)) == 2


def test_the_runtime_writes_the_site_table(tmp_path) -> None:
    g = ZoneGroupConfig(name="floor", zones=[{"camera_id": "north", "zone_id": "z"}])
    rt = AlertRuntime(AlertsConfig(), [g], tmp_path, "run-9",
                      SiteFlowsConfig(occupancy=doors(), record_interval_s=10))
    t = paris(15, 9)
    rt.observe([CameraObservation("north", 1.0, t, {"z": 2},
                                  crossings=(LineCrossing("door", "in", 1.0),))])
    rt.tick(t)
    rt.tick(t + 5)  # within the interval: nothing new
    rt.close()
    table = pd.read_parquet(tmp_path / "site")
    assert sorted(zip(table.kind, table.occupancy)) == [("group", 2), ("site_occupancy", 1)]
    assert set(table.run_id) == {"run-9"}
    view = rt.view()
    assert view["groups"] == {"floor": 2} and view["site_occupancy"]["value"] == 1


def test_closing_records_the_figures_sampled_after_the_last_row(tmp_path) -> None:
    g = ZoneGroupConfig(name="floor", zones=[{"camera_id": "north", "zone_id": "z"}])
    rt = AlertRuntime(AlertsConfig(), [g], tmp_path, "run-9",
                      SiteFlowsConfig(occupancy=doors(), record_interval_s=60))
    t = paris(15, 9)
    rt.tick(t)
    # an offline run's last samples arrive after the last periodic row, then it closes
    rt.observe([CameraObservation("north", 1.0, t + 1, {"z": 3},
                                  crossings=(LineCrossing("door", "in", 1.0),) * 2)])
    rt.close(t + 2)
    table = pd.read_parquet(tmp_path / "site").sort_values(["at", "kind"])
    last = table[table["at"] == t + 2].set_index("kind")
    assert last.loc["group", "occupancy"] == 3
    assert (last.loc["site_occupancy", "occupancy"],
            last.loc["site_occupancy", "entered"]) == (2, 2)


SITE = """\
cameras:
  - id: north
    url: rtsp://cam/n
    lines: [{id: door, start: [0.5, 0], end: [0.5, 1], left_to_right: in, right_to_left: out}]
flows:
  occupancy:
    lines: [{camera_id: north, line_id: door, in: %s}]
"""


def test_entrance_lines_must_exist_and_name_a_direction() -> None:
    assert load_config(SITE % "in", SiteConfig).flows.occupancy.lines[0].in_ == "in"
    with pytest.raises(ConfigFileError, match="has directions \\['in', 'out'\\], not 'inside'"):
        load_config(SITE % "inside", SiteConfig)
    with pytest.raises(ConfigFileError, match="camera 'north' has no line 'gate'"):
        load_config(SITE.replace("line_id: door", "line_id: gate") % "in", SiteConfig)
