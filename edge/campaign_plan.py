"""Several campaigns on one board: each plans its own plays, one coordinator shares the screen.

Every campaign active on the board has its own planner, on the one lobby's traffic model, with
its own rules for the day (``day_rules``): its quota, its gap, and its window — whole days, or
on its first and last day the opening hours clipped to its first and last minute (the quota is
then cut in proportion to the open time left, rounded up). A campaign that seeks the busy
hours gets an ``edge.planner.Planner``; one that does not (``seek_peaks = false``) gets an
``EvenPlanner``: its quota spread evenly over the hours.

``CampaignPlanner`` asks every planner of a campaign active at this minute what it would play
now, and when several want the screen at once it lets one play by the sharing rule (see
docs/campaigns-board.md):

1. a campaign that must play now or miss its quota today goes first (its slack, the plays
   it could still fit with its own gap before closing minus the plays it still owes, is 0);
2. then the campaign furthest behind its share: fewest plays made for its quota today;
3. then the one that played least recently (at the next busy moment the other goes first,
   so no campaign is starved of the peaks);
4. then the one expecting the larger audience now.

Each planner plans as if the screen were its own, so late in a day their plans may crowd more
plays than fit one after the other. When what every campaign still owes only just fits in what is
left of the day (or one campaign could not wait for its gap once more), the campaign with the
least slack plays now, asked or not (``catch-up``): quotas before audience.

The others are held until the play has ended and ``between`` more has passed (the minimum
gap between any two plays); their planners are still asked on every call, so each sees the
moment go by and re-plans its quota over the rest of the day (its catch-up). Each planner
learns only its own campaign's plays (``record_play``). A board with one campaign behaves
exactly as the single ``Planner`` did: there is never anyone to hold.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from edge.planner import REASONS, PlannedPlay, Planner, PlanRules, even_schedule, midnight
from ihanoi.contract.campaigns import Campaign
from ihanoi.contract.hours import WEEKDAYS
from ihanoi.contract.timeofday import minute_of_day, seconds_of_day

BETWEEN = timedelta(minutes=2)      # from the end of any play to the start of the next one


@dataclass(frozen=True)
class CampaignPlay:
    """A play the coordinator chose: whose it is, and the campaign planner's own reasons."""

    campaign: str
    start: datetime
    reason: str
    expected: float = 0.0


# --- a campaign's rules on one day ----------------------------------------------------------------
def _minute(t: time, up: bool) -> int:
    """Minutes since midnight of ``t``, to the whole minute (up for a start, down for an end)."""
    minutes = minute_of_day(t)
    return minutes + 1 if up and (t.second or t.microsecond) else minutes


def _clipped(intervals, lo: int, hi: int) -> list[str]:
    out = []
    for s, e in intervals:
        a = max(minute_of_day(s), lo)
        b = min(minute_of_day(e) + (1 if e.second else 0), hi)   # 23:59:59 stands for 24:00
        if b > a:
            out.append(f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}")
    return out


def _open_minutes(intervals: Sequence[str]) -> int:
    total = 0
    for text in intervals:
        a, b = text.split("-")
        total += int(b[:2]) * 60 + int(b[3:]) - int(a[:2]) * 60 - int(a[3:])
    return total


def day_rules(campaign: Campaign, rules: PlanRules, day: date) -> PlanRules:
    """``rules`` (the campaign's on this board) for ``day``: on a first or last day with a time of
    day, the hours clipped to the minute and the quota cut in proportion, rounded up."""
    lo = _minute(campaign.starts, up=True) if campaign.starts and day == campaign.first_day else 0
    hi = _minute(campaign.ends, up=False) if campaign.ends and day == campaign.last_day else 24 * 60
    if (lo, hi) == (0, 24 * 60):
        return rules
    hours = rules.calendar.hours
    intervals = hours.intervals(day.weekday())
    whole = _clipped(intervals, 0, 24 * 60)
    kept = _clipped(intervals, lo, hi)
    name = WEEKDAYS[day.weekday()]
    calendar = dataclasses.replace(rules.calendar, hours=hours.model_copy(update={name: tuple(kept)}))
    quota = math.ceil(rules.quota * _open_minutes(kept) / max(1, _open_minutes(whole)))
    return dataclasses.replace(rules, calendar=calendar, quota=max(1, quota))


def capacity(rules: PlanRules, day: date, now: float, last_start: float | None) -> int:
    """How many plays still fit today from second ``now``: each wholly inside an opening
    interval, ``min_gap`` apart (the earliest-first count, which is the most that fit)."""
    if not rules.calendar.is_open(day):
        return 0
    nxt = now if last_start is None else max(now, last_start + rules.gap_seconds)
    count = 0
    for s, e in rules.hours.intervals(day.weekday()):
        first = max(minute_of_day(s) * 60, nxt)
        latest = seconds_of_day(e) - rules.play_seconds
        if first <= latest:
            n = int((latest - first) // rules.gap_seconds) + 1
            count += n
            nxt = first + n * rules.gap_seconds
    return count


def _sec(t: time) -> float:
    return seconds_of_day(t)


# --- a campaign that does not seek the peaks ----------------------------------------------------
class EvenPlanner:
    """The quota spread evenly over the day's hours (``even_schedule``); a play that could not be
    made at its time (the screen was busy, the agent down) is made as soon as the gap allows.

    The same interface as ``Planner``. Its plays at their time are reported ``peak`` (the plan's
    time), late ones ``catch-up``.
    """

    lookback = timedelta(minutes=5)

    def __init__(self, rules: PlanRules, model=None):
        self._day: date | None = None
        self._plays: list[tuple[datetime, datetime, str]] = []
        self._schedule: list[datetime] = []
        self.rules = rules

    @property
    def rules(self) -> PlanRules:
        return self._rules

    @rules.setter
    def rules(self, rules: PlanRules) -> None:
        self._rules = rules
        if self._day is not None:
            self._schedule = even_schedule(self._day, rules)

    def _roll(self, now: datetime) -> None:
        day = now.astimezone(self.rules.tz).date()
        if day != self._day:
            self._day, self._plays = day, []
            self._schedule = even_schedule(day, self.rules)

    def plays_today(self) -> int:
        return len(self._plays) if self._day is not None else 0

    def remaining(self, now: datetime) -> int:
        self._roll(now)
        return max(0, self.rules.quota - len(self._plays)) if self.rules.calendar.is_open(self._day) else 0

    def upcoming(self) -> list[datetime]:
        return self._schedule[len(self._plays):]

    def record_play(self, start: datetime, end: datetime, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"reason {reason!r} is not one of {', '.join(REASONS)}")
        self._roll(start)
        self._plays.append((start, end, reason))

    def next_play(self, now: datetime, recent_onsets=()) -> PlannedPlay | None:
        if self.remaining(now) <= 0:
            return None
        due = self.upcoming()
        if not due or now < due[0]:
            return None
        if self._plays and now - self._plays[-1][0] < self.rules.min_gap:
            return None
        end = now + timedelta(seconds=self.rules.play_seconds)
        if not any(a <= now and end <= b for a, b in self.rules.hours.windows(self._day, self.rules.tz)):
            return None
        late = (now - due[0]).total_seconds() > self.rules.gap_seconds / 2
        return PlannedPlay(now, "catch-up" if late else "peak")


# --- the coordinator --------------------------------------------------------------------------
@dataclass
class _Entry:
    campaign: Campaign
    rules: PlanRules                 # the campaign's on this board, whole days
    planner: object
    day: date | None = None
    last_play: datetime | None = None


RulesFor = Callable[[Campaign], PlanRules]


class CampaignPlanner:
    """The board's planner over every campaign it plays (module docstring: the sharing rule)."""

    def __init__(self, model, rules_for: RulesFor, campaigns: Sequence[Campaign] = (), *,
                 between: timedelta = BETWEEN, planner_options: dict | None = None):
        """``rules_for(campaign)``: the campaign's rules on this board (quota, gap, hours, the
        clip's length); ``planner_options``: passed to every ``Planner``."""
        self.model = model
        self.rules_for = rules_for
        self.between = between
        self.planner_options = planner_options or {}
        self._entries: dict[str, _Entry] = {}
        self._busy_until: datetime | None = None
        self.set_campaigns(campaigns)

    # --- the campaigns ------------------------------------------------------------------------
    def set_campaigns(self, campaigns: Sequence[Campaign]) -> None:
        """A new set (or new rules for the same): a campaign kept keeps its planner and today's plays."""
        entries = {}
        for campaign in campaigns:
            rules = self.rules_for(campaign)
            old = self._entries.get(campaign.id)
            if old is not None and old.campaign.seek_peaks == campaign.seek_peaks:
                old.campaign, old.rules = campaign, rules
                today = day_rules(campaign, rules, old.day) if old.day is not None else rules
                if today != old.planner.rules:
                    old.planner.rules = today          # at once: a raised quota counts today
                entries[campaign.id] = old
            else:
                kind = Planner if campaign.seek_peaks else EvenPlanner
                options = self.planner_options if campaign.seek_peaks else {}
                entries[campaign.id] = _Entry(campaign, rules, kind(rules, self.model, **options))
        self._entries = entries

    def refresh(self) -> None:
        """The campaigns' rules again (a raised quota, a new clip length): apply at once."""
        self.set_campaigns([e.campaign for e in self._entries.values()])

    @property
    def campaigns(self) -> list[Campaign]:
        return [e.campaign for e in self._entries.values()]

    def planner(self, campaign_id: str):
        return self._entries[campaign_id].planner

    @property
    def rules(self) -> PlanRules | None:
        """The first campaign's rules today (a board with one campaign: the board's rules)."""
        return next((e.planner.rules for e in self._entries.values()), None)

    def rules_of(self, campaign_id: str) -> PlanRules:
        return self._entries[campaign_id].planner.rules

    @property
    def lookback(self) -> timedelta:
        """How far back ``recent_onsets`` must reach for every planner."""
        return max((e.planner.lookback for e in self._entries.values()), default=timedelta(minutes=5))

    # --- what the agent calls -------------------------------------------------------------------
    def active(self, now: datetime) -> list[_Entry]:
        """The campaigns whose window holds this minute, their planners set for today."""
        out = []
        for e in self._entries.values():
            if not e.campaign.active_at(now, e.rules.tz):
                continue
            day = now.astimezone(e.rules.tz).date()
            if e.day != day:
                rules = day_rules(e.campaign, e.rules, day)
                if rules != e.planner.rules:
                    e.planner.rules = rules
                e.day = day
            out.append(e)
        return out

    def next_play(self, now: datetime, recent_onsets: Sequence[datetime] = ()) -> CampaignPlay | None:
        """The play to start now (which campaign's, and why), or None.

        Every active campaign's planner is asked, even while the screen is held for another one,
        so that each keeps up with the day (but not one resting after its own play); only one play
        is chosen.
        """
        wanting = []
        active = self.active(now)
        for e in active:
            if len(active) > 1 and self._resting(e, now):
                continue
            planned = e.planner.next_play(now, recent_onsets)
            if planned is not None:
                wanting.append((e, planned))
        if self._busy_until is not None and now < self._busy_until:
            return None
        pressed = self._pressed(now, active) if len(active) > 1 else None
        if pressed is not None and all(e is not pressed for e, _ in wanting):
            return CampaignPlay(pressed.campaign.id, now, "catch-up")
        if pressed is not None:
            wanting = [(e, p) for e, p in wanting if e is pressed]
        if not wanting:
            return None
        e, planned = min(wanting, key=lambda w: self._priority(*w, now))
        return CampaignPlay(e.campaign.id, planned.start, planned.reason, planned.expected)

    def _resting(self, e: _Entry, now: datetime) -> bool:
        """Just after its own play a campaign cannot play before its gap: its planner need not be asked.

        Only for as long as the planner loses nothing by it: its onsets reach back ``lookback`` and a
        planner not asked for more than a few minutes counts the time as lost to it (a minute is kept).
        """
        if e.last_play is None:
            return False
        rest = min(e.planner.rules.min_gap, e.planner.lookback) - timedelta(minutes=1)
        return now - e.last_play < rest

    def _pressed(self, now: datetime, active: list[_Entry]) -> _Entry | None:
        """The campaign that must play now for every quota to still fit in what is left of the day.

        Each planner plans as if it had the screen to itself, so late in the day their plans can
        crowd more plays than the screen can show one after the other. When the plays still owed
        (each with its clip and ``between``), plus a play of every campaign as a margin, fill what
        is left of the opening hours, or when a campaign could not wait for its gap once more, the
        campaign with the least slack plays now, whether its planner asked or not (``catch-up``).
        """
        owed, margin, left, ready = 0.0, 0.0, 0.0, []
        for e in active:
            rules = e.planner.rules
            day = now.astimezone(rules.tz).date()
            base = midnight(day, rules.tz)
            t = (now - base).total_seconds()
            remaining = e.planner.remaining(now)
            margin += rules.play_seconds + self.between.total_seconds()
            left = max(left, sum(max(0.0, _sec(end) - max(_sec(start), t))
                                 for start, end in rules.hours.intervals(day.weekday())))
            if remaining <= 0:
                continue
            owed += remaining * (rules.play_seconds + self.between.total_seconds())
            last = e.last_play if e.last_play is not None and e.last_play >= base else None
            if last is not None and now - last < rules.min_gap:
                continue
            if not any(_sec(start) <= t and t + rules.play_seconds <= _sec(end)
                       for start, end in rules.hours.intervals(day.weekday())):
                continue
            slack = capacity(rules, day, t, None) - remaining
            ready.append((slack, e.planner.plays_today() / rules.quota, e))
        if not ready:
            return None
        slack, _, e = min(ready, key=lambda r: r[:2])
        return e if slack <= 1 or owed + margin >= left else None

    def _priority(self, e: _Entry, planned: PlannedPlay, now: datetime) -> tuple:
        """Smaller goes first: must-play-now, furthest behind its share, played least recently, audience."""
        rules = e.planner.rules
        day = now.astimezone(rules.tz).date()
        base = midnight(day, rules.tz)
        last = e.last_play if e.last_play is not None and e.last_play >= base else None
        remaining = e.planner.remaining(now)
        slack = capacity(rules, day, (now - base).total_seconds(),
                         None if last is None else (last - base).total_seconds()) - remaining
        share = e.planner.plays_today() / rules.quota
        return (slack > 0, share, last.timestamp() if last else -math.inf, -planned.expected)

    def record_play(self, campaign_id: str, start: datetime, end: datetime, reason: str) -> None:
        """A play was made (or a manual one): its campaign's planner counts it; every campaign waits."""
        hold = end + self.between
        self._busy_until = hold if self._busy_until is None else max(self._busy_until, hold)
        e = self._entries.get(campaign_id)
        if e is None:
            return                   # a campaign no longer in the set (a recovered play): nobody's quota
        e.planner.record_play(start, end, reason)
        e.last_play = start

    def plays_today(self) -> dict[str, int]:
        return {cid: e.planner.plays_today() for cid, e in self._entries.items()}

    def remaining(self, now: datetime) -> dict[str, int]:
        return {e.campaign.id: e.planner.remaining(now) for e in self.active(now)}

    def upcoming(self) -> dict[str, list[datetime]]:
        return {cid: e.planner.upcoming() for cid, e in self._entries.items()}
