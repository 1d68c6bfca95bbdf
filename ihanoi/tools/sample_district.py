"""A sample district in a store, in seconds, for the dashboard's tests and for trying its pages:
boards that play, count people and send heartbeats, written through the collector's own path.
(``python -m ihanoi.tools.demo`` runs the real thing: Mosquitto, the collector and every agent.)

Every event is built as a protocol message, encoded as the board would send it, and goes
through ``broker.collector.batch.prepare`` (validation, unit from the registry) into
``Store.write_batch`` — the store cannot tell it from a live district.

    python -m ihanoi.tools.sample_district --database sqlite:///sample.sqlite

By default it fills the campaign's last twelve days, the days the dashboard opens on once the
campaign is over; ``--from``/``--to`` choose others inside the campaign.
"""

from __future__ import annotations

import argparse
import math
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from broker.collector.batch import Incoming, prepare
from broker.report.compliance import calendar_of
from broker.store import Store
from ihanoi.contract import protocol
from ihanoi.contract.opendays import Calendar
from ihanoi.contract.registry import Registry
from ihanoi.contract.timeofday import minute_of_day

BIN = 300
PLAY_SECONDS = 30
SHA = "5" * 64
# How a board behaves, by its position in the list: most comply, some fall short, one
# plays outside opening hours, one goes dark before the end.
HABITS = ("diligent", "diligent", "short", "diligent", "uneven", "early-bird", "diligent", "dark")


@dataclass(frozen=True)
class Board:
    device: str
    unit: str
    habit: str
    stream: uuid.UUID


def boards(registry: Registry, units: list[str] | None = None) -> list[Board]:
    chosen = [u for u in registry.units if units is None or u.id in units]
    out = []
    for i, (unit, device) in enumerate((u, d) for u in chosen for d in u.devices):
        out.append(Board(device.id, unit.id, HABITS[i % len(HABITS)], uuid.uuid5(uuid.NAMESPACE_DNS, device.id)))
    return out


def _crowd(minute: int) -> float:
    """Expected onsets per 5 minutes: a morning rush around 9:00 and a smaller one at 14:30."""
    return 0.4 + 6 * math.exp(-((minute - 540) / 45) ** 2) + 3.5 * math.exp(-((minute - 870) / 40) ** 2)


def _noisy(rng: random.Random, mean: float) -> int:
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


class _Sender:
    def __init__(self, registry: Registry, store: Store, topics: protocol.Topics):
        self.registry, self.store, self.topics = registry, store, topics
        self.seq: dict[str, int] = {}
        self.batch: list[Incoming] = []

    def next_seq(self, device: str) -> int:
        self.seq[device] = self.seq.get(device, 0) + 1
        return self.seq[device]

    def send(self, device: str, kind: str, message) -> None:
        self.batch.append(Incoming(self.topics.up(device, kind), protocol.encode(message), 0, 1, 0))

    def flush(self, received_at: datetime) -> None:
        if self.batch:
            p = prepare(self.batch, self.topics, self.registry, received_at)
            self.store.write_batch(p.events, p.quarantined, list(p.seen.values()),
                                   list(p.health_states.values()), list(p.states.values()))
            self.batch = []


def _day(sender: _Sender, rng: random.Random, board: Board, day: date, until: datetime, quota: int,
         cal: Calendar, hours) -> None:
    tz = sender.registry.campaign.tz
    windows = hours.windows(day, tz) if cal.is_open(day) else []
    onsets: dict[datetime, int] = {}
    for start, end in windows:
        t = start
        while t < end and t + timedelta(seconds=BIN) <= until:
            n = _noisy(rng, _crowd(minute_of_day(t)))
            onsets[t] = n
            sender.send(board.device, "traffic", protocol.Traffic(
                device=board.device, stream=board.stream, seq=sender.next_seq(board.device), bin_start=t,
                bin_seconds=BIN, onsets=n, clock_synced=True))
            t += timedelta(seconds=BIN)
    if not windows:
        return
    target = {"diligent": quota + 1, "short": quota - 3, "uneven": quota - 2 if day.day % 2 else quota,
              "early-bird": quota, "dark": quota}[board.habit]
    # The busiest bins first, at least 15 minutes apart: what a planner that learned the peaks does.
    busiest = sorted(onsets, key=lambda t: (-onsets[t], t))
    starts: list[datetime] = []
    for t in busiest:
        if len(starts) >= target:
            break
        if all(abs((t - s).total_seconds()) >= 900 for s in starts):
            starts.append(t + timedelta(seconds=rng.randrange(0, BIN - PLAY_SECONDS)))
    if board.habit == "early-bird":  # plays before the doors open: not counted
        starts[:2] = [windows[0][0] - timedelta(minutes=40), windows[0][0] - timedelta(minutes=20)]
    for i, start in enumerate(sorted(starts)):
        end = start + timedelta(seconds=PLAY_SECONDS)
        if end > until:
            continue
        audience = sum(n for t, n in onsets.items() if t + timedelta(seconds=BIN) > start - timedelta(minutes=5) and t < end)
        completed = not (board.habit == "uneven" and i == 0)  # cut short by a power cut: not counted
        sender.send(board.device, "play", protocol.Play(
            device=board.device, stream=board.stream, seq=sender.next_seq(board.device),
            content=protocol.ContentRef(id=sender.registry.campaign.content_id, version=3, sha256=SHA),
            start=start, end=end, completed=completed, audience=audience, reason="peak", clock_synced=True))
    # Another pack's plays never count toward the quota.
    sender.send(board.device, "play", protocol.Play(
        device=board.device, stream=board.stream, seq=sender.next_seq(board.device),
        content=protocol.ContentRef(id="weather", version=1, sha256=SHA), start=windows[0][0] + timedelta(minutes=7),
        end=windows[0][0] + timedelta(minutes=8), completed=True, audience=0, reason="live", clock_synced=True))


def simulate_district(store: Store, registry: Registry, first: date, last: date, until: datetime,
                      units: list[str] | None = None, seed: int = 2024) -> list[Board]:
    """Fill ``store`` with the district's events from ``first`` to ``last`` up to ``until``."""
    rng = random.Random(seed)
    sender = _Sender(registry, store, protocol.Topics())
    c = registry.campaign
    fleet = boards(registry, units)
    for board in fleet:
        unit = registry.unit(board.unit)
        cal = calendar_of(registry, unit)
        last_day = last - timedelta(days=2) if board.habit == "dark" else last
        day = first
        while day <= last_day:
            _day(sender, rng, board, day, until, registry.quota_of(unit), cal, registry.hours_of(unit))
            received = min(until, datetime.combine(day, time(18, 0), c.tz))
            if board.habit == "dark" and day == last_day:
                sender.send(board.device, "state", protocol.State(device=board.device, state="offline",
                                                                  since=received, reason="lost"))
            sender.flush(received)
            day += timedelta(days=1)
        if board.habit != "dark":
            moment = until - timedelta(seconds=40)
            sender.send(board.device, "health", protocol.Health(
                device=board.device, time=moment, uptime_s=86400.0, software_version="0.1.0",
                content_id=c.content_id, content_version=3 if board.habit != "short" else 2,
                outbox_depth=37 if board.habit == "uneven" else 0, outbox_dropped=0,
                cpu_temp_c=78.5 if board.habit == "early-bird" else 52.0 + len(board.device) % 7,
                clock_synced=board.habit != "short"))
            sender.send(board.device, "state", protocol.State(device=board.device, state="online",
                                                              since=until - timedelta(hours=5)))
            sender.flush(until - timedelta(seconds=30))
    return fleet


def main(argv: list[str] | None = None) -> int:
    from broker.store import open_store
    from ihanoi.contract.registry import load_registry

    p = argparse.ArgumentParser(prog="python -m ihanoi.tools.sample_district", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", required=True, metavar="URL")
    p.add_argument("--registry", metavar="FILE")
    p.add_argument("--from", dest="first", type=date.fromisoformat, help="first day (default: 11 days before --to)")
    p.add_argument("--to", dest="last", type=date.fromisoformat, help="last day (default: the campaign's last day)")
    p.add_argument("--units", nargs="*", help="unit ids (default: every unit)")
    args = p.parse_args(argv)
    registry = load_registry(args.registry)
    first, last = sample_days(registry.campaign, args.first, args.last)
    if first is None:
        p.error(f"the days must lie within the campaign, {registry.campaign.first_day} .. {registry.campaign.last_day}, "
                "first before last")
    args.first, args.last = first, last
    store = open_store(args.database)
    until = datetime.combine(args.last, time(17, 30), registry.campaign.tz)
    fleet = simulate_district(store, registry, args.first, args.last, until, args.units)
    print(f"{len(fleet)} boards, {store.count('play')} plays, {store.count('traffic')} traffic bins "
          f"({args.first:%d/%m/%Y} .. {args.last:%d/%m/%Y}, 'now' = {until:%d/%m/%Y %H:%M})\n"
          f"dashboard: ihanoi-broker serve --config FILE --database {args.database}, then open "
          f"/?from={args.first:%d/%m/%Y}&to={args.last:%d/%m/%Y}")
    return 0


def sample_days(campaign, first: date | None, last: date | None) -> tuple[date | None, date | None]:
    """The days to fill: the campaign's last twelve by default (the dashboard opens on the
    campaign's last days once it is over); (None, None) when the days asked for are not inside it."""
    last = last or min(campaign.last_day, (first + timedelta(days=11)) if first else campaign.last_day)
    first = first or max(campaign.first_day, last - timedelta(days=11))
    if not (campaign.first_day <= first <= last <= campaign.last_day):
        return None, None
    return first, last


if __name__ == "__main__":
    raise SystemExit(main())
