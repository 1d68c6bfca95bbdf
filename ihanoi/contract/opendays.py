"""Which days are open: the unit's weekdays, Vietnam's public holidays, days off, the campaign.

Public holidays follow the Labour Code 2019, Article 112 (see docs/planner.md):

- Tết Dương lịch: 1/1.
- Tết Nguyên đán: five days. The government fixes the exact days each year; the rule used
  here is the customary one: the last day of the lunar year (New Year's Eve) and the 1st to
  4th of the first lunar month.
- Giỗ Tổ Hùng Vương: 10th of the third lunar month.
- Ngày Chiến thắng 30/4 and Quốc tế Lao động 1/5.
- Quốc khánh: 2/9 and one adjacent day (1/9 or 3/9), chosen each year by the government:
  the table ``NATIONAL_DAY_SECOND`` holds the decided years (2024: 3/9, 2025: 1/9); other
  years take the adjacent weekday that joins a weekend (3/9 when both or neither do).
- A holiday falling on Saturday or Sunday is given back on the next working day (nghỉ bù,
  Article 112 clause 3).

The government's bridging swaps (e.g. working a Saturday to take a Monday off) are decided
year by year: add them as ``days_off`` in the registry or the device config.

Lunar dates come from the ``lunardate`` package (Chinese calendar, UTC+8); the Vietnamese
calendar (UTC+7) agrees with it for the years the campaign concerns, and a rare year where
they differ by a day is corrected the same way, with ``days_off``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from lunardate import LunarDate

from ihanoi.contract.hours import OpeningHours

# Quốc khánh: the day the government added to 2/9 (decisions of the Prime Minister / MOLISA).
NATIONAL_DAY_SECOND = {
    2024: date(2024, 9, 3),
    2025: date(2025, 9, 1),
}


def _lunar(year: int, month: int, day: int) -> date:
    return LunarDate(year, month, day).to_solar_date()


def _national_day_second(year: int) -> date:
    if year in NATIONAL_DAY_SECOND:
        return NATIONAL_DAY_SECOND[year]
    before, after = date(year, 9, 1), date(year, 9, 3)
    # Prefer the weekday that makes a long weekend: 1/9 on a Monday or 3/9 on a Friday.
    if before.weekday() == 0 or (before.weekday() < 5 and after.weekday() >= 5):
        return before
    return after


@lru_cache(maxsize=64)
def _statutory(year: int) -> tuple[tuple[date, str], ...]:
    new_year = _lunar(year, 1, 1)
    days = [(date(year, 1, 1), "Tết Dương lịch")]
    days.append((new_year - timedelta(days=1), "Tết Nguyên đán (giao thừa)"))
    days += [(new_year + timedelta(days=i), f"Tết Nguyên đán (mùng {i + 1})") for i in range(4)]
    days.append((_lunar(year, 3, 10), "Giỗ Tổ Hùng Vương"))
    days.append((date(year, 4, 30), "Ngày Chiến thắng"))
    days.append((date(year, 5, 1), "Quốc tế Lao động"))
    days.append((date(year, 9, 2), "Quốc khánh"))
    days.append((_national_day_second(year), "Quốc khánh (ngày liền kề)"))
    return tuple(days)


@lru_cache(maxsize=64)
def _holidays(year: int, compensate: bool) -> tuple[tuple[date, str], ...]:
    # Eve of a Tết that starts in January belongs to the previous calendar year's list too.
    found = {d: name for y in (year, year + 1) for d, name in _statutory(y)}
    if compensate:
        for d, name in sorted(found.items()):
            if d.weekday() >= 5:
                sub = d + timedelta(days=1)
                while sub.weekday() >= 5 or sub in found:
                    sub += timedelta(days=1)
                found[sub] = f"nghỉ bù {name}"
    return tuple(sorted((d, n) for d, n in found.items() if d.year == year))


def vietnam_public_holidays(year: int, compensate: bool = True) -> dict[date, str]:
    """Closed days of ``year`` by the Labour Code: date -> Vietnamese name.

    ``compensate`` adds the day given back for a holiday on a Saturday or Sunday.
    """
    return dict(_holidays(year, compensate))


def holidays_between(first: date, last: date, compensate: bool = True) -> dict[date, str]:
    out: dict[date, str] = {}
    for year in range(first.year, last.year + 1):
        out.update({d: n for d, n in _holidays(year, compensate) if first <= d <= last})
    return out


def _in_campaign(day: date, campaign) -> bool:
    if campaign is None:
        return True
    if isinstance(campaign, tuple):
        first, last = campaign
        return first <= day <= last
    return campaign.first_day <= day <= campaign.last_day


def is_open_day(day: date, hours: OpeningHours, holidays: Collection[date] | None = None,
                days_off: Collection[date] = (), campaign=None) -> bool:
    """True when the unit plays on ``day``: an open weekday, no holiday, no day off, in the campaign.

    ``holidays=None`` takes Vietnam's public holidays; ``campaign`` is a registry ``Campaign``,
    a ``(first_day, last_day)`` pair, or None for no window.
    """
    if not _in_campaign(day, campaign) or not hours.is_open_weekday(day.weekday()):
        return False
    if holidays is None:
        holidays = dict(_holidays(day.year, True))
    return day not in holidays and day not in days_off


@dataclass(frozen=True)
class Calendar:
    """The open days of one unit: its hours, the holidays, its days off and the campaign."""

    hours: OpeningHours
    days_off: frozenset[date] = frozenset()
    first_day: date | None = None
    last_day: date | None = None
    compensate: bool = True
    extra_holidays: dict = field(default_factory=dict, compare=False)

    def closed_reason(self, day: date) -> str | None:
        """None when open, else why the day is closed (for per-day figures)."""
        if self.first_day and day < self.first_day or self.last_day and day > self.last_day:
            return "outside the campaign"
        name = dict(_holidays(day.year, self.compensate)).get(day) or self.extra_holidays.get(day)
        if name:
            return f"public holiday: {name}"
        if day in self.days_off:
            return "day off"
        if not self.hours.is_open_weekday(day.weekday()):
            return "closed weekday"
        return None

    def is_open(self, day: date) -> bool:
        return self.closed_reason(day) is None

    def open_days(self, first: date, last: date) -> Iterator[date]:
        d = first
        while d <= last:
            if self.is_open(d):
                yield d
            d += timedelta(days=1)
