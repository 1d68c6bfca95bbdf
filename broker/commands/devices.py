"""Every registered device's state as the collector knows it: online or offline (retained state
and heartbeats), last seen, content and software version, outbox backlog, clock synchronised."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

from broker.commands.common import add_store_arguments, open_existing_store, resolve
from broker.report.build import device_states
from broker.report.compliance import device_notes, latest_per_screen
from broker.report.render import DEVICE_COLUMNS, device_rows, grid
from ihanoi.contract.clock import RealClock


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--problems", action="store_true", help="only devices with something to look at")
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, registry = resolve(args)
    store = open_existing_store(config.database.url)
    try:
        states = device_states(store)
    finally:
        store.close()
    now = RealClock(tz=registry.campaign.tz).now()
    notes = device_notes(registry, states, now, timedelta(seconds=config.collector.offline_after_s),
                         latest_per_screen(registry, states))
    if args.problems:
        notes = [n for n in notes if n.problems]
    if args.format == "json":
        out = [{**n.__dict__, "last_seen": n.last_seen.isoformat() if n.last_seen else None} for n in notes]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
        return 0
    print(grid(DEVICE_COLUMNS, device_rows(notes, now.tzinfo)))
    return 0
