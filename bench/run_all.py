"""Every benchmark of the project, one after the other (``make bench``).

Each prints its own table; the figures in the README come from these runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    ("frames: the cost of one frame on the way to the panel", ["bench_frames.py"]),
    ("planner: optimiser, online re-plan and five simulated weeks", ["bench_planner.py"]),
    ("agent: memory and CPU while playing", ["bench_agent.py"]),
    ("hdmi: the player's share while mpv plays a 1080p clip, and the start delay", ["bench_hdmi.py"]),
    ("collector: draining a backlog into SQLite and PostgreSQL", ["bench_collector.py"]),
]


def main() -> int:
    failed = []
    for title, argv in BENCHES:
        print(f"\n=== {title} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]]).returncode:
            failed.append(argv[0])
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
