"""``ihanoi-edge``: the agent's command line. Each verb lives in ``edge/commands/<verb>.py``."""

from __future__ import annotations

import logging
import sys

from edge import __version__
from ihanoi.contract import verbs

# verb -> (module, one-line help)
VERBS = {
    "run": ("edge.commands.run", "run the agent on this board (the systemd service runs this)"),
    "check-config": ("edge.commands.check_config", "validate a device config and the files it names"),
    "preview": ("edge.commands.preview", "compile a content pack and write a GIF and a contact sheet"),
    "render-text": ("edge.commands.render_text", "render one line of text at the board's native pixels"),
    "simulate": ("edge.commands.simulate", "run presence + planner over a motion trace in simulated time"),
    "bench": ("edge.commands.bench", "measure the cost of one frame on the way to the panel"),
    "link": ("edge.commands.link", "connect to the broker and publish state and health (no panel)"),
}


def build_parser():
    return verbs.build_parser("ihanoi-edge", "iHanoi lobby signage agent", VERBS,
                              "pip install '<the project's wheel or checkout>[emulator]'", version=__version__)


def setup_logging(verbosity: int) -> None:
    from edge.service import setup_logging as setup

    setup(logging.DEBUG if verbosity else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    return verbs.run(build_parser(), argv, setup_logging)


if __name__ == "__main__":
    sys.exit(main())
