"""Per-unit compliance report of each campaign: for each unit and open day, the plays within opening
hours against the quota, the share in peak hours, the audience and silent devices; then per unit, the
district summary (the directive's measure: average plays per device and day) and device footnotes,
under a title that carries the directive's reference. Several campaigns (--campaign, again and again;
by default the active ones): one report each, then which units comply with all their directives."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from broker.commands.common import add_store_arguments, day_arg, moment_arg, open_existing_store, resolve
from broker.report.build import campaign_reports
from broker.report.render import FORMATS, write
from ihanoi.contract.clock import RealClock


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--campaign", dest="campaigns", action="append", metavar="ID",
                   help="the campaign to report (again for several; default: the active ones, or those of the "
                        "period given; ihanoi-broker campaign list names them)")
    p.add_argument("--from", dest="first", type=day_arg, metavar="DAY", help="first day (default: campaign start)")
    p.add_argument("--to", dest="last", type=day_arg, metavar="DAY", help="last day, inclusive (default: campaign end)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output (xlsx needs it)")
    p.add_argument("--now", type=moment_arg, metavar="DATETIME",
                   help="the moment the report is made, for its notes ('offline since'); default: now. "
                        "A simulation gives its simulated time")
    add_store_arguments(p)


def run(args: argparse.Namespace) -> int:
    config, registry = resolve(args)
    if args.format == "xlsx" and args.out is None:
        print("error: --format xlsx needs --out FILE.xlsx", file=sys.stderr)
        return 2
    now = args.now.astimezone(registry.campaign.tz) if args.now else RealClock(tz=registry.campaign.tz).now()
    store = open_existing_store(config.database.url)
    try:
        reports, summary = campaign_reports(store, registry, args.campaigns, args.first, args.last, now,
                                            timedelta(seconds=config.collector.offline_after_s))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if not reports:
        print("error: no campaign is active then; name one with --campaign ID (ihanoi-broker campaign list)",
              file=sys.stderr)
        return 2
    data = write(reports, args.format, args.out, summary)
    if data is not None:
        sys.stdout.buffer.write(data)
    elif args.out:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
