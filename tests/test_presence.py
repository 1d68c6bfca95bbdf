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
