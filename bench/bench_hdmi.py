"""The HDMI player's footprint and start delay: what the agent's side costs while mpv plays a 1080p clip.

    .venv/bin/python bench/bench_hdmi.py                 # 20 s 1080p25 H.264 + AAC, 10 start-delay plays
    .venv/bin/python bench/bench_hdmi.py --seconds 60 --starts 20 --runs 3

A 1080p clip (H.264 High, 25 fps, AAC) is generated with PyAV, then played by Debian's mpv
with ``--vo=null --ao=null`` (decoding for real, in software on a PC; a Pi decodes in
hardware or, Pi 5 H.264, in software on its own cores). Measured from /proc, in the same run:

- **footprint**: CPU share and memory of a Python process that loads the pack as a board does
  and runs ``HdmiPlayer.play`` (it follows the events mpv pushes: positions, end of file), and
  mpv's own share separately;
  against the naive way of following a clip, asking mpv for its position every 20 ms;
- **start delay**: from the planned start (the call) to mpv's first frame (its
  ``playback-restart``), with the long-lived mpv the player keeps, against the naive way of
  starting a new mpv for every play.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchlib  # noqa: E402  (this folder is on sys.path)
from benchlib import cpu_seconds, memory_mb  # noqa: E402
from edge.hdmi import HdmiPlayer, HdmiSettings, load_promo, write_filler  # noqa: E402
from edge.hdmi.mpv import Mpv  # noqa: E402
from edge.hdmi.settings import mpv_arguments  # noqa: E402
from ihanoi.contract.clock import RealClock  # noqa: E402
from tests.hdmi_support import make_tv_pack  # noqa: E402


def footprint(player: HdmiPlayer, clip) -> dict:
    me, mpv = os.getpid(), player.mpv.pid
    c0, m0, t0 = cpu_seconds(me), cpu_seconds(mpv), time.monotonic()
    result = player.play(clip)
    c1, m1, t1 = cpu_seconds(me), cpu_seconds(mpv), time.monotonic()
    rss, peak = memory_mb(me)
    mpv_rss, mpv_peak = memory_mb(mpv)
    wall = t1 - t0
    return {"completed": result.completed, "played_s": result.played_seconds, "wall_s": round(wall, 2),
            "python_cpu_percent": round(100 * (c1 - c0) / wall, 2), "python_rss_mb": round(rss, 1),
            "python_peak_mb": round(peak, 1), "mpv_cpu_percent": round(100 * (m1 - m0) / wall, 1),
            "mpv_rss_mb": round(mpv_rss, 1), "mpv_peak_mb": round(mpv_peak, 1), "dropped": result.dropped}


def naive_polling(settings: HdmiSettings, folder: Path, clip) -> dict:
    """Follow the same clip by asking mpv for its position every 20 ms."""
    mpv = Mpv(mpv_arguments(settings, folder / "naive.sock"), folder / "naive.sock")
    mpv.start()
    try:
        me = os.getpid()
        c0, m0, t0 = cpu_seconds(me), cpu_seconds(mpv.pid), time.monotonic()
        mpv.request("loadfile", str(clip.path), "replace")
        position, asked = 0.0, 0
        while time.monotonic() - t0 < clip.seconds + 10:
            try:
                value = mpv.request("get_property", "playback-time")
            except Exception:         # "property unavailable" once the file has ended
                if position > 0:
                    break
                value = None
            asked += 1
            position = value if isinstance(value, (int, float)) else position
            time.sleep(0.02)
        c1, m1, t1 = cpu_seconds(me), cpu_seconds(mpv.pid), time.monotonic()
        wall = t1 - t0
        return {"python_cpu_percent": round(100 * (c1 - c0) / wall, 2),
                "mpv_cpu_percent": round(100 * (m1 - m0) / wall, 1), "questions": asked,
                "last_position_s": round(position, 2)}
    finally:
        mpv.quit()


def child(pack_long: Path, pack_short: Path, folder: Path, starts: int) -> None:
    """The agent's side alone, in a fresh process: load the packs as a board does, open mpv, play."""
    long_clip = load_promo(pack_long, "pi5", decode=False)
    short_clip = load_promo(pack_short, "pi5", decode=False)
    player = HdmiPlayer(HdmiSettings(output="null"), RealClock(), folder / "run").open()
    player.show_still(write_filler(folder / "filler.png", "UBND phường Bạch Mai", None))
    try:
        ours = footprint(player, long_clip)
        delays = start_delays(player, short_clip, starts)
    finally:
        player.close()
    print(json.dumps({"footprint": ours, "start_delay_s": delays}))


def start_delays(player: HdmiPlayer, clip, count: int) -> list[float]:
    delays = []
    for _ in range(count):
        result = player.play(clip)
        if result.first_frame_delay is not None:
            delays.append(result.first_frame_delay)
    return delays


def naive_start_delays(settings: HdmiSettings, folder: Path, clip, count: int) -> list[float]:
    """A new mpv per play, the clip on its command line: planned start to its first frame."""
    delays = []
    for n in range(count):
        sock = folder / f"cold{n}.sock"
        args = [a for a in mpv_arguments(settings, sock) if a not in ("--idle=yes", "--force-window=yes")]
        t0 = time.monotonic()
        mpv = Mpv(args + ["--pause=no", str(clip.path)], sock)
        mpv.start()
        try:
            mpv.send("observe_property", 1, "playback-time")
            deadline = t0 + 30
            seen = None
            while seen is None and time.monotonic() < deadline:
                for message in mpv.receive(0.05):
                    if message.get("event") == "playback-restart" or (
                            message.get("event") == "property-change" and message.get("data") is not None):
                        seen = time.monotonic()
                        break
            if seen is not None:
                delays.append(seen - t0)
        finally:
            mpv.kill()
    return delays


def summary(values: list[float]) -> str:
    if not values:
        return "n/a"
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms ({len(ms)} plays)"


def one_run(packs, folder: Path, starts: int, run: int) -> dict:
    """The player in a fresh process, then the naive ways in this one, on the same clips."""
    work = folder / f"run-{run}"
    work.mkdir()
    proc = subprocess.run([sys.executable, __file__, "--starts", str(starts), "--child", *map(str, packs),
                           str(work)], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"the player's process failed:\n{proc.stdout}\n{proc.stderr}")
    measured = json.loads(proc.stdout.strip().splitlines()[-1])
    settings = HdmiSettings(output="null")
    long_clip, short_clip = load_promo(packs[0], decode=False), load_promo(packs[1], decode=False)
    return {"footprint": measured["footprint"], "start_delay_s": measured["start_delay_s"],
            "naive_polling": naive_polling(settings, work, long_clip),
            "naive_start_delay_s": naive_start_delays(settings, work, short_clip, starts)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the 1080p clip")
    parser.add_argument("--starts", type=int, default=10, help="plays measured for the start delay, per run")
    parser.add_argument("--runs", type=int, default=2, help="runs (at least 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, args.starts)
        return 0
    if shutil.which("mpv") is None:
        print("mpv is not installed: apt-get install -y mpv", file=sys.stderr)
        return 2
    with benchlib.session("hdmi") as s:
        folder = s.scratch()
        print(f"making a {args.seconds:g} s 1080p25 H.264 + AAC clip ...", flush=True)
        packs = make_tv_pack(folder / "long", seconds=args.seconds, width=1920, height=1080), \
            make_tv_pack(folder / "short", seconds=2.0, width=1920, height=1080)
        runs = benchlib.repeat(args.runs, lambda i: one_run(packs, folder, args.starts, i), "hdmi")
    report(runs, args)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0 if all(r["footprint"]["completed"] for r in runs) else 1


def report(runs: list[dict], args) -> None:
    sp = benchlib.spread
    ours = [r["footprint"] for r in runs]
    naive = [r["naive_polling"] for r in runs]
    version = subprocess.run(["mpv", "--version"], capture_output=True, text=True).stdout.split()[1]
    print(f"\n1080p clip, {args.seconds:g} s, played by mpv {version} (vo=null, ao=null); "
          f"min / median / max of {len(runs)} runs")
    print("| | Python CPU | mpv CPU | Python RSS (MB) | mpv RSS (MB) |\n|---|---:|---:|---:|---:|")
    print(f"| player: follows mpv's events (this project) | {sp([o['python_cpu_percent'] for o in ours], '{:.2f} %')} | "
          f"{sp([o['mpv_cpu_percent'] for o in ours], '{:.1f} %')} | {sp([o['python_rss_mb'] for o in ours], '{:.1f}')} | "
          f"{sp([o['mpv_rss_mb'] for o in ours], '{:.1f}')} |")
    print(f"| naive: asks mpv its position every 20 ms | {sp([n['python_cpu_percent'] for n in naive], '{:.2f} %')} | "
          f"{sp([n['mpv_cpu_percent'] for n in naive], '{:.1f} %')} | — | — |")
    print(f"\nplays completed: {[o['completed'] for o in ours]}, frames dropped: {[o['dropped'] for o in ours]}; "
          f"Python peak {sp([o['python_peak_mb'] for o in ours], '{:.1f}')} MB, "
          f"mpv peak {sp([o['mpv_peak_mb'] for o in ours], '{:.1f}')} MB")
    for label, key in (("long-lived mpv (this project)", "start_delay_s"), ("a new mpv per play (naive)",
                                                                            "naive_start_delay_s")):
        medians = [statistics.median(r[key]) * 1000 for r in runs if r[key]]
        print(f"planned start -> first frame, {label}: median per run {sp(medians, '{:.0f} ms') if medians else 'n/a'}; "
              f"{summary([d for r in runs for d in r[key]])} over all runs")


if __name__ == "__main__":
    sys.exit(main())
