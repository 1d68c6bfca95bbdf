"""Every benchmark of the project, one after the other (``make bench``).

Each prints its own table, the machine's load before and after it, and the spread of at least two
runs; the figures in the README come from these runs (``--quick`` passes on to those that have it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import benchlib

HERE = Path(__file__).resolve().parent
QUICK = {"bench_agent.py", "bench_collector.py", "bench_receipts.py"}
BENCHES = [
    ("frames: the cost of one frame on the way to the panel", ["bench_frames.py"]),
    ("planner: optimiser, online re-plan and five simulated weeks", ["bench_planner.py"]),
    ("campaigns: re-planning 1, 2, 4 and 8 campaigns on one board", ["bench_campaigns.py"]),
    ("agent: memory and CPU while playing", ["bench_agent.py"]),
    ("hdmi: the player's share while mpv plays a 1080p clip, and the start delay", ["bench_hdmi.py"]),
    ("collector: draining a backlog into SQLite and PostgreSQL", ["bench_collector.py"]),
    ("receipts: messages, bytes and drain rate with the collector's receipts on and off", ["bench_receipts.py"]),
]


def main(argv: list[str] | None = None) -> int:
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    failed = []
    for title, args in BENCHES:
        print(f"\n=== {title} ===\n{benchlib.load_line('before')}", flush=True)
        extra = ["--quick"] if quick and args[0] in QUICK else []
        if subprocess.run([sys.executable, str(HERE / args[0]), *args[1:], *extra]).returncode:
            failed.append(args[0])
        print(benchlib.load_line("after"), flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
