"""Site occupancy: people inside a building from its entrance lines (in minus out).

Every crossing of a named entrance line in its ``in`` direction adds one, in the other
direction takes one away. The count is clamped at zero (a missed entry never makes it
negative) and starts again from zero at ``reset_at`` local time every day, when the
building is known to be empty, so missed crossings do not pile up for ever. The reset
reads the samples' wall time (local time of day), which is why this lives beside the
alert schedules and not in the media-time analytics.

Example:
    >>> cfg = SiteOccupancyConfig(lines=[{"camera_id": "d1", "line_id": "door", "in": "in"}],
    ...                           reset_at="04:00", timezone="UTC")
    >>> occ = SiteOccupancy(cfg)
    >>> at = 1_800_000_000.0  # 2027-01-15 08:00 UTC
    >>> occ.add("d1", [("door", "in"), ("door", "in"), ("door", "out")], at)
    1
    >>> occ.add("d1", [("door", "out"), ("door", "out")], at + 60)  # clamped
    0
    >>> occ.add("d1", [("door", "in")], at + 86400)  # the next day: reset at 04:00 first
    1
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from pipeline.alerts.schedule import known_timezone
from pipeline.config import StrictModel


class EntranceLine(StrictModel):
    """A line at a building's entrance and which of its directions is inward."""

    camera_id: str = Field(min_length=1, max_length=128, description="The camera's id.")
    line_id: str = Field(min_length=1, max_length=128, description="The line's id on it.")
    in_: str = Field(alias="in", min_length=1, max_length=64,
                     description="The line's direction name that means entering "
                     "(its `left_to_right` or `right_to_left`); the other means leaving.")


class SiteOccupancyConfig(StrictModel):
    """People inside the site from its entrance lines."""

    lines: tuple[EntranceLine, ...] = Field(
        min_length=1, max_length=256, description="The entrance lines."
    )
    reset_at: str = Field(
        "04:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time HH:MM when the site is empty and the count starts again "
        "from 0, every day.",
    )
    timezone: str = Field("UTC", description="IANA time zone of `reset_at`.")

    _known_zone = field_validator("timezone")(lambda cls, value: known_timezone(value))


class SiteOccupancy:
    """The running count (bounded state: one int, one date, the line table)."""

    def __init__(self, config: SiteOccupancyConfig) -> None:
        self.config = config
        self._tz = ZoneInfo(config.timezone)
        hours, minutes = config.reset_at.split(":")
        self._reset = dt.timedelta(hours=int(hours), minutes=int(minutes))
        self._lines = {(ln.camera_id, ln.line_id): ln.in_ for ln in config.lines}
        self.value = 0
        self.entered = 0
        self.left = 0
        self._period: dt.date | None = None

    @property
    def cameras(self) -> frozenset[str]:
        """Cameras with an entrance line."""
        return frozenset(c for c, _ in self._lines)

    def add(self, camera_id: str, crossings: Iterable[tuple[str, str]], at: float) -> int:
        """Counts a camera's crossings ``(line_id, direction)`` at wall time ``at``.

        Returns:
            People inside now.
        """
        self._roll(at)
        for line_id, direction in crossings:
            inward = self._lines.get((camera_id, line_id))
            if inward is None:
                continue
            if direction == inward:
                self.value += 1
                self.entered += 1
            else:
                self.value = max(0, self.value - 1)
                self.left += 1
        return self.value

    def _roll(self, at: float) -> None:
        """Starts again from 0 when ``at`` is past the day's reset time."""
        period = (dt.datetime.fromtimestamp(at, self._tz) - self._reset).date()
        if self._period is not None and period > self._period:
            self.value = self.entered = self.left = 0
        if self._period is None or period > self._period:
            self._period = period


class SiteFlowsConfig(StrictModel):
    """Site-wide figures: people inside from entrance lines, and how often the site's
    figures (this and the zone groups' sums) are recorded."""

    occupancy: SiteOccupancyConfig | None = Field(
        None, description="People inside from the entrance lines; unset: not counted."
    )
    record_interval_s: float = Field(
        60.0, gt=0.0, le=86400.0,
        description="How often a row per zone group and for the site occupancy is written "
        "to the Parquet `site` table (wall s).",
    )


def check_entrance_lines(config: SiteOccupancyConfig, lines: dict[str, dict[str, tuple[str, str]]]
                         ) -> None:
    """Checks that every entrance line exists and names one of its directions.

    Args:
        config: the site occupancy.
        lines: camera id -> line id -> (left_to_right, right_to_left) direction names.

    Raises:
        ValueError: naming the camera, line or direction that is wrong.
    """
    for ln in config.lines:
        if ln.camera_id not in lines:
            raise ValueError(f"site occupancy: camera {ln.camera_id!r} is not configured")
        names = lines[ln.camera_id].get(ln.line_id)
        if names is None:
            raise ValueError(
                f"site occupancy: camera {ln.camera_id!r} has no line {ln.line_id!r}")
        if ln.in_ not in names:
            raise ValueError(f"site occupancy: line {ln.line_id!r} of camera {ln.camera_id!r} "
                             f"has directions {list(names)}, not {ln.in_!r}")
