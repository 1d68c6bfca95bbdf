"""Per-unit compliance report: for each unit and open day, the plays within opening hours against
the quota, the share in peak hours, the audience and silent devices; then per unit, the district
summary (the directive's measure: average plays per device and day) and device footnotes."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

from broker.commands.common import add_store_arguments, resolve
from broker.report.build import report_from_store
from broker.report.render import FORMATS, write
from broker.store import open_store
from ihanoi.contract.clock import RealClock


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2024-09-03") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="first", type=_day, metavar="DAY", help="first day (default: campaign start)")
    p.add_argument("--to", dest="last", type=_day, metavar="DAY", help="last day, inclusive (default: campaign end)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output (xlsx needs it)")
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, registry = resolve(args)
    store = open_store(config.database.url)
    try:
        report = report_from_store(store, registry, args.first or registry.campaign.first_day,
                                   args.last or registry.campaign.last_day, RealClock(tz=registry.campaign.tz).now(),
                                   timedelta(seconds=config.collector.offline_after_s))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.format == "xlsx" and args.out is None:
        print("error: --format xlsx needs --out FILE.xlsx", file=sys.stderr)
        return 2
    data = write(report, args.format, args.out)
    if data is not None:
        sys.stdout.buffer.write(data)
    elif args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
