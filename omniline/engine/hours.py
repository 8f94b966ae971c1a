"""A line's working hours: a weekly schedule in the line's time zone, with holidays.

Pure code over aware datetimes: ``is_open(at)``, ``next_open(at)`` and ``next_close(at)``. The
schedule is written the way people say it::

    WorkingHours.model_validate({
        "timezone": "Europe/Berlin",
        "weekly": {"mon-fri": "09:00-13:00, 14:00-18:00", "sat": "10:00-14:00"},
        "holidays": ["2026-12-25", "2026-12-26"],
    })

Days left out of ``weekly`` are days off. An interval that ends at or before its start runs past
midnight ("22:00-02:00"); "00:00-24:00" is the whole day. Local times are turned into instants by
the time zone's rules, so opening hours follow daylight-saving changes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, field_validator

from omniline.model._base import Frozen

LOOKAHEAD_DAYS = 800
"""How far ``next_open`` looks before deciding a schedule never opens (holidays can close many
days in a row; two years and a bit covers any real calendar)."""


class Weekday(IntEnum):
    MON = 0
    TUE = 1
    WED = 2
    THU = 3
    FRI = 4
    SAT = 5
    SUN = 6


_DAY_NAMES = {d.name.lower(): d for d in Weekday}
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _days(spec: str) -> list[Weekday]:
    """``mon``, ``mon-fri`` or ``sat,sun`` as weekdays (a range may wrap: ``fri-mon``)."""
    found: list[Weekday] = []
    for part in spec.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in _DAY_NAMES or (last and last not in _DAY_NAMES):
            raise ValueError(
                f"{spec!r} is not a day or a range of days (use mon, tue, ... sun, e.g. 'mon-fri')"
            )
        start = _DAY_NAMES[first]
        end = _DAY_NAMES[last] if last else start
        day = start
        while True:
            found.append(day)
            if day == end:
                break
            day = Weekday((day + 1) % 7)
    return found


def _minutes(hours: str, minutes: str, spec: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        raise ValueError(f"{spec!r} has a time that does not exist")
    return h * 60 + m


def _intervals(spec: str) -> tuple[tuple[int, int], ...]:
    """``"09:00-13:00, 14:00-18:00"`` as (start, end) minutes after midnight; "" means closed."""
    result = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        match = _INTERVAL.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not an interval like '09:00-18:00'")
        start = _minutes(match[1], match[2], part)
        end = _minutes(match[3], match[4], part)
        if start == 24 * 60:
            raise ValueError(f"{part!r} starts at 24:00; start at 00:00 of the next day")
        if start == end:
            raise ValueError(f"{part!r} is empty; for the whole day write '00:00-24:00'")
        # An end at or before the start runs past midnight into the next day.
        result.append((start, end if end > start else end + 24 * 60))
    return tuple(sorted(result))


class WorkingHours(Frozen):
    """When a line's operators work. Outside these hours the off-hours rules apply."""

    timezone: str = Field(examples=["Europe/Berlin"])
    """An IANA time zone name."""
    weekly: dict[str, str] = Field(examples=[{"mon-fri": "09:00-18:00"}])
    """Days (``mon``, ``mon-fri``, ``sat,sun``) to intervals (``"09:00-13:00, 14:00-18:00"``)."""
    holidays: frozenset[date] = frozenset()
    """Dates (in the line's time zone) with no working hours at all."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder of zones
            raise ValueError(
                f"{value!r} is not a known IANA time zone (e.g. 'Europe/Berlin', 'UTC')"
            ) from None
        return value

    @field_validator("weekly")
    @classmethod
    def _parse_weekly(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[Weekday, str] = {}
        for days, intervals in value.items():
            _intervals(intervals)
            for day in _days(days):
                if day in seen:
                    raise ValueError(f"{day.name.lower()} is given twice ({seen[day]!r}, {days!r})")
                seen[day] = days
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _by_day(self) -> dict[Weekday, tuple[tuple[int, int], ...]]:
        table: dict[Weekday, tuple[tuple[int, int], ...]] = {d: () for d in Weekday}
        for days, intervals in self.weekly.items():
            for day in _days(days):
                table[day] = _intervals(intervals)
        return table

    def _local(self, day: date, minutes: int) -> datetime:
        """The instant of ``minutes`` after local midnight of ``day`` (past 24:00 rolls over)."""
        extra, minutes = divmod(minutes, 24 * 60)
        naive = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60))
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def _periods_of(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open periods that start on local ``day``, as UTC instants."""
        if day in self.holidays:
            return []
        return [
            (self._local(day, start), self._local(day, end))
            for start, end in self._by_day[Weekday(day.weekday())]
        ]

    def _periods_from(self, at: datetime, days: int = 2) -> list[tuple[datetime, datetime]]:
        """Open periods that contain or follow ``at``, in order: at least ``days`` days' worth,
        and on until one is found (up to the lookahead)."""
        first = at.astimezone(self.zone).date() - timedelta(days=1)  # yesterday's may run over
        periods: list[tuple[datetime, datetime]] = []
        for offset in range(LOOKAHEAD_DAYS):
            periods.extend(p for p in self._periods_of(first + timedelta(days=offset)) if p[1] > at)
            if periods and offset > days:
                break
        return periods

    def is_open(self, at: AwareDatetime) -> bool:
        return any(start <= at < end for start, end in self._periods_from(at))

    def next_open(self, at: AwareDatetime) -> datetime:
        """``at`` itself while open, else the start of the next working period (UTC)."""
        for start, end in self._periods_from(at):
            if start <= at < end:
                return at
            if start > at:
                return start
        raise ValueError(f"these working hours never open within {LOOKAHEAD_DAYS} days of {at}")

    def next_close(self, at: AwareDatetime) -> datetime | None:
        """The end of the working period ``at`` falls in (None when closed at ``at``). Periods that
        touch (one ends as the next begins) count as one, looking up to a week ahead."""
        periods = self._periods_from(at, days=8)
        for i, (start, end) in enumerate(periods):
            if start <= at < end:
                for next_start, next_end in periods[i + 1 :]:
                    if next_start > end:
                        break
                    end = max(end, next_end)
                return end
        return None

    def after_working_time(self, at: AwareDatetime, seconds: float) -> datetime:
        """The instant when ``seconds`` of working time have passed since ``at`` (time outside
        working hours does not count; from a closed moment, counting starts at the opening)."""
        moment = at.astimezone(UTC)
        remaining = timedelta(seconds=seconds)
        while True:
            moment = self.next_open(moment)
            close = self.next_close(moment)
            if close is None or moment + remaining <= close:
                return moment + remaining
            remaining -= close - moment
            moment = close
