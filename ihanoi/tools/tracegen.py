"""Generated lobby traffic: motion onsets of realistic office days, for tests and the demo.

A day of a one-stop lobby: visitors arrive as a Poisson process whose rate follows the
opening hours with a morning surge (about an hour after opening), a smaller bump after
lunch, Mondays heavier, a day-to-day level and a slowly wandering busy-ness (a bus, a queue:
log-normal noise correlated over ~30 minutes). Each visitor gives an onset on the way in
and one on the way out (after 5-30 minutes inside); staff pass by a few times an hour.
Holidays and closed weekdays only see the guard. Deterministic for a given seed.

``FAMILIES`` are lobbies shaped unlike that one, to test the planner against: the busiest hour
late in the afternoon, flat, two peaks, a lunchtime peak, a level drifting ±40 % over the
weeks, one-off quiet and busy days, a busiest hour that moves week to week. They share the
noise, the visitors' stay and the staff; ``generate_onsets(..., family=NAME)`` picks one.

``generate_onsets(...)`` returns datetimes (for tests); ``write_trace`` writes the CSV that
``ihanoi-edge simulate --trace`` and ``ihanoi-edge run --pir-trace`` read
(column ``timestamp``, ISO 8601 with the +07:00 offset).

    python -m ihanoi.tools.tracegen --out trace.csv --first 2024-08-19 --weeks 5 --seed 1
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.hours import OpeningHours
from ihanoi.contract.opendays import Calendar

BIN = 300
DEFAULT_HOURS = OpeningHours(**{d: ("08:00-12:00", "13:30-17:00") for d in ("mon", "tue", "wed", "thu", "fri")})


@dataclass(frozen=True)
class LobbyProfile:
    """Shape of a lobby's day. Rates are visitors per hour."""

    base_rate: float = 22.0            # visitors/hour during quiet open time
    surge_rate: float = 70.0           # extra visitors/hour at the morning peak
    surge_hours_after_open: float = 1.0
    surge_width_hours: float = 0.6
    bump_rate: float = 25.0            # extra visitors/hour at the afternoon bump
    bump_hours_after_open: float = 1.0
    bump_width_hours: float = 0.7
    monday_factor: float = 1.35
    friday_factor: float = 0.9
    day_sigma: float = 0.15            # day-to-day level (log-normal)
    noise_sigma: float = 0.35          # wandering busy-ness (log-normal, per 5-minute bin)
    noise_corr: float = 0.85           # correlation of the busy-ness from one bin to the next
    staff_per_hour: float = 4.0
    guard_per_hour: float = 0.3        # nights, weekends, holidays
    stay_minutes: tuple[float, float] = (5.0, 30.0)


@dataclass(frozen=True)
class TraceFamily:
    """A lobby's day as a rate curve, and how it changes from day to day and week to week.

    The rate (visitors/hour) is a base level that runs linearly from ``base[0]`` at the first
    opening to ``base[1]`` at the last closing, plus Gaussian ``peaks`` (hour, width in hours,
    extra visitors/hour). ``drift`` runs the level from 1 + drift in the first week to
    1 - drift in the last; ``odd_days`` makes one day a week quiet (x0.45) and one busy (x1.8);
    ``wander`` moves every peak by that many hours, one entry per week, cycling.
    """

    name: str
    text: str
    peaks: tuple[tuple[float, float, float], ...] = ()
    base: tuple[float, float] = (22.0, 22.0)
    drift: float = 0.0
    odd_days: bool = False
    wander: tuple[float, ...] = ()

    def rate(self, day: date, hours: OpeningHours, week: int, weeks: int, factor: float) -> np.ndarray:
        """Expected visitor arrivals per 5-minute bin of an open ``day`` (week ``week`` of ``weeks``)."""
        centres = (np.arange(86_400 // BIN) + 0.5) * BIN / 3600
        intervals = hours.intervals(day.weekday())
        first, last = _hours_of(intervals[0][0]), _hours_of(intervals[-1][1])
        along = np.clip((centres - first) / max(last - first, 1e-9), 0, 1)
        shape = self.base[0] + (self.base[1] - self.base[0]) * along
        move = self.wander[week % len(self.wander)] if self.wander else 0.0
        for at, width, extra in self.peaks:
            shape = shape + extra * np.exp(-0.5 * ((centres - at - move) / width) ** 2)
        inside = np.zeros(centres.size, dtype=bool)
        for s, e in intervals:
            inside |= (centres >= _hours_of(s)) & (centres < _hours_of(e))
        level = 1 + self.drift * (1 - 2 * week / max(weeks - 1, 1)) if self.drift else 1.0
        return np.where(inside, shape, 0.0) * level * factor * BIN / 3600


FAMILIES = {f.name: f for f in (
    TraceFamily("morning", "morning surge an hour after opening, a smaller bump after lunch (the generator's own)"),
    TraceFamily("late", "busiest hour 16:00-17:00, rising through the day",
                peaks=((16.5, 0.45, 75.0),), base=(14.0, 30.0)),
    TraceFamily("flat", "flat, slightly rising to 16:00", base=(30.0, 40.0)),
    TraceFamily("two-peaks", "commuter: 8:00 peak, 10:00 trough, back to 0.8 of it at 16:00",
                peaks=((8.4, 0.5, 60.0), (16.0, 0.6, 45.0)), base=(18.0, 18.0)),
    TraceFamily("lunch", "lunchtime peak: before the midday closing and after reopening",
                peaks=((11.5, 0.45, 60.0), (13.9, 0.4, 50.0)), base=(20.0, 20.0)),
    TraceFamily("drift", "mid-morning and mid-afternoon peaks, level falling from +40 % to -40 % over the weeks",
                peaks=((10.0, 0.6, 50.0), (15.0, 0.6, 35.0)), base=(22.0, 22.0), drift=0.4),
    TraceFamily("odd-days", "mid-morning and mid-afternoon peaks; one quiet and one busy day a week",
                peaks=((9.5, 0.7, 45.0), (14.5, 0.7, 40.0)), base=(22.0, 22.0), odd_days=True),
    TraceFamily("wandering", "one busy hour that moves week to week (9:00, 15:30, 11:00, 16:15, 10:00, 14:15)",
                peaks=((9.0, 0.5, 70.0),), base=(22.0, 22.0), wander=(0.0, 6.5, 2.0, 7.25, 1.0, 5.25)),
)}


def _hours_of(t) -> float:
    return t.hour + t.minute / 60


def day_rate(day: date, hours: OpeningHours, profile: LobbyProfile, shift_hours: float = 0.0) -> np.ndarray:
    """Expected visitor arrivals per 5-minute bin of an open ``day`` (noise not included)."""
    centres = (np.arange(86_400 // BIN) + 0.5) * BIN / 3600
    rate = np.zeros(centres.size)
    for s, e in hours.intervals(day.weekday()):
        s_h, e_h = _hours_of(s), _hours_of(e)
        inside = (centres >= s_h) & (centres < e_h)
        if s_h < 12:
            peak, width, extra = s_h + profile.surge_hours_after_open + shift_hours, profile.surge_width_hours, profile.surge_rate
        else:
            peak, width, extra = s_h + profile.bump_hours_after_open, profile.bump_width_hours, profile.bump_rate
        shape = profile.base_rate + extra * np.exp(-0.5 * ((centres - peak) / width) ** 2)
        rate[inside] = shape[inside]
    factor = {0: profile.monday_factor, 4: profile.friday_factor}.get(day.weekday(), 1.0)
    return rate * factor * BIN / 3600


def generate_onsets(first_day: date, days: int, *, hours: OpeningHours = DEFAULT_HOURS, seed: int = 0,
                    profile: LobbyProfile = LobbyProfile(), peak_shift: Mapping[date, float] | None = None,
                    closed: Sequence[date] | None = None, tz=CAMPAIGN_TZ, family: str = "morning") -> list[datetime]:
    """Onsets of ``days`` days from ``first_day``, sorted.

    ``peak_shift`` moves a day's morning surge by some hours (e.g. ``{date(2024, 9, 10): 1.0}``);
    ``closed`` lists extra closed days; Vietnam's public holidays are always closed. ``family``
    names the shape of the day (``FAMILIES``); "morning" is ``profile``'s.
    """
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is not one of {', '.join(FAMILIES)}")
    shape = FAMILIES[family]
    rng = np.random.default_rng(seed)
    odd = _odd_days(first_day, days, seed) if shape.odd_days else {}
    calendar = Calendar(hours=hours, days_off=frozenset(closed or ()))
    peak_shift = peak_shift or {}
    out: list[float] = []
    origin = datetime(first_day.year, first_day.month, first_day.day, tzinfo=tz)
    n_bins = 86_400 // BIN
    for i in range(days):
        day = first_day + timedelta(days=i)
        offset = i * 86_400.0
        guard = rng.poisson(profile.guard_per_hour * 24)
        out.extend(offset + rng.uniform(0, 86_400, guard))
        if not calendar.is_open(day):
            continue
        level = np.exp(rng.normal(0, profile.day_sigma))
        noise = np.empty(n_bins)
        x = rng.normal(0, 1)
        for b in range(n_bins):
            x = profile.noise_corr * x + np.sqrt(1 - profile.noise_corr ** 2) * rng.normal(0, 1)
            noise[b] = x
        busy = np.exp(profile.noise_sigma * noise - profile.noise_sigma ** 2 / 2)
        if family == "morning":
            rate = day_rate(day, hours, profile, peak_shift.get(day, 0.0))
        else:
            factor = {0: profile.monday_factor, 4: profile.friday_factor}.get(day.weekday(), 1.0) * odd.get(day, 1.0)
            rate = shape.rate(day, hours, i // 7, -(-days // 7), factor)
        rate = rate * level * busy
        arrivals = rng.poisson(rate)
        bins = np.repeat(np.arange(n_bins), arrivals)
        t_in = (bins + rng.uniform(0, 1, bins.size)) * BIN
        stay = rng.uniform(*profile.stay_minutes, t_in.size) * 60
        out.extend(offset + t_in)
        out.extend(offset + t_in + stay)
        windows = [(_hours_of(s) * 3600 - 1800, _hours_of(e) * 3600 + 1800) for s, e in hours.intervals(day.weekday())]
        for lo, hi in windows:
            staff = rng.poisson(profile.staff_per_hour * (hi - lo) / 3600)
            out.extend(offset + rng.uniform(lo, hi, staff))
    seconds = np.sort(np.round(np.asarray(out, dtype=float), 3))
    seconds = seconds[seconds < days * 86_400]
    return [origin + timedelta(seconds=float(s)) for s in seconds]


def _odd_days(first_day: date, days: int, seed: int) -> dict[date, float]:
    """One quiet day (x0.45) and one busy day (x1.8) in every week, on weekdays drawn at random."""
    rng = np.random.default_rng([seed, 17])     # its own stream: the day's draws stay as they were
    out = {}
    for week in range(0, days, 7):
        weekdays = [first_day + timedelta(days=week + k) for k in range(7)]
        weekdays = [d for d in weekdays if d.weekday() < 5]
        quiet, busy = rng.choice(len(weekdays), size=2, replace=False)
        out[weekdays[quiet]] = 0.45
        out[weekdays[busy]] = 1.8
    return out


def write_trace(path: Path | str, onsets: Sequence[datetime]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["timestamp"])
        for t in onsets:
            writer.writerow([t.isoformat(timespec="milliseconds")])
    return path


def _shift(text: str) -> tuple[date, float]:
    try:
        day, hours = text.split("=", 1)
        return date.fromisoformat(day), float(hours)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected DAY=HOURS, e.g. 2024-09-10=1") from None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ihanoi.tools.tracegen", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="CSV to write (column 'timestamp')")
    p.add_argument("--first", type=date.fromisoformat, default=date(2024, 8, 19), help="first day (default 2024-08-19)")
    p.add_argument("--weeks", type=int, default=5, help="weeks to generate (default 5)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hours", metavar="NAME", help="a named opening-hours table of the units registry "
                   "(e.g. one-stop-saturday); default Mon-Fri 08:00-12:00, 13:30-17:00")
    p.add_argument("--family", choices=list(FAMILIES), default="morning",
                   help="shape of the lobby's days (default morning): " + "; ".join(f"{f.name}: {f.text}" for f in FAMILIES.values()))
    p.add_argument("--shift", type=_shift, action="append", default=[], metavar="DAY=HOURS",
                   help="move that day's morning surge by HOURS (repeatable)")
    args = p.parse_args(argv)
    hours = DEFAULT_HOURS
    if args.hours:
        from ihanoi.contract.registry import load_registry

        tables = load_registry().hours
        if args.hours not in tables:
            p.error(f"--hours {args.hours!r} is not in the registry; known: {', '.join(sorted(tables))}")
        hours = tables[args.hours]
    onsets = generate_onsets(args.first, args.weeks * 7, hours=hours, seed=args.seed,
                              peak_shift=dict(args.shift), family=args.family)
    write_trace(args.out, onsets)
    print(f"{args.out}: {len(onsets)} onsets, {args.first} .. {args.first + timedelta(days=args.weeks * 7 - 1)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
