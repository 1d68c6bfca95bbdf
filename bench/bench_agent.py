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
- the same naive loop on the ``.pcf.gz`` font, to show that difference;
- the agent of an LCD/TV board (``[hdmi]``, the registry's TV at the district health centre)
  while Debian's mpv plays a 1080p25 H.264 + AAC clip with no video or audio output (decoding
  for real, in software on a PC): the agent's own share and memory, and mpv's separately, beside
  the LED agent's in the same run (``--no-tv`` leaves it out, e.g. where mpv is not installed).

Goal (issue 6): under 80 MB and under 5% of one core on a 128x64 promo.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
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
TV_DEVICE = "hbt-ttyt-quan-01"        # the registry's TV on the wall of the district health centre

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
              run: int, tv_pack: Path | None = None) -> dict:
    """One agent process told to play; with ``tv_pack`` an LCD/TV board playing it through mpv."""
    folder = work / f"{panel}-{compile_in}-{run}"
    folder.mkdir()
    synced = folder / "synced"
    synced.touch()
    (folder / "empty.csv").write_text("timestamp\n")
    device, unit = (TV_DEVICE, "ttyt-quan") if tv_pack else (DEVICE, "phuong-bach-dang")
    screen = f"""\
        [hdmi]
        board = "pi4"
        output = "null"
        [hdmi.cec]
        enabled = false
        [content]
        pack = "{tv_pack}"
        """ if tv_pack else f"""\
        [panel]
        profile = "{profile}"
        output = "{panel}"
        [pir]
        pin = 5
        """
    config = folder / "device.toml"
    config.write_text(textwrap.dedent(f"""\
        device = "{device}"
        unit = "{unit}"
        data_dir = "data"
        [broker]
        host = "127.0.0.1"
        port = {broker.port}
        """) + textwrap.dedent(screen) + textwrap.dedent("""\
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
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t", f"ihanoi/v1/cmd/{device}/play-now",
                        "-m", json.dumps({"schema": "ihanoi.cmd.play-now/1", "id": f"bench-{panel}-{run}"})],
                       check=True)
        agent.wait_for("playing", 60, since=mark)
        time.sleep(1)
        player = mpv_of(agent.pid) if tv_pack else None
        m0 = cpu_seconds(player) if player else 0.0
        t0 = time.monotonic()
        playing = measure(agent.pid, seconds)
        out = {"idle": idle["cpu"], **playing}
        if player:
            out["mpv_cpu"] = 100 * (cpu_seconds(player) - m0) / (time.monotonic() - t0)
            out["mpv_rss"], out["mpv_peak"] = memory_mb(player)
            if "played " in agent.tail(200).split("playing", 1)[-1]:
                raise RuntimeError(f"the clip ended inside the window: make it longer than {seconds:g} s")
            agent.stop()          # the play ends, interrupted: its first frame's delay is logged then
            found = re.search(r"first frame of \S+ (\d+) ms after the play began", agent.tail(200))
            out["first_frame_ms"] = float(found.group(1)) if found else None
        return out
    finally:
        agent.stop()


def mpv_of(pid: int) -> int:
    """The agent's mpv: its child process named ``mpv``."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().split("(", 1)[1].rsplit(")", 1)
        except OSError:
            continue
        if name == "mpv" and int(rest.split()[1]) == pid:
            return int(stat.parent.name)
    raise RuntimeError(f"the TV agent {pid} plays, but no mpv of its own is running")


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
    p.add_argument("--no-tv", action="store_true", help="leave out the LCD/TV agent (needs Debian's mpv)")
    args = p.parse_args(argv)
    tv = not args.no_tv
    if tv and shutil.which("mpv") is None:
        print("mpv is not installed (apt-get install -y mpv), or run with --no-tv", file=sys.stderr)
        return 2
    seconds = 8.0 if args.quick else args.seconds
    rows: dict[str, list[dict]] = {}
    with benchlib.session("agent") as s:
        work = s.scratch()
        tv_pack = None
        if tv:
            from tests.hdmi_support import make_tv_pack
            clip = seconds + 20                      # the window starts a few seconds into the play
            print(f"making a {clip:g} s 1080p25 H.264 + AAC clip for the TV agent ...", flush=True)
            tv_pack = make_tv_pack(work / "tv-pack", seconds=clip, width=1920, height=1080)
        broker = Mosquitto(work / "mosquitto").start()
        try:
            for panel, compile_in in (("null", "child"), ("recorder", "child"), ("null", "in-agent")):
                name = f"agent, {panel} panel" + (", pack compiled in the agent" if compile_in == "in-agent" else "")
                rows[name] = benchlib.repeat(args.runs, lambda i: agent_run(
                    work, broker, panel, compile_in, args.profile, seconds, i), name)
            if tv_pack:
                rows[TV_ROW] = benchlib.repeat(args.runs, lambda i: agent_run(
                    work, broker, "tv", "child", args.profile, seconds, i, tv_pack), TV_ROW)
        finally:
            broker.kill()
        font = naive_fonts(work, args.profile)
        for key, name in (("plain", "naive Pillow re-draw loop"), ("gz", "naive loop on the .pcf.gz font")):
            rows[name] = benchlib.repeat(args.runs, lambda i: naive_run(args.profile, font[key], seconds, i), name)
    report(rows, args.profile, seconds)
    return 0


TV_ROW = "TV agent (LCD, mpv plays 1080p H.264)"


def first_frames(runs: list[dict]) -> str:
    values = [r["first_frame_ms"] for r in runs if r.get("first_frame_ms") is not None]
    return benchlib.spread(values, "{:.0f} ms") if values else "not logged"


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
    if TV_ROW in rows:
        tv = rows[TV_ROW]
        print(f"\nTV agent while mpv plays a 1080p25 H.264 + AAC clip (vo=null, ao=null; mpv is a child of "
              f"the agent, measured apart): agent {benchlib.spread([r['cpu'] for r in tv], '{:.2f} %')} of a core, "
              f"{benchlib.spread([r['rss'] for r in tv], '{:.1f}')} MB resident, peak "
              f"{benchlib.spread([r['peak'] for r in tv], '{:.1f}')} MB; mpv "
              f"{benchlib.spread([r['mpv_cpu'] for r in tv], '{:.0f} %')} of a core (software decoding on this "
              f"machine), {benchlib.spread([r['mpv_rss'] for r in tv], '{:.0f}')} MB resident; from the play's "
              f"start to mpv's first frame {first_frames(tv)}"
              f" (bench_hdmi.py measures it over many plays). The LED agent "
              f"(null panel) in the same run: {agent.format('{:.2f} %')}, "
              f"{benchlib.spread([r['rss'] for r in rows['agent, null panel']], '{:.1f}')} MB.")


if __name__ == "__main__":
    sys.exit(main())
