"""Site-wide flows from the aggregators' samples: zone groups' sums and people inside.

:class:`SiteFlows` is fed the same sampled
:class:`~pipeline.alerts.inputs.CameraObservation` s as the rules (hosted beside them in
the run's alerts actor): it keeps each zone group's sum (an upper bound where views
overlap, :mod:`pipeline.analytics.groups`) and the site occupancy from entrance lines
(:mod:`pipeline.alerts.site_occupancy`), and every ``flows.record_interval_s`` gives
one :class:`SiteRow` per group and one for the site occupancy, for the Parquet ``site``
table (``site/date=YYYY-MM-DD/part-<run_id>-*.parquet``).

Example:
    >>> from pipeline.analytics.groups import ZoneGroupConfig
    >>> g = ZoneGroupConfig(name="floor", zones=[{"camera_id": "a", "zone_id": "z"}])
    >>> flows = SiteFlows([g], SiteFlowsConfig(record_interval_s=60))
    >>> [o.occupancy for o in flows.observe(CameraObservation("a", 1.0, 1.8e9, {"z": 4}))]
    [4]
    >>> [(r.kind, r.name, r.occupancy, r.upper_bound) for r in flows.due(1.8e9 + 60)]
    [('group', 'floor', 4, True)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa

from pipeline.alerts.inputs import CameraObservation, GroupObservation
from pipeline.analytics.groups import GroupSums, ZoneGroupConfig
from pipeline.alerts.site_occupancy import SiteFlowsConfig, SiteOccupancy

SITE_OCCUPANCY = "site_occupancy"


@dataclass(frozen=True)
class SiteRow:
    """One recorded site figure.

    Attributes:
        at: wall time of the record (s since the epoch).
        kind: ``group`` (a zone group's summed occupancy) or ``site_occupancy``.
        name: the group's name, or ``site_occupancy``.
        occupancy: people now (group: the sum of its zones' latest samples).
        occupancy_max: the most since the previous row.
        upper_bound: True for groups: where cameras overlap a person counts twice.
        entered, left: site occupancy only: entrance crossings in and out since the day's
            reset (None for groups).
    """

    at: float
    kind: str
    name: str
    occupancy: int
    occupancy_max: int
    upper_bound: bool
    entered: int | None = None
    left: int | None = None


SITE_SCHEMA = pa.schema([
    pa.field("at", pa.float64(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("occupancy", pa.int64(), nullable=False),
    pa.field("occupancy_max", pa.int64(), nullable=False),
    pa.field("upper_bound", pa.bool_(), nullable=False),
    pa.field("entered", pa.int64()),
    pa.field("left", pa.int64()),
])
"""Arrow schema of the ``site`` table (a writer appends ``run_id``)."""


def site_rows_to_table(rows: Sequence[SiteRow]) -> pa.Table:
    """Rows as a table of :data:`SITE_SCHEMA`."""
    return pa.Table.from_pydict({f.name: [getattr(r, f.name) for r in rows]
                                 for f in fields(SiteRow)}, schema=SITE_SCHEMA)


class SiteFlows:
    """Zone groups' sums and the site occupancy, recorded every ``record_interval_s``.

    Args:
        groups: the site's zone groups.
        config: the site occupancy and the record interval.
    """

    def __init__(self, groups: Sequence[ZoneGroupConfig], config: SiteFlowsConfig) -> None:
        self.config = config
        self.groups = GroupSums(groups)
        self.occupancy = SiteOccupancy(config.occupancy) if config.occupancy else None
        self._names = [g.name for g in groups]
        self._max: dict[str, int] = {}
        self._next_record = -math.inf

    @property
    def cameras(self) -> frozenset[str]:
        """Cameras whose samples the flows read."""
        site = self.occupancy.cameras if self.occupancy else frozenset()
        return self.groups.cameras | site

    def observe(self, obs: CameraObservation) -> list[GroupObservation]:
        """Adds a camera's sample; returns the new sums of the groups it belongs to."""
        out = [GroupObservation(g, n, pts, obs.at)
               for g, n, pts in self.groups.update(obs.camera_id, obs.zone_occupancy, obs.pts_s,
                                                    obs.class_occupancy)]
        for g in out:
            self._max[g.group] = max(self._max.get(g.group, 0), g.occupancy)
        if self.occupancy is not None and obs.crossings:
            value = self.occupancy.add(
                obs.camera_id, [(c.line_id, c.direction) for c in obs.crossings], obs.at)
            self._max[SITE_OCCUPANCY] = max(self._max.get(SITE_OCCUPANCY, 0), value)
        return out

    def forget_camera(self, camera_id: str, at: float) -> list[GroupObservation]:
        """A camera was removed: its group zones count as empty."""
        return [GroupObservation(g, n, pts, at)
                for g, n, pts in self.groups.forget_camera(camera_id)]

    def due(self, at: float, final: bool = False) -> list[SiteRow]:
        """The rows to record at wall time ``at``: none before the interval has passed,
        unless ``final`` (the run ends: its last figures, taken after the cameras' last
        samples, are recorded whenever the previous row was)."""
        if at < self._next_record and not final:
            return []
        self._next_record = at + self.config.record_interval_s
        sums = self.groups.sums()
        rows = [SiteRow(at, "group", g, sums[g], max(sums[g], self._max.get(g, 0)), True)
                for g in self._names]
        if self.occupancy is not None:
            occ = self.occupancy
            rows.append(SiteRow(at, SITE_OCCUPANCY, SITE_OCCUPANCY, occ.value,
                                max(occ.value, self._max.get(SITE_OCCUPANCY, 0)), False,
                                occ.entered, occ.left))
        self._max = {}
        return rows

    def view(self) -> dict[str, Any]:
        """JSON-ready: each group's sum (an upper bound) and the site occupancy now."""
        out: dict[str, Any] = {"groups": self.groups.sums(), "groups_are_upper_bounds": True}
        if self.occupancy is not None:
            out["site_occupancy"] = {"value": self.occupancy.value,
                                     "entered": self.occupancy.entered,
                                     "left": self.occupancy.left,
                                     "reset_at": self.occupancy.config.reset_at,
                                     "timezone": self.occupancy.config.timezone}
        return out
