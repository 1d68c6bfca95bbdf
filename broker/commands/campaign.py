"""The district's campaigns: add one from a file (refused, with the arithmetic, when the quotas
cannot all fit in a unit's opening hours), list them, show one, end one early, and announce each
unit's signed campaign set to its boards (retained on unit/<unit>/campaigns). add and end
announce by themselves; announce sends every set again (after a broker lost its retained
messages, or a new signing key)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from broker.campaigns import MqttAnnouncer, announce, load_campaign_file, signing_key
from broker.campaigns.manage import add_campaign, end_campaign, units_of
from broker.campaigns.targets import targeted_units
from broker.commands.common import add_store_arguments, day_arg, moment_arg, open_existing_store, resolve
from broker.store.campaigns import known_campaigns, seed
from ihanoi.contract.clock import RealClock


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add the campaign of a TOML file (docs/campaigns.md) and announce it")
    add.add_argument("file", metavar="FILE.toml")
    sub.add_parser("list", help="every campaign, with its window, target, quota and state")
    show = sub.add_parser("show", help="one campaign in full, and the units it targets")
    show.add_argument("id", metavar="ID")
    end = sub.add_parser("end", help="end a campaign now (or after DAY) and announce it")
    end.add_argument("id", metavar="ID")
    end.add_argument("--on", type=day_arg, metavar="DAY", help="its last day (inclusive); default: it ends now")
    sub.add_parser("announce", help="sign and publish every unit's campaign set again")
    for q in (add, end, sub.choices["announce"], sub.choices["list"], show):
        q.add_argument("--now", type=moment_arg, metavar="DATETIME", help="the moment it is (default: now); "
                                                                       "a simulation gives its simulated time")
        add_store_arguments(q)
    for q in (add, end):
        q.add_argument("--no-announce", action="store_true", help="only write the store; announce later")


def target_text(target) -> str:
    if target.all:
        return "all units"
    if target.kinds:
        return "kinds: " + ", ".join(target.kinds)
    return "units: " + ", ".join(target.units)


def window_text(c) -> str:
    first = f"{c.first_day}" + (f" {c.starts:%H:%M}" if c.starts else "")
    last = f"{c.last_day}" + (f" {c.ends:%H:%M}" if c.ends else "")
    return f"{first} – {last}"


def _announce(args, config, registry, store, now, units=None) -> int:
    if getattr(args, "no_announce", False):
        print("not announced (--no-announce): run ihanoi-broker campaign announce", file=sys.stderr)
        return 0
    key = signing_key(config.campaigns.signing_key, args.config or "the server config (--config)")
    announcer = MqttAnnouncer(config.broker, config.collector.topic_prefix)
    done = announce(store, registry, announcer, key, now, units)
    changed = [a for a in done if a.changed]
    print(f"announced to {len(done)} unit(s), {len(changed)} with a new set"
          + (": " + ", ".join(f"{a.unit} v{a.version}" for a in changed[:8]) + (" ..." if len(changed) > 8 else "")
             if changed else ""))
    return 0


def run(args: argparse.Namespace) -> int:
    config, registry = resolve(args)
    tz = registry.campaign.tz
    now = args.now.astimezone(tz) if args.now else RealClock(tz=tz).now()
    store = open_existing_store(config.database.url)
    try:
        seed(store.campaigns, registry, now)
        if args.action == "list":
            for s in known_campaigns(store.campaigns, registry):
                c = s.campaign
                print(f"{c.id:<20} {s.state(now, tz):<11} {window_text(c):<29} quota {c.quota:>3}  "
                      f"gap {c.min_gap_minutes:>3} min  {target_text(c.target)}  — {c.title} "
                      f"({c.directive.number}, {c.directive.date:%d/%m/%Y}, {c.directive.issuer})")
            return 0
        if args.action == "show":
            s = store.campaigns.get(args.id)
            c = s.campaign
            units = targeted_units(registry, c)
            print(f"{c.id}: {c.title}\n  directive: số {c.directive.number}, ngày {c.directive.date:%d/%m/%Y}, "
                  f"{c.directive.issuer}\n  window: {window_text(c)} ({s.state(now, tz)})\n"
                  f"  content: {c.content_id}" + (f" (bundle {c.bundle})" if c.bundle else "") +
                  f"\n  quota: {c.quota} plays per board and open day, at least {c.min_gap_minutes} min apart, "
                  f"{'seeking' if c.seek_peaks else 'not seeking'} peaks; a play lasts {s.play_seconds} s\n"
                  f"  target: {target_text(c.target)} ({len(units)} unit(s): {', '.join(u.id for u in units)})\n"
                  f"  added {s.created_at.astimezone(tz):%Y-%m-%d %H:%M}" +
                  (f", ended at {s.ended_at.astimezone(tz):%Y-%m-%d %H:%M}" if s.ended_at else ""))
            return 0
        if args.action == "add":
            campaign, play_seconds = load_campaign_file(args.file, registry)
            add_campaign(store, registry, campaign, play_seconds, now, args.file)
            print(f"added {campaign.id}: {window_text(campaign)}, {target_text(campaign.target)}")
            return _announce(args, config, registry, store, now, units_of(registry, campaign))
        if args.action == "end":
            ended = end_campaign(store, registry, args.id, args.on, now)
            print(f"{ended.id}: " + ("withdrawn (it had not started)" if ended.withdrawn(tz)
                                     else f"now {window_text(ended.campaign)}"))
            return _announce(args, config, registry, store, now, units_of(registry, ended.campaign))
        return _announce(args, config, registry, store, now)
    finally:
        store.close()
