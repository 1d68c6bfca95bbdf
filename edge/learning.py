"""Learning the lobby's traffic at the end of each open day, from what the board actually saw.

At the first moment of a new day the previous day's bins of motion onsets go into the traffic
model (``edge.traffic``), which is saved atomically. Bins before the agent started watching
that day are marked unknown (NaN) rather than zero: a board switched on at 10:00 did not see
an empty morning. Closed days and days with an unsynchronised clock teach nothing.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

from ihanoi.contract.timeofday import bin_of_day

log = logging.getLogger(__name__)


class DayLearner:
    def __init__(self, model, model_path: Path, presence, calendar, tz):
        self.model = model
        self.model_path = model_path
        self.presence = presence
        self.calendar = calendar
        self.tz = tz
        self.day: date | None = None
        self._watching_since: datetime | None = None

    def roll(self, now: datetime, synced: bool) -> bool:
        """Call every turn of the loop; True when ``now`` began a new day (after learning the last)."""
        today = now.astimezone(self.tz).date()
        if self.day is None:
            self.day, self._watching_since = today, now
            return False
        if today == self.day:
            return False
        previous, since = self.day, self._watching_since.astimezone(self.tz)
        if self.calendar.is_open(previous) and synced:
            bins = self.presence.day_bins(previous).astype(float)
            if since.date() == previous:
                bins[:bin_of_day(since, self.presence.bin_seconds)] = float("nan")
            self.model.observe_day(previous, bins)
            self.model.save(self.model_path)
            log.info("learned the traffic of %s", previous.isoformat())
        self.day, self._watching_since = today, now
        return True
