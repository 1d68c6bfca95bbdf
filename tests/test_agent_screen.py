"""The agent's screen part on its own: the TV's filler, power and faults, the commands a TV answers
differently, the play log's record of what a TV said, and a play-now cutting the play in progress.

The whole agent on a TV runs in tests/test_agent_tv.py and tests/test_agent_tv_cec.py.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edge.hdmi import HdmiSettings, ScreenStatus, Still, load_promo
from edge.inbox import BoardCommands, Inbox
from edge.localdb import open_local_db
from edge.outbox import Outbox
from edge.playlog import PlayLog, PlayRecord
from edge.screen import TvScreen
from edge.screen.tv_filler import TvFiller
from ihanoi.contract import protocol
from ihanoi.contract.clock import CAMPAIGN_TZ, SimClock
from ihanoi.contract.errors import ScreenError
from tests.hdmi_support import make_tv_pack, needs_mpv, short_dir

WED = date(2024, 9, 4)
DEVICE = "hbt-ttyt-quan-01"


def at(hh: int, mm: int = 0, day: date = WED) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=CAMPAIGN_TZ)


# --- the play log -------------------------------------------------------------------------------
def test_a_play_log_from_before_tvs_gets_the_screen_column_and_keeps_its_plays(tmp_path):
    with sqlite3.connect(tmp_path / "agent.db") as old:      # the plays table as an earlier release made it
        old.executescript("""
            CREATE TABLE plays (id INTEGER PRIMARY KEY AUTOINCREMENT, start TEXT NOT NULL, "end" TEXT NOT NULL,
                                day TEXT NOT NULL, reason TEXT NOT NULL, completed INTEGER NOT NULL,
                                audience INTEGER NOT NULL, content TEXT NOT NULL, seq INTEGER);""")
        old.execute("INSERT INTO plays (start, \"end\", day, reason, completed, audience, content, seq) "
                    "VALUES (?, ?, '2024-09-04', 'peak', 1, 3, '{}', 1)", (at(9).isoformat(), at(9, 1).isoformat()))
    log = PlayLog(open_local_db(tmp_path), CAMPAIGN_TZ)
    (before,) = log.plays_on(WED)
    assert before.screen is None and before.counted
    outbox = Outbox(log.db, DEVICE, clock=SimClock(at(10)))
    for minute, power in ((10, "on"), (30, "standby"), (50, "unmanaged")):
        record = PlayRecord(at(10, minute), at(10, minute) + timedelta(seconds=15), "peak", True, 2,
                            {"id": "ihanoi-promo", "version": "1", "sha256": "0" * 64},
                            {"power": power, "input": "unknown"})
        outbox.commit("play", also=log.recorder(record), content=record.content, start=record.start, end=record.end,
                      completed=True, audience=2, reason="peak", screen=record.screen)
    assert [r.counted for r in log.plays_on(WED)] == [True, True, False, True]
    assert log.play_counts() == {"2024-09-04": 3}
    sent = [json.loads(p.payload) for p in outbox.pending()]
    assert [e["screen"]["power"] for e in sent] == ["on", "standby", "unmanaged"]


# --- commands on a TV ---------------------------------------------------------------------------
class Board:
    def __init__(self, tmp_path, snapshot, set_brightness):
        self.settings = PlayLog(open_local_db(tmp_path), CAMPAIGN_TZ)
        self.answers, self.published, self.cuts = [], [], []
        self.commands = BoardCommands(self.settings, lambda *a: self.answers.append(a), base_quota=10,
                                      set_quota=lambda q: None, set_brightness=set_brightness, snapshot=snapshot,
                                      publish=lambda kind, payload: self.published.append((kind, payload)))
        self.inbox = Inbox(protocol.Topics(), self.commands, lambda *a: self.answers.append(a),
                           on_play_now=lambda: self.cuts.append(1))

    def send(self, verb: str, payload: dict, retained: bool = False):
        self.inbox.put(f"ihanoi/v1/cmd/{DEVICE}/{verb}", json.dumps(payload).encode(), retained)
        self.inbox.handle()


def test_a_tv_refuses_a_brightness_and_says_why_and_a_snapshot_it_cannot_take(tmp_path):
    def no_brightness(percent):
        raise ScreenError("a TV's brightness is set in the TV's own menu")

    def no_picture():
        raise ScreenError("no screenshot: mpv is not running")

    board = Board(tmp_path, no_picture, no_brightness)
    board.send("brightness", {"schema": "ihanoi.cmd.brightness/1", "percent": 40})
    board.send("snapshot", {"schema": "ihanoi.cmd.snapshot/1", "id": "s-1"})
    assert [(a[0], a[2], a[3]) for a in board.answers] == [
        ("brightness", False, "a TV's brightness is set in the TV's own menu"),
        ("snapshot", False, "no screenshot: mpv is not running")]
    assert board.settings.get("brightness") is None and board.published == []


def test_a_snapshot_may_come_as_png_bytes(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    board = Board(tmp_path, lambda: png, lambda p: None)
    board.send("snapshot", {"schema": "ihanoi.cmd.snapshot/1", "id": "s-2"})
    assert board.published == [("snapshot", png)]


def test_a_live_play_now_cuts_the_play_in_progress_and_a_retained_one_does_not(tmp_path):
    board = Board(tmp_path, lambda: np.zeros((2, 2, 3), np.uint8), lambda p: None)
    board.send("play-now", {"schema": "ihanoi.cmd.play-now/1", "id": "old"}, retained=True)
    assert board.cuts == [] and board.commands.manual == []
    board.send("play-now", {"schema": "ihanoi.cmd.play-now/1", "id": "p-1"})
    assert board.cuts == [1] and board.commands.manual == ["p-1"]
    board.send("quota", {"schema": "ihanoi.cmd.quota/1", "quota": 12})
    assert board.cuts == [1]


# --- the TV filler ------------------------------------------------------------------------------
class Player:
    """What the filler asks of the HDMI player, recorded."""

    def __init__(self):
        self.calls = []

    def show_still(self, path):
        self.calls.append(("still", Path(path).name))

    def play(self, clip, stop=None):
        self.calls.append(("play", clip))


class Real:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_the_still_is_drawn_again_for_each_new_minute_but_not_faster_than_real_time_allows(tmp_path):
    player, real, clock = Player(), Real(), SimClock(at(9))
    filler = TvFiller(player, clock, "Trung tâm Y tế quận Hai Bà Trưng", CAMPAIGN_TZ, tmp_path / "filler.png",
                      timedelta(minutes=10), monotonic=real, min_real_seconds=10)
    filler.show(at(9), True, None)
    filler.show(at(9, 0) + timedelta(seconds=30), True, None)        # the same minute: nothing to do
    assert player.calls == [("still", "filler.png")]
    image = Image.open(tmp_path / "filler.png")
    assert image.size == (1920, 1080)
    filler.show(at(9, 1), True, None)                                # a new minute, but 0 s of real time later
    assert len(player.calls) == 1
    real.t = 10.0
    filler.show(at(9, 1), True, None)
    assert len(player.calls) == 2


def test_filler_entries_are_shown_in_turn_during_opening_hours_only(tmp_path):
    player, clock = Player(), SimClock(at(9))
    filler = TvFiller(player, clock, "Trạm Y tế", CAMPAIGN_TZ, tmp_path / "filler.png", timedelta(minutes=10),
                      monotonic=Real())
    picture = Still(tmp_path / "news.png", 30.0)
    clip = load_promo(make_tv_pack(tmp_path / "weather", seconds=0.5, width=160, height=90))
    filler.entries = [picture, clip]
    assert filler.show(at(9), True, None) is False                   # the first entry is due in 10 minutes
    assert filler.show(at(9, 10), True, None) is False                # the picture, held 30 s
    assert player.calls[-1] == ("still", "news.png")
    filler.show(at(9, 10) + timedelta(seconds=20), True, None)
    assert player.calls[-1] == ("still", "news.png")
    filler.show(at(9, 10) + timedelta(seconds=31), True, None)        # its time is up: the unit's still again
    assert player.calls[-1] == ("still", "filler.png")
    assert filler.show(at(9, 20) + timedelta(seconds=31), True, None) is True    # then the clip, played
    assert player.calls[-1] == ("play", clip)
    calls = len(player.calls)
    filler.show(at(12, 0), False, None)                               # closed: only the still
    assert all(c[0] == "still" for c in player.calls[calls:])


# --- the TV's power and faults ------------------------------------------------------------------
class Cec:
    """A CEC screen whose TV says what the test sets, and the switching it was asked to do."""

    def __init__(self, power="on", source="unknown"):
        self.said = ScreenStatus(power, source)
        self.switched = []

    def status(self):
        return self.said

    def power_on(self):
        self.switched.append("on")
        self.said = ScreenStatus("on")

    def standby(self):
        self.switched.append("standby")
        self.said = ScreenStatus("standby")

    def follow(self, wanted, current):
        if wanted != current:
            (self.power_on if wanted == "on" else self.standby)()
        return wanted


@pytest.fixture
def folder():
    path = short_dir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def clinic_open(t: datetime) -> bool:
    local = t.astimezone(CAMPAIGN_TZ)
    return local.weekday() < 5 and (7 <= local.hour < 11 or 13 <= local.hour < 16)


@needs_mpv
def test_a_tv_switched_off_during_opening_hours_is_the_boards_fault_and_a_play_wakes_it(folder):
    cec, clock, real = Cec(power="standby"), SimClock(at(9)), Real()
    screen = TvScreen(HdmiSettings(output="null"), clock, folder / "hdmi", "Trạm Y tế", CAMPAIGN_TZ,
                      is_open=clinic_open, cec=cec, monotonic=real)
    try:
        screen.between_plays(at(9), True, True, None)
        assert cec.switched == ["on"], "open: the TV is switched on"
        cec.said = ScreenStatus("standby")                       # switched off by hand
        screen.between_plays(at(9, 1), True, True, None)
        assert screen.fault is None, "asked at most every STATUS_REAL_SECONDS of real time"
        real.t += 10
        screen.between_plays(at(9, 2), True, True, None)
        assert screen.fault.startswith("screen in standby during opening hours: plays made now are not counted")
        assert screen.can_play and cec.switched == ["on"], "not fought every minute"
        promo = load_promo(make_tv_pack(folder / "pack", seconds=0.5, width=160, height=90))
        result = screen.player.play(promo, None)
        assert result.completed and result.screen_state == {"power": "standby", "input": "unknown"}
        assert cec.switched == ["on", "on"], "the play woke it"
        real.t += 10
        screen.between_plays(at(9, 3), True, True, None)
        assert screen.fault is None
        screen.between_plays(at(12, 0), False, True, None)       # closed for lunch: standby, and no fault
        assert cec.switched[-1] == "standby" and screen.fault is None
        assert screen.figures()["screen_power_set"] == "standby"
    finally:
        screen.close()


@needs_mpv
def test_a_play_after_hours_wakes_the_tv_and_it_goes_back_to_standby(folder):
    cec, clock = Cec(power="standby"), SimClock(at(19))
    screen = TvScreen(HdmiSettings(output="null"), clock, folder / "hdmi", "Trạm Y tế", CAMPAIGN_TZ,
                      is_open=clinic_open, cec=cec)
    try:
        screen.between_plays(at(19), False, True, None)
        assert cec.switched == ["standby"]
        promo = load_promo(make_tv_pack(folder / "pack", seconds=0.5, width=160, height=90))
        screen.player.play(promo, None)                          # a play-now in the evening
        assert cec.switched == ["standby", "on"]
        screen.between_plays(at(19, 5), False, True, None)
        assert cec.switched == ["standby", "on", "standby"]
    finally:
        screen.close()


def test_a_tv_whose_mpv_cannot_start_says_why_and_makes_no_plays(folder):
    screen = TvScreen(HdmiSettings(output="null", mpv="/nonexistent/mpv"), SimClock(at(9)), folder / "hdmi",
                      "Trạm Y tế", CAMPAIGN_TZ, is_open=clinic_open, cec=Cec())
    assert not screen.can_play
    assert screen.fault.startswith("the TV cannot be driven") and "apt-get install -y mpv" in screen.fault
    assert screen.between_plays(at(9), True, True, None) is False
    with pytest.raises(ScreenError):
        screen.snapshot()
    with pytest.raises(ScreenError, match="TV's own menu"):
        screen.set_brightness(50)
    screen.close()


def test_a_clip_ending_too_soon_is_the_files_fault_on_a_real_clock_only(tmp_path):
    """Truncated on the card, or mpv behind a simulated clock on a busy PC: the same reason from mpv."""
    from types import SimpleNamespace

    from edge.screen.tv import _Plays

    class Hdmi:
        on_frame = None

        def __init__(self, speed, reason):
            self.speed, self.reason = speed, reason

        def play(self, clip, stop):
            return SimpleNamespace(completed=self.reason is None, reason=self.reason, first_frame_delay=None)

    clip = SimpleNamespace(path=tmp_path / "promo.mp4")
    short = "ended early (11.20 s of 15.00 s played)"
    on_a_pi = _Plays(Hdmi(1.0, short))
    on_a_pi.play(clip, None)
    assert on_a_pi.clip_fault.startswith("the promo clip promo.mp4 could not be played (ended early")
    simulated = _Plays(Hdmi(50.0, short))
    simulated.play(clip, None)
    assert simulated.clip_fault is None
    broken = _Plays(Hdmi(50.0, "error: loading failed (0.00 s of 15.00 s played)"))
    broken.play(clip, None)
    assert "loading failed" in broken.clip_fault, "a file mpv cannot read is its fault at any speed"
    broken.player.reason = None
    broken.play(clip, None)
    assert broken.clip_fault is None, "a play that goes through clears it"
