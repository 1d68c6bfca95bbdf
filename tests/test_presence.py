"""Presence: motion onsets with a re-trigger hold (PIR on gpiozero's MockFactory, or a trace),
5-minute bins handed to the agent, and the audience of a play."""

import time
from datetime import datetime, timedelta

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.presence import PirSource, Presence, TraceSource, apply_hold, read_trace
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.errors import ConfigError

T0 = datetime(2024, 9, 4, 9, 0, tzinfo=CAMPAIGN_TZ)


@pytest.fixture
def mock_pins():
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


def _wait(condition, timeout=3.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the sensor's edge never reached presence")
        time.sleep(0.005)


def test_pir_counts_one_person_once_with_the_retrigger_hold(mock_pins):
    clock = SimClock(T0)
    bins = []
    presence = Presence(clock, hold_seconds=8, on_bin=lambda *b: bins.append(b))
    presence.attach(PirSource(pin=5, sample_rate=100))
    pin = mock_pins.pin(5)

    def pulse(high_for: float, then_quiet: float):
        rises, falls = presence.edges, presence.falls
        pin.drive_high()
        _wait(lambda: presence.edges == rises + 1)
        clock.advance(high_for)
        pin.drive_low()
        _wait(lambda: presence.falls == falls + 1)
        clock.advance(then_quiet)

    # One person walking past: the output re-triggers three times within the hold.
    pulse(2.0, 1.0)
    pulse(3.0, 2.0)
    pulse(2.5, 20.0)
    assert presence.total_onsets == 1 and presence.edges == 3
    # Someone else after a quiet spell longer than the hold.
    pulse(2.0, 5.0)
    assert presence.total_onsets == 2
    # Motion 5 s after the sensor went low is still the same person.
    pulse(1.0, 0.0)
    assert presence.total_onsets == 2
    clock.advance(300)
    presence.tick()
    assert bins == [(T0, 300, 2)]
    presence.close()


def test_bins_close_on_their_5_minute_boundaries_including_empty_ones():
    clock = SimClock(T0 + timedelta(minutes=2))
    bins = []
    presence = Presence(clock, hold_seconds=8, on_bin=lambda *b: bins.append(b))
    for offset in (130, 150, 190, 700):            # seconds after 9:00
        presence.motion(T0 + timedelta(seconds=offset))
    presence.tick(T0 + timedelta(minutes=16))
    assert bins == [(T0, 300, 3), (T0 + timedelta(minutes=5), 300, 0), (T0 + timedelta(minutes=10), 300, 1)]
    assert all(b[0].tzinfo is not None and b[0].utcoffset() == timedelta(hours=7) for b in bins)
    assert presence.day_bins(T0.date())[108:111].tolist() == [3, 0, 1]   # 9:00 is bin 108


def test_a_clock_jump_does_not_invent_a_day_of_empty_bins():
    bins = []
    presence = Presence(SimClock(T0), on_bin=lambda *b: bins.append(b))
    presence.motion(T0 + timedelta(seconds=10))
    presence.tick(T0 + timedelta(days=400))
    assert bins == [(T0, 300, 1)]


def test_audience_is_onsets_from_five_minutes_before_the_start_to_the_end():
    presence = Presence(SimClock(T0), hold_seconds=0)
    start = T0 + timedelta(minutes=10)
    end = start + timedelta(seconds=45)
    for t in (start - timedelta(minutes=5, seconds=1), start - timedelta(minutes=5), start - timedelta(seconds=1),
              start + timedelta(seconds=30), end, end + timedelta(seconds=1)):
        presence.motion(t)
    assert presence.audience(start, end) == 4


def test_apply_hold_matches_presence_edge_by_edge():
    times = [T0 + timedelta(seconds=s) for s in (0, 3, 7, 20, 27, 40, 60)]
    presence = Presence(SimClock(T0), hold_seconds=8)
    for t in times:
        presence.motion(t)
        presence.no_motion(t)
    assert presence.total_onsets == len(apply_hold(times, 8)) == 4


def test_trace_replay_feeds_onsets_only_as_the_clock_passes_them(tmp_path):
    path = tmp_path / "trace.csv"
    path.write_text("timestamp\n2024-09-04T09:00:20+07:00\n2024-09-04 09:03:00\n2024-09-04T02:10:00Z\n")
    onsets = read_trace(path)
    assert onsets[0] == datetime(2024, 9, 4, 9, 0, 20, tzinfo=CAMPAIGN_TZ)
    assert onsets[1] == datetime(2024, 9, 4, 9, 3, tzinfo=CAMPAIGN_TZ)        # no offset: campaign zone
    assert onsets[2] == datetime(2024, 9, 4, 9, 10, tzinfo=CAMPAIGN_TZ)
    clock = SimClock(T0)
    presence = Presence(clock).attach(TraceSource(path))
    clock.advance(60)
    presence.tick()
    assert presence.total_onsets == 1
    clock.advance(600)
    presence.tick()
    assert presence.total_onsets == 3


@pytest.mark.parametrize("content, where", [
    ("time\n2024-09-04T09:00:00+07:00\n", "'timestamp' column"),
    ("timestamp\n2024-09-04T09:00:00+07:00\nyesterday\n", "line 3"),
])
def test_a_bad_trace_names_the_file_and_line(tmp_path, content, where):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ConfigError, match=where) as err:
        read_trace(path)
    assert str(path) in str(err.value)


# --- the rules at their edges -------------------------------------------------------------------
def test_apply_hold_counts_a_start_exactly_one_hold_after_the_last_as_new_in_seconds_or_datetimes():
    seconds = [0.0, 8.0, 15.0, 24.0, 30.0]            # quiet of 8, 7, 9, 6 s
    assert apply_hold(seconds, 8) == [0.0, 8.0, 24.0]
    times = [T0 + timedelta(seconds=s) for s in seconds]
    assert apply_hold(times, 8) == [times[0], times[1], times[3]]
    assert apply_hold([], 8) == []


def test_the_default_hold_is_8_seconds_and_every_fall_is_counted():
    presence = Presence(SimClock(T0))
    for s in (0, 8, 15):
        presence.motion(T0 + timedelta(seconds=s))
        presence.no_motion(T0 + timedelta(seconds=s))
    assert presence.total_onsets == 2 and presence.edges == 3 and presence.falls == 3
    # a rise within the hold of the last rise, with no fall seen in between, is the same person
    assert presence.motion(T0 + timedelta(seconds=40)) and not presence.motion(T0 + timedelta(seconds=43))


def test_a_bin_length_that_does_not_divide_a_day_is_refused_naming_it():
    with pytest.raises(ValueError, match="bin_seconds=7 must divide a day"):
        Presence(SimClock(T0), bin_seconds=7)


@pytest.mark.parametrize("bin_seconds", [1, 300])
def test_a_day_without_onsets_has_a_zero_for_each_of_its_bins(bin_seconds):
    presence = Presence(SimClock(T0), bin_seconds=bin_seconds)
    presence.motion(T0)
    empty = presence.day_bins(T0.date() + timedelta(days=1))
    assert empty.shape == (86_400 // bin_seconds,) and not empty.any()
    counted = presence.day_bins(T0.date())
    assert counted.shape == empty.shape and counted.sum() == 1


def test_the_counts_of_the_last_two_days_are_kept_by_default():
    presence = Presence(SimClock(T0), hold_seconds=0)
    for day in range(3):
        presence.motion(T0 + timedelta(days=day))
    assert [presence.day_bins(T0.date() + timedelta(days=d)).sum() for d in range(3)] == [0, 1, 1]


def test_old_onsets_are_forgotten_and_the_recent_ones_all_kept():
    """Onsets older than ``keep`` (2 h) go once there are many; recent ones, and the audience, stay."""
    presence = Presence(SimClock(T0), hold_seconds=0)
    onsets = [T0 + timedelta(seconds=10 * i) for i in range(2000)]      # 5 h 33 min of a busy lobby
    for t in onsets:
        presence.motion(t)
    now = onsets[-1]
    presence.tick(now)
    recent = [t for t in onsets if t >= now - timedelta(hours=2)]
    assert presence.onsets_since(T0) == recent
    assert presence.onsets_since(now - timedelta(minutes=1)) == onsets[-7:]
    assert presence.audience(now - timedelta(minutes=1), now) == 37        # from 6 minutes back


def test_bins_longer_than_an_hour_start_at_midnight_and_its_multiples():
    bins = []
    presence = Presence(SimClock(T0), bin_seconds=7200, on_bin=lambda *b: bins.append(b))
    presence.motion(T0 + timedelta(minutes=30))                   # 9:30 is in the 8:00-10:00 bin
    presence.tick(T0 + timedelta(hours=1, minutes=5))
    assert bins == [(T0 - timedelta(hours=1), 7200, 1)]


def test_up_to_a_day_of_missed_bins_is_reported_and_a_longer_jump_says_so_and_starts_afresh(caplog):
    bins = []
    presence = Presence(SimClock(T0), on_bin=lambda *b: bins.append(b))
    presence.motion(T0)
    presence.tick(T0 + timedelta(days=1))                         # exactly the backfill allowed
    assert len(bins) == 288 and bins[0] == (T0, 300, 1) and bins[-1] == (T0 + timedelta(minutes=1435), 300, 0)
    bins.clear()
    jumped = T0 + timedelta(days=3, minutes=2)
    with caplog.at_level("WARNING", logger="edge.presence"):
        presence.tick(jumped)
    assert bins == [(T0 + timedelta(days=1), 300, 0)]
    assert [r.getMessage() for r in caplog.records] == [
        "presence: clock moved 2 days, 0:00:00 ahead; not reporting the bins in between"]
    presence.tick(jumped + timedelta(minutes=5))
    assert bins[1:] == [(T0 + timedelta(days=3), 300, 0)], "the bin open at the jump starts empty"
