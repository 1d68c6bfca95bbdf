"""Measure the cost of one frame on the way to the panel: this pipeline, Pillow redraw, a SetPixel loop
and a bare memory copy, for 128x32, 128x64 and 256x128 boards side by side (bench/bench_frames.py);
then the hand-off to the real LED library and how long it holds other threads (edge/panel/handoff_bench.py)."""

from __future__ import annotations

import argparse
import os

from edge.content import benchmark
from edge.panel import handoff_bench


def add_arguments(p: argparse.ArgumentParser) -> None:
    benchmark.add_arguments(p)
    handoff_bench.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    print(load_line("before"), flush=True)
    benchmark.run(args.board or benchmark.BOARDS, args.seconds, runs=args.runs)
    for board in args.board or (handoff_bench.DEFAULT_BOARD,):
        handoff_bench.run(board, args.seconds, args.rgbmatrix_site)
    print(load_line("after"), flush=True)
    return 0


def load_line(when: str) -> str:
    """The machine's load average, which every figure of a benchmark depends on."""
    one, five, fifteen = os.getloadavg()
    return f"load {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"
