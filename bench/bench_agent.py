"""The agent's footprint while it plays: resident memory and CPU share of one ``ihanoi-edge run``.

    .venv/bin/python bench/bench_agent.py               # 128x64 board, null panel, 30 s of playing

A real agent process (real clock, a local Mosquitto on a free port, the null panel or the
recorder) is told to play the promo (a ``play-now`` command); while it plays, its CPU time
and memory are read from /proc. In the same run, the naive way for comparison: a loop that
re-draws every frame of the same scrolling text with Pillow at the same frame rate, as most
signage scripts do. Goal (issue 6): under 80 MB and under 5% of one core on a 128x64 promo.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.mosquitto import Mosquitto  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK      # utime + stime


def memory_mb(pid: int) -> tuple[float, float]:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    kb = lambda key: int(status[key].split()[0]) / 1024  # noqa: E731
    return kb("VmRSS"), kb("VmHWM")


def measure(pid: int, seconds: float) -> dict:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(pid), time.monotonic()
    rss, peak = memory_mb(pid)
    return {"cpu_percent": round(100 * (c1 - c0) / (t1 - t0), 2), "rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1)}


def agent_run(work: Path, broker: Mosquitto, panel: str, profile: str, seconds: float) -> dict:
    synced = work / "synced"
    synced.touch()
    config = work / "device.toml"
    config.write_text(textwrap.dedent(f"""\
        device = "hbt-bach-dang-01"
        unit = "phuong-bach-dang"
        data_dir = "data-{panel}"
        [broker]
        host = "127.0.0.1"
        port = {broker.port}
        [panel]
        profile = "{profile}"
        output = "{panel}"
        [pir]
        pin = 5
        """))
    env = dict(os.environ, PYTHONPATH=str(ROOT), IHANOI_CLOCK_SYNC_FILE=str(synced))
    env.pop("IHANOI_PANEL", None)
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config), "--pir-trace",
                             str(work / "empty.csv")], cwd=work, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if "running" in line:
                break
        time.sleep(2)
        idle = measure(proc.pid, 5)
        subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1", "-t",
                        "ihanoi/v1/cmd/hbt-bach-dang-01/play-now",
                        "-m", json.dumps({"schema": "ihanoi.cmd.play-now/1", "id": f"bench-{panel}"})], check=True)
        for line in proc.stderr:
            if "playing" in line:
                break
        time.sleep(1)
        playing = measure(proc.pid, seconds)
        return {"idle": idle, "playing": playing}
    finally:
        proc.terminate()
        proc.wait(30)


NAIVE = r"""
import sys, time
from PIL import Image, ImageDraw, ImageFont
sys.path.insert(0, sys.argv[1])
from edge.content import fonts
from edge.panel.profile import load_profile
from edge.panel import open_panel
import numpy as np
profile = load_profile(sys.argv[2])
panel = open_panel("null", profile)
font = fonts.load(fonts.choose("auto", profile.height))
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


def naive_run(profile: str, seconds: float) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", NAIVE, str(ROOT), profile], stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        time.sleep(2)
        return {"playing": measure(proc.pid, seconds)}
    finally:
        proc.kill()
        proc.wait()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="p4-128x64")
    p.add_argument("--seconds", type=float, default=30.0, help="measuring window while playing")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "empty.csv").write_text("timestamp\n")
        broker = Mosquitto(work / "mosquitto").start()
        try:
            rows = {f"agent, {panel} panel": agent_run(work, broker, panel, args.profile, args.seconds)
                    for panel in ("null", "recorder")}
        finally:
            broker.kill()
        rows["naive Pillow redraw loop"] = naive_run(args.profile, args.seconds)
    print(f"\nAgent footprint on {args.profile} ({os.cpu_count()} cores), {args.seconds:g} s windows")
    print(f"{'':28} {'idle CPU':>9} {'play CPU':>9} {'RSS MB':>7} {'peak MB':>8}")
    for name, r in rows.items():
        idle = f"{r['idle']['cpu_percent']:.2f}%" if "idle" in r else "—"
        play = r["playing"]
        print(f"{name:28} {idle:>9} {play['cpu_percent']:>8.2f}% {play['rss_mb']:>7.1f} {play['peak_rss_mb']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
