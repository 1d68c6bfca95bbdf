"""The messages the collector kept aside instead of storing (malformed, oversized, foreign or
from devices the registry does not know): counts per reason, then the latest ones."""

from __future__ import annotations

import argparse

from broker.commands.common import add_store_arguments, resolve
from broker.store import open_store


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=20, help="how many of the latest to show")
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, _registry = resolve(args)
    store = open_store(config.database.url)
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
        print(f"{row.received_at:%Y-%m-%d %H:%M:%S}Z {row.reason:15s} {row.topic}  {row.detail}\n    {payload!r}")
    return 0
