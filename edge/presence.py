"""Presence: motion onsets from the lobby's PIR sensor (or a replayed trace), counted in bins.

A PIR holds its output high for seconds and re-triggers while someone moves, so one person
walking past gives a burst of edges. ``Presence`` counts an *onset* only when motion starts
after ``hold_seconds`` of quiet (measured from the last rising or falling edge). It keeps the
recent onsets so that the agent can ask ``audience(start, end)`` (onsets from 5 minutes
before the start until the end) and closes fixed bins (5 minutes), handing each to
``on_bin(bin_start, bin_seconds, onsets)``; the agent commits those as ``traffic`` events.

Sources, interchangeable like gpiozero's pin factories:
- ``PirSource(pin)``: gpiozero ``MotionSensor`` on a BCM pin; the pin factory is gpiozero's
  normal choice (``GPIOZERO_PIN_FACTORY``; tests set ``Device.pin_factory = MockFactory()``).
- ``TraceSource(csv_path)``: onsets from a CSV file (column ``timestamp``, ISO 8601), fed as
  the (simulated) clock passes them.

Every timestamp comes from the injected clock, never from the system time.
"""

from __future__ import annotations

import bisect
import csv
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from ihanoi.contract.clock import CAMPAIGN_TZ, Clock
from ihanoi.contract.errors import ConfigError
from ihanoi.contract.timeofday import DAY_SECONDS, bin_of_day

log = logging.getLogger(__name__)

AUDIENCE_LEAD = timedelta(minutes=5)     # the architecture's definition of a play's audience
BinCallback = Callable[[datetime, int, int], None]


def apply_hold(times: Sequence[datetime] | Sequence[float], hold_seconds: float) -> list:
    """The onsets among sorted motion starts: each one after at least ``hold_seconds`` of quiet.

    Pure form of the rule ``Presence`` applies edge by edge (for traces given as motion starts).
    """
    out = []
    last = None
    for t in times:
        gap = None if last is None else (t - last).total_seconds() if isinstance(t, datetime) else t - last
        if gap is None or gap >= hold_seconds:
            out.append(t)
        last = t
    return out


class Presence:
    """Counts onsets with a re-trigger hold and closes bins of ``bin_seconds``. Thread-safe."""

    def __init__(self, clock: Clock, hold_seconds: float = 8.0, bin_seconds: int = 300,
                 on_bin: BinCallback | None = None, keep: timedelta = timedelta(hours=2),
                 keep_days: int = 2, max_backfill: timedelta = timedelta(days=1)):
        if DAY_SECONDS % bin_seconds:
            raise ValueError(f"bin_seconds={bin_seconds} must divide a day")
        self.clock = clock
        self.hold = float(hold_seconds)
        self.bin_seconds = bin_seconds
        self.on_bin = on_bin
        self.keep = keep
        self.keep_days = keep_days
        self.max_backfill = max_backfill
        self.sources: list = []
        self._lock = threading.Lock()
        self._onsets: list[datetime] = []
        self._last_edge: datetime | None = None
        self._bin_start: datetime | None = None
        self._bin_count = 0
        self._days: OrderedDict[date, np.ndarray] = OrderedDict()
        self.total_onsets = 0
        self.edges = 0          # rising edges seen (onsets or not)
        self.falls = 0          # falling edges seen

    # --- edges ---------------------------------------------------------------------------
    def motion(self, at: datetime | None = None) -> bool:
        """The sensor went high (or a trace onset). Returns True when it counted as an onset."""
        at = at or self.clock.now()
        closed = []
        with self._lock:
            self.edges += 1
            counted = self._last_edge is None or (at - self._last_edge).total_seconds() >= self.hold
            self._last_edge = at
            if counted:
                closed = self._advance(at)
                self._onsets.append(at)
                self._bin_count += 1
                self._count_day(at)
                self.total_onsets += 1
        self._emit(closed)
        return counted

    def no_motion(self, at: datetime | None = None) -> None:
        """The sensor went low: the quiet time of the hold starts now."""
        with self._lock:
            self._last_edge = at or self.clock.now()
            self.falls += 1

    def tick(self, now: datetime | None = None) -> None:
        """Feed trace sources up to ``now`` and close every finished bin (call it often)."""
        now = now or self.clock.now()
        for source in self.sources:
            poll = getattr(source, "poll", None)
            if poll is not None:
                poll(self, now)
        with self._lock:
            closed = self._advance(now)
            self._prune(now)
        self._emit(closed)

    # --- questions -----------------------------------------------------------------------
    def audience(self, start: datetime, end: datetime) -> int:
        """Onsets from 5 minutes before ``start`` until ``end`` (inclusive)."""
        return self.onsets_between(start - AUDIENCE_LEAD, end)

    def onsets_between(self, first: datetime, last: datetime) -> int:
        with self._lock:
            lo = bisect.bisect_left(self._onsets, first)
            hi = bisect.bisect_right(self._onsets, last)
            return hi - lo

    def onsets_since(self, since: datetime) -> list[datetime]:
        with self._lock:
            return self._onsets[bisect.bisect_left(self._onsets, since):]

    def day_bins(self, day: date) -> np.ndarray:
        """Onsets per bin of ``day`` counted so far (zeros where nothing was seen)."""
        with self._lock:
            row = self._days.get(day)
            return row.copy() if row is not None else np.zeros(DAY_SECONDS // self.bin_seconds)

    # --- sources -------------------------------------------------------------------------
    def attach(self, source) -> Presence:
        source.start(self)
        self.sources.append(source)
        return self

    def close(self) -> None:
        for source in self.sources:
            source.close()
        self.sources.clear()

    # --- inside --------------------------------------------------------------------------
    def _floor(self, moment: datetime) -> datetime:
        midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        seconds = (moment - midnight).total_seconds()
        return midnight + timedelta(seconds=int(seconds // self.bin_seconds) * self.bin_seconds)

    def _advance(self, now: datetime) -> list[tuple[datetime, int, int]]:
        """Close the bins that ended by ``now``; returns them for ``on_bin``."""
        current = self._floor(now)
        if self._bin_start is None:
            self._bin_start = current
            return []
        closed = []
        step = timedelta(seconds=self.bin_seconds)
        if current - self._bin_start > self.max_backfill:
            # The clock jumped (NTP after a cold start, or a long stop): report the bin that
            # was open and restart counting here instead of inventing a day of empty bins.
            log.warning("presence: clock moved %s ahead; not reporting the bins in between",
                        current - self._bin_start)
            closed.append((self._bin_start, self.bin_seconds, self._bin_count))
            self._bin_start, self._bin_count = current, 0
            return closed
        while self._bin_start < current:
            closed.append((self._bin_start, self.bin_seconds, self._bin_count))
            self._bin_start += step
            self._bin_count = 0
        return closed

    def _count_day(self, at: datetime) -> None:
        day = at.date()
        row = self._days.get(day)
        if row is None:
            row = self._days[day] = np.zeros(DAY_SECONDS // self.bin_seconds)
            while len(self._days) > self.keep_days:
                self._days.popitem(last=False)
        row[bin_of_day(at, self.bin_seconds)] += 1

    def _prune(self, now: datetime) -> None:
        cut = bisect.bisect_left(self._onsets, now - self.keep)
        if cut > 1024:
            del self._onsets[:cut]

    def _emit(self, closed: list[tuple[datetime, int, int]]) -> None:
        if self.on_bin is None:
            return
        for bin_start, seconds, count in closed:
            self.on_bin(bin_start, seconds, count)


class PirSource:
    """A PIR sensor through gpiozero's ``MotionSensor``; edges reach ``Presence`` from its thread."""

    def __init__(self, pin: int, pull_up: bool = False, sample_rate: float = 10, pin_factory=None):
        self.pin = pin
        self.pull_up = pull_up
        self.sample_rate = sample_rate
        self.pin_factory = pin_factory
        self.sensor = None

    def start(self, presence: Presence) -> None:
        from gpiozero import MotionSensor

        self.sensor = MotionSensor(self.pin, pull_up=self.pull_up, queue_len=1,
                                   sample_rate=self.sample_rate, pin_factory=self.pin_factory)
        # Reading the state waits for the first sample; gpiozero fires no callback for the
        # state it starts in, so someone already in front of the sensor counts here.
        if self.sensor.motion_detected:
            presence.motion()
        self.sensor.when_motion = lambda: presence.motion()
        self.sensor.when_no_motion = lambda: presence.no_motion()

    def close(self) -> None:
        if self.sensor is not None:
            self.sensor.close()
            self.sensor = None


def read_trace(path: Path | str, tz=CAMPAIGN_TZ) -> list[datetime]:
    """Motion onsets from a CSV file with a ``timestamp`` column (ISO 8601), sorted.

    A timestamp without an offset is taken in the campaign's zone. Bad rows raise a
    ConfigError naming the line.
    """
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [("", f"cannot read the trace: {exc.strerror}")]) from None
    times: list[datetime] = []
    with handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "timestamp" not in reader.fieldnames:
            raise ConfigError(path, [("", f"a trace needs a 'timestamp' column; found {reader.fieldnames}")])
        for row in reader:
            text = (row.get("timestamp") or "").strip()
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise ConfigError(path, [(f"line {reader.line_num}", (f"timestamp {text!r} is not ISO 8601 "
                                          "(e.g. 2024-08-19T08:03:12+07:00)"))]) from None
            times.append(moment.replace(tzinfo=tz) if moment.tzinfo is None else moment.astimezone(tz))
    times.sort()
    return times


class TraceSource:
    """Replays onsets from a trace file: ``poll`` feeds those the clock has passed."""

    def __init__(self, csv_path: Path | str | None = None, onsets: Iterable[datetime] | None = None):
        self.onsets = sorted(onsets) if onsets is not None else read_trace(csv_path)
        self._next = 0

    def __iter__(self):
        return iter(self.onsets)

    def start(self, presence: Presence) -> None:
        now = presence.clock.now()
        self._next = bisect.bisect_left(self.onsets, now)

    def skip_to(self, moment: datetime) -> None:
        """Drop the onsets before ``moment`` unseen (the agent was not running then)."""
        self._next = max(self._next, bisect.bisect_left(self.onsets, moment))

    def poll(self, presence: Presence, now: datetime) -> None:
        onsets = self.onsets
        i = self._next
        while i < len(onsets) and onsets[i] <= now:
            presence.motion(onsets[i])
            presence.no_motion(onsets[i])
            i += 1
        self._next = i

    def close(self) -> None:
        pass
