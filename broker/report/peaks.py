"""Peak slots learned centrally from the boards' ``traffic`` messages (pure).

For each unit and weekday, onsets are summed per slot of ``SLOT_MINUTES`` over all the
history available (every traffic bin up to the report's last day). The peak slots are the
busiest open slots that together hold at least ``PEAK_SHARE`` of that weekday's onsets:
where the crowd is concentrated they are few, where it is spread out they are many. Summing
over days ranks slots exactly as the mean per day would, since every slot of one weekday
has the same number of days behind it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable

from ihanoi.contract.timeofday import minute_of_day

SLOT_MINUTES = 30
PEAK_SHARE = 0.5


class PeakModel:
    def __init__(self, peaks: dict[tuple[str, int], frozenset[int]], slot_minutes: int = SLOT_MINUTES):
        self.peaks = peaks
        self.slot_minutes = slot_minutes

    def known(self, unit: str, weekday: int) -> bool:
        return (unit, weekday) in self.peaks

    def is_peak(self, unit: str, local_start: datetime) -> bool:
        slots = self.peaks.get((unit, local_start.weekday()), frozenset())
        return minute_of_day(local_start) // self.slot_minutes in slots

    def slots(self, unit: str, weekday: int) -> list[str]:
        """``["09:00-09:30", ...]`` for people."""
        out = []
        for s in sorted(self.peaks.get((unit, weekday), ())):
            a, b = s * self.slot_minutes, (s + 1) * self.slot_minutes
            out.append(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}")
        return out


def learn_peaks(profile: Iterable[tuple[str, int, int, int]], hours_of, slot_minutes: int = SLOT_MINUTES,
                share: float = PEAK_SHARE) -> PeakModel:
    """``profile``: (unit, weekday, minute of day, onsets) rows; ``hours_of(unit)`` -> OpeningHours."""
    per_slot: dict[tuple[str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for unit, weekday, minute, onsets in profile:
        per_slot[(unit, weekday)][minute // slot_minutes] += int(onsets or 0)
    peaks: dict[tuple[str, int], frozenset[int]] = {}
    for (unit, weekday), slots in per_slot.items():
        try:
            hours = hours_of(unit)
        except KeyError:  # a unit removed from the registry
            continue
        open_minutes = [(minute_of_day(s), minute_of_day(e)) for s, e in hours.intervals(weekday)]
        open_slots = {s: n for s, n in slots.items()
                      if any(a <= s * slot_minutes < b for a, b in open_minutes)}
        total = sum(open_slots.values())
        if total <= 0:
            continue
        chosen, covered = [], 0
        for slot, n in sorted(open_slots.items(), key=lambda kv: (-kv[1], kv[0])):
            if covered >= share * total:
                break
            chosen.append(slot)
            covered += n
        peaks[(unit, weekday)] = frozenset(chosen)
    return PeakModel(peaks, slot_minutes)
