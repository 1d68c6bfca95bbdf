"""The demo's learned start and its printout: a board starts from the weeks it would have learned,
and each day's plays are shown hour by hour beside the day's traffic."""

from datetime import date, datetime, timedelta

import numpy as np

from edge.traffic import TrafficModel
from ihanoi.contract.registry import load_registry
from ihanoi.tools.demo import hours_against_traffic, learn_lobby, parse_args
from ihanoi.tools.tracegen import generate_onsets


def test_a_demo_board_starts_from_its_lobbys_learned_weeks(tmp_path):
    registry = load_registry()
    unit = next(u for u in registry.units if u.kind == "ward")
    hours = registry.hours_of(unit)
    onsets = generate_onsets(date(2024, 8, 12), 21, hours=hours, seed=4, family="late")
    path = tmp_path / "traffic.json"
    learn_lobby(onsets, unit, registry, path)
    model = TrafficModel.load(path, hours)
    assert model.days_observed.tolist() == [3, 3, 3, 3, 3, 0, 0]            # three weeks of weekdays
    row = model.expected(date(2024, 9, 4))
    assert 16 * 12 <= int(np.argmax(row)) < 17 * 12            # the late lobby's busiest hour was learned
    prior = TrafficModel(hours, kind=unit.kind).expected(date(2024, 9, 4))
    assert not np.allclose(row, prior)


def test_the_default_is_a_board_in_service():
    assert parse_args([]).learned_weeks == 3 and parse_args(["--learned-weeks", "0"]).learned_weeks == 0


def test_the_printout_puts_each_hours_plays_beside_its_traffic():
    utc = lambda h, m=0: (datetime(2024, 9, 4, h, m) - timedelta(hours=7)).isoformat(sep=" ")   # 7:00 in Hanoi is 0:00 UTC
    bins = [(utc(8), 30), (utc(9), 10), (utc(15), 60), (utc(3), 0)]
    plays = [(utc(8, 10),), (utc(15, 5),), (utc(15, 20),), (utc(15, 40),)]
    lines = hours_against_traffic(plays, bins)[date(2024, 9, 4)]
    assert lines[0].split()[1:] == ["8", "9", "15"]
    assert lines[1].split()[1:] == ["30%", "10%", "60%"]
    assert lines[2].split()[1:4] == ["25%", "0%", "75%"] and "1 before noon" in lines[2]
