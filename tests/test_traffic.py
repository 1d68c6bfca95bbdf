"""The traffic model: a prior from the opening hours, learning with recent weeks weighing more,
and persistence across a restart."""

import json
import typing
from datetime import date, timedelta

import numpy as np
import pytest

from edge.traffic import KIND_PRIORS, TrafficModel, TrafficModelError, bin_index
from ihanoi.contract.registry import UnitKind
from ihanoi.contract.hours import OpeningHours

HOURS = OpeningHours(**{d: ("08:00-12:00", "13:30-17:00") for d in ("mon", "tue", "wed", "thu", "fri")})
TUESDAY = date(2024, 8, 20)


def _bin(h, m=0):
    return (h * 3600 + m * 60) // 300


@pytest.mark.parametrize("kind", [k for k in KIND_PRIORS])
def test_every_kinds_prior_is_busy_in_opening_hours_and_not_morning_shaped(kind):
    row = TrafficModel(HOURS, kind=kind).expected(TUESDAY)
    assert row.shape == (288,)
    open_mean = row[_bin(8):_bin(12)].mean()
    assert row[_bin(3)] < open_mean / 20 and row[_bin(12, 30)] < open_mean / 20
    morning, afternoon = row[_bin(8):_bin(12)].mean(), row[_bin(13, 30):_bin(17)].mean()
    assert 0.75 <= morning / afternoon <= 1.33          # no kind spends the day on the morning
    sunday = TrafficModel(HOURS, kind=kind).expected(date(2024, 8, 25))
    assert sunday.max() < open_mean / 20


def test_the_kinds_differ_where_their_lobbies_do():
    clinic = TrafficModel(HOURS, kind="health").expected(TUESDAY)
    school = TrafficModel(HOURS, kind="education").expected(TUESDAY)
    assert _bin(8) <= int(np.argmax(clinic)) < _bin(9, 30)               # the early-morning queue
    assert school[_bin(16, 30):_bin(17)].mean() > school[_bin(10):_bin(11)].mean() * 1.3   # pick-up
    assert set(KIND_PRIORS) - {None} == set(typing.get_args(UnitKind))  # every kind of the registry


def test_an_unknown_kind_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="ward, department, health, education, organisation"):
        TrafficModel(HOURS, kind="ministry")


def test_a_learned_week_replaces_the_prior():
    model = TrafficModel(HOURS, kind="education")
    day = np.zeros(288)
    day[_bin(9):_bin(10)] = 10
    model.observe_day(TUESDAY, day)
    row = model.expected(TUESDAY)
    assert _bin(9) <= int(np.argmax(row)) < _bin(10) and row[_bin(16, 45)] < 1


def _noisy_days(model, spread, weeks=8, seed=0):
    rng = np.random.default_rng(seed)
    mean = np.where((np.arange(288) >= _bin(8)) & (np.arange(288) < _bin(17)), 6.0, 0.0)
    for w in range(weeks):
        level = rng.gamma(1 / spread, spread, 288) if spread else np.ones(288)
        model.observe_day(TUESDAY + timedelta(days=7 * w), rng.poisson(mean * level))
    return model


def test_the_spread_of_days_around_the_model_is_learned():
    steady = _noisy_days(TrafficModel(HOURS), 0.0).spread
    wild = _noisy_days(TrafficModel(HOURS), 0.5).spread
    assert steady < 0.1 and wild > 0.3 and wild > 3 * steady


def test_the_spread_survives_a_restart_and_a_bad_one_is_refused(tmp_path):
    model = _noisy_days(TrafficModel(HOURS), 0.5)
    path = tmp_path / "traffic.json"
    model.save(path)
    assert TrafficModel.load(path, HOURS).spread == pytest.approx(model.spread, abs=1e-4)
    data = json.loads(path.read_text())
    data["spread"] = -1
    path.write_text(json.dumps(data))
    with pytest.raises(TrafficModelError, match="spread"):
        TrafficModel.load(path, HOURS)


def test_recent_weeks_weigh_more():
    model = TrafficModel(HOURS, decay=0.6)
    busy = np.zeros(288)
    busy[_bin(15)] = 20
    model.observe_day(TUESDAY, busy)
    after_one = model.expected(TUESDAY)[_bin(15)]
    assert after_one > 15                      # the first real week outweighs the prior
    model.observe_day(TUESDAY + timedelta(days=7), np.zeros(288))
    after_two = model.expected(TUESDAY)[_bin(15)]
    assert after_two < 10                      # the newer, quiet week counts more than the older busy one
    # Another weekday is untouched.
    assert model.expected(TUESDAY + timedelta(days=1))[_bin(15)] == TrafficModel(HOURS).expected(TUESDAY)[_bin(15)]


def test_a_day_is_learned_once_and_unknown_bins_keep_what_was_known():
    model = TrafficModel(HOURS)
    counts = np.full(288, 3.0)
    counts[_bin(9):_bin(11)] = np.nan         # the agent was down: unknown, not zero
    before = model.expected(TUESDAY)
    model.observe_day(TUESDAY, counts)
    row = model.expected(TUESDAY)
    assert np.allclose(row[_bin(9):_bin(11)], before[_bin(9):_bin(11)])
    assert row[_bin(14)] == pytest.approx((0.3 * before[_bin(14)] + 3) / 1.3)
    model.observe_day(TUESDAY, np.full(288, 100.0))
    assert np.allclose(model.expected(TUESDAY), row)


def test_observe_day_refuses_a_wrong_number_of_bins():
    with pytest.raises(ValueError, match="288 bins"):
        TrafficModel(HOURS).observe_day(TUESDAY, [1, 2, 3])


def test_the_model_survives_a_restart(tmp_path):
    path = tmp_path / "data" / "traffic.json"
    model = TrafficModel(HOURS)
    rng = np.random.default_rng(3)
    for week in range(3):
        for d in range(5):
            model.observe_day(date(2024, 8, 19) + timedelta(days=7 * week + d), rng.poisson(2.0, 288))
    model.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["traffic.json"]   # no temp file left behind

    restarted = TrafficModel.load_or_prior(path, HOURS)
    for d in range(7):
        day = date(2024, 9, 2) + timedelta(days=d)
        assert np.allclose(restarted.expected(day), model.expected(day), atol=1e-4)
    assert restarted.last_day == model.last_day
    # It keeps learning where it left off: the same next day gives the same result.
    nxt = rng.poisson(4.0, 288)
    model.observe_day(date(2024, 9, 9), nxt)
    restarted.observe_day(date(2024, 9, 9), nxt)
    assert np.allclose(restarted.expected(date(2024, 9, 9)), model.expected(date(2024, 9, 9)), atol=1e-3)


def test_no_file_means_the_prior(tmp_path):
    model = TrafficModel.load_or_prior(tmp_path / "absent.json", HOURS)
    assert np.allclose(model.expected(TUESDAY), TrafficModel(HOURS).expected(TUESDAY))


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a readable traffic model"),
    (json.dumps({"format": "something/else"}), "format"),
    (json.dumps({"format": "ihanoi.traffic-model/1", "bin_seconds": 300, "decay": 0.6, "weekdays": []}), "7 entries"),
])
def test_a_damaged_model_file_says_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "traffic.json"
    path.write_text(content)
    with pytest.raises(TrafficModelError, match=message) as err:
        TrafficModel.load(path, HOURS)
    assert str(path) in str(err.value) and "delete it" in str(err.value)


def test_bin_index():
    from datetime import datetime

    from ihanoi.contract.clock import CAMPAIGN_TZ
    assert bin_index(datetime(2024, 8, 20, 9, 7, 30, tzinfo=CAMPAIGN_TZ)) == _bin(9, 5)
    assert bin_index(datetime(2024, 8, 20, 23, 59, 59, tzinfo=CAMPAIGN_TZ)) == 287
