"""Making one play of the promo and reporting it exactly once.

Before the first frame the play's start is written to the play log (the "play in progress"
marker), and its progress and audience every few seconds while it runs. When it ends, one
transaction queues the ``play`` event for the district, records the play in the board's log
and clears the marker (``Outbox.commit(also=...)``): a crash or power cut at any moment leaves
either the marker (the play is reported as interrupted at the next start, ``recover``) or the
finished record, never both and never neither.

The audience is the PIR onsets from 5 minutes before the start to the end (the protocol's
definition, counted by ``edge.presence``). The player is the screen's (``edge.screen``): an LED
board's ``edge.player.Player`` or a TV's ``edge.hdmi.HdmiPlayer``; both return a result with
``completed`` (it ran to its end), ``seen`` (it reached the screen: an LED board that went dark
or ran at 0 % did not, and such a play is reported as not completed) and ``screen_state`` (what
a TV said of itself before the play: the message's ``screen``, None on an LED board). This
module does not know which screen it drives.

Every play names its campaign (the message's ``campaign``); a play recovered after a crash is
given the campaign of its content (``campaign_of``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from edge.outbox import Outbox
from edge.playlog import PlayLog, PlayRecord

log = logging.getLogger(__name__)

PROGRESS_EVERY = timedelta(seconds=5)     # how often a play in progress is written down


class PlayMaker:
    def __init__(self, player, presence, play_log: PlayLog, outbox: Outbox, clock,
                 ping: Callable[[], None] = lambda: None,
                 campaign_of: Callable[[dict], str | None] = lambda content: None):
        self.player = player
        self.campaign_of = campaign_of
        self.presence = presence
        self.play_log = play_log
        self.outbox = outbox
        self.clock = clock
        self.ping = ping
        self.frames_late = 0
        self.frames_dropped = 0
        self.last_play: dict | None = None

    def play(self, pack, reason: str, stop: threading.Event, campaign: str | None = None) -> PlayRecord:
        """Play ``pack`` now (until it ends or ``stop`` is set) for ``campaign`` and report it."""
        begun = self.clock.now()
        self.play_log.begin(begun, reason, pack.content)
        last_progress = [begun]

        def on_frame(_n):
            self.ping()
            t = self.clock.now()
            if t - last_progress[0] >= PROGRESS_EVERY:
                last_progress[0] = t
                self.play_log.progress(t, self.presence.audience(begun, t))

        self.player.on_frame = on_frame
        result = self.player.play(pack, stop)
        self.frames_late += result.late
        self.frames_dropped += result.dropped
        self.presence.tick(result.ended)
        # Not seen, not made: the output failed during the play, or the board was at 0 % brightness.
        record = PlayRecord(result.started, result.ended, reason, result.completed and result.seen,
                            self.presence.audience(result.started, result.ended), pack.content,
                            result.screen_state)
        self.report(record, campaign)
        return record

    def report(self, record: PlayRecord, campaign: str | None = None) -> int:
        """Queue the play for the district and record it here, in one transaction; returns its seq."""
        extra = {"screen": record.screen} if record.screen is not None else {}
        if campaign is not None:
            extra["campaign"] = campaign
        seq = self.outbox.commit("play", also=self.play_log.recorder(record), content=record.content,
                                 start=record.start, end=record.end, completed=record.completed,
                                 audience=record.audience, reason=record.reason, clock_synced=self.clock.synced(),
                                 **extra)
        self.last_play = {"start": record.start.isoformat(), "reason": record.reason, "campaign": campaign}
        if record.screen is not None:
            self.last_play["screen"] = record.screen
        return seq

    def recover(self) -> PlayRecord | None:
        """A play cut by a crash or power cut: report it as interrupted (once)."""
        cut = self.play_log.open_play()
        if cut is not None:
            log.warning("the play started at %s was interrupted (agent stopped during it); reporting it",
                        cut.start.isoformat())
            self.report(cut, self.campaign_of(cut.content))
        return cut

    def figures(self) -> dict:
        return {"frames_late": self.frames_late, "frames_dropped": self.frames_dropped, "last_play": self.last_play}
