"""The messages the collector kept aside instead of storing (malformed, oversized, foreign or
from devices the registry does not know): counts per reason, then the latest ones."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone, tzinfo

from broker.commands.common import add_store_arguments, open_existing_store, resolve


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=20, help="how many of the latest to show")
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, registry = resolve(args)
    store = open_existing_store(config.database.url)
    try:
        counts = store.quarantine_counts()
        latest = store.quarantined(args.limit)
    finally:
        store.close()
    if not counts:
        print("nothing quarantined")
        return 0
    for reason, n in sorted(counts.items()):
        print(f"{reason:16s} {n}")
    print()
    for row in latest:
        payload = row.payload[:120].decode("utf-8", "replace")
        print(f"{local(row.received_at, registry.campaign.tz):%d/%m/%Y %H:%M:%S} {row.reason:15s} {row.topic}  "
              f"{row.detail}\n    {payload!r}")
    return 0


def local(moment: datetime, tz: tzinfo) -> datetime:
    """The campaign's local time, as every other listing shows it (the store keeps UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(tz)
