"""The player: drift-free pacing on a simulated clock, late and dropped frames, interruption, watchdog hook."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from edge.panel.recorder import RecorderPanel
from edge.player import Player


def pack(durations, width=8, height=4):
    frames = [np.full((height, width, 3), i % 256, np.uint8) for i in range(len(durations))]
    return SimpleNamespace(frames=frames, durations=np.asarray(durations, float))


class SlowPanel(RecorderPanel):
    """A recorder whose ``show`` takes ``cost`` seconds of the simulated clock (a busy Pi)."""

    def __init__(self, clock, cost, stalls=None):
        super().__init__(SimpleNamespace(width=8, height=4, brightness=100), keep=None, clock=clock)
        self.cost = cost
        self.stalls = stalls or {}

    def _present(self, frame):
        super()._present(frame)
        self.clock.advance(self.cost + self.stalls.get(len(self.frames) - 1, 0.0))


def test_frames_start_exactly_on_schedule_despite_slow_shows(sim_clock):
    panel = SlowPanel(sim_clock, cost=0.007)
    compiled = pack([1 / 30] * 300)
    t0 = sim_clock.monotonic()
    result = Player(panel, sim_clock).play(compiled)
    shown_at = np.asarray(panel.times) - t0  # when each show began
    expected = np.arange(300) / 30
    assert result.completed and result.frames_shown == 300
    assert np.max(np.abs(shown_at - expected)) < 1e-9  # no drift after 300 frames
    assert result.late == result.dropped == 0
    assert (result.ended - result.started).total_seconds() == pytest.approx(10.0)


def test_mixed_durations_are_kept(sim_clock):
    panel = SlowPanel(sim_clock, cost=0.0)
    durations = [0.12, 0.12, 0.4, 0.05, 2.0, 0.1]
    t0 = sim_clock.monotonic()
    Player(panel, sim_clock).play(pack(durations))
    starts = np.asarray(panel.times) - t0
    assert starts == pytest.approx(np.concatenate([[0], np.cumsum(durations)[:-1]]))


def test_a_stall_drops_the_frames_whose_time_has_passed_and_counts_late_ones(sim_clock):
    # frame 10 takes 110 ms more: frames 11 and 12 (33 ms each) are past, 13 is shown late
    panel = SlowPanel(sim_clock, cost=0.001, stalls={10: 0.11})
    result = Player(panel, sim_clock).play(pack([1 / 30] * 60))
    assert result.dropped == 2
    assert result.late == 1
    assert result.frames_shown == 58
    assert result.completed
    # pacing recovers: the frame after the stall is back on the original grid
    assert panel.frames[12][0, 0, 0] == 14


def test_stop_event_ends_the_play_between_frames(sim_clock):
    panel = SlowPanel(sim_clock, cost=0.0)
    stop = threading.Event()
    calls = []

    def on_frame(shown):
        calls.append(shown)
        if shown == 40:
            stop.set()

    result = Player(panel, sim_clock, on_frame=on_frame, on_frame_every=10).play(pack([0.04] * 100), stop)
    assert calls == [10, 20, 30, 40]
    assert not result.completed
    assert result.frames_shown == 40


def test_a_long_still_is_interruptible(sim_clock):
    stop = threading.Event()

    class StopLater:
        """A clock that sets the stop event 1.5 s into the play."""

        def __init__(self, clock):
            self.clock = clock

        def __getattr__(self, name):
            return getattr(self.clock, name)

        def sleep(self, seconds):
            self.clock.sleep(seconds)
            if self.clock.monotonic() - t0 >= 1.5:
                stop.set()

    t0 = sim_clock.monotonic()
    panel = SlowPanel(sim_clock, cost=0.0)
    result = Player(panel, StopLater(sim_clock), max_wait=0.1).play(pack([60.0, 1.0]), stop)
    assert not result.completed
    assert result.frames_shown == 1
    assert sim_clock.monotonic() - t0 == pytest.approx(1.5, abs=0.11)


def test_the_frame_loop_allocates_no_frames(sim_clock):
    import tracemalloc

    from edge.panel.null import NullPanel

    compiled = pack([1 / 30] * 600, width=256, height=128)
    panel = NullPanel(SimpleNamespace(width=256, height=128, brightness=100))
    player = Player(panel, sim_clock)
    player.play(compiled)  # warm up
    tracemalloc.start()
    result = player.play(compiled)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.frames_shown == 600
    assert peak < 256 * 128 * 3  # less than one frame for a 600-frame play: nothing per frame
