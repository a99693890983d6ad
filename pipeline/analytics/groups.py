"""Zone groups: zones on several cameras whose occupancy is summed.

A group names zones of several cameras (a floor seen by three cameras, say). Its
occupancy is the sum of its zones' latest occupancy. Where two cameras see the same
spot, one person is counted by both: the sum is an **upper bound**, exact only when the
views do not overlap. A group sums the object classes in its ``classes`` (default
``person``), which each of its zones must count.

Example:
    >>> g = ZoneGroupConfig(name="floor", zones=[{"camera_id": "a", "zone_id": "z"},
    ...                                          {"camera_id": "b", "zone_id": "z"}])
    >>> sums = GroupSums([g])
    >>> sums.update("a", {"z": 2}, pts_s=1.0), sums.update("b", {"z": 3}, pts_s=0.5)
    ([('floor', 2, 1.0)], [('floor', 5, 1.0)])
    >>> sums.update("b", {"z": 4}, pts_s=0.6, by_class={"z": {"person": 1, "cart": 3}})
    [('floor', 3, 1.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field, field_validator, model_validator

from pipeline.analytics.classes import DEFAULT_CLASS
from pipeline.analytics.config import unique_classes
from pipeline.config import StrictModel

GROUP_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class ZoneRef(StrictModel):
    """One camera's zone."""

    camera_id: str = Field(min_length=1, max_length=128, description="The camera's id.")
    zone_id: str = Field(min_length=1, max_length=128, description="The zone's id on it.")


class ZoneGroupConfig(StrictModel):
    """A named group of zones on several cameras, occupancy summed (an upper bound where
    views overlap)."""

    name: str = Field(pattern=GROUP_NAME_PATTERN, description="The group's name.")
    zones: tuple[ZoneRef, ...] = Field(
        min_length=1, max_length=1024, description="Its zones (`camera_id`, `zone_id`)."
    )
    classes: tuple[str, ...] = Field(
        (DEFAULT_CLASS,), min_length=1, max_length=64, description="Object classes whose "
        "occupancy the group sums (each of its zones must count them); its rules are about "
        "the same classes.")
    _classes = field_validator("classes")(unique_classes)

    @model_validator(mode="after")
    def _check(self) -> ZoneGroupConfig:
        seen = set()
        for ref in self.zones:
            key = (ref.camera_id, ref.zone_id)
            if key in seen:
                raise ValueError(f"group {self.name!r}: zone {ref.zone_id!r} of camera "
                                 f"{ref.camera_id!r} is listed twice")
            seen.add(key)
        return self


def check_group_targets(groups: Sequence[ZoneGroupConfig],
                        zones: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
    """Checks that every group's zones exist and count the group's classes.

    Args:
        groups: the groups.
        zones: camera id -> its zone ids -> the classes each counts.

    Raises:
        ValueError: naming the group and the missing camera, zone or class.
    """
    names: set[str] = set()
    for g in groups:
        if g.name in names:
            raise ValueError(f"group name {g.name!r} is used by more than one group")
        names.add(g.name)
        for ref in g.zones:
            if ref.camera_id not in zones:
                raise ValueError(f"group {g.name!r}: camera {ref.camera_id!r} is not configured")
            if ref.zone_id not in zones[ref.camera_id]:
                raise ValueError(
                    f"group {g.name!r}: camera {ref.camera_id!r} has no zone {ref.zone_id!r}")
            counted = zones[ref.camera_id][ref.zone_id]
            if missing := [c for c in g.classes if c not in counted]:
                raise ValueError(
                    f"group {g.name!r}: zone {ref.zone_id!r} of camera {ref.camera_id!r} does "
                    f"not count classes {missing} (it counts {list(counted)})")


class GroupSums:
    """Keeps the latest occupancy of every group member and sums it per group.

    State is one int per member zone and one time per group (bounded by the config).
    A group's clock is the newest media time of any member sample, so it never goes back
    although each camera has its own media time.
    """

    def __init__(self, groups: Sequence[ZoneGroupConfig]) -> None:
        self._members: dict[str, list[tuple[str, str]]] = {}  # camera -> (group, zone)
        self._latest: dict[tuple[str, str, str], int] = {}  # (group, camera, zone) -> n
        self._pts: dict[str, float] = {}
        self._classes = {g.name: g.classes for g in groups}
        for g in groups:
            for ref in g.zones:
                self._members.setdefault(ref.camera_id, []).append((g.name, ref.zone_id))
                self._latest[(g.name, ref.camera_id, ref.zone_id)] = 0

    @property
    def cameras(self) -> frozenset[str]:
        """Cameras with a zone in some group."""
        return frozenset(self._members)

    def update(self, camera_id: str, occupancy: Mapping[str, int], pts_s: float,
               by_class: Mapping[str, Mapping[str, int]] | None = None,
               ) -> list[tuple[str, int, float]]:
        """Notes a camera's zone occupancy at media time ``pts_s``.

        Args:
            camera_id: the camera.
            occupancy: zone id -> people (objects of every class it counts) in it now.
            pts_s: the sample's media time (s).
            by_class: zone id -> class -> its occupancy, for zones counting several
                classes; a zone not in it counts only its group's class.

        Returns:
            (group, summed occupancy, group clock) of each group the camera belongs to.
        """
        touched: list[str] = []
        split = by_class or {}
        for group, zone in self._members.get(camera_id, ()):
            if zone in split:
                self._latest[(group, camera_id, zone)] = sum(
                    int(split[zone].get(c, 0)) for c in self._classes[group])
            elif zone in occupancy:
                self._latest[(group, camera_id, zone)] = int(occupancy[zone])
            if group not in touched:
                touched.append(group)
        return [self._sum(g, pts_s) for g in touched]

    def forget_camera(self, camera_id: str) -> list[tuple[str, int, float]]:
        """Counts a removed camera's zones as empty; returns the new sums of its groups
        that had a sample (at their own clocks)."""
        touched: list[str] = []
        for group, zone in self._members.get(camera_id, ()):
            self._latest[(group, camera_id, zone)] = 0
            if group not in touched and group in self._pts:
                touched.append(group)
        return [self._sum(g, self._pts[g]) for g in touched]

    def sums(self) -> dict[str, int]:
        """Every group's sum now."""
        out: dict[str, int] = {}
        for (group, _, _), n in self._latest.items():
            out[group] = out.get(group, 0) + n
        return out

    def _sum(self, group: str, pts_s: float) -> tuple[str, int, float]:
        t = max(self._pts.get(group, pts_s), pts_s)
        self._pts[group] = t
        total = sum(n for (g, _, _), n in self._latest.items() if g == group)
        return group, total, t
