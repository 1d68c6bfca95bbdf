"""The fit rule: a campaign is accepted only if, with the others, it fits in every unit's hours.

For every unit the campaign targets and every open day of its window (the unit's hours, public
holidays and days off), the campaigns active that day need, each, its quota times (a play's
length plus its minimum gap) minutes; their sum must not exceed the minutes the unit is open.
The rule is deliberately simple and a little strict: a day on which a campaign starts or ends
at a time of day still counts its whole quota against the whole day. Pure: data in, data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from broker.campaigns.targets import active_for, quota_for, targeted_units
from ihanoi.contract.opendays import Calendar

SHOWN = 12          # shortfalls written out in a refusal; the rest are counted


@dataclass(frozen=True)
class Demand:
    campaign: str
    quota: int
    play_seconds: int
    gap_minutes: int

    @property
    def minutes(self) -> float:
        return self.quota * (self.play_seconds / 60 + self.gap_minutes)

    def arithmetic(self) -> str:
        play = _n(self.play_seconds / 60)
        return f"{self.campaign} {self.quota} × ({play} + {self.gap_minutes}) = {_n(self.minutes)}"


@dataclass(frozen=True)
class Shortfall:
    unit: str
    day: date
    demands: tuple[Demand, ...]
    open_minutes: int

    @property
    def needed(self) -> float:
        return sum(d.minutes for d in self.demands)

    def __str__(self) -> str:
        parts = " + ".join(d.arithmetic() for d in self.demands)
        return (f"{self.unit} on {self.day:%a %Y-%m-%d}: {parts} = {_n(self.needed)} minutes needed, "
                f"{self.open_minutes} minutes open")


def _n(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def shortfalls(candidate, others, registry) -> list[Shortfall]:
    """Every (unit, open day) where ``candidate`` and the ``others`` active that day do not fit.

    ``candidate`` and ``others`` are ``StoredCampaign``s (a campaign and its play length)."""
    tz = registry.campaign.tz
    everyone = [s for s in others if s.id != candidate.id] + [candidate]
    found = []
    for unit in targeted_units(registry, candidate.campaign):
        hours = registry.hours_of(unit)
        calendar = Calendar(hours=hours, days_off=registry.days_off_of(unit))
        day = candidate.campaign.first_day
        while day <= candidate.campaign.last_day:
            if calendar.is_open(day):
                demands = tuple(Demand(s.id, quota_for(registry, unit, s.campaign), s.play_seconds,
                                       s.campaign.min_gap_minutes) for s in active_for(everyone, unit, day, tz))
                open_minutes = hours.open_seconds(day.weekday()) // 60
                if sum(d.minutes for d in demands) > open_minutes:
                    found.append(Shortfall(unit.id, day, demands, open_minutes))
            day += timedelta(days=1)
    return found


def refusal(campaign_id: str, found: list[Shortfall]) -> str:
    """The refusal, with its arithmetic: the first shortfalls written out, the rest counted."""
    units = sorted({f.unit for f in found})
    lines = [f"campaign {campaign_id!r} does not fit: on {len(found)} unit-day(s) of {len(units)} unit(s) the "
             "campaigns' quotas × (play + minimum gap) need more minutes than the unit is open "
             "(quota × (play minutes + gap minutes) per campaign):"]
    lines += [f"  {f}" for f in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"  ... and {len(found) - SHOWN} more unit-day(s)")
    lines.append("Lower the quota or the gap, shorten the window, target fewer units, or end a campaign first.")
    return "\n".join(lines)
