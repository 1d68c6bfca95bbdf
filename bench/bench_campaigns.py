"""Several campaigns on one board: how long a re-plan takes, and how much audience the plays reach.

    .venv/bin/python bench/bench_campaigns.py

For 1, 2, 4 and 8 campaigns at once on a ward's board (the iHanoi campaign and others with their
own quotas and gaps), three weeks of generated lobby traffic: the first week is for learning, the
other two are scored. Time per re-plan is every ``CampaignPlanner.next_play`` call of the
simulation (one a minute through the open hours; each asks every campaign's planner), against
the floor of asking the same planners alone (no sharing). Audience is compared, on the same
days, with the naive way (each campaign's plays spread evenly, one after the other) and with the
hindsight bound (each campaign's best schedule knowing the day, as if it had the screen to
itself; no schedule of the shared screen can reach more).
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime

from edge import campaign_plan
from edge.campaign_sim import campaign_rules, simulate_campaigns
from edge.planner import PlanRules
from edge.traffic import TrafficModel
from ihanoi.contract.campaigns import Campaign, from_registry
from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.opendays import Calendar
from ihanoi.contract.registry import load_registry
from ihanoi.tools.tracegen import DEFAULT_HOURS, generate_onsets

FIRST = date(2024, 9, 9)              # Monday; no holiday in the three weeks
LEARN_DAYS, DAYS = 7, 21
QUOTAS = [10, 6, 8, 4, 5, 6, 4, 3]     # the iHanoi campaign first, then the others'
GAPS = [15, 30, 20, 45, 30, 20, 60, 30]
CLIPS = [45.0, 60.0, 30.0, 90.0, 45.0, 30.0, 60.0, 45.0]
DIRECTIVE = {"number": "15/KH-UBND", "date": "2024-09-01", "issuer": "UBND quận Hai Bà Trưng"}


def campaigns(n: int) -> list[Campaign]:
    first = from_registry(load_registry())
    others = [Campaign(id=f"campaign-{i}", title=f"Campaign {i}", directive=DIRECTIVE, first_day=FIRST,
                       last_day=FIRST + timedelta(days=DAYS), content_id=f"pack-{i}", target={"all": True},
                       quota=QUOTAS[i], min_gap_minutes=GAPS[i], seek_peaks=i % 4 != 3)
              for i in range(1, n)]
    return [first] + others


class Timed(campaign_plan.CampaignPlanner):
    """The coordinator, timing each call of the simulation."""

    calls: list[float] = []

    def next_play(self, now, recent_onsets=()):
        t0 = time.perf_counter()
        chosen = super().next_play(now, recent_onsets)
        Timed.calls.append(time.perf_counter() - t0)
        return chosen


def per_call(fn, repeat: int = 200) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def at_half_past_nine(found, rules, model, onsets, day: date) -> tuple[float, float]:
    """One re-plan at 9:30 of ``day`` after a morning of plays: the coordinator, and its planners alone."""
    coordinator = campaign_plan.CampaignPlanner(model, campaign_rules(rules, {c.id: CLIPS[i] for i, c in
                                                                        enumerate(found)}), found)
    now = datetime.combine(day, dtime(7, 40), CAMPAIGN_TZ)
    while now.hour < 9 or now.minute < 30:
        recent = [t for t in onsets if now - coordinator.lookback <= t <= now]
        chosen = coordinator.next_play(now, recent)
        if chosen:
            coordinator.record_play(chosen.campaign, now, now + timedelta(seconds=45), chosen.reason)
        now += timedelta(minutes=1)
    recent = [t for t in onsets if now - coordinator.lookback <= t <= now]
    planners = [e.planner for e in coordinator.active(now)]
    return (per_call(lambda: coordinator.next_play(now, recent)),
            per_call(lambda: [p.next_play(now, recent) for p in planners]))


def main() -> None:
    rules = PlanRules(calendar=Calendar(DEFAULT_HOURS), quota=10)
    onsets = generate_onsets(FIRST, DAYS, seed=7)
    scored_from = FIRST + timedelta(days=LEARN_DAYS)
    print(f"{'campaigns':>9} | {'plays/day':>9} | {'at 9:30':>8} | {'planners alone':>14} | {'sim mean':>8} | "
          f"{'p95':>6} | {'max':>6} | {'vs hindsight':>12} | {'even (naive)':>12} | quotas met | rules kept")
    import edge.campaign_sim as sim
    sim.CampaignPlanner = Timed
    for n in (1, 2, 4, 8):
        Timed.calls = []
        found = campaigns(n)
        model = TrafficModel(DEFAULT_HOURS)
        result = simulate_campaigns(onsets, rules, found, FIRST, FIRST + timedelta(days=DAYS - 1), model=model,
                                    play_seconds={c.id: CLIPS[i] for i, c in enumerate(found)})
        days = [d for d in result.days if d.day >= scored_from]
        best = sum(d.hindsight_bound for d in days)
        calls = sorted(Timed.calls)
        shared, alone = at_half_past_nine(found, rules, model, onsets, FIRST + timedelta(days=15))
        short = result.short()
        p95 = calls[int(len(calls) * 0.95)]
        print(f"{n:>9} | {sum(sum(d.quota.values()) for d in days) / len(days):>9.0f} | {shared * 1e3:>5.2f} ms | "
              f"{alone * 1e3:>11.2f} ms | {statistics.mean(calls) * 1e3:>5.2f} ms | {p95 * 1e3:>3.1f} ms | "
              f"{calls[-1] * 1e3:>3.1f} ms | {sum(d.audience for d in days) / best:>12.1%} | "
              f"{sum(d.even_audience for d in days) / best:>12.1%} | {'yes' if not short else 'NO: ' + short[0]:>10} | "
              f"{'yes' if not result.violations else 'NO: ' + result.violations[0]}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("at 9:30: one CampaignPlanner.next_play after a morning of plays (every active campaign's planner "
          "re-plans, one play is chosen); planners alone: the same planners asked with nothing shared; "
          "sim: every call of the simulation. Goal: under 10 ms for 8.")


if __name__ == "__main__":
    main()
