"""``ihanoi-broker``: the central side's command line. Each verb lives in ``broker/commands/<verb>.py``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from edge.errors import SignageError

# verb -> (module, one-line help)
VERBS = {
    "collect": ("broker.commands.collect", "receive the boards' events over MQTT and store them (the service)"),
    "report": ("broker.commands.report", "per-unit compliance report for a range of days"),
    "devices": ("broker.commands.devices", "every device's state: last seen, online, content, backlog, clock"),
    "quarantine": ("broker.commands.quarantine", "the malformed or foreign messages the collector kept aside"),
    "check-registry": ("broker.commands.check_registry", "validate the units registry"),
    "db-upgrade": ("broker.commands.db_upgrade", "bring the database schema up to date (collect does it too)"),
    "serve": ("broker.commands.serve", "web dashboard"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ihanoi-broker", description="iHanoi signage: central collector and reports")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, (module_name, help_text) in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("broker."):
                continue
            sub.add_parser(verb, help=f"{help_text} [unavailable: install the missing package {exc.name!r}, "
                                      "e.g. pip install 'ihanoi-signage[server]']")
            continue
        p = sub.add_parser(verb, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2) if verbosity else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # alembic tells every start which migration context it uses; only worth seeing with -vv
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    if not hasattr(args, "_run"):
        parser.error(f"'{args.verb}' needs packages that are not installed (see README, 'Install')")
    try:
        return int(args._run(args) or 0)
    except SignageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
