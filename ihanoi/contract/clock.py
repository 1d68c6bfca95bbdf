"""The one clock interface: real and simulated, plus detection of a synchronised clock.

Logic never calls ``time.time()`` or ``datetime.now()``; it is handed a ``Clock``. A Pi has
no RTC, so until NTP has run its wall clock may be years off: ``clock_synced()`` tells,
and every event carries the answer.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

CAMPAIGN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

# systemd-timesyncd touches this file each time it has synchronised the clock; chrony and
# ntpd users can point IHANOI_CLOCK_SYNC_FILE at their own marker.
TIMESYNCD_MARKER = Path("/run/systemd/timesync/synchronized")


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware wall-clock time in the campaign's zone."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for pacing and timeouts)."""

    def sleep(self, seconds: float) -> None:
        """Wait; a simulated clock advances instead."""

    def synced(self) -> bool:
        """True when the wall clock is known to be right (NTP has run)."""


def _marker_says_synced(marker: Path) -> bool:
    return marker.exists()


def _adjtimex_says_synced() -> bool | None:
    """The kernel's own view (STA_UNSYNC); None where it cannot be asked."""
    try:
        import ctypes
        import ctypes.util

        class Timex(ctypes.Structure):
            _fields_ = [("modes", ctypes.c_uint), ("pad", ctypes.c_long * 50)]

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = Timex()
        state = libc.adjtimex(ctypes.byref(tx))
        if state < 0:
            return None
        TIME_ERROR = 5
        return state != TIME_ERROR
    except (OSError, AttributeError):
        return None


class RealClock:
    """The machine's clock. ``sync_marker`` overrides where the NTP marker is looked for."""

    speed = 1.0          # clock seconds per real second (what a player outside Python, mpv, must follow)

    def __init__(self, sync_marker: Path | None = None, tz=CAMPAIGN_TZ):
        env = os.environ.get("IHANOI_CLOCK_SYNC_FILE")
        self.sync_marker = Path(env) if env else (sync_marker or TIMESYNCD_MARKER)
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(self.tz)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def synced(self) -> bool:
        if _marker_says_synced(self.sync_marker):
            return True
        if os.environ.get("IHANOI_CLOCK_SYNC_FILE"):
            return False
        kernel = _adjtimex_says_synced()
        return bool(kernel)


class SimClock:
    """Simulated time: starts at ``start`` and runs ``speed`` times faster than real time.

    With ``speed=None`` it only moves when ``advance`` or ``sleep`` is called (tests: a day
    in milliseconds). Several processes given the same ``epoch`` (a ``time.monotonic()``
    reading) run on one simulated clock. Thread-safe; ``sleep`` on a free-running clock waits real time
    divided by the speed.
    """

    def __init__(self, start: datetime, speed: float | None = None, synced: bool = True,
                 real_monotonic: Callable[[], float] = time.monotonic, epoch: float | None = None):
        if start.tzinfo is None:
            raise ValueError("SimClock needs an aware start time (with a UTC offset)")
        self._start = start
        self._speed = speed
        self._synced = synced
        self._real = real_monotonic
        # ``epoch``: the real monotonic reading at which the clock stood at ``start``. CLOCK_MONOTONIC
        # is system-wide, so processes given the same epoch share one simulated clock.
        self._real0 = real_monotonic() if epoch is None else epoch
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def speed(self) -> float | None:
        """Simulated seconds per real second; None when the clock moves only by ``advance``/``sleep``."""
        return self._speed

    def _elapsed(self) -> float:
        with self._lock:
            if self._speed is None:
                return self._offset
            return self._offset + (self._real() - self._real0) * self._speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        return self._elapsed()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._speed is None:
            self.advance(seconds)
        else:
            time.sleep(seconds / self._speed)

    def synced(self) -> bool:
        return self._synced

    def set_synced(self, value: bool) -> None:
        self._synced = value


def isoformat(dt: datetime) -> str:
    """ISO 8601 with offset, second precision unless there are microseconds."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: the protocol needs a UTC offset")
    return dt.isoformat()


def utc(dt: datetime) -> datetime:
    return dt.astimezone(timezone.utc)
