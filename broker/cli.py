"""``ihanoi-broker``: the central side's command line. Each verb lives in ``broker/commands/<verb>.py``."""

from __future__ import annotations

import logging
import sys

from ihanoi.contract import verbs

# verb -> (module, one-line help)
VERBS = {
    "collect": ("broker.commands.collect", "receive the boards' events over MQTT and store them (the service)"),
    "report": ("broker.commands.report", "per-unit compliance report for a range of days"),
    "campaign": ("broker.commands.campaign", "the district's campaigns: add FILE | list | show ID | end ID | announce"),
    "devices": ("broker.commands.devices", "every device's state: last seen, online, content, backlog, clock"),
    "quarantine": ("broker.commands.quarantine", "the malformed or foreign messages the collector kept aside"),
    "check-registry": ("broker.commands.check_registry", "validate the units registry"),
    "db-upgrade": ("broker.commands.db_upgrade", "bring the database schema up to date (collect does it too)"),
    "serve": ("broker.commands.serve", "web dashboard"),
    "serve-bundles": ("broker.commands.serve_bundles", "serve content bundles to the boards, take technicians' uploads"),
}


def build_parser():
    return verbs.build_parser("ihanoi-broker", "iHanoi signage: central collector and reports", VERBS,
                              "pip install '<the project's wheel or checkout>[server]'")


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2) if verbosity else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # alembic tells every start which migration context it uses; only worth seeing with -vv
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    return verbs.run(build_parser(), argv, setup_logging)


if __name__ == "__main__":
    sys.exit(main())
