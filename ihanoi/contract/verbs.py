"""The shape both command lines share: one module per verb, loaded lazily, errors as sentences.

A verb module has ``add_arguments(parser)`` and ``run(args) -> int``. A verb whose module needs
a package this machine did not install (a Pi has no server packages) is listed as unavailable
with the package's name, instead of breaking the whole command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Callable

from ihanoi.contract.errors import SignageError


def build_parser(prog: str, description: str, verbs: dict[str, tuple[str, str]], install_hint: str = "",
                 version: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    if version:
        parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, (module_name, help_text) in verbs.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] in ("edge", "broker"):
                raise
            missing = (f"unavailable here: install the missing package {exc.name!r}"
                       f"{', e.g. ' + install_hint if install_hint else ''}")
            p = sub.add_parser(verb, help=f"{help_text} [{missing}]", description=f"{help_text}: {missing}")
            p.set_defaults(_missing=exc.name, _hint=install_hint)
            continue
        p = sub.add_parser(verb, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None, setup_logging: Callable[[int], None]) -> int:
    # Known-args first: whatever options follow an unavailable verb, the answer is the missing
    # package, not "unrecognized arguments".
    args, unknown = parser.parse_known_args(argv)
    if unknown and hasattr(args, "_run"):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    setup_logging(args.verbose)
    if not hasattr(args, "_run"):
        hint = f" ({args._hint})" if getattr(args, "_hint", "") else ""
        parser.error(f"'{args.verb}' needs the package {getattr(args, '_missing', '?')!r}, which is not installed "
                     f"here: install the project with the extra this machine's kind needs{hint}; see README, "
                     "'Installing only what a machine needs'")
    try:
        return int(args._run(args) or 0)
    except SignageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
