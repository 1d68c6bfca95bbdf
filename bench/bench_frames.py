"""Benchmark: the cost of one frame on the way to the panel (same as ``ihanoi-edge bench``).

    python bench/bench_frames.py [--board p4-128x64] [--seconds 2]
"""

import sys

from edge.content.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
