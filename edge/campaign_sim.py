"""Several campaigns on one board over a trace of onsets, in simulated time (tests and the bench).

The same machinery as ``edge.simulation`` (a simulated clock stepping a slot at a time, the
trace fed to ``Presence`` as the clock passes each onset, the traffic model learning each open
day), with the ``CampaignPlanner`` deciding which campaign plays. For every open day and
campaign it keeps the plays, the quota of the day and the audience; it also scores the naive
way (each campaign's plays spread evenly, one after the other's by a play and ``between``) and
the hindsight bound (each campaign's best schedule knowing the day, as if it had the screen to
itself: no schedule of the shared screen can beat it). Pure: no files, no wall clock.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from edge.campaign_plan import BETWEEN, CampaignPlanner, day_rules
from edge.planner import PlanRules, actual_audience, even_schedule, hindsight_best, midnight
from edge.presence import Presence, TraceSource, apply_hold
from edge.traffic import TrafficModel
from ihanoi.contract.campaigns import Campaign
from ihanoi.contract.clock import SimClock


@dataclass(frozen=True)
class CampaignSimPlay:
    campaign: str
    start: datetime
    end: datetime
    reason: str
    audience: int


@dataclass
class CampaignDay:
    day: date
    quota: dict[str, int] = field(default_factory=dict)
    plays: dict[str, int] = field(default_factory=dict)
    audience: int = 0
    even_audience: int = 0
    hindsight_bound: int = 0


@dataclass
class CampaignSimResult:
    plays: list[CampaignSimPlay]
    days: list[CampaignDay]
    violations: list[str]

    def short(self) -> list[str]:
        """Every (day, campaign) whose plays fell short of its quota."""
        return [f"{d.day} {cid}: {d.plays.get(cid, 0)} of {q}" for d in self.days for cid, q in d.quota.items()
                if d.plays.get(cid, 0) < q]


def unit_rules(rules: PlanRules) -> PlanRules:
    """The unit's open days whatever the campaign: each campaign brings its own window."""
    return dataclasses.replace(rules, calendar=dataclasses.replace(rules.calendar, first_day=None, last_day=None))


def campaign_rules(base: PlanRules, play_seconds: dict[str, float] | None = None) -> Callable[[Campaign], PlanRules]:
    """A campaign's rules on a board of ``base``'s unit: its window, quota and gap, its clip's length."""
    play_seconds = play_seconds or {}

    def rules_for(c: Campaign) -> PlanRules:
        calendar = dataclasses.replace(base.calendar, first_day=c.first_day, last_day=c.last_day)
        return dataclasses.replace(base, calendar=calendar, quota=c.quota, min_gap=timedelta(minutes=c.min_gap_minutes),
                                   play_seconds=play_seconds.get(c.id, base.play_seconds))
    return rules_for


def check_shared(plays: Sequence[CampaignSimPlay], rules_of: Callable[[str, date], PlanRules],
                 between: timedelta) -> list[str]:
    """Broken rules: a play outside its campaign's hours of the day, two plays overlapping or
    closer than ``between``, two plays of one campaign closer than its gap."""
    problems = []
    for p in plays:
        day = p.start.date()
        r = rules_of(p.campaign, day)
        if not any(a <= p.start and p.end <= b for a, b in r.hours.windows(day, r.tz)) or not r.calendar.is_open(day):
            problems.append(f"{p.start.isoformat()} {p.campaign}: outside its hours or days")
    for a, b in itertools.pairwise(sorted(plays, key=lambda p: p.start)):
        if b.start < a.end + between:
            problems.append(f"{b.start.isoformat()} {b.campaign}: starts {b.start - a.end} after {a.campaign} ended")
    by_campaign = defaultdict(list)
    for p in plays:
        by_campaign[p.campaign].append(p)
    for cid, own in by_campaign.items():
        for a, b in itertools.pairwise(own):
            gap = rules_of(cid, b.start.date()).min_gap
            if a.start.date() == b.start.date() and b.start - a.start < gap:
                problems.append(f"{b.start.isoformat()} {cid}: {b.start - a.start} after its previous play")
    return problems


def simulate_campaigns(onsets: Sequence[datetime], base: PlanRules, campaigns: Sequence[Campaign],
                       first_day: date, last_day: date, *, play_seconds: dict[str, float] | None = None,
                       model: TrafficModel | None = None, hold_seconds: float = 8.0, bin_seconds: int = 300,
                       between: timedelta = BETWEEN, planner_options: dict | None = None) -> CampaignSimResult:
    """The board of ``base``'s unit playing ``campaigns`` from ``first_day`` to ``last_day`` (``model``
    is learned in place: a fresh prior if None)."""
    tz = base.tz
    unit = unit_rules(base)
    rules_for = campaign_rules(base, play_seconds)
    model = model or TrafficModel(base.hours, bin_seconds=bin_seconds)
    trace = sorted(onsets)
    counted = apply_hold(trace, hold_seconds)
    clock = SimClock(midnight(first_day, tz))
    presence = Presence(clock, hold_seconds=hold_seconds, bin_seconds=bin_seconds)
    presence.attach(TraceSource(onsets=trace))
    presence.tick()
    coordinator = CampaignPlanner(model, rules_for, campaigns, between=between, planner_options=planner_options)
    lookback = coordinator.lookback
    step = timedelta(seconds=base.slot_seconds)
    plays: list[CampaignSimPlay] = []
    days: list[CampaignDay] = []

    def move(moment):
        clock.advance((moment - clock.now()).total_seconds())
        presence.tick()

    day = first_day
    while day <= last_day:
        base_t = midnight(day, tz)
        lo, hi = bisect.bisect_left(counted, base_t), bisect.bisect_left(counted, base_t + timedelta(days=1))
        secs = np.array([(t - base_t).total_seconds() for t in counted[lo:hi]])
        if unit.calendar.is_open(day):
            fig = CampaignDay(day)
            todays = {c.id: day_rules(c, rules_for(c), day) for c in campaigns if c.active_on(day)}
            fig.quota = {cid: r.quota for cid, r in todays.items() if r.calendar.is_open(day)}
            windows = unit.hours.windows(day, tz)
            now, end_of_day = windows[0][0] - lookback, windows[-1][1]
            while now <= end_of_day:
                move(now)
                chosen = coordinator.next_play(now, presence.onsets_since(now - lookback))
                if chosen is None:
                    now += step
                    continue
                end = chosen.start + timedelta(seconds=todays[chosen.campaign].play_seconds)
                coordinator.record_play(chosen.campaign, chosen.start, end, chosen.reason)
                at = np.array([(chosen.start - base_t).total_seconds()])
                audience = int(actual_audience(secs, at, todays[chosen.campaign].play_seconds)[0])
                plays.append(CampaignSimPlay(chosen.campaign, chosen.start, end, chosen.reason, audience))
                fig.plays[chosen.campaign] = fig.plays.get(chosen.campaign, 0) + 1
                fig.audience += audience
                now = max(now + step, end)
            fig.even_audience = naive_audience(todays, day, secs, base_t, between)
            fig.hindsight_bound = sum(a for r in todays.values() if r.calendar.is_open(day)
                                      for _, a in hindsight_best(day, counted[lo:hi], r))
            days.append(fig)
        move(base_t + timedelta(days=1) - timedelta(seconds=1))
        if unit.calendar.is_open(day):
            model.observe_day(day, presence.day_bins(day).astype(float))
        day += timedelta(days=1)
    presence.close()

    def rules_of(cid: str, d: date) -> PlanRules:
        c = next(c for c in campaigns if c.id == cid)
        return day_rules(c, rules_for(c), d)

    return CampaignSimResult(plays, days, check_shared(plays, rules_of, between))


def naive_audience(todays: dict[str, PlanRules], day: date, secs: np.ndarray, base_t: datetime,
                   between: timedelta) -> int:
    """The naive way: each campaign's plays spread evenly, the i-th campaign's moved later by i
    plays and ``between`` so they do not collide."""
    total, offset = 0, 0.0
    for r in todays.values():
        starts = [(s - base_t).total_seconds() + offset for s in even_schedule(day, r)]
        if starts:
            total += int(actual_audience(secs, np.array(starts), r.play_seconds).sum())
        offset += r.play_seconds + between.total_seconds()
    return total
