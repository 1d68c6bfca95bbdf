"""Making one play of the promo and reporting it exactly once.

Before the first frame the play's start is written to the play log (the "play in progress"
marker), and its progress and audience every few seconds while it runs. When it ends, one
transaction queues the ``play`` event for the district, records the play in the board's log
and clears the marker (``Outbox.commit(also=...)``): a crash or power cut at any moment leaves
either the marker (the play is reported as interrupted at the next start, ``recover``) or the
finished record, never both and never neither.

The audience is the PIR onsets from 5 minutes before the start to the end (the protocol's
definition, counted by ``edge.presence``). A play during which the board went dark (the panel
output failed: ``panel.fault``), or that ran at 0 % brightness, is reported as not completed:
nobody saw it.
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
                 ping: Callable[[], None] = lambda: None):
        self.player = player
        self.presence = presence
        self.play_log = play_log
        self.outbox = outbox
        self.clock = clock
        self.ping = ping
        self.frames_late = 0
        self.frames_dropped = 0
        self.last_play: dict | None = None

    def play(self, pack, reason: str, stop: threading.Event) -> PlayRecord:
        """Play ``pack`` now (until it ends or ``stop`` is set) and report it."""
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
        panel = self.player.panel
        dark_before = panel.frames_dark
        result = self.player.play(pack, stop)
        # Not seen, not made: the output failed during the play, or the board was at 0 % brightness.
        went_dark = panel.frames_dark > dark_before or panel.fault is not None or panel.brightness == 0
        self.frames_late += result.late
        self.frames_dropped += result.dropped
        self.presence.tick(result.ended)
        record = PlayRecord(result.started, result.ended, reason, result.completed and not went_dark,
                            self.presence.audience(result.started, result.ended), pack.content)
        self.report(record)
        return record

    def report(self, record: PlayRecord) -> int:
        """Queue the play for the district and record it here, in one transaction; returns its seq."""
        seq = self.outbox.commit("play", also=self.play_log.recorder(record), content=record.content,
                                 start=record.start, end=record.end, completed=record.completed,
                                 audience=record.audience, reason=record.reason, clock_synced=self.clock.synced())
        self.last_play = {"start": record.start.isoformat(), "reason": record.reason}
        return seq

    def recover(self) -> PlayRecord | None:
        """A play cut by a crash or power cut: report it as interrupted (once)."""
        cut = self.play_log.open_play()
        if cut is not None:
            log.warning("the play started at %s was interrupted (agent stopped during it); reporting it",
                        cut.start.isoformat())
            self.report(cut)
        return cut

    def figures(self) -> dict:
        return {"frames_late": self.frames_late, "frames_dropped": self.frames_dropped, "last_play": self.last_play}
