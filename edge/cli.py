"""``ihanoi-edge``: the agent's command line. Each verb lives in ``edge/commands/<verb>.py``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from edge import __version__
from edge.errors import SignageError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ihanoi-edge", description="iHanoi lobby signage agent")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, (module_name, help_text) in VERBS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("edge."):
                continue
            sub.add_parser(verb, help=f"{help_text} [unavailable: install the missing package {exc.name!r}]")
            continue
        p = sub.add_parser(verb, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def setup_logging(verbosity: int) -> None:
    from edge.service import setup_logging as setup

    setup(logging.DEBUG if verbosity else logging.INFO)


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
