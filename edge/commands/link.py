"""Connect this device to the broker and keep it there: retained state, health every interval,
and whatever waits in the outbox. No panel, no planner: for checking a Pi's network and
credentials, or running the reporting path on its own. Stops cleanly on SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from edge.config import load_config
from edge.health import Health
from edge.link import Link
from edge.localdb import open_local_db
from edge.outbox import Outbox
from ihanoi.contract.clock import RealClock

log = logging.getLogger("ihanoi.link")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE", help="device config (TOML)")
    p.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0 = run until stopped)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    clock = RealClock()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(open_local_db(config.data_dir, clock), config.device, max_events=config.outbox.max_events,
                    clock=clock)
    link = Link(config.device, config.broker, outbox, clock=clock, password=config.password(),
                window=config.outbox.window, unit=config.unit, receipts=config.outbox.receipts,
                receipt_timeout=config.outbox.receipt_timeout_s)
    health = Health(outbox, clock, [link.figures], interval=config.health.interval_seconds)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    log.info("device %s -> %s:%d (outbox %s, %d waiting)", config.device, config.broker.host, config.broker.port,
             outbox.path, outbox.depth())
    link.start()
    health.start()
    done.wait(args.seconds or None)
    health.stop()
    link.stop()
    log.info("stopped; %d event(s) left in the outbox", outbox.depth())
    return 0
