"""The player: copies a compiled pack's ready frames to the panel on time, and says how it went.

Pacing is drift-free: frame *i* is due at ``start + sum(durations[:i])`` on the clock's
monotonic time, so a slow frame makes the next wait shorter instead of pushing every later
frame back. A frame whose whole slot has already passed is dropped (not shown); one shown
more than ``late_tolerance`` after it was due is counted late. Nothing is allocated per frame:
the frames are views into the memory-mapped cache and ``panel.show`` copies into a buffer it
owns. A ``stop_event`` ends the play between frames (and during long stills, within
``max_wait`` seconds). ``on_frame(frames_shown)`` is called every ``on_frame_every`` frames,
e.g. to ping the systemd watchdog.

``completed`` says the play ran to its end; ``seen`` whether it reached the board: not when the
output failed during it (``panel.fault``, frames shown dark) or the board was at 0 %. The agent
reports a play that nobody saw as not completed (``edge.plays``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate

from ihanoi.contract.clock import Clock


@dataclass(frozen=True)
class PlayResult:
    started: datetime
    ended: datetime
    completed: bool
    frames_shown: int
    late: int
    dropped: int
    seen: bool = True
    screen_state = None          # an LED board says nothing of its screen in the play message (a TV does)


class Player:
    def __init__(self, panel, clock: Clock, late_tolerance: float = 0.004, max_wait: float = 0.1,
                 on_frame: Callable[[int], None] | None = None, on_frame_every: int = 30):
        self.panel = panel
        self.clock = clock
        self.late_tolerance = late_tolerance
        self.max_wait = max_wait
        self.on_frame = on_frame
        self.on_frame_every = max(1, on_frame_every)

    def play(self, compiled, stop_event: threading.Event | None = None) -> PlayResult:
        clock, show, frames = self.clock, self.panel.show, compiled.frames
        monotonic, sleep = clock.monotonic, clock.sleep
        ends = list(accumulate(float(d) for d in compiled.durations))
        starts = [0.0] + ends[:-1]
        last = len(frames) - 1
        tolerance, max_wait = self.late_tolerance, self.max_wait
        on_frame, every = self.on_frame, self.on_frame_every
        stopped = stop_event.is_set if stop_event is not None else _never
        shown = late = dropped = 0
        interrupted = False
        panel = self.panel
        dark_before = panel.frames_dark
        started = clock.now()
        t0 = monotonic()
        # The hot loop: a few float operations, one copy in panel.show, one sleep.
        for i, frame in enumerate(frames):
            if stopped():
                interrupted = True
                break
            now = monotonic()
            end = t0 + ends[i]
            if now >= end and i < last:
                dropped += 1
                continue
            if now - (t0 + starts[i]) > tolerance:
                late += 1
            show(frame)
            shown += 1
            if on_frame is not None and shown % every == 0:
                on_frame(shown)
            remaining = end - monotonic()
            if remaining > max_wait:
                if not self._wait_until(end, stopped):
                    interrupted = True
                    break
            elif remaining > 0:
                sleep(remaining)
        seen = panel.frames_dark == dark_before and panel.fault is None and panel.brightness != 0
        return PlayResult(started, clock.now(), not interrupted, shown, late, dropped, seen)

    def _wait_until(self, deadline: float, stopped) -> bool:
        """Sleep until ``deadline``; False when stopped first."""
        clock = self.clock
        while True:
            remaining = deadline - clock.monotonic()
            if remaining <= 0:
                return True
            if remaining > self.max_wait and stopped():
                return False
            clock.sleep(min(remaining, self.max_wait))


def _never() -> bool:
    return False
