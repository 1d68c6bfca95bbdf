"""How long the planner takes: one exact plan, one online decision, five simulated weeks.

    .venv/bin/python bench/bench_planner.py

Figures are for the machine it runs on; a Pi 4 is several times slower per call. The
printed lines are the ones docs/planner.md quotes.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

from edge.planner import Planner, PlanRules, hindsight_best, plan_day
from edge.simulation import simulate
from edge.traffic import TrafficModel
from ihanoi.contract.clock import CAMPAIGN_TZ
from ihanoi.contract.opendays import Calendar
from ihanoi.tools.tracegen import DEFAULT_HOURS, generate_onsets

FIRST = date(2024, 8, 19)
RULES = PlanRules(calendar=Calendar(DEFAULT_HOURS, first_day=FIRST, last_day=date(2024, 10, 10)), quota=10)


def per_call(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    onsets = generate_onsets(FIRST, 35, seed=1)
    day = date(2024, 9, 4)
    day_onsets = [t for t in onsets if t.date() == day]
    model = TrafficModel(DEFAULT_HOURS)
    print(f"plan_day (exact DP, 10 plays over 1440 minute slots): {per_call(lambda: plan_day(day, model, RULES), 200) * 1e3:.2f} ms")
    print(f"hindsight_best (same, on {len(day_onsets)} real onsets):          "
          f"{per_call(lambda: hindsight_best(day, day_onsets, RULES), 200) * 1e3:.2f} ms")
    planner = Planner(RULES, model)
    now = datetime(2024, 9, 4, 8, 30, tzinfo=CAMPAIGN_TZ)
    recent = [t for t in day_onsets if now - planner.lookback <= t <= now]
    print(f"Planner.next_play (online re-plan at 8:30):               "
          f"{per_call(lambda: planner.next_play(now, recent), 500) * 1e3:.2f} ms")
    start = time.perf_counter()
    result = simulate(onsets, RULES, FIRST, FIRST + timedelta(days=34))
    took = time.perf_counter() - start
    s = result.summary()
    print(f"simulate five weeks (presence + planner, one call a minute): {took:.2f} s; "
          f"planner {s['audience_vs_hindsight']:.1%} / even {s['even_vs_hindsight']:.1%} of hindsight")


if __name__ == "__main__":
    main()
