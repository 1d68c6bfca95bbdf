"""The TV's power over HDMI-CEC, through a recorded stand-in for cec-ctl on PATH (tests/cec_standin/).

The stand-in replays what cec-ctl 1.22.1 prints (its README says where each line comes
from) for a TV whose state the test sets; the board's code runs the real subprocess path.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.hdmi import CecSettings, HdmiPlayer, HdmiSettings, ScreenStatus, desired_power, load_promo, open_screen
from edge.hdmi.cec import CecScreen, NoCec, parse_active_source, parse_physical_address, parse_power_status
from ihanoi.contract.clock import CAMPAIGN_TZ, RealClock
from ihanoi.contract.errors import ScreenError
from tests.hdmi_support import make_tv_pack, needs_mpv, short_dir

STANDIN = Path(__file__).resolve().parent / "cec_standin"
RECORDINGS = STANDIN / "recordings"


class Tv:
    """The TV behind the stand-in: its state file and the log of what the board sent."""

    def __init__(self, folder: Path, **state):
        self.state_file, self.log_file = folder / "tv.json", folder / "cec.log"
        self.state_file.write_text(json.dumps({"power": "standby", "active": None, "phys": "1.0.0.0",
                                               "configured": False, **state}))
        self.log_file.write_text("")

    def set(self, **state) -> None:
        self.state_file.write_text(json.dumps({**json.loads(self.state_file.read_text()), **state}))

    @property
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def sent(self) -> list[str]:
        """The CEC message options the board passed, in order (device and --skip-info/--to left out)."""
        calls = [json.loads(line) for line in self.log_file.read_text().splitlines()]
        return [next(a for a in call if a.startswith("--") and a not in ("--skip-info", "--to", "--osd-name"))
                for call in calls]


@pytest.fixture
def tv(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{STANDIN}{os.pathsep}{os.environ['PATH']}")
    tv = Tv(tmp_path)
    monkeypatch.setenv("IHANOI_CEC_STATE", str(tv.state_file))
    monkeypatch.setenv("IHANOI_CEC_LOG", str(tv.log_file))
    return tv


@pytest.fixture
def screen(tv):
    return open_screen(CecSettings(device="/dev/cec0"))


def test_the_stand_in_is_the_one_on_path(tv):
    assert shutil.which("cec-ctl") == str(STANDIN / "cec-ctl")


def test_power_on_wakes_the_tv_and_claims_its_input(tv, screen):
    screen.power_on()
    assert tv.sent() == ["--playback", "--image-view-on", "--active-source"]
    assert screen.physical_address == "1.0.0.0"
    assert tv.state["power"] == "on" and tv.state["active"] == "1.0.0.0"
    status = screen.status()
    assert status == ScreenStatus("on", "unknown", "")       # nobody else is the active source
    assert status.counts


def test_standby_after_hours(tv, screen):
    tv.set(power="on")
    screen.standby()
    assert tv.sent()[-1] == "--standby" and tv.state["power"] == "standby"
    status = screen.status()
    assert status.power == "standby" and not status.counts
    assert "--request-active-source" not in tv.sent()        # no point asking an off TV for its input


def test_a_tv_in_standby_is_not_counted(tv, screen):
    status = screen.status()
    assert (status.power, status.counts) == ("standby", False)
    assert status.describe() == "screen in standby"


def test_a_tv_on_another_input_is_not_counted(tv, screen):
    tv.set(power="on", active="2.0.0.0")
    status = screen.status()
    assert (status.power, status.input, status.counts) == ("on", "other", False)
    assert "2.0.0.0" in status.detail and "1.0.0.0" in status.detail
    assert status.describe().endswith("showing another input (active source 2.0.0.0, this board is 1.0.0.0)")


@pytest.mark.parametrize("power,expected", [("absent", "not-acknowledged"), ("silent", "no-reply"),
                                            ("to-on", "to-on"), ("to-standby", "to-standby")])
def test_silence_is_not_off_and_not_on(tv, screen, power, expected):
    tv.set(power=power)
    status = screen.status()
    assert status.power == expected and not status.counts


def test_an_adapter_that_lost_its_address_is_configured_again(tv, screen):
    tv.set(power="on")
    screen.status()
    tv.set(configured=False)                      # e.g. the TV was unplugged and plugged back
    assert screen.status().power == "on"
    assert tv.sent().count("--playback") == 2


def test_a_failing_cec_ctl_is_a_status_not_a_crash(tv, screen):
    tv.set(fail=True)
    status = screen.status()
    assert status.power == "error" and not status.counts
    assert "No such file or directory" in status.detail
    with pytest.raises(ScreenError, match="cec-ctl -d /dev/cec0"):
        screen.power_on()


def test_cec_ctl_missing_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    status = open_screen(CecSettings()).status()
    assert status.power == "error" and "apt-get install -y v4l-utils" in status.detail


def test_a_screen_without_cec_is_unmanaged():
    screen = open_screen(CecSettings(enabled=False))
    assert isinstance(screen, NoCec)
    status = screen.status()
    assert status.power == "unmanaged" and status.counts and "without HDMI-CEC" in status.detail


# --- the play's status comes from the screen ---------------------------------------------------
@needs_mpv
def test_a_play_on_a_tv_in_standby_is_made_but_not_counted_and_the_tv_is_woken(tv, screen):
    folder = short_dir()
    try:
        promo = load_promo(make_tv_pack(folder / "pack", seconds=1.0), "pi4")
        player = HdmiPlayer(HdmiSettings(output="null"), RealClock(), folder / "run", screen=screen).open()
        try:
            result = player.play(promo)
            assert result.completed and not result.counted
            assert result.screen.power == "standby"
            assert tv.state["power"] == "on"                    # woken for the next play
            again = player.play(promo)
            assert again.completed and again.counted and again.screen.power == "on"
        finally:
            player.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- reading cec-ctl's output ------------------------------------------------------------------
def recording(name: str, **values) -> str:
    fill = {"seq": 7, "tx": "1.000s", "rx": "1.040s", "ms": 40, "phys": "1.0.0.0", "osd": "iHanoi"}
    return (RECORDINGS / f"{name}.txt").read_text().format(**{**fill, **values})


@pytest.mark.parametrize("state,code", [("on", 0), ("standby", 1), ("to-on", 2), ("to-standby", 3)])
def test_every_power_state_is_read(state, code):
    assert parse_power_status(recording("power-status", state=state, code=code)) == (state, "")


def test_a_power_state_without_a_name_is_read_from_its_code():
    assert parse_power_status("\tpwr-state: (0x01)")[0] == "standby"
    assert parse_power_status("\tpwr-state: 9 (0x09)")[0] == "unknown-9"


def test_the_status_lines_are_kept_as_the_reason():
    assert parse_power_status(recording("power-status-nack")) == ("not-acknowledged",
                                                                   "Tx, Not Acknowledged (1), Max Retries")
    assert parse_power_status(recording("power-status-timeout")) == ("no-reply", "Tx, OK, Rx, Timeout")
    assert parse_power_status("")[0] == "error"


def test_active_source_and_own_address_are_read():
    assert parse_active_source(recording("request-active-source", active="2.0.0.0", source_name="Playback Device 2",
                                         source_la=8)) == "2.0.0.0"
    assert parse_active_source(recording("request-active-source-timeout")) is None
    assert parse_physical_address(recording("configure-playback", phys="3.1.0.0")) == "3.1.0.0"
    assert parse_physical_address(recording("configure-playback", phys="f.f.f.f")) == "f.f.f.f"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_output_is_read_without_raising(text):
    power, _detail = parse_power_status(text)
    assert isinstance(power, str) and power
    assert ScreenStatus(power).counts == (power == "on")
    parse_active_source(text)
    parse_physical_address(text)


def test_a_screen_with_no_tv_plugged_in_has_no_address(tv):
    tv.set(phys="f.f.f.f")
    screen = CecScreen(CecSettings())
    assert screen.configure() is None


# --- when the TV should be on -------------------------------------------------------------------
def test_the_tv_is_on_from_warm_up_before_opening_until_after_closing():
    def is_open(t: datetime) -> bool:
        return 8 <= t.hour < 12 or (t.hour, t.minute) >= (13, 30) and t.hour < 17

    day = datetime(2024, 9, 4, tzinfo=CAMPAIGN_TZ)
    warm, cool = timedelta(minutes=10), timedelta(minutes=5)
    at = lambda h, m: desired_power(day.replace(hour=h, minute=m), is_open, warm, cool)  # noqa: E731
    assert at(7, 45) == "standby" and at(7, 50) == "on" and at(11, 59) == "on"
    assert at(12, 4) == "on" and at(12, 6) == "standby" and at(13, 25) == "on"
    assert at(17, 4) == "on" and at(17, 6) == "standby" and at(23, 0) == "standby"


def test_follow_switches_only_on_a_change(tv, screen):
    state = screen.follow("on", None)
    state = screen.follow("on", state)
    state = screen.follow("standby", state)
    assert tv.sent() == ["--playback", "--image-view-on", "--active-source", "--standby"]
