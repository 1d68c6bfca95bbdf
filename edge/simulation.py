"""The simulation core: presence + planner over a trace of onsets, in simulated time.

Day by day, a simulated clock steps through each open day one slot at a time; the trace
feeds ``Presence`` as the clock passes each onset (never ahead), the ``Planner`` is asked
what to play, plays are recorded, and at the end of each open day the ``TrafficModel``
learns the day's bins (bins when the agent was down are unknown, not zero). For every day
it also scores, on the same onsets, the plays spread evenly over the opening hours, the
model-only plan made in the morning (no live adaptation), and the best schedule in
hindsight. Pure: no files, no wall clock.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from edge.planner import (
    Planner,
    PlanRules,
    actual_audience,
    even_schedule,
    hindsight_best,
    midnight,
    plan_day,
)
from edge.presence import Presence, TraceSource, apply_hold
from edge.traffic import TrafficModel
from ihanoi.contract.clock import SimClock


@dataclass(frozen=True)
class SimPlay:
    start: datetime
    end: datetime
    reason: str
    audience: int
    expected: float


@dataclass
class DayFigures:
    day: date
    open: bool
    closed_reason: str | None = None
    quota: int = 0
    plays: int = 0
    reasons: dict = field(default_factory=dict)
    onsets: int = 0
    audience: int = 0
    even_audience: int = 0
    static_audience: int = 0
    hindsight_audience: int = 0
    down: list = field(default_factory=list)
    hindsight_starts: list = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return self.audience / self.hindsight_audience if self.hindsight_audience else None


@dataclass
class SimulationResult:
    rules: PlanRules
    plays: list[SimPlay]
    days: list[DayFigures]
    learning_days: int = 7
    violations: list[str] = field(default_factory=list)
    traffic_bins: int = 0

    def scored_days(self) -> list[DayFigures]:
        """Open days after the learning period (the first week)."""
        if not self.days:
            return []
        first = self.days[0].day
        return [d for d in self.days if d.open and (d.day - first).days >= self.learning_days]

    def plays_by_hour(self) -> dict[str, dict[int, float]]:
        """Plays per open day in each hour of the day, the planner's beside the best in hindsight's
        (scored days only): where the plays went, not only how much they caught."""
        scored = self.scored_days()
        days = {d.day for d in scored}
        out = {"planner": Counter(p.start.hour for p in self.plays if p.start.date() in days),
               "hindsight": Counter(s.hour for d in scored for s in d.hindsight_starts)}
        n = max(len(scored), 1)
        return {k: {h: round(c / n, 2) for h, c in sorted(v.items())} for k, v in out.items()}

    def share_after(self, hour: int) -> tuple[float, float]:
        """Share of the scored days' plays starting at or after ``hour``: (planner, hindsight)."""
        by_hour = self.plays_by_hour()

        def share(counts):
            total = sum(counts.values())
            return sum(c for h, c in counts.items() if h >= hour) / total if total else 0.0

        return share(by_hour["planner"]), share(by_hour["hindsight"])

    def summary(self) -> dict:
        scored = self.scored_days()
        opened = [d for d in self.days if d.open]
        best = sum(d.hindsight_audience for d in scored)

        def share(key):
            return round(sum(getattr(d, key) for d in scored) / best, 4) if best else None

        return {
            "days": len(self.days),
            "open_days": len(opened),
            "plays": len(self.plays),
            "reasons": dict(Counter(p.reason for p in self.plays)),
            "quota_met_every_open_day": all(d.plays >= d.quota for d in opened),
            "violations": list(self.violations),
            "scored_days": len(scored),
            "audience_vs_hindsight": share("audience"),
            "even_vs_hindsight": share("even_audience"),
            "static_vs_hindsight": share("static_audience"),
            "audience": sum(d.audience for d in scored),
            "even_audience": sum(d.even_audience for d in scored),
            "static_audience": sum(d.static_audience for d in scored),
            "hindsight_audience": best,
            "plays_by_hour": self.plays_by_hour(),
        }

    def to_json(self) -> dict:
        r = self.rules
        return {
            "rules": {"quota": r.quota, "min_gap_minutes": r.gap_seconds / 60, "play_seconds": r.play_seconds,
                      "hours": r.hours.model_dump(), "first_day": _iso(r.calendar.first_day),
                      "last_day": _iso(r.calendar.last_day), "days_off": sorted(map(_iso, r.calendar.days_off))},
            "summary": self.summary(),
            "plays": [{"start": p.start.isoformat(), "end": p.end.isoformat(timespec="seconds"),
                       "reason": p.reason, "audience": p.audience, "expected": round(p.expected, 2)}
                      for p in self.plays],
            "days": [{**{k: v for k, v in asdict(d).items() if k not in ("down", "hindsight_starts")},
                      "day": d.day.isoformat(),
                      "down": [[a.isoformat(), b.isoformat()] for a, b in d.down],
                      "ratio": round(d.ratio, 4) if d.ratio is not None else None} for d in self.days],
        }


def _iso(d):
    return d.isoformat() if d else None


def check_plays(plays: Sequence[SimPlay], rules: PlanRules) -> list[str]:
    """Every rule a schedule must keep, as a list of broken ones (empty when all hold)."""
    problems = []
    for p in plays:
        day = p.start.date()
        if p.reason == "manual":
            continue  # a person chose it; it counts toward the quota but breaks no planner rule
        if not rules.calendar.is_open(day):
            problems.append(f"{p.start.isoformat()}: play on a closed day ({rules.calendar.closed_reason(day)})")
        elif not any(a <= p.start and p.end <= b for a, b in rules.hours.windows(day, rules.tz)):
            problems.append(f"{p.start.isoformat()}: play not wholly inside the opening hours")
    for a, b in itertools.pairwise(plays):
        if b.reason != "manual" and a.start.date() == b.start.date() and b.start - a.start < rules.min_gap:
            problems.append(f"{b.start.isoformat()}: starts {b.start - a.start} after the previous play")
    return problems


def simulate(onsets: Sequence[datetime], rules: PlanRules, first_day: date, last_day: date, *,
             model: TrafficModel | None = None, hold_seconds: float = 8.0, bin_seconds: int = 300,
             outages: Sequence[tuple[datetime, datetime]] = (), manual: Sequence[datetime] = (),
             learning_days: int = 7, planner_options: dict | None = None) -> SimulationResult:
    """Run the agent's presence and planner over ``onsets`` from ``first_day`` to ``last_day``.

    ``outages``: (from, to) spans when the agent is down (it neither sees nor plays);
    ``manual``: play-now commands. ``model`` is learned in place (a fresh prior if None).
    """
    tz = rules.tz
    model = model or TrafficModel(rules.hours, bin_seconds=bin_seconds)
    trace = sorted(onsets)
    counted = apply_hold(trace, hold_seconds)
    clock = SimClock(midnight(first_day, tz))
    bins_seen = [0]
    presence = Presence(clock, hold_seconds=hold_seconds, bin_seconds=bin_seconds,
                        on_bin=lambda *_: bins_seen.__setitem__(0, bins_seen[0] + 1))
    source = TraceSource(onsets=trace)
    presence.attach(source)
    presence.tick()
    planner = Planner(rules, model, **(planner_options or {}))
    lookback = planner.lookback
    outages = sorted(outages)
    manual = sorted(manual)
    step = timedelta(seconds=rules.slot_seconds)
    plays: list[SimPlay] = []
    days: list[DayFigures] = []

    def down_at(moment):
        return next((b for a, b in outages if a <= moment < b), None)

    def move(moment):
        clock.advance((moment - clock.now()).total_seconds())
        presence.tick()

    day = first_day
    while day <= last_day:
        base = midnight(day, tz)
        while manual and manual[0] < base:
            manual.pop(0)          # a play-now for a day that was not simulated (closed)
        lo, hi = bisect.bisect_left(counted, base), bisect.bisect_left(counted, base + timedelta(days=1))
        day_onsets = counted[lo:hi]
        secs = np.array([(t - base).total_seconds() for t in day_onsets])
        reason = rules.calendar.closed_reason(day)
        fig = DayFigures(day=day, open=reason is None, closed_reason=reason, onsets=len(day_onsets))
        fig.down = [(max(a, base), min(b, base + timedelta(days=1))) for a, b in outages
                    if a < base + timedelta(days=1) and b > base]
        if reason is None:
            fig.quota = rules.quota
            static = plan_day(day, model, rules)
            windows = rules.hours.windows(day, tz)
            now, end_of_day = windows[0][0] - lookback, windows[-1][1]
            day_plays = []
            while now <= end_of_day:
                resume = down_at(now)
                if resume is not None:
                    source.skip_to(resume)
                    now = max(now + step, base + ((resume - base) // step) * step)
                    continue
                move(now)
                if manual and manual[0] <= now:
                    manual.pop(0)
                    play = (now, "manual", 0.0)
                else:
                    play = planner.next_play(now, presence.onsets_since(now - lookback))
                    play = (play.start, play.reason, play.expected) if play else None
                if play:
                    start, why, expected = play
                    end = start + timedelta(seconds=rules.play_seconds)
                    planner.record_play(start, end, why)
                    audience = int(actual_audience(secs, np.array([(start - base).total_seconds()]), rules.play_seconds)[0])
                    day_plays.append(SimPlay(start, end, why, audience, expected))
                now += step
            plays.extend(day_plays)
            fig.plays = len(day_plays)
            fig.reasons = dict(Counter(p.reason for p in day_plays))
            fig.audience = sum(p.audience for p in day_plays)
            fig.even_audience = _score(even_schedule(day, rules), secs, base, rules)
            fig.static_audience = _score([p.start for p in static], secs, base, rules)
            best = hindsight_best(day, day_onsets, rules)
            fig.hindsight_audience = sum(a for _, a in best)
            fig.hindsight_starts = [s for s, _ in best]
        move(base + timedelta(days=1) - timedelta(seconds=1))
        if reason is None:
            seen = presence.day_bins(day).astype(float)
            for a, b in fig.down:
                first = int((a - base).total_seconds() // bin_seconds)
                last = int(np.ceil((b - base).total_seconds() / bin_seconds))
                seen[first:last] = np.nan
            model.observe_day(day, seen)
        days.append(fig)
        day += timedelta(days=1)
    presence.close()
    result = SimulationResult(rules, plays, days, learning_days, traffic_bins=bins_seen[0])
    result.violations = check_plays(plays, rules)
    return result


def _score(starts: Sequence[datetime], secs: np.ndarray, base: datetime, rules: PlanRules) -> int:
    if not starts:
        return 0
    at = np.array([(s - base).total_seconds() for s in starts])
    return int(actual_audience(secs, at, rules.play_seconds).sum())
