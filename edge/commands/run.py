"""Run the agent on this board: the promo at the planner's times, filler in between, every play
and the lobby's traffic reported through the outbox. This is what the systemd service runs.

With --speed and --start the same agent runs on a simulated clock (days in minutes), and
--pir-trace replays motion onsets from a CSV file instead of reading the PIR sensor."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from edge.config import check_config
from ihanoi.contract.clock import RealClock, SimClock
from ihanoi.contract.protocol import parse_datetime

log = logging.getLogger("ihanoi.run")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="device config (TOML)")
    p.add_argument("--speed", type=float, help="simulated clock: this many seconds per real second")
    p.add_argument("--start", type=parse_datetime, metavar="DATETIME",
                   help="simulated clock's start, ISO 8601 with offset (e.g. 2024-09-04T07:30:00+07:00)")
    p.add_argument("--until", type=parse_datetime, metavar="DATETIME", help="stop when the clock reaches this time")
    p.add_argument("--sim-epoch", type=float, metavar="SECONDS",
                   help="simulated clock only: the time.monotonic() reading at which it stood at --start, so "
                        "that several agents share one simulated clock (the district demo uses it)")
    p.add_argument("--pir-trace", type=Path, metavar="FILE", help="replay motion onsets (CSV, column timestamp)")
    p.add_argument("--unsynced-for", type=float, default=0, metavar="SECONDS",
                   help="simulated clock only: behave as a Pi whose clock is not set by NTP for this long")


def run(args: argparse.Namespace) -> int:
    from edge.agent import Agent

    if (args.speed is None) != (args.start is None):
        raise SystemExit("ihanoi-edge run: --speed and --start go together (a simulated clock needs both)")
    config, registry, profile = check_config(args.config)
    if args.speed is not None:
        clock = SimClock(args.start, speed=args.speed, synced=not args.unsynced_for, epoch=args.sim_epoch)
        # about 20 loop turns per real second, but never coarser than the planner's one-minute slots
        step = min(60.0, max(1.0, args.speed / 20))
        if args.unsynced_for:
            threading.Thread(target=_sync_later, args=(clock, args.unsynced_for), daemon=True).start()
    else:
        clock, step = RealClock(), 1.0
    agent = Agent(config, registry, profile, clock, pir_trace=args.pir_trace, step=step, password=config.password())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.stop())
    agent.run(until=args.until)
    return 0


def _sync_later(clock: SimClock, seconds: float) -> None:
    clock.sleep(seconds)
    clock.set_synced(True)
    log.info("clock synchronised (simulated NTP)")
