"""A TV agent on simulated time (``--speed N``): mpv plays the clip at the clock's speed, and proof of
play still comes from mpv's own positions, measured against that speed.

A 15 s clip takes 15 simulated seconds whatever the speed (15/N real seconds); an mpv that
played faster than it was asked, or skipped, does not make a completed play. A clock that
moves only when told (the tests' ``SimClock`` without a speed) is moved by the real time the
play took, and mpv plays in real time.
"""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest

from edge.hdmi import HdmiPlayer, HdmiSettings, load_promo
from edge.hdmi.player import MPV_MAX_SPEED
from edge.hdmi.witness import Witness
from ihanoi.contract.clock import CAMPAIGN_TZ, RealClock, SimClock
from tests.hdmi_support import make_tv_pack, needs_mpv, short_dir

T0 = datetime(2024, 9, 4, 9, 0, tzinfo=CAMPAIGN_TZ)


def test_positions_may_run_at_the_speed_mpv_was_asked_for_and_no_faster():
    def witness(rate: float, mpv_speed: float) -> Witness:
        w = Witness(6.0, rate=rate)
        w.first_frame(0.0)
        for i in range(6 * 25):                   # a frame's position every 1/25 clip second
            w.position(i / 25 / mpv_speed, i / 25)
        w.ended(6.0 / mpv_speed, "eof")
        return w

    assert witness(rate=20, mpv_speed=20).completed
    assert witness(rate=100, mpv_speed=100).completed
    cheat = witness(rate=1, mpv_speed=40)         # a simulated clock's clip on a real clock: mpv ran ahead
    assert not cheat.completed and cheat.reason.startswith("skipped")


def test_the_players_speed_is_the_clocks_within_mpvs_bounds():
    settings = HdmiSettings(output="null")
    assert HdmiPlayer(settings, RealClock(), "/tmp/x").speed == 1.0
    assert HdmiPlayer(settings, SimClock(T0), "/tmp/x").speed == 1.0          # told-only: mpv in real time
    assert HdmiPlayer(settings, SimClock(T0, speed=20), "/tmp/x").speed == 20.0
    assert HdmiPlayer(settings, SimClock(T0, speed=360), "/tmp/x").speed == MPV_MAX_SPEED


@pytest.fixture(scope="module")
def folder():
    path = short_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def clip(folder):
    return load_promo(make_tv_pack(folder / "pack", seconds=6.0, width=160, height=90), "pi4")


@needs_mpv
def test_on_a_simulated_clock_the_clip_lasts_as_long_as_it_is_in_simulated_time(folder, clip):
    clock = SimClock(T0, speed=20)
    player = HdmiPlayer(HdmiSettings(output="null"), clock, folder / "fast").open()
    try:
        result = player.play(clip)
        assert player.mpv.request("get_property", "speed") == 20
        assert result.completed and result.reason is None
        assert clip.seconds - 0.3 <= result.played_seconds <= clip.seconds + 0.05
        # on the simulated clock: the clip's own length, give or take what mpv lagged behind
        assert clip.seconds - 0.3 <= (result.ended - result.started).total_seconds() <= clip.seconds * 3
    finally:
        player.close()


@needs_mpv
def test_an_mpv_running_ahead_of_the_clock_is_not_a_completed_play(folder, clip):
    player = HdmiPlayer(HdmiSettings(output="null"), SimClock(T0, speed=4), folder / "ahead").open()
    request = player.mpv.request

    def faster(*args, **kw):                     # mpv told the clock's speed, but playing 8 times that
        if args[:2] == ("set_property", "speed"):
            args = (*args[:2], args[2] * 8)
        return request(*args, **kw)

    player.mpv.request = faster
    try:
        result = player.play(clip)
        assert not result.completed and result.reason.startswith("skipped"), result.reason
    finally:
        player.close()


@needs_mpv
def test_a_clock_that_moves_only_when_told_is_moved_by_the_time_the_play_took(folder, clip):
    clock = SimClock(T0)
    player = HdmiPlayer(HdmiSettings(output="null"), clock, folder / "told").open()
    try:
        result = player.play(clip)
        assert result.completed and player.mpv.request("get_property", "speed") == 1
        assert clock.now() >= T0.replace(second=int(clip.seconds) - 1)
        assert result.ended == clock.now() and result.started >= T0
        assert clip.seconds - 0.3 <= (result.ended - result.started).total_seconds() <= clip.seconds + 1.0
    finally:
        player.close()
