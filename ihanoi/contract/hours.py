"""Opening hours of a unit: per weekday, a list of intervals (a ward's one-stop desk:
Mon-Fri 08:00-12:00 and 13:30-17:00). Pure data, shared by the planner and the report.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Iterator

from pydantic import BaseModel, ConfigDict, field_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_interval(text: str) -> tuple[time, time]:
    m = _INTERVAL.match(text.strip())
    if not m:
        raise ValueError(f"interval {text!r} must look like 'HH:MM-HH:MM' (24-hour clock)")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    start = time(h1, m1)
    end = time(23, 59, 59) if (h2, m2) == (24, 0) else time(h2, m2)
    if end <= start:
        raise ValueError(f"interval {text!r} ends before it starts")
    return start, end


class OpeningHours(BaseModel):
    """``{"mon": ["08:00-12:00", "13:30-17:00"], ...}``; a missing weekday is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mon: tuple[str, ...] = ()
    tue: tuple[str, ...] = ()
    wed: tuple[str, ...] = ()
    thu: tuple[str, ...] = ()
    fri: tuple[str, ...] = ()
    sat: tuple[str, ...] = ()
    sun: tuple[str, ...] = ()

    @field_validator(*WEEKDAYS)
    @classmethod
    def _intervals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parsed = sorted(parse_interval(v) for v in value)
        for (s1, e1), (s2, _) in zip(parsed, parsed[1:]):
            if s2 < e1:
                raise ValueError(f"intervals overlap around {s2.strftime('%H:%M')}")
        return tuple(value)

    def intervals(self, weekday: int) -> list[tuple[time, time]]:
        """Intervals for ``date.weekday()`` (0 = Monday), sorted."""
        return sorted(parse_interval(v) for v in getattr(self, WEEKDAYS[weekday]))

    def is_open_weekday(self, weekday: int) -> bool:
        return bool(getattr(self, WEEKDAYS[weekday]))

    def windows(self, day: date, tz) -> list[tuple[datetime, datetime]]:
        """Aware open windows of one calendar day."""
        return [(datetime.combine(day, s, tz), datetime.combine(day, e, tz)) for s, e in self.intervals(day.weekday())]

    def contains(self, moment: datetime) -> bool:
        t = moment.timetz().replace(tzinfo=None)
        return any(s <= t < e for s, e in self.intervals(moment.weekday()))

    def open_seconds(self, weekday: int) -> int:
        total = 0
        for s, e in self.intervals(weekday):
            total += (datetime.combine(date.min, e) - datetime.combine(date.min, s)).seconds
        return total


def days(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)
