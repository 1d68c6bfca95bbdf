"""The agent's footprint while it plays: resident memory and CPU share of one ``ihanoi-edge run``.

    .venv/bin/python bench/bench_agent.py               # 128x64 board, 30 s of playing, 2 runs each
    .venv/bin/python bench/bench_agent.py --quick       # 8 s windows, to iterate

A real agent process (real clock, a local Mosquitto on a free port, the null panel or the
recorder, a fresh data folder so the promo is compiled at start) is told to play the promo (a
``play-now`` command); its CPU time and memory are read from /proc while idle and while playing.
The peak (VmHWM) covers the whole life of the process, the compile at start included. The
``recorder`` panel keeps every frame it is shown (up to 10,000, 24 KB each on 128x64): its memory
grows by about 0.7 MB a second of playing, which is the recorder's, not the agent's; the ``null``
panel stands for a real board.

In the same run, for comparison:
- the agent with the pack compiled in the agent itself, as before the compile moved into a child
  process (the child is made to fail, and the agent falls back to compiling in process);
- the naive way: a loop that re-draws every frame of the same scrolling text with Pillow at the
  same frame rate, as most signage scripts do, with an uncompressed copy of the same pixel font
  (as the frames benchmark does: from the shipped ``.pcf.gz`` every ``draw.text`` decompresses
  the glyphs again, which makes the loop about 250x slower and measures the font, not the way);
- the same naive loop on the ``.pcf.gz`` font, to show that difference.

Goal (issue 6): under 80 MB and under 5% of one core on a 128x64 promo.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402  (this folder is on sys.path)
from benchlib import cpu_seconds, memory_mb  # noqa: E402, F401  (bench_hdmi imports them from here)
from tests.mosquitto import Mosquitto  # noqa: E402

DEVICE = "hbt-bach-dang-01"

# The agent as ``ihanoi-edge run`` starts it; ``in-agent`` makes the compiler child fail to start,
# so the agent compiles the pack itself (logged as an error), as it did before.
AGENT = r"""
import sys
if sys.argv[1] == "in-agent":
    import edge.content.child
    edge.content.child.PYTHON = "/nonexistent/python"
from edge.cli import main
sys.exit(main(sys.argv[2:]))
"""


def measure(pid: int, seconds: float) -> dict:
    cpu = benchlib.cpu_share(pid, seconds)
    rss, peak = memory_mb(pid)
    return {"cpu": cpu, "rss": rss, "peak": peak}


def agent_run(work: Path, broker: Mosquitto, panel: str, compile_in: str, profile: str, seconds: float,
              run: int) -> dict:
    folder = work / f"{panel}-{compile_in}-{run}"
    folder.mkdir()
    synced = folder / "synced"
    synced.touch()
    (folder / "empty.csv").write_text("timestamp\n")
    config = folder / "device.toml"
    config.write_text(textwrap.dedent(f"""\
        device = "{DEVICE}"
        unit = "phuong-bach-dang"
        data_dir = "data"
        [broker]
        host = "127.0.0.1"
        port = {broker.port}
        [panel]
        profile = "{profile}"
        output = "{panel}"
        [pir]
        pin = 5
        [outbox]
        receipts = "broker"
        """))
    env = dict(os.environ, PYTHONPATH=str(ROOT), IHANOI_CLOCK_SYNC_FILE=str(synced))
    env.pop("IHANOI_PANEL", None)
    agent = benchlib.python_child(["-c", AGENT, compile_in, "run", "--config", str(config), "--pir-trace",
                                   str(folder / "empty.csv")], cwd=folder, env=env)
    try:
        agent.wait_for("running", 300)
        time.sleep(2)
        idle = measure(agent.pid, min(5.0, seconds))
        mark = agent.mark()
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", f"ihanoi/v1/cmd/{DEVICE}/play-now",
                        "-m", json.dumps({"schema": "ihanoi.cmd.play-now/1", "id": f"bench-{panel}-{run}"})],
                       check=True)
        agent.wait_for("playing", 60, since=mark)
        time.sleep(1)
        playing = measure(agent.pid, seconds)
        return {"idle": idle["cpu"], **playing}
    finally:
        agent.stop()


NAIVE = r"""
import sys, time
from PIL import Image, ImageDraw, ImageFont
sys.path.insert(0, sys.argv[1])
from edge.panel.profile import load_profile
from edge.panel import open_panel
import numpy as np
profile = load_profile(sys.argv[2])
panel = open_panel("null", profile)
font = ImageFont.truetype(sys.argv[3], int(sys.argv[4]))
text = "iHanoi — Công dân Thủ đô số: phản ánh, góp ý, tra cứu thủ tục hành chính ngay trên điện thoại."
x, period, t0, n = profile.width, 1 / profile.fps, time.monotonic(), 0
print("ready", flush=True)
while True:
    image = Image.new("RGB", (profile.width, profile.height))
    ImageDraw.Draw(image).text((x, 6), text, font=font, fill=(255, 210, 0))
    panel.show(np.asarray(image))
    x = x - 2 if x > -2000 else profile.width
    n += 1
    time.sleep(max(0.0, t0 + n * period - time.monotonic()))
"""


def naive_fonts(work: Path, profile_name: str) -> dict[str, tuple[Path, int]]:
    """The pixel font the agent's filler uses: an uncompressed copy (fair) and the shipped .pcf.gz."""
    from edge.content import fonts
    from edge.panel.profile import load_profile

    font = fonts.choose("auto", load_profile(profile_name).height)
    shipped = fonts.font_path(font)
    plain = work / font.file.removesuffix(".gz")
    plain.write_bytes(gzip.decompress(shipped.read_bytes()) if shipped.name.endswith(".gz") else shipped.read_bytes())
    return {"plain": (plain, font.height), "gz": (shipped, font.height)}


def naive_run(profile: str, font: tuple[Path, int], seconds: float, run: int) -> dict:
    loop = benchlib.python_child(["-c", NAIVE, str(ROOT), profile, str(font[0]), str(font[1])])
    try:
        loop.wait_for("ready", 60)
        time.sleep(2)
        return measure(loop.pid, seconds)
    finally:
        loop.stop(5)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="p4-128x64")
    p.add_argument("--seconds", type=float, default=30.0, help="measuring window while playing")
    p.add_argument("--runs", type=int, default=2, help="runs of each variant (at least 2)")
    p.add_argument("--quick", action="store_true", help="8 s windows, to iterate (not for the README)")
    args = p.parse_args(argv)
    seconds = 8.0 if args.quick else args.seconds
    rows: dict[str, list[dict]] = {}
    with benchlib.session("agent") as s:
        work = s.scratch()
        broker = Mosquitto(work / "mosquitto").start()
        try:
            for panel, compile_in in (("null", "child"), ("recorder", "child"), ("null", "in-agent")):
                name = f"agent, {panel} panel" + (", pack compiled in the agent" if compile_in == "in-agent" else "")
                rows[name] = benchlib.repeat(args.runs, lambda i: agent_run(
                    work, broker, panel, compile_in, args.profile, seconds, i), name)
        finally:
            broker.kill()
        font = naive_fonts(work, args.profile)
        for key, name in (("plain", "naive Pillow re-draw loop"), ("gz", "naive loop on the .pcf.gz font")):
            rows[name] = benchlib.repeat(args.runs, lambda i: naive_run(args.profile, font[key], seconds, i), name)
    report(rows, args.profile, seconds)
    return 0


def report(rows: dict[str, list[dict]], profile: str, seconds: float) -> None:
    print(f"\nAgent footprint on {profile} ({os.cpu_count()} cores), {seconds:g} s windows, "
          f"{len(next(iter(rows.values())))} runs each: min / median / max")
    print(f"| | CPU idle (filler) | CPU while playing | resident memory (MB) | peak (MB) |\n|---|---|---|---|---|")
    for name, runs in rows.items():
        idle = benchlib.spread([r["idle"] for r in runs], "{:.2f} %") if "idle" in runs[0] else "—"
        print(f"| {name} | {idle} | {benchlib.spread([r['cpu'] for r in runs], '{:.2f} %')} | "
              f"{benchlib.spread([r['rss'] for r in runs], '{:.1f}')} | "
              f"{benchlib.spread([r['peak'] for r in runs], '{:.1f}')} |")
    agent = benchlib.spread([r["cpu"] for r in rows["agent, null panel"]])
    naive = benchlib.spread([r["cpu"] for r in rows["naive Pillow re-draw loop"]])
    gz = benchlib.spread([r["cpu"] for r in rows["naive loop on the .pcf.gz font"]])
    print(f"\nWhile playing, the naive loop (uncompressed font) uses {naive.median / max(agent.median, 1e-9):.1f}x "
          f"the agent's CPU (medians; null panel); on the .pcf.gz font {gz.median / max(agent.median, 1e-9):.0f}x, "
          f"which is the font's cost, not the way's.")


if __name__ == "__main__":
    sys.exit(main())
