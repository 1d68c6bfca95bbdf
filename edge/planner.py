"""The planner: when the promo plays on an open day. Pure: history, rules and "now" in, plays out.

Rules: at least ``quota`` plays per open day, each wholly inside the opening hours and the
campaign, starts at least ``min_gap`` apart, placed where the expected audience (onsets
from 5 minutes before the start until the end) is largest.

- ``best_starts`` is the exact optimiser: dynamic programming over the day's slots
  (one minute by default) with the gap constraint; ``plan_day`` feeds it the traffic model's
  expectation, ``hindsight_best`` the day's real onsets.
- ``Planner`` is the online form the agent asks every few seconds: it re-plans the rest of
  the day on each call with what it has just seen (the last minutes' onsets are already part
  of a play's audience; a busy lobby stays busy for a while; a surge that has not come yet
  is probably late, not cancelled), prices a play kept for later above its forecast (the
  minute will be chosen then, on what is seen: an optimal-stopping premium that fades as the
  day runs out of room), plays ``live`` when that moves a play away from the learned peaks,
  and plays ``catch-up`` for plays it could not make (agent down, content updating) so the
  quota is still met. ``manual`` plays count toward the quota. A start is allowed only if the
  play ends inside its opening interval, whatever second the planner is asked at.

The algorithm and its parameters are described in docs/planner.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.hours import OpeningHours
from ihanoi.contract.opendays import Calendar
from ihanoi.contract import timeofday
from ihanoi.contract.timeofday import DAY_SECONDS

LEAD_SECONDS = 300          # a play's audience starts 5 minutes before it does
REASONS = ("peak", "live", "catch-up", "manual")


@dataclass(frozen=True)
class PlannedPlay:
    start: datetime
    reason: str
    expected: float = 0.0     # expected audience when it was chosen


@dataclass(frozen=True)
class PlanRules:
    """Everything the planner must respect. ``quota`` already includes the unit's raise."""

    calendar: Calendar
    quota: int = 10
    min_gap: timedelta = timedelta(minutes=15)
    play_seconds: float = 45.0
    slot_seconds: int = 60
    tz: object = field(default=CAMPAIGN_TZ, compare=False)

    def __post_init__(self):
        if self.quota < 1:
            raise ValueError(f"quota={self.quota} must be at least 1")
        if self.min_gap.total_seconds() <= 0:
            raise ValueError("min_gap must be positive")
        if not 0 < self.play_seconds < 3600:
            raise ValueError(f"play_seconds={self.play_seconds} must be between 0 and 3600")
        if DAY_SECONDS % self.slot_seconds:
            raise ValueError(f"slot_seconds={self.slot_seconds} must divide a day")

    @property
    def hours(self) -> OpeningHours:
        return self.calendar.hours

    @property
    def gap_seconds(self) -> float:
        return self.min_gap.total_seconds()

    @classmethod
    def from_config(cls, config, registry, play_seconds: float = 45.0) -> PlanRules:
        """Hours, quota, gap, days off and campaign of a device: registry first, config overrides.

        The config may raise the quota, never lower it (check-config refuses a lower one).
        """
        unit = registry.unit(config.unit)
        campaign = registry.campaign
        calendar = Calendar(hours=config.planner.hours or registry.hours_of(unit),
                            days_off=frozenset(registry.days_off_of(unit)) | frozenset(config.planner.days_off),
                            first_day=campaign.first_day, last_day=campaign.last_day)
        return cls(calendar=calendar,
                   quota=max(config.planner.quota or 0, registry.quota_of(unit)),
                   min_gap=timedelta(minutes=config.planner.min_gap_minutes or campaign.min_gap_minutes),
                   play_seconds=play_seconds, tz=campaign.tz)


# --- the day's grid --------------------------------------------------------------------------
def midnight(day: date, tz=CAMPAIGN_TZ) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def seconds_of_day(moment: datetime, day: date, tz=CAMPAIGN_TZ) -> float:
    return (moment - midnight(day, tz)).total_seconds()


def _seconds(t) -> int:
    """Seconds since midnight of a time of day."""
    return timeofday.seconds_of_day(t)


def allowed_slots(day: date, rules: PlanRules) -> np.ndarray:
    """True for each slot where a play may start: open day, inside an interval, ends before it closes."""
    n = DAY_SECONDS // rules.slot_seconds
    ok = np.zeros(n, dtype=bool)
    if not rules.calendar.is_open(day):
        return ok
    starts = np.arange(n) * rules.slot_seconds
    for s, e in rules.hours.intervals(day.weekday()):
        ok |= (starts >= _seconds(s)) & (starts + rules.play_seconds <= _seconds(e))
    return ok


def _interval_at(t: float, day: date, rules: PlanRules) -> bool:
    """Can a play starting at second ``t`` of the day run wholly inside one opening interval?"""
    for s, e in rules.hours.intervals(day.weekday()):
        if _seconds(s) <= t and t + rules.play_seconds <= _seconds(e):
            return True
    return False


def cumulative(bins: np.ndarray, bin_seconds: int):
    """Edges and cumulative expected onsets: ``np.interp(t, *cumulative(...))`` integrates the rate."""
    edges = np.arange(len(bins) + 1, dtype=float) * bin_seconds
    return edges, np.concatenate(([0.0], np.cumsum(bins)))


def expected_audience(bins: np.ndarray, bin_seconds: int, starts: np.ndarray, play_seconds: float) -> np.ndarray:
    """Expected onsets in [start - 5 min, start + play] for each start (seconds of the day)."""
    edges, cum = cumulative(bins, bin_seconds)
    return np.interp(starts + play_seconds, edges, cum) - np.interp(starts - LEAD_SECONDS, edges, cum)


def actual_audience(onset_seconds: np.ndarray, starts: np.ndarray, play_seconds: float) -> np.ndarray:
    """Real onsets in [start - 5 min, start + play] for each start; ``onset_seconds`` sorted."""
    hi = np.searchsorted(onset_seconds, starts + play_seconds, side="right")
    lo = np.searchsorted(onset_seconds, starts - LEAD_SECONDS, side="left")
    return (hi - lo).astype(float)


# --- the exact optimiser -----------------------------------------------------------------------
def best_starts(values: np.ndarray, allowed: np.ndarray, k: int, gap_slots: float,
                times: np.ndarray | None = None) -> list[int]:
    """Slots of at most ``k`` starts, ``gap_slots`` apart, maximising the sum of ``values``.

    ``times``: each slot's start, nondecreasing, when the slots are not evenly spaced; the
    gap is then in the same unit as ``times`` (seconds).

    Exact: dynamic programming by number of plays, each layer a prefix maximum over the
    allowed slots (O(k * slots), vectorised). When ``k`` starts do not fit, the best schedule
    with as many as fit is returned.
    """
    idx = np.flatnonzero(allowed)
    if k <= 0 or idx.size == 0:
        return []
    v = np.asarray(values, dtype=float)[idx]
    at = idx if times is None else np.asarray(times, dtype=float)[idx]
    prev = np.searchsorted(at, at - gap_slots + (0 if times is None else 1e-6), side="right") - 1
    has_prev = prev >= 0
    prev_safe = np.maximum(prev, 0)
    layers: list[np.ndarray] = []
    best = None
    for layer in range(k):
        if layer == 0:
            cand = v.copy()
        else:
            cand = np.where(has_prev, best[prev_safe], -np.inf) + v
        running = np.maximum.accumulate(cand)
        if not np.isfinite(running[-1]):
            break
        layers.append(cand)
        best = running
    out = []
    limit = idx.size - 1
    for cand in reversed(layers):
        j = int(np.argmax(cand[:limit + 1]))
        out.append(int(idx[j]))
        limit = int(prev[j])
    return sorted(out)


def _gap_floor(played: Iterable[float], gap: float) -> float:
    """Earliest second a new play may start given today's plays so far."""
    played = list(played)
    return max(played) + gap if played else -math.inf


def plan_day(day: date, model, rules: PlanRules, already_played: Sequence[datetime] = (),
             now: datetime | None = None) -> list[PlannedPlay]:
    """The model-only plan for the rest of ``day``: the remaining quota at the expected peaks."""
    ok = allowed_slots(day, rules)
    remaining = rules.quota - len(already_played)
    if remaining <= 0 or not ok.any():
        return []
    starts = np.arange(ok.size, dtype=float) * rules.slot_seconds
    now_sec = seconds_of_day(now, day, rules.tz) if now is not None else -math.inf
    played = [seconds_of_day(p, day, rules.tz) for p in already_played]
    ok &= starts >= max(now_sec, _gap_floor(played, rules.gap_seconds))
    values = expected_audience(model.expected(day), model.bin_seconds, starts, rules.play_seconds)
    chosen = best_starts(values, ok, remaining, math.ceil(rules.gap_seconds / rules.slot_seconds))
    base = midnight(day, rules.tz)
    return [PlannedPlay(base + timedelta(seconds=float(starts[j])), "peak", float(values[j])) for j in chosen]


def hindsight_best(day: date, onsets: Sequence[datetime], rules: PlanRules) -> list[tuple[datetime, int]]:
    """The best schedule knowing the whole day: same quota, gap and hours; (start, audience)."""
    ok = allowed_slots(day, rules)
    starts = np.arange(ok.size, dtype=float) * rules.slot_seconds
    secs = np.array(sorted(seconds_of_day(t, day, rules.tz) for t in onsets), dtype=float)
    values = actual_audience(secs, starts, rules.play_seconds)
    chosen = best_starts(values, ok, rules.quota, math.ceil(rules.gap_seconds / rules.slot_seconds))
    base = midnight(day, rules.tz)
    return [(base + timedelta(seconds=float(starts[j])), int(values[j])) for j in chosen]


def even_schedule(day: date, rules: PlanRules) -> list[datetime]:
    """``quota`` starts spread evenly over the opening hours (the naive schedule, for comparison)."""
    if not rules.calendar.is_open(day):
        return []
    spans = []
    for s, e in rules.hours.intervals(day.weekday()):
        s_sec = timeofday.minute_of_day(s) * 60
        e_sec = timeofday.minute_of_day(e) * 60 - rules.play_seconds
        if e_sec > s_sec:
            spans.append((s_sec, e_sec))
    total = sum(e - s for s, e in spans)
    step = max(total / rules.quota, rules.gap_seconds)
    out, base = [], midnight(day, rules.tz)
    for i in range(rules.quota):
        pos = (i + 0.5) * step
        for s, e in spans:
            if pos <= e - s:
                t = (s + pos) // rules.slot_seconds * rules.slot_seconds
                out.append(base + timedelta(seconds=float(t)))
                break
            pos -= e - s
    return out




# --- the online planner ------------------------------------------------------------------------
@dataclass
class _Block:
    """Time in which the planner could not act (agent down, play due but not made)."""

    start: float
    end: float | None          # None: still going on (a due play not yet made)
    snapshot: list[float]      # the plan in force when it began


class Planner:
    """Asked every few seconds: ``next_play(now, recent_onsets)`` returns a play to start now, or None.

    The agent reports every play it makes (including manual ones) with ``record_play``. On
    each call the rest of the day is re-planned with ``best_starts`` over values made of
    the onsets already seen (a play's audience window starts 5 minutes back) plus a
    forecast: the model's expectation, moved in time by how late (or early) today's traffic
    runs in the current opening interval (``shift``, within ``max_shift``), scaled by how
    busy the lobby is right now (decaying over ``persistence``) and by how busy the day has
    been so far.

    ``shift`` is the estimated lateness of the current opening interval's traffic (negative:
    early), as of the last call.
    """

    def __init__(self, rules: PlanRules, model, *, live_window: timedelta = timedelta(minutes=40),
                 persistence: timedelta = timedelta(minutes=30), smoothing: float = 8.0,
                 level_prior: float = 100.0, grace: timedelta = timedelta(minutes=3),
                 max_shift: timedelta = timedelta(minutes=90), shift_prior: float = 0.7,
                 level_spread: float = 0.2, dispersion: float = 2.0, patience: float = 0.3,
                 uptime_memory: float = 0.5, outage_aversion: float = 4.0, slack: float = 2.0):
        self._day: date | None = None
        self.patience = patience
        self.uptime_memory = uptime_memory
        self.outage_aversion = outage_aversion
        self.slack = slack
        self._uptime = np.ones(DAY_SECONDS // model.bin_seconds)
        self.rules = rules
        self.model = model
        self.live_window = live_window.total_seconds()
        self.tau = persistence.total_seconds()
        self.smoothing = smoothing
        self.level_prior = level_prior
        self.grace = grace.total_seconds()
        self.max_shift = max_shift.total_seconds()
        self.shift_prior = shift_prior
        self.level_spread = level_spread
        self.dispersion = dispersion
        self.shift = timedelta(0)

    @property
    def lookback(self) -> timedelta:
        """How far back ``recent_onsets`` must reach."""
        return timedelta(seconds=max(LEAD_SECONDS, self.live_window))

    @property
    def rules(self) -> PlanRules:
        return self._rules

    @rules.setter
    def rules(self, rules: PlanRules) -> None:
        """New rules (a raised quota) apply at once; the plays made today still count."""
        self._rules = rules
        self.tolerance = rules.gap_seconds / 2
        if self._day is not None:
            self._lay_out(self._day)

    # --- the day's state -----------------------------------------------------------------
    def _start_day(self, day: date) -> None:
        if self._day is not None:
            self._learn_uptime()
        # Today's plays first: health asks ``plays_today`` from its own thread, and may do so while
        # the day is being laid out.
        self._plays: list[tuple[float, float, str]] = []
        self._day = day
        self._lay_out(day)
        self._matched: set[float] = set()
        self._plan: list[float] = []
        self._last_call: float | None = None
        self._first_call: float | None = None
        self._cadence = float(self.rules.slot_seconds)     # seconds between calls, as last seen
        self._issued: tuple[float, list[float]] | None = None
        self._block: _Block | None = None
        self._owed = 0
        self._seen_until = 0.0
        self._counts = np.zeros(self._bins.size)     # today's onsets per bin, as seen
        self._cover = np.zeros(self._bins.size)      # seconds of each bin the planner saw
        self._asked = np.zeros(self._bins.size)      # seconds of each bin the planner was asked in
        self.shift = timedelta(0)

    def _learn_uptime(self) -> None:
        """Fold the day that ends into how likely the agent is to be up in each bin of an open day.

        Only the bins of the opening hours after the day's first call count (a board switched on
        at 10:00 was not down in the morning). A board that goes dark every afternoon at 15:00
        (a screen on a timer, a switched-off socket) then keeps fewer plays for after 15:00.
        """
        if not self._open or self._first_call is None:
            return
        bs = self.model.bin_seconds
        first = int(self._first_call // bs)
        seen = self._asked >= bs / 2
        for s, e in self._spans:
            b = np.arange(max(s, first), e)
            self._uptime[b] = self.uptime_memory * self._uptime[b] + (1 - self.uptime_memory) * seen[b]

    def _mark_up(self, lo: float, hi: float) -> None:
        """The board was up (asking, never more than ``grace`` apart) from second ``lo`` to ``hi``."""
        bs = self.model.bin_seconds
        for b in range(int(lo // bs), min(math.ceil(hi / bs), self._asked.size)):
            self._asked[b] += min(hi, (b + 1) * bs) - max(lo, b * bs)

    def _lay_out(self, day: date) -> None:
        """The day's grid, allowed slots, expectation and model-only plan (the ``peak`` plays)."""
        r = self.rules
        self._base = midnight(day, r.tz)
        self._open = r.calendar.is_open(day)
        self._allowed = allowed_slots(day, r)
        self._starts = np.arange(self._allowed.size, dtype=float) * r.slot_seconds
        self._bins = self.model.expected(day)
        bs = self.model.bin_seconds
        self._spans = [(math.floor(_seconds(s) / bs), math.ceil(_seconds(e) / bs))
                       for s, e in r.hours.intervals(day.weekday())]
        reach = int(self.max_shift // bs)
        self._lags = np.arange(-reach, reach + 1)
        self._moves = [self._moved(span) for span in self._spans]
        self._moved_key, self._moved_cache = None, self._bins
        self._gap_slots = math.ceil(r.gap_seconds / r.slot_seconds)
        self._closes = np.zeros(self._starts.size)           # end of the interval each slot is in
        for s, e in r.hours.intervals(day.weekday()):
            self._closes[(self._starts >= _seconds(s)) & (self._starts < _seconds(e))] = _seconds(e)
        values = self._worth(expected_audience(self._bins, bs, self._starts, r.play_seconds), self._starts,
                             self._allowed, r.quota)
        self.baseline = [float(self._starts[j]) for j in best_starts(values, self._allowed, r.quota, self._gap_slots)]

    def _sec(self, moment: datetime) -> float:
        return (moment - self._base).total_seconds()

    def _roll(self, moment: datetime) -> None:
        day = moment.astimezone(self.rules.tz).date()
        if day != self._day:
            self._start_day(day)

    # --- what the agent calls ------------------------------------------------------------
    def plays_today(self) -> int:
        return len(self._plays) if self._day is not None else 0

    def remaining(self, now: datetime) -> int:
        self._roll(now)
        return max(0, self.rules.quota - len(self._plays)) if self._open else 0

    def upcoming(self) -> list[datetime]:
        """Starts of the current plan (as of the last call)."""
        return [self._base + timedelta(seconds=s) for s in self._plan] if self._day else []

    def record_play(self, start: datetime, end: datetime, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"reason {reason!r} is not one of {', '.join(REASONS)}")
        self._roll(start)
        s = self._sec(start)
        if self._block is not None:
            self._owed += self._block_count(self._block, s)
            self._block = None
        if reason == "catch-up":
            self._owed = max(0, self._owed - 1)
        if reason != "manual":
            near = [b for b in self.baseline if b not in self._matched and abs(b - s) <= self.tolerance]
            if near:
                self._matched.add(min(near, key=lambda b: abs(b - s)))
        self._plays.append((s, self._sec(end), reason))
        self._issued = None

    def next_play(self, now: datetime, recent_onsets: Sequence[datetime] = ()) -> PlannedPlay | None:
        """The play to start now, or None. ``recent_onsets``: onsets since ``now - lookback``."""
        self._roll(now)
        if not self._open:
            return None
        t = self._sec(now)
        self._notice_blocks(t)
        if self._last_call is not None and t > self._last_call:
            if t - self._last_call <= self.grace:
                self._mark_up(self._last_call, t)
            if t - self._last_call < self.rules.gap_seconds:          # an outage or lunch is not a cadence
                self._cadence = t - self._last_call
        self._last_call = t
        if self._first_call is None:
            self._first_call = t
        obs = np.array(sorted(self._sec(o) for o in recent_onsets if o <= now), dtype=float)
        remaining = self.rules.quota - len(self._plays)
        if remaining <= 0:
            self._plan, self._issued = [], None
            return None
        plan, value_now = self._replan(t, obs, remaining)
        self._plan = plan
        if not plan or plan[0] != t:
            # An issued play that was not recorded was refused (the agent plays at once what it
            # is given): it stays owed even when the re-plan now prefers another minute.
            return None
        if self._issued is None:
            self._issued = (t, list(plan))
        return PlannedPlay(now, self._reason(t), value_now)

    # --- inside --------------------------------------------------------------------------
    def _notice_blocks(self, t: float) -> None:
        if self._last_call is None:
            # First call of the day: plays the baseline held before now were not made by us.
            self._new_block(_Block(-math.inf, t, list(self.baseline)))
        elif t - self._last_call > self.grace:
            self._new_block(_Block(self._last_call, t, list(self._plan)))
        overdue = self._issued is not None and t - self._issued[0] > self.grace
        if overdue and (self._block is None or self._block.end is not None):
            self._new_block(_Block(self._issued[0], None, self._issued[1]))

    def _new_block(self, block: _Block) -> None:
        if self._block is not None:
            self._owed += self._block_count(self._block, block.start)
        self._block = block

    def _block_count(self, block: _Block, now: float) -> int:
        end = block.end if block.end is not None else now - self.tolerance
        planned = sum(1 for s in block.snapshot if block.start <= s < end)
        made = sum(1 for p in self._plays if block.start <= p[0] < end)
        return max(0, planned - made)

    def _owed_now(self, t: float) -> int:
        return self._owed + (self._block_count(self._block, t) if self._block else 0)

    def _reason(self, t: float) -> str:
        if self._owed_now(t) > 0:
            return "catch-up"
        if any(abs(b - t) <= self.tolerance for b in self.baseline if b not in self._matched):
            return "peak"
        return "live"

    def _observe(self, t: float, obs: np.ndarray) -> None:
        """Add the onsets and the time seen since the last call to today's bins (gaps stay unseen)."""
        lo = max(self._seen_until, t - self.lookback.total_seconds(), 0.0)
        hi = min(t, float(DAY_SECONDS))
        if hi <= lo:
            return
        bs = self.model.bin_seconds
        new = obs[(obs > lo) & (obs <= hi)]
        if new.size:
            self._counts += np.bincount(np.minimum(new // bs, self._counts.size - 1).astype(int),
                                        minlength=self._counts.size)
        for b in range(int(lo // bs), min(math.ceil(hi / bs), self._cover.size)):
            self._cover[b] += min(hi, (b + 1) * bs) - max(lo, b * bs)
        self._seen_until = hi

    def _moved(self, span: tuple[int, int]) -> np.ndarray:
        """The model's expectation over the interval ``span`` moved by each lag: one row per lag.

        Where the move uncovers the interval's edge (a late surge leaves the opening quiet),
        the interval's quiet level (its lower quartile) fills in.
        """
        s, e = span
        src = np.arange(s, e)[None, :] - self._lags[:, None]
        quiet = float(np.percentile(self._bins[s:e], 25))
        return np.where((src >= s) & (src < e), self._bins[np.clip(src, s, e - 1)], quiet)

    def _shift_weights(self, span: int, done: np.ndarray) -> np.ndarray:
        """How likely each lag of the opening interval ``span`` is, from its finished bins ``done``.

        The bins are compared with the model's expectation moved by each lag within
        ``max_shift`` (Poisson likelihood, flattened by ``dispersion``: busy-ness comes in
        waves, so neighbouring bins are not independent). The day's level is unknown too; it
        is averaged out under a log-normal prior (``level_spread``) around the day's busy-ness
        before the interval, so a lobby merely quieter than usual is not read as a late one.
        No shift has prior weight ``shift_prior``; the other lags share the rest.
        """
        bs = self.model.bin_seconds
        s, _ = self._spans[span]
        y = self._counts[done]
        m = self._moves[span][:, done - s] + 1e-3
        fit = (y * np.log(m)).sum(axis=1)
        expected = m.sum(axis=1)
        before = float(np.dot(self._bins[:s], self._cover[:s])) / bs
        centre = math.log((self._counts[:s].sum() + self.level_prior) / (before + self.level_prior))
        levels = centre + np.linspace(-3, 3, 25) * self.level_spread
        loglik = (fit[:, None] + y.sum() * levels[None, :]
                  - np.exp(levels)[None, :] * expected[:, None]) / self.dispersion
        loglik -= 0.5 * ((levels - centre) / self.level_spread) ** 2
        top = loglik.max()
        marginal = np.log(np.exp(loglik - top).sum(axis=1))
        lags = self._lags
        prior = np.where(lags == 0, self.shift_prior, (1 - self.shift_prior) / (lags.size - 1))
        post = marginal + np.log(prior)
        weights = np.exp(post - post.max())
        return weights / weights.sum()

    def _moved_row(self, t: float) -> np.ndarray:
        """The model's row with the current opening interval moved by the likely lags.

        Sets ``shift``. Only a newly finished bin changes the estimate, so it is kept until then.
        """
        bs = self.model.bin_seconds
        now_bin = int(t // bs)
        current = [i for i, (s, _) in enumerate(self._spans) if s < now_bin]
        key = None
        if current and self._lags.size > 1 and self.shift_prior < 1:
            i = current[-1]
            s, e = self._spans[i]
            done = np.arange(s, min(now_bin, e))
            done = done[self._cover[done] >= bs - 1e-6]
            if done.size:
                key = (i, done.size, int(done[-1]))
        if key == self._moved_key:
            return self._moved_cache
        row, self.shift = self._bins, timedelta(0)
        if key is not None:
            weights = self._shift_weights(i, done)
            self.shift = timedelta(seconds=float(np.dot(self._lags, weights)) * bs)
            row = self._bins.copy()
            row[s:e] = weights @ self._moves[i]
        self._moved_key, self._moved_cache = key, row
        return row

    def _forecast(self, t: float, obs: np.ndarray) -> np.ndarray:
        """Expected onsets per bin for the rest of the day: the model, moved by the likely lags, scaled."""
        self._observe(t, obs)
        bs = self.model.bin_seconds
        row = self._moved_row(t)
        # How busy the day has been and the last minutes are, against that expectation;
        # both smoothed toward 1 (a few onsets say little) and clamped.
        day = (self._counts.sum() + self.level_prior) / (float(np.dot(row, self._cover)) / bs + self.level_prior)
        edges, cum = cumulative(row, bs)
        w = t - self.live_window
        seen = np.count_nonzero((obs > w) & (obs <= t))
        exp = float(np.interp(t, edges, cum) - np.interp(w, edges, cum))
        now = (seen + self.smoothing * day) / (exp + self.smoothing)
        now_ratio, day_ratio = min(max(now, 0.2), 5.0), min(max(day, 0.3), 3.0)
        mids = (np.arange(row.size) + 0.5) * bs
        weight = np.exp(-np.clip(mids - t, 0, None) / self.tau)
        return row * (day_ratio + (now_ratio - day_ratio) * weight)

    def _worth(self, unseen: np.ndarray, starts: np.ndarray, ok: np.ndarray, plays: int,
               seen: np.ndarray | float = 0.0, per_gap: float | None = None) -> np.ndarray:
        """What keeping a play for each later start is worth, its audience ``seen`` + ``unseen`` so far.

        More than its forecast: when its time comes the planner will have seen most of its
        audience before choosing the minute, and will choose a good one. The premium is
        ``patience`` standard deviations of what is still unseen (Poisson noise and the learned
        spread of days around the model), times the share of the gap-long stretches left after
        that start that the plays still owed do not need: none when they need every one, so
        plays are not put off to a close of day that leaves no choice. Each start is also
        weighed by how likely the board is to be up then (``_learn_uptime``).
        """
        stretches = np.cumsum(ok[::-1])[::-1] / (per_gap or self._gap_slots)
        room = np.clip(1.0 - self.slack * plays / np.maximum(stretches, 1e-9), 0.0, 1.0)
        premium = self.patience * np.sqrt(unseen + self.model.spread * unseen ** 2) * room
        up = self._uptime[np.minimum((starts // self.model.bin_seconds).astype(int), self._uptime.size - 1)]
        # Raised to a power: a play lost to an outage costs the day its quota, not only its audience.
        return (seen + unseen + premium) * up ** self.outage_aversion

    def _replan(self, t: float, obs: np.ndarray, remaining: int) -> tuple[list[float], float]:
        r = self.rules
        c = int(t // r.slot_seconds)
        if c >= self._starts.size:
            return [], 0.0
        cad = self._cadence
        starts = self._starts[c:].copy()
        starts[0] = t
        ok = self._allowed[c:].copy()
        ok[0] = _interval_at(t, self._day, r)
        # A play is made only when the planner is asked: a later slot's play at the first call
        # from then on (asked every 200 s, "in two minutes" is in 200 s). Its start is that
        # call, and the play from it must end before its interval closes, or the day's last
        # play may never fit.
        made = t + np.ceil((starts[1:] - t) / cad - 1e-9) * cad
        ok[1:] &= made + r.play_seconds <= self._closes[c + 1:]
        starts[1:] = made
        if cad > r.slot_seconds:
            # Asked less often than a slot: slots share a call, which is one start.
            idx = np.flatnonzero(ok)
            ok[idx[1:][starts[idx[1:]] == starts[idx[:-1]]]] = False
        ok &= starts >= _gap_floor((p[0] for p in self._plays), r.gap_seconds)
        if not ok.any():
            return [], 0.0
        bs = self.model.bin_seconds
        edges, cum = cumulative(self._forecast(t, obs), bs)
        lead = starts - LEAD_SECONDS
        seen_total = np.searchsorted(obs, t, side="right")
        past = np.where(lead <= t, seen_total - np.searchsorted(obs, lead, side="left"), 0)
        ahead = np.interp(starts + r.play_seconds, edges, cum) - np.interp(np.maximum(lead, t), edges, cum)
        # Playing now is worth what it is; a later slot what keeping the play for it is worth.
        per_gap = r.gap_seconds / max(cad, r.slot_seconds)
        values = self._worth(ahead, starts, ok, remaining, past, per_gap)
        values[0] = past[0] + ahead[0]
        # The gap is kept between the calls the plays are made at, not between their slots.
        chosen = best_starts(values, ok, remaining, r.gap_seconds, times=starts)
        return [float(starts[j]) for j in chosen], float(past[0] + ahead[0])
