"""Time of day as numbers: the one place that turns a clock time into seconds, minutes or bins.

The planner's slots, the presence counters' bins, the traffic model's rows, the report's
peak slots and the store's minute column all index a day the same way; doing that
arithmetic here keeps them in step. A "24:00" closing is stored as 23:59:59 (see
``hours.parse_interval``), so it stays inside the day.
"""

from __future__ import annotations

from datetime import datetime, time

DAY_SECONDS = 86_400


def seconds_of_day(t: time | datetime) -> int:
    """Whole seconds since midnight of a time of day (or of a datetime's own wall time)."""
    return t.hour * 3600 + t.minute * 60 + t.second


def minute_of_day(t: time | datetime) -> int:
    return t.hour * 60 + t.minute


def hours_of_day(t: time | datetime) -> float:
    """The time of day in hours, e.g. 13:30 → 13.5."""
    return seconds_of_day(t) / 3600


def bin_of_day(t: time | datetime, bin_seconds: int) -> int:
    """Which ``bin_seconds``-long bin of the day ``t`` falls in (0 at midnight)."""
    return seconds_of_day(t) // bin_seconds


__all__ = ["DAY_SECONDS", "bin_of_day", "hours_of_day", "minute_of_day", "seconds_of_day"]
