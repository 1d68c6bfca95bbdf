"""The board's heartbeat: one ``health`` event every interval, assembled from its parts' figures.

Each part that has something to tell (the player's late frames, the day's plays, the content
update, the link's counters, the outbox) is a ``source``: a function returning a dict. Fields
the protocol names (``content_id``, ``content_version``) go to the top of the message; the rest
(and a source's own ``details``) go to ``details``. The event goes through the outbox like every other, so an outage delays it
but the newest one still arrives (the outbox keeps only the newest unsent health).

The interval is real time (``time.monotonic``) even when the agent runs on a simulated clock:
a simulated day at 360x must not send 360 heartbeats a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge import __version__, sysinfo
from edge.outbox import Outbox
from ihanoi.contract.clock import Clock

log = logging.getLogger(__name__)

TOP_LEVEL = ("content_id", "content_version", "screen_fault")
Source = Callable[[], dict[str, Any]]


class Health:
    def __init__(self, outbox: Outbox, clock: Clock, sources: list[Source] | None = None,
                 interval: float = 60.0, monotonic: Callable[[], float] = time.monotonic):
        self.outbox = outbox
        self.clock = clock
        self.sources = list(sources or [])
        self.interval = interval
        self._monotonic = monotonic
        self._started = monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fields(self) -> dict[str, Any]:
        """The health message's fields, except those the outbox adds (device, stream, seq)."""
        top: dict[str, Any] = {}
        details: dict[str, Any] = {"rejected": self.outbox.rejected()}
        for source in self.sources:
            for key, value in source().items():
                if key == "details":
                    details.update(value)
                else:
                    (top if key in TOP_LEVEL else details)[key] = value
        return {"time": self.clock.now(), "uptime_s": round(self._monotonic() - self._started, 1),
                "outbox_depth": self.outbox.depth(), "outbox_dropped": self.outbox.dropped(),
                "outbox_reset": self.outbox.reset_note, "software_version": __version__,
                "cpu_temp_c": sysinfo.cpu_temp_c(), "throttled": sysinfo.throttled(), "details": details, **top}

    def commit(self) -> int:
        return self.outbox.commit("health", **self.fields())

    # --- on its own thread ---------------------------------------------------------------------
    def start(self, first_after: float = 1.0) -> "Health":
        self._thread = threading.Thread(target=self._run, args=(first_after,), name="health", daemon=True)
        self._thread.start()
        return self

    def _run(self, wait: float) -> None:
        while not self._stop.wait(wait):
            try:
                self.commit()
            except Exception:
                log.exception("health message could not be built; the next one is due in %.0f s", self.interval)
            wait = self.interval

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
