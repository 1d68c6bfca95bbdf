"""Open days: Vietnam's public holidays (solar and lunar), days off, weekdays and the campaign."""

from datetime import date

import pytest

from ihanoi.contract.hours import OpeningHours
from ihanoi.contract.opendays import (
    Calendar,
    holidays_between,
    is_open_day,
    vietnam_public_holidays,
)

WEEKDAYS = OpeningHours(**{d: ("08:00-12:00", "13:30-17:00") for d in ("mon", "tue", "wed", "thu", "fri")})
SATURDAY_TOO = OpeningHours(**{d: ("08:00-12:00",) for d in ("mon", "tue", "wed", "thu", "fri", "sat")})
CAMPAIGN = (date(2024, 8, 19), date(2024, 10, 10))


def test_2024_holidays_follow_the_labour_code():
    h = vietnam_public_holidays(2024)
    assert h[date(2024, 1, 1)] == "Tết Dương lịch"
    # Lunar new year 2024 fell on 10/2: eve 9/2, then the 1st to 4th of the first month.
    assert {date(2024, 2, d) for d in range(9, 14)} <= set(h)
    assert h[date(2024, 2, 10)] == "Tết Nguyên đán (mùng 1)"
    assert h[date(2024, 4, 18)] == "Giỗ Tổ Hùng Vương"      # 10/3 lunar
    assert date(2024, 4, 30) in h and date(2024, 5, 1) in h
    # The government chose 2/9 and 3/9 in 2024.
    assert h[date(2024, 9, 2)] == "Quốc khánh" and date(2024, 9, 3) in h
    assert date(2024, 9, 1) not in h


def test_lunar_holidays_move_with_the_moon():
    h = vietnam_public_holidays(2025)
    assert h[date(2025, 1, 29)] == "Tết Nguyên đán (mùng 1)"
    assert date(2025, 1, 28) in h                            # New Year's Eve (29 tháng Chạp)
    assert h[date(2025, 4, 7)] == "Giỗ Tổ Hùng Vương"
    assert date(2025, 9, 1) in h and date(2025, 9, 3) not in h


def test_a_holiday_on_a_weekend_is_given_back_on_the_next_working_day():
    assert date(2023, 1, 2) in vietnam_public_holidays(2023)               # 1/1/2023 was a Sunday
    assert date(2023, 1, 2) not in vietnam_public_holidays(2023, compensate=False)


def test_holidays_between_spans_years():
    found = holidays_between(date(2024, 12, 30), date(2025, 1, 31))
    assert date(2025, 1, 1) in found and date(2025, 1, 29) in found
    assert all(date(2024, 12, 30) <= d <= date(2025, 1, 31) for d in found)


@pytest.mark.parametrize("day, hours, open_", [
    (date(2024, 8, 20), WEEKDAYS, True),          # Tuesday
    (date(2024, 8, 24), WEEKDAYS, False),         # Saturday
    (date(2024, 8, 24), SATURDAY_TOO, True),      # a desk open on Saturday morning
    (date(2024, 8, 25), SATURDAY_TOO, False),     # Sunday
    (date(2024, 9, 2), WEEKDAYS, False),          # Quốc khánh
    (date(2024, 9, 3), WEEKDAYS, False),          # its adjacent day in 2024
    (date(2024, 10, 10), WEEKDAYS, True),         # the campaign's last day is played in full
    (date(2024, 10, 11), WEEKDAYS, False),        # ... and nothing after it
    (date(2024, 8, 16), WEEKDAYS, False),         # before the first day
])
def test_is_open_day(day, hours, open_):
    assert is_open_day(day, hours, None, (), CAMPAIGN) is open_


def test_days_off_from_config_close_a_day():
    assert is_open_day(date(2024, 9, 30), WEEKDAYS, None, {date(2024, 9, 30)}, CAMPAIGN) is False
    assert is_open_day(date(2024, 9, 30), WEEKDAYS, None, (), CAMPAIGN) is True


def test_calendar_says_why_a_day_is_closed():
    cal = Calendar(WEEKDAYS, days_off=frozenset({date(2024, 9, 30)}), first_day=CAMPAIGN[0], last_day=CAMPAIGN[1])
    assert cal.closed_reason(date(2024, 9, 2)) == "public holiday: Quốc khánh"
    assert cal.closed_reason(date(2024, 9, 30)) == "day off"
    assert cal.closed_reason(date(2024, 9, 1)) == "closed weekday"
    assert cal.closed_reason(date(2024, 10, 11)) == "outside the campaign"
    assert cal.closed_reason(date(2024, 9, 4)) is None
    open_days = list(cal.open_days(date(2024, 9, 1), date(2024, 9, 8)))
    assert open_days == [date(2024, 9, 4), date(2024, 9, 5), date(2024, 9, 6)]
