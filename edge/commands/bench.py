"""Measure the cost of one frame on the way to the panel: this pipeline, Pillow redraw, a SetPixel loop
and a bare memory copy, for 128x32, 128x64 and 256x128 boards side by side (bench/bench_frames.py)."""

from __future__ import annotations

import argparse

from edge.content import benchmark


def add_arguments(p: argparse.ArgumentParser) -> None:
    benchmark.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    benchmark.run(args.board or benchmark.BOARDS, args.seconds)
    return 0
