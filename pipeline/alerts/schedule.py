"""Weekly schedules of alert rules: when a rule may fire, in the site's local time.

A schedule is a list of windows (days and a start/end clock time, which may wrap past
midnight) in one IANA time zone; :class:`ScheduleClock` answers "is this wall time inside?"
from a per-minute cache.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from pipeline.config import StrictModel

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names in ``datetime.weekday()`` order."""


def known_timezone(value: str) -> str:
    """Returns ``value`` when it names an IANA time zone.

    Raises:
        ValueError: it does not.
    """
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as Europe/Paris or UTC"
        ) from None
    return value


def _clock_s(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


class ScheduleWindow(StrictModel):
    """Local times on some days of the week, for example weeknights 20:00-06:00.

    A window whose ``end`` is at or before its ``start`` runs past midnight: it covers
    ``start``-24:00 on each of its ``days`` and 00:00-``end`` on the day after.
    """

    days: tuple[Day, ...] = Field(
        min_length=1, max_length=7, description="Days the window starts on (mon..sun)."
    )
    start: str = Field(
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="Local start time HH:MM, inclusive."
    )
    end: str = Field(
        pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$",
        description="Local end time HH:MM, exclusive (24:00 is midnight at the end of the "
        "day). At or before `start`: the window ends on the next day.",
    )

    @model_validator(mode="after")
    def _check(self) -> ScheduleWindow:
        if _clock_s(self.start) == _clock_s(self.end):
            raise ValueError(
                f"schedule window {self.start}-{self.end} is empty or ambiguous (start equals "
                "end); write 00:00-24:00 for whole days"
            )
        return self

    @property
    def start_s(self) -> int:
        """Start, seconds after local midnight."""
        return _clock_s(self.start)

    @property
    def end_s(self) -> int:
        """End, seconds after local midnight (86400 for 24:00)."""
        return _clock_s(self.end)


class Schedule(StrictModel):
    """When a rule is armed: windows of local time in one IANA time zone.

    Example:
        >>> nights = Schedule(timezone="UTC", windows=[
        ...     {"days": ["fri"], "start": "22:00", "end": "06:00"}])
        >>> friday_23h = 1_767_999_600.0   # Fri 2026-01-09 23:00 UTC
        >>> nights.contains(friday_23h), nights.contains(friday_23h + 6 * 3600)
        (True, True)
        >>> nights.contains(friday_23h + 8 * 3600)   # Saturday 07:00
        False
    """

    timezone: str = Field(
        "UTC", min_length=1, max_length=64,
        description="IANA time zone of the windows' local times, e.g. Europe/Paris "
        "(daylight saving time follows the zone's rules).",
    )
    windows: tuple[ScheduleWindow, ...] = Field(
        min_length=1, max_length=64, description="The rule is armed inside any of these."
    )
    _clock: ScheduleClock = PrivateAttr()

    _known_zone = field_validator("timezone")(lambda cls, value: known_timezone(value))

    def model_post_init(self, context: Any, /) -> None:
        self._clock = self.compile()

    def compile(self) -> ScheduleClock:
        """A fresh :class:`ScheduleClock` of this schedule (for hot loops)."""
        spans = tuple(
            (frozenset(DAYS.index(d) for d in w.days), w.start_s, w.end_s) for w in self.windows
        )
        return ScheduleClock(ZoneInfo(self.timezone), spans)

    def contains(self, at: float) -> bool:
        """True when wall time ``at`` (s since the epoch) falls inside a window."""
        return self._clock.contains(at)


class ScheduleClock:
    """A schedule's windows as plain data, with the last answer cached.

    Windows start and end on whole local minutes and time zones are whole minutes off UTC
    (since the 1970s everywhere), so the answer can only change on a whole UTC minute: it
    is computed once per minute.

    Args:
        tz: the time zone.
        spans: per window, (weekday numbers it starts on, start, end in s after midnight).
    """

    __slots__ = ("_inside", "_minute", "_spans", "_tz")

    def __init__(self, tz: ZoneInfo, spans: tuple[tuple[frozenset[int], int, int], ...]) -> None:
        self._tz = tz
        self._spans = spans
        self._minute = math.nan
        self._inside = False

    def contains(self, at: float) -> bool:
        """True when wall time ``at`` (s since the epoch) falls inside a window."""
        minute = math.floor(at / 60.0)
        if minute != self._minute:
            self._inside = self._compute(at)
            self._minute = minute
        return self._inside

    def _compute(self, at: float) -> bool:
        local = dt.datetime.fromtimestamp(at, self._tz)
        sod = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        day = local.weekday()
        before = (day - 1) % 7
        for days, start, end in self._spans:
            if start < end:
                if day in days and start <= sod < end:
                    return True
            elif (day in days and sod >= start) or (before in days and sod < end):
                return True
        return False
