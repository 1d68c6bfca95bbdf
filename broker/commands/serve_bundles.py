"""Serve the signed content bundles to the boards (GET, with resume) and take technicians'
uploads (PUT with the upload token): the server's ``ihanoi-bundles`` service, behind the TLS
reverse proxy. See docs/updates.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from broker.bundles import read_token, serve


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, required=True, help="the folder of bundles (created if missing)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1: the proxy is in front)")
    p.add_argument("--port", type=int, default=8780)
    p.add_argument("--token-file", type=Path, help="enables uploads with the bearer token in this file")


def run(args: argparse.Namespace) -> int:
    serve(args.dir, args.host, args.port, read_token(args.token_file) if args.token_file else None)
    return 0
