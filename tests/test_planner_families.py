"""The planner on lobbies shaped unlike the generator's own (``tracegen.FAMILIES``): on each,
over three weeks, the plays keep every rule, meet the quota every open day, and share the
day between morning and late afternoon about as the best schedule in hindsight does."""

from datetime import date, timedelta

import pytest

from edge.planner import PlanRules
from edge.simulation import simulate
from ihanoi.contract.opendays import Calendar
from ihanoi.tools.tracegen import DEFAULT_HOURS, FAMILIES, generate_onsets

FIRST = date(2024, 8, 19)
RULES = PlanRules(calendar=Calendar(DEFAULT_HOURS, first_day=FIRST, last_day=date(2024, 10, 10)), quota=10)
WEEKS = 3
# How far the share of plays starting at 15:00 or later may stray from the hindsight best's.
# The wandering lobby moves its busy hour every week, so the week learned is the wrong one.
TOLERANCE = {name: 0.15 for name in FAMILIES} | {"wandering": 0.3}


# The flat, slightly rising lobby still spends its plays before 15:00 (10 % of them after it,
# against 37 % for the hindsight best on this trace): short bursts in the morning beat the
# small premium that a flat day's noise gives a play kept for later.
KNOWN_SHORT = {"flat"}


@pytest.mark.parametrize("family", [pytest.param(f, marks=pytest.mark.xfail(strict=True, reason="not yet followed"))
                                    if f in KNOWN_SHORT else f for f in FAMILIES])
def test_plays_after_15h_follow_the_hindsight_best(family):
    onsets = generate_onsets(FIRST, WEEKS * 7, seed=3, family=family)
    result = simulate(onsets, RULES, FIRST, FIRST + timedelta(days=WEEKS * 7 - 1))
    s = result.summary()
    assert s["violations"] == [] and s["quota_met_every_open_day"]
    planner, best = result.share_after(15)
    assert abs(planner - best) <= TOLERANCE[family], (planner, best, s["plays_by_hour"])
    assert s["audience_vs_hindsight"] > s["even_vs_hindsight"] + 0.15


def busiest_hour(onsets):
    hours = [t.hour for t in onsets if t.weekday() < 5 and 8 <= t.hour < 17 and t.hour != 12]
    return max(set(hours), key=hours.count)


def test_the_families_are_shaped_as_named_and_deterministic():
    gen = lambda family, seed=5: generate_onsets(FIRST, 14, seed=seed, family=family)
    assert gen("late") == gen("late") and gen("late") != gen("late", 6)
    assert busiest_hour(gen("late")) == 16
    assert busiest_hour(gen("two-peaks")) in (8, 16)
    assert busiest_hour(gen("lunch")) in (11, 13, 14)
    # the wandering lobby's busy hour moves from the morning to the afternoon between weeks 1 and 2
    wandering = gen("wandering")
    assert busiest_hour([t for t in wandering if t.date() < FIRST + timedelta(days=7)]) in (8, 9)
    assert busiest_hour([t for t in wandering if t.date() >= FIRST + timedelta(days=7)]) in (15, 16)
    # the drifting lobby is busier in its first week than in its last
    drift = generate_onsets(FIRST, 42, seed=5, family="drift")
    first, last = (sum(1 for t in drift if (t.date() - FIRST).days // 7 == w) for w in (0, 5))
    assert first > 1.5 * last
    with pytest.raises(ValueError, match="late, flat"):
        generate_onsets(FIRST, 7, family="evening")
