"""The filler between plays: the unit's name and the time in turn, dim or dark outside hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from edge.config import PanelSettings
from edge.filler import Filler
from edge.panel import open_panel
from edge.panel.profile import load_profile
from ihanoi.contract.clock import CAMPAIGN_TZ

NINE = datetime(2024, 9, 4, 9, 0, tzinfo=CAMPAIGN_TZ)
EVENING = datetime(2024, 9, 4, 19, 0, tzinfo=CAMPAIGN_TZ)
NAME = "UBND phường Bạch Đằng"


class RealTime:
    """A monotonic clock the test moves by hand (the filler limits redraws per real second)."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_filler(profile="p4-128x32", off_hours="dim", brightness=80, packs=()):
    prof = load_profile(profile)
    panel = open_panel("recorder", prof)
    settings = PanelSettings(profile=profile, output="recorder", off_hours=off_hours, off_hours_brightness=10)
    real = RealTime()
    return Filler(panel, prof, NAME, CAMPAIGN_TZ, settings, lambda: brightness, packs=list(packs),
                  pack_every=timedelta(minutes=20), monotonic=real), panel, real


def test_the_units_name_and_the_time_in_turn():
    filler, panel, real = make_filler()
    texts = []
    filler.text_frame = lambda text: texts.append(text) or panel.snapshot()
    filler.show(NINE, is_open=True, synced=True)
    real.t += 1
    filler.show(NINE + timedelta(seconds=10), is_open=True, synced=True)
    real.t += 1
    filler.show(NINE + timedelta(seconds=15), is_open=True, synced=True)      # same text: not redrawn
    assert texts == ["09:00 04/09", NAME]


def test_a_simulated_clock_does_not_redraw_more_than_once_a_real_second():
    filler, panel, real = make_filler()
    texts = []
    filler.text_frame = lambda text: texts.append(text) or panel.snapshot()
    filler.show(NINE, is_open=True, synced=True)
    filler.show(NINE + timedelta(seconds=10), is_open=True, synced=True)      # no real time has passed
    assert texts == ["09:00 04/09"]


def test_an_unsynchronised_clock_shows_only_the_name():
    filler, panel, real = make_filler()
    texts = []
    filler.text_frame = lambda text: texts.append(text) or panel.snapshot()
    filler.show(NINE, is_open=True, synced=False)
    assert texts == [NAME]


def test_the_name_fits_the_board_in_a_smaller_pixel_font():
    filler, _, _ = make_filler()
    frame = filler.text_frame(NAME)
    assert frame.any() and not frame[:, [0, -1]].any()


def test_a_wide_board_shows_the_weekday_and_the_full_date():
    filler, _, _ = make_filler(profile="p4-256x64-hat")
    assert filler.clock_text(NINE) == "09:00  Thứ Tư 04/09/2024"


def test_outside_hours_the_board_dims_or_goes_dark():
    dim, panel, _ = make_filler(off_hours="dim")
    dim.show(EVENING, is_open=False, synced=True)
    assert panel.brightness == 10 and panel.snapshot().any()
    off, panel, real = make_filler(off_hours="off")
    off.show(EVENING, is_open=False, synced=True)
    assert panel.brightness == 0 and not panel.snapshot().any()
    real.t += 1
    off.show(NINE, is_open=True, synced=True)
    assert panel.brightness == 80 and panel.snapshot().any()


def test_filler_packs_come_in_turn_and_only_in_opening_hours():
    filler, _, _ = make_filler(packs=["news", "weather"])
    assert filler.pack_due(NINE, is_open=True) is None                   # the first is due 20 minutes on
    shown = []
    t = NINE
    for _ in range(4):
        t += timedelta(minutes=20)
        assert filler.pack_due(t, is_open=False) is None
        shown.append(filler.pack_due(t, is_open=True))
        filler.pack_shown(t)
    assert shown == ["news", "weather", "news", "weather"]
