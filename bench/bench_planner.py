"""How well and how fast the planner plays: every trace family, several seeds, against the best
schedule in hindsight, an even spread and the morning plan alone, in the same run.

    .venv/bin/python bench/bench_planner.py [--seeds 4] [--weeks 6] [--family NAME ...] [--no-outage]

For each family of ``ihanoi.tools.tracegen.FAMILIES`` and each seed: six weeks of generated
traffic (ward hours Mon-Fri 08:00-12:00 and 13:30-17:00, quota 10, gap 15 min, 45-s plays),
one learning week, then the audience as a share of the best in hindsight; the plays per day
after 15:00 beside the hindsight best's; the quota and the rules checked on every open day.
Then the afternoon outage (the agent down from 15:00 to closing on every open day of weeks
2-3) on every family, and the cost of one plan and one online decision. Figures are for the
machine it runs on; a Pi 4 is several times slower per call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchlib  # noqa: E402  (this folder is on sys.path)
from edge.planner import Planner, PlanRules, hindsight_best, plan_day  # noqa: E402
from edge.simulation import simulate  # noqa: E402
from edge.traffic import TrafficModel  # noqa: E402
from ihanoi.contract.clock import CAMPAIGN_TZ  # noqa: E402
from ihanoi.contract.opendays import Calendar  # noqa: E402
from ihanoi.tools.tracegen import DEFAULT_HOURS, FAMILIES, generate_onsets  # noqa: E402

FIRST = date(2024, 8, 19)
RULES = PlanRules(calendar=Calendar(DEFAULT_HOURS, first_day=FIRST, last_day=date(2024, 10, 10)), quota=10)


def per_call(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def timings() -> None:
    onsets = generate_onsets(FIRST, 35, seed=1)
    day = date(2024, 9, 4)
    day_onsets = [t for t in onsets if t.date() == day]
    model = TrafficModel(DEFAULT_HOURS)
    print(f"plan_day (exact DP, 10 plays over 1440 minute slots): {per_call(lambda: plan_day(day, model, RULES), 200) * 1e3:.2f} ms")
    print(f"hindsight_best (same, on {len(day_onsets)} real onsets):          "
          f"{per_call(lambda: hindsight_best(day, day_onsets, RULES), 200) * 1e3:.2f} ms")
    for hh, mm in ((8, 30), (14, 0)):
        planner = Planner(RULES, model)
        planner.next_play(datetime(2024, 9, 4, 7, 55, tzinfo=CAMPAIGN_TZ))
        now = datetime(2024, 9, 4, hh, mm, tzinfo=CAMPAIGN_TZ)
        recent = [t for t in day_onsets if now - planner.lookback <= t <= now]
        print(f"Planner.next_play (online re-plan at {hh}:{mm:02d}):               "
              f"{per_call(lambda: planner.next_play(now, recent), 500) * 1e3:.2f} ms")


def outage_spans(first: date, weeks: range, rules: PlanRules):
    """The agent down from 15:00 to closing on every open day of ``weeks`` (0 is the first)."""
    out = []
    for d in range(weeks.start * 7, weeks.stop * 7):
        day = first + timedelta(days=d)
        if rules.calendar.is_open(day):
            close = rules.hours.windows(day, rules.tz)[-1][1]
            out.append((datetime(day.year, day.month, day.day, 15, tzinfo=rules.tz), close))
    return out


def run(family: str, seed: int, weeks: int, outages=()):
    onsets = generate_onsets(FIRST, weeks * 7, seed=seed, family=family)
    return simulate(onsets, RULES, FIRST, FIRST + timedelta(days=weeks * 7 - 1), outages=outages)


def families(names, seeds, weeks) -> bool:
    print(f"\n{weeks} weeks per trace, seeds {', '.join(map(str, seeds))}; share of the best in hindsight after the first week")
    print(f"{'family':<10} {'planner':>8} {'min seed':>9} {'morning plan':>13} {'even':>6}   "
          f"{'plays/day after 15:00 planner / hindsight':<42} quota, rules")
    ok = True
    for name in names:
        rows, took = [], time.perf_counter()
        for seed in seeds:
            rows.append(run(name, seed, weeks))
        took = time.perf_counter() - took
        s = [r.summary() for r in rows]
        planner = [x["audience_vs_hindsight"] for x in s]
        after = [sum(c for h, c in r.plays_by_hour()[k].items() if h >= 15) for r in rows for k in ("planner", "hindsight")]
        quota = all(x["quota_met_every_open_day"] for x in s)
        broken = sum(len(x["violations"]) for x in s)
        ok &= quota and not broken and statistics.mean(planner) >= 0.90 and min(planner) >= 0.85
        print(f"{name:<10} {statistics.mean(planner):8.1%} {min(planner):9.1%} "
              f"{statistics.mean(x['static_vs_hindsight'] for x in s):13.1%} "
              f"{statistics.mean(x['even_vs_hindsight'] for x in s):6.1%}   "
              f"{statistics.mean(after[0::2]):4.1f} / {statistics.mean(after[1::2]):<4.1f}"
              f"{'':<31} {'met' if quota else 'MISSED'}, {broken} broken   ({took:.0f} s)")
    return ok


def outage(names, seed, weeks) -> bool:
    print(f"\nthe agent down 15:00-closing on every open day of weeks 2-3 ({weeks} weeks, seed {seed})")
    ok = True
    for name in names:
        result = run(name, seed, weeks, outage_spans(FIRST, range(1, 3), RULES))
        opened = [d for d in result.days if d.open]
        unmade = sum(max(0, d.quota - d.plays) for d in opened)
        short = sum(1 for d in opened if d.plays < d.quota)
        ok &= unmade == 0 and not result.violations
        print(f"{name:<10} plays unmade {unmade:3d} (days short {short} of {len(opened)}), rules broken {len(result.violations)}")
    return ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--weeks", type=int, default=6)
    p.add_argument("--family", action="append", choices=list(FAMILIES))
    p.add_argument("--no-outage", action="store_true")
    p.add_argument("--no-timings", action="store_true")
    args = p.parse_args(argv)
    names = args.family or list(FAMILIES)
    with benchlib.session("planner"):
        if not args.no_timings:
            timings()
        ok = families(names, list(range(1, args.seeds + 1)), args.weeks)
        if not args.no_outage:
            ok &= outage(names, 1, 3)
    print("\ngoal (>= 90 % per family, >= 85 % per seed, quota and rules everywhere):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
