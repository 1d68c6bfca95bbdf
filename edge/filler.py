"""What the board shows between plays: the unit's name and the time in turn, filler packs, or dark.

Inside opening hours the board alternates the unit's name and the time (every
``TEXT_SECONDS``), and every ``filler_every_minutes`` plays the next pack of the filler
playlist (news, weather: not reported, they are not the campaign). Outside hours it dims to
``off_hours_brightness``, stays on, or goes dark, as the device config says. Text is drawn in
the largest pixel font that fits the board's width. Redrawing costs a frame compile, so the
screen is redrawn only when what it says changes, and a simulated clock never redraws more
than once per real second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np

from edge.content import render_text_frame
from ihanoi.contract.errors import PackError

log = logging.getLogger(__name__)

TEXT_SECONDS = 10                          # the name and the time in turn
MIN_REAL_SECONDS = 1.0                     # a simulated clock must not make the filler a CPU hog
TEXT_FONTS = ("auto", "fixed-8x13", "fixed-6x13")   # the first that fits the board's width
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


class Filler:
    def __init__(self, panel, profile, unit_name: str, tz, panel_settings, brightness: Callable[[], int],
                 packs: list | None = None, pack_every: timedelta = timedelta(minutes=10),
                 monotonic: Callable[[], float] = time.monotonic):
        """``brightness()`` is the board's current setting (a command may change it)."""
        self.panel = panel
        self.profile = profile
        self.unit_name = unit_name
        self.tz = tz
        self.settings = panel_settings
        self.brightness = brightness
        self.packs = list(packs or [])
        self.pack_every = pack_every
        self._monotonic = monotonic
        self._key = None
        self._drawn = 0.0
        self._next_pack = 0
        self._pack_due: datetime | None = None

    def invalidate(self) -> None:
        """Something else drew on the board (a play): redraw at the next ``show``."""
        self._key = None

    # --- the filler playlist --------------------------------------------------------------------
    def pack_due(self, now: datetime, is_open: bool):
        """The next filler pack when one is due (open hours only), else None."""
        if not self.packs or not is_open:
            return None
        if self._pack_due is None:
            self._pack_due = now + self.pack_every
        if now < self._pack_due:
            return None
        pack = self.packs[self._next_pack % len(self.packs)]
        self._next_pack += 1
        self._key = None
        return pack

    def pack_shown(self, now: datetime) -> None:
        self._pack_due = now + self.pack_every

    # --- the name and the time ------------------------------------------------------------------
    def show(self, now: datetime, is_open: bool, synced: bool) -> None:
        local = now.astimezone(self.tz)
        mode = self.settings.off_hours
        if not is_open and mode == "off":
            key = "off"
        elif not synced or int(now.timestamp()) // TEXT_SECONDS % 2:
            key = ("name",)
        else:
            key = (local.strftime("%H:%M"), local.date())
        if key == self._key:
            return
        real = self._monotonic()
        text_only = isinstance(key, tuple) and isinstance(self._key, tuple)
        if text_only and real - self._drawn < MIN_REAL_SECONDS:
            return
        self._drawn = real
        self._key = key
        if key == "off":
            self.panel.set_brightness(0)
            self.panel.clear()
            return
        self.panel.set_brightness(self.brightness() if is_open or mode == "on" else self.settings.off_hours_brightness)
        try:
            self.panel.show(self.text_frame(self.unit_name if key == ("name",) else self.clock_text(local)))
        except PackError as exc:
            log.error("filler text cannot be drawn: %s", exc)

    def clock_text(self, local: datetime) -> str:
        if self.profile.width >= 192:
            return f"{local:%H:%M}  {WEEKDAYS_VI[local.weekday()]} {local:%d/%m/%Y}"
        return f"{local:%H:%M} {local:%d/%m}"

    def text_frame(self, text: str) -> np.ndarray:
        """``text`` in the largest pixel font whose rendering leaves the board's edge columns clear."""
        for font in TEXT_FONTS:
            frame = render_text_frame(text, self.profile, font=font)
            if not frame[:, [0, -1]].any():
                return frame
        return frame
