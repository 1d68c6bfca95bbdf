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

import argparse
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402  (this folder is on sys.path)
from edge import campaign_plan  # noqa: E402
from edge.campaign_sim import campaign_rules, simulate_campaigns  # noqa: E402
from edge.planner import PlanRules  # noqa: E402
from edge.traffic import TrafficModel  # noqa: E402
from ihanoi.contract.campaigns import Campaign, from_registry  # noqa: E402
from ihanoi.contract.clock import CAMPAIGN_TZ  # noqa: E402
from ihanoi.contract.opendays import Calendar  # noqa: E402
from ihanoi.contract.registry import load_registry  # noqa: E402
from ihanoi.tools.tracegen import DEFAULT_HOURS, generate_onsets  # noqa: E402

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


def one_size(n: int, rules, onsets, scored_from) -> dict:
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
    return {"plays": sum(sum(d.quota.values()) for d in days) / len(days), "shared": shared * 1e3,
            "alone": alone * 1e3, "mean": statistics.mean(calls) * 1e3, "p95": calls[int(len(calls) * 0.95)] * 1e3,
            "max": calls[-1] * 1e3, "audience": sum(d.audience for d in days) / best,
            "even": sum(d.even_audience for d in days) / best,
            "quotas": "yes" if not short else "NO: " + short[0],
            "rules": "yes" if not result.violations else "NO: " + result.violations[0]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=2, help="runs of each size (at least 2)")
    args = p.parse_args(argv)
    rules = PlanRules(calendar=Calendar(DEFAULT_HOURS), quota=10)
    onsets = generate_onsets(FIRST, DAYS, seed=7)
    scored_from = FIRST + timedelta(days=LEARN_DAYS)
    import edge.campaign_sim as sim
    sim.CampaignPlanner = Timed
    rows = {}
    with benchlib.session("campaigns"):
        for n in (1, 2, 4, 8):
            rows[n] = benchlib.repeat(args.runs, lambda _i: one_size(n, rules, onsets, scored_from), f"{n} campaigns")
    sp = benchlib.spread
    print(f"\n{args.runs} runs of each size, times min / median / max (the plays are the same in every run)")
    print("| campaigns | plays/day | re-plan at 9:30 | planners alone | re-plan, mean of the simulation | p95 | max "
          "| audience ÷ hindsight bound | even spread ÷ bound | quotas met | rules kept |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for n, runs in rows.items():
        first = runs[0]
        same = all((r["audience"], r["quotas"], r["rules"]) == (first["audience"], first["quotas"], first["rules"])
                   for r in runs)
        print(f"| {n} | {first['plays']:.0f} | {sp([r['shared'] for r in runs], '{:.2f} ms')} | "
              f"{sp([r['alone'] for r in runs], '{:.2f} ms')} | {sp([r['mean'] for r in runs], '{:.2f} ms')} | "
              f"{sp([r['p95'] for r in runs], '{:.1f} ms')} | {sp([r['max'] for r in runs], '{:.1f} ms')} | "
              f"{first['audience']:.1%}{'' if same else ' (runs differ!)'} | {first['even']:.1%} | "
              f"{first['quotas']} | {first['rules']} |")
    print("at 9:30: one CampaignPlanner.next_play after a morning of plays (every active campaign's planner "
          "re-plans, one play is chosen); planners alone: the same planners asked with nothing shared; "
          "the simulation: every call of it. Goal: under 10 ms for 8.")


if __name__ == "__main__":
    main()
