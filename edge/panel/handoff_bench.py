"""What handing a frame to the real LED library costs, and how long it holds the interpreter lock.

Part of ``ihanoi-edge bench``. For one board, per frame, in the same run:
  bare copy            ``np.copyto`` of one compiled frame: the floor
  rgbmatrix SetImage   the ``rgbmatrix`` output's hand-off without the swap: our copy, the Pillow
                       image, the library's ``SetImage`` into its bit planes
  rgbmatrix show       the whole ``panel.show``: the above plus ``SwapOnVSync``, which waits for
                       the refresh thread to take the frame
  piomatter table      the ``piomatter`` output's dimmed copy through its brightness table
  piomatter show       ``PioMatter.show()`` (a Pi 5 with /dev/pio0 only)
and the delay a 1 ms sleeper thread (as the MQTT client's and the PIR's threads are) sees
beyond its sleep, idle and while the board plays at the profile's frame rate: the binding's
``SetImage`` and ``SwapOnVSync`` are not ``nogil``, so the swap's wait for the refresh holds
every other thread. Goals (issue 13): no thread held more than one frame period; the hand-off
within 5x a bare copy.

On a Raspberry Pi it drives the real board. On a PC, as root, it runs the real library in the
stand-in Pi 4 of ``edge.panel.standin`` when the binding can be imported (``--rgbmatrix-site``
names a folder holding a built ``rgbmatrix`` package); otherwise that part says why it is not
measured. Figures are the fastest chunk of several (least disturbed by other processes); the
thread delays are the 50th/99th percentile and the worst seen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

DEFAULT_BOARD = "p4-128x64"


def best_per_call(fn, min_seconds: float, chunk: int = 50) -> float:
    """Seconds per call in the fastest chunk of ``chunk`` calls, over ``min_seconds``."""
    best = float("inf")
    end = time.perf_counter() + min_seconds
    while True:
        t0 = time.perf_counter()
        for _ in range(chunk):
            fn()
        best = min(best, (time.perf_counter() - t0) / chunk)
        if time.perf_counter() >= end:
            return best


class Sleeper(threading.Thread):
    """A thread that sleeps 1 ms at a time and records how late it wakes (seconds)."""

    def __init__(self, period: float = 0.001):
        super().__init__(daemon=True)
        self.period = period
        self.late: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            time.sleep(self.period)
            self.late.append(time.perf_counter() - t0 - self.period)


def thread_delay(play, seconds: float) -> dict:
    sleeper = Sleeper()
    sleeper.start()
    try:
        play(seconds)
    finally:
        sleeper.stop.set()
        sleeper.join()
    late = np.array(sleeper.late or [0.0]) * 1000
    return {"p50_ms": float(np.percentile(late, 50)), "p99_ms": float(np.percentile(late, 99)),
            "max_ms": float(late.max())}


def frames_for(profile, count: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(13)
    return [rng.integers(0, 256, (profile.height, profile.width, 3), np.uint8) for _ in range(count)]


def measure_in_process(board: str, seconds: float, outputs: tuple[str, ...] = ("rgbmatrix",)) -> dict:
    """Everything measurable in this process (on a Pi, or inside the stand-in)."""
    from edge.panel import open_panel
    from edge.panel.piomatter import brightness_table
    from edge.panel.profile import load_profile

    profile = load_profile(board)
    frames = frames_for(profile)
    out: dict = {"board": board, "fps": profile.fps, "period_ms": 1000 / profile.fps}
    dest = np.empty_like(frames[0])
    k = iter(range(10**12))
    out["bare copy"] = best_per_call(lambda: np.copyto(dest, frames[next(k) % len(frames)]), seconds)
    table = brightness_table(60)
    out["piomatter table"] = best_per_call(lambda: np.take(table, frames[next(k) % len(frames)], out=dest), seconds)
    out["idle thread delay"] = thread_delay(time.sleep, seconds)
    for name in outputs:
        try:
            panel = open_panel(name, profile)
        except Exception as exc:   # the bench reports what it could not measure, and why
            out[f"{name} unavailable"] = str(exc)
            continue
        try:
            if name == "rgbmatrix":
                image, canvas = panel._image, panel._canvas

                def set_image():
                    np.copyto(panel._frame, frames[next(k) % len(frames)])
                    image.frombytes(panel._frame)
                    canvas.SetImage(image, 0, 0)

                out["rgbmatrix SetImage"] = best_per_call(set_image, seconds)
            out[f"{name} show"] = best_per_call(lambda: panel.show(frames[next(k) % len(frames)]), seconds, chunk=10)

            def play(duration: float) -> None:
                period, t_end = 1 / profile.fps, time.perf_counter() + duration
                due = time.perf_counter()
                while time.perf_counter() < t_end:
                    panel.show(frames[next(k) % len(frames)])
                    due += period
                    time.sleep(max(0.0, due - time.perf_counter()))

            out[f"{name} thread delay"] = thread_delay(play, seconds * 2)
            out[f"{name} mode"] = getattr(panel, "mode", "")
        finally:
            panel.close()
    return out


def measure(board: str, seconds: float, rgbmatrix_site: str | None = None) -> dict:
    """On a Pi: the real board. On a PC: the stand-in Pi when possible, else the copies only."""
    from edge.panel import pi_model, standin

    if pi_model() is not None:
        return measure_in_process(board, seconds, ("rgbmatrix", "piomatter"))
    base = measure_in_process(board, seconds, ())
    site = rgbmatrix_site or _importable_site()
    reason = standin.unavailable() or (None if site else "the rgbmatrix binding is not installed here "
                                                          "(--rgbmatrix-site names a folder with a built one)")
    if reason:
        base["rgbmatrix unavailable"] = f"not a Raspberry Pi, and the stand-in Pi cannot run: {reason}"
    else:
        base.update(_in_stand_in(board, seconds, site))
        base["where"] = "stand-in Pi 4 (edge/panel/standin.py): the real library, a sparse file as /dev/gpiomem"
    base["piomatter unavailable"] = "Piomatter drives a Pi 5's /dev/pio0 only"
    return base


def _importable_site() -> str | None:
    try:
        import rgbmatrix
    except ImportError:
        return None
    return str(Path(rgbmatrix.__file__).resolve().parents[1])


def _in_stand_in(board: str, seconds: float, site: str) -> dict:
    import shutil
    import sysconfig

    from edge.panel import standin

    root = Path(__file__).resolve().parents[2]
    work = Path(tempfile.mkdtemp(prefix="ihanoi-handoff-", dir="/var/tmp"))
    try:
        standin.prepare(work)
        copy = work / "site"
        shutil.copytree(site, copy)
        for path in [copy, *copy.rglob("*")]:   # the stand-in runs as nobody
            path.chmod(0o755 if path.is_dir() or path.suffix == ".so" else 0o644)
        python = f"/usr/bin/python3.{sys.version_info.minor}"
        python = sys.executable if not os.path.exists(python) else python
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(copy), str(root), sysconfig.get_paths()["purelib"]]))
        cmd = standin.argv([python, "-s", "-m", "edge.panel.handoff_bench", "--child", board, str(seconds)], work)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd="/")
        if proc.returncode != 0:
            return {"rgbmatrix unavailable": f"the stand-in run failed ({proc.returncode}): {proc.stderr[-500:]}"}
        child = json.loads(proc.stdout.strip().splitlines()[-1])
        return {k: v for k, v in child.items() if k.startswith("rgbmatrix")}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(result: dict, out=print) -> None:
    floor = result["bare copy"]
    period = result["period_ms"]
    out(f"\nFrame hand-off to the LED library, {result['board']} at {result['fps']} fps "
        f"({result.get('where', 'this machine')}):")
    for key in ("bare copy", "piomatter table", "rgbmatrix SetImage", "rgbmatrix show", "piomatter show"):
        if key in result:
            out(f"  {key:<22} {result[key] * 1e6:9.1f} µs/frame  ({result[key] / floor:5.1f}x the bare copy)")
    for key in ("idle thread delay", "rgbmatrix thread delay", "piomatter thread delay"):
        if key in result:
            d = result[key]
            verdict = "" if key.startswith("idle") else \
                ("  within one frame period" if d["max_ms"] <= period else f"  MORE than one frame period ({period:.1f} ms)")
            out(f"  {key:<22} p50 {d['p50_ms']:6.2f} ms  p99 {d['p99_ms']:6.2f} ms  max {d['max_ms']:6.2f} ms{verdict}")
    for key, value in result.items():
        if key.endswith("unavailable"):
            out(f"  {key.replace(' unavailable', '')}: not measured: {value}")
    if "rgbmatrix SetImage" in result:
        ratio = result["rgbmatrix SetImage"] / floor
        out(f"  goal: the hand-off (SetImage) within 5x a bare copy: {ratio:.1f}x "
            f"({'met' if ratio <= 5 else 'not met'})")


def add_arguments(parser) -> None:
    parser.add_argument("--rgbmatrix-site", metavar="DIR",
                        help="a folder holding a built rgbmatrix package (off a Pi: measured in the stand-in Pi)")


def run(board: str = DEFAULT_BOARD, seconds: float = 1.0, rgbmatrix_site: str | None = None, out=print) -> dict:
    result = measure(board, seconds, rgbmatrix_site)
    report(result, out)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure_in_process(sys.argv[2], float(sys.argv[3]))))
    else:
        run(*(sys.argv[1:2] or [DEFAULT_BOARD]))
