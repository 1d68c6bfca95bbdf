"""What a TV shows between plays: the unit's still (name, time, QR code), or the filler packs' entries.

The still (``edge.hdmi.write_filler``, 1920x1080) is rendered again when the minute it shows
changes, and shown through mpv, which keeps it queued behind every clip so that the screen
goes from the promo's last frame straight back to it. Rendering costs about a tenth of a second,
so on a simulated clock it is rendered at most every ``MIN_REAL_SECONDS`` of real time (the
time on it then jumps, which a simulation can live with).

Filler packs (``content.filler``, not reported: they are not the campaign) are shown during
opening hours every ``pack_every``: their clips played whole through the player, their pictures
held for their ``duration``; then the still again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from edge.hdmi import Clip, write_filler
from ihanoi.contract.errors import FontError, ScreenError

log = logging.getLogger("ihanoi.screen")

MIN_REAL_SECONDS = 10.0


class TvFiller:
    def __init__(self, player, clock, unit_name: str, tz, still: Path, pack_every: timedelta,
                 monotonic: Callable[[], float] = time.monotonic, min_real_seconds: float = MIN_REAL_SECONDS):
        self.player = player
        self.clock = clock
        self.unit_name = unit_name
        self.tz = tz
        self.still = Path(still)
        self.pack_every = pack_every
        self.entries: list = []              # edge.hdmi Clip and Still, in turn
        self._monotonic = monotonic
        self._min_real = min_real_seconds
        self._key = None                     # the minute on the screen
        self._drawn: float | None = None     # real time of the last render
        self._next_entry = 0
        self._entry_due: datetime | None = None
        self._holding_until: datetime | None = None
        self.error: str | None = None        # why the still cannot be drawn (no font)

    def show(self, now: datetime, is_open: bool, stop) -> bool:
        """Bring the screen up to date; True when a filler clip was played (time went by)."""
        if self._holding_until is not None:
            if now < self._holding_until:
                return False
            self._holding_until, self._key = None, None      # the picture's time is up: the still again
        entry = self._due(now, is_open)
        if entry is not None:
            if isinstance(entry, Clip):
                self.player.play(entry, stop)     # not reported: filler is not the campaign
                self._entry_due = self.clock.now() + self.pack_every
                return True
            self.player.show_still(entry.path)
            self._holding_until = now + timedelta(seconds=entry.seconds)
            self._entry_due = self._holding_until + self.pack_every
            return False
        self._still(now)
        return False

    def _due(self, now: datetime, is_open: bool):
        if not self.entries or not is_open:
            return None
        if self._entry_due is None:
            self._entry_due = now + self.pack_every
        if now < self._entry_due:
            return None
        entry = self.entries[self._next_entry % len(self.entries)]
        self._next_entry += 1
        return entry

    def _still(self, now: datetime) -> None:
        local = now.astimezone(self.tz)
        key = (local.date(), local.hour, local.minute)
        if key == self._key:
            return
        real = self._monotonic()
        if self._drawn is not None and self._key is not None and real - self._drawn < self._min_real:
            return
        self._drawn, self._key = real, key
        try:
            write_filler(self.still, self.unit_name, local)
        except FontError as exc:
            if self.error is None:
                log.error("the TV filler cannot be drawn: %s", exc)
            self.error = str(exc)
            return
        except OSError as exc:
            log.error("the TV filler cannot be written to %s: %s", self.still, exc)
            return
        self.error = None
        try:
            self.player.show_still(self.still)
        except ScreenError as exc:
            log.error("the TV filler cannot be shown: %s", exc)
