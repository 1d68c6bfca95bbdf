"""Benchmark: the cost of one frame on the way to the panel (as ``ihanoi-edge bench``), and the CPU share
of a process that really plays, waits included.

    python bench/bench_frames.py [--board p4-128x64] [--seconds 1] [--runs 2] [--play-seconds 20]

The per-frame table (``edge.content.benchmark``) times the hot loop with its waits skipped: its
"CPU@60" is the frame path alone. A board pays for more than that: waking up for every frame,
reading the clock, the interpreter between frames. So a child process here plays the compiled
promo on the ``null`` panel with the real clock at the board's frame rate, and its CPU time is read
from /proc over ``--play-seconds`` (at least two runs). The whole agent (MQTT, health, presence)
is ``bench/bench_agent.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402  (this folder is on sys.path)
from edge.content import benchmark, builtin_pack, compile_pack  # noqa: E402
from edge.panel.profile import load_profile  # noqa: E402

PLAYER = r"""
import sys
from pathlib import Path
from edge.content import CompiledPack
from edge.panel import open_panel
from edge.panel.profile import load_profile
from edge.player import Player
from ihanoi.contract.clock import RealClock
compiled = CompiledPack(Path(sys.argv[2]))
player = Player(open_panel("null", load_profile(sys.argv[1])), RealClock())
print("playing", len(compiled), "frames at", compiled.fps, "fps", flush=True)
while True:
    player.play(compiled)
"""


def playing_share(board: str, cache: Path, seconds: float, runs: int) -> tuple[benchlib.Spread, int]:
    compiled = compile_pack(builtin_pack("ihanoi-promo"), load_profile(board), cache)

    def one(_run: int) -> float:
        player = benchlib.python_child(["-c", PLAYER, board, str(compiled.path)], cwd=ROOT)
        try:
            player.wait_for("playing", 60)
            time.sleep(1)
            return benchlib.cpu_share(player.pid, seconds)
        finally:
            player.stop(5)

    return benchlib.spread(benchlib.repeat(runs, one, f"playing process, {board}")), compiled.fps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    benchmark.add_arguments(parser)
    parser.add_argument("--play-seconds", type=float, default=20.0, help="measuring window of the playing process")
    args = parser.parse_args(argv)
    boards = args.board or benchmark.BOARDS
    with benchlib.session("frames") as s:
        results = benchmark.run(boards, args.seconds, runs=args.runs)
        work = s.scratch()
        print("\nA process playing the promo on the null panel, real clock, waits included "
              f"({args.play_seconds:g} s windows, min / median / max of {args.runs} runs):")
        for board in boards:
            share, fps = playing_share(board, work / board, args.play_seconds, args.runs)
            hot = next(m for m in results[board] if m.method == "pipeline")
            print(f"  {board}: {share.format('{:.2f}')} % of one core at {fps} fps "
                  f"(the hot loop alone: {hot.cpu60 * fps / 60:.3f} % at {fps} fps, {hot.cpu60:.3f} % at 60 fps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
