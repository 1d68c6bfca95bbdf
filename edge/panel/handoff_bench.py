"""What handing a frame to the real LED library costs, and how long other threads wait meanwhile.

Part of ``ihanoi-edge bench``. For one board, per frame, in the same run:
  bare copy              ``np.copyto`` of one compiled frame: the floor
  piomatter table        the ``piomatter`` output's dimmed copy through its brightness table
  binding SetImage       the old hand-off through the Python binding: our copy, a Pillow image,
                         ``SetImage`` (the interpreter lock held throughout)
  ctypes set_pixels      the ``rgbmatrix`` output's hand-off through the C API: our copy, then
                         ``led_canvas_set_pixels`` with the lock released
  bit-plane conversion   ``led_canvas_set_pixels`` alone: the library's per-pixel conversion into
                         its ``pwm_bits`` planes, which any hand-off through its API pays
  one foreign call       a ctypes call that does nothing much: what the lock is held for per call
  bit-plane copy         ``FrameCanvas::Deserialize`` (a memcpy of a canvas's planes; C++ only):
                         the least the library can take a frame for, were frames kept as planes
  binding show / rgbmatrix show   the above plus the swap, which waits for the refresh thread
and, while the board plays at the profile's frame rate through either path: the delay a 1 ms
sleeper thread (as the MQTT client's and the PIR's threads are) sees beyond its sleep (idle
too), which the machine's load adds to, and each frame's lock hold: the binding holds the
interpreter lock for the whole show, the C API path for the show less the time inside the
library's calls. Goals (issue 13): no thread held more than one frame period; the hand-off
within 5x a bare copy.

On a Raspberry Pi it drives the real board. On a PC, as root, it runs the real library in the
stand-in Pi 4 of ``edge.panel.standin``: the shared library from ``$IHANOI_RGBMATRIX_LIB`` or
/usr/local/lib, the old binding when ``--rgbmatrix-site`` names a folder holding a built
``rgbmatrix`` package; what cannot be measured says why. Figures are the fastest chunk of
several (least disturbed by other processes); each path's per-frame figures take turns with a
bare copy in one loop, and their ratios are to that copy (the load then weighs on both alike).
The thread delays and lock holds are the 50th/99th percentile and the worst seen.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

DEFAULT_BOARD = "p4-128x64"
SHARED = ("bare copy", "piomatter table", "idle thread delay", "frame bytes")
LIBRARY_DIRS = ("/usr/local/lib", "/usr/lib")
DESERIALIZE = "_ZN10rgb_matrix11FrameCanvas11DeserializeEPKcm"
SERIALIZE = "_ZNK10rgb_matrix11FrameCanvas9SerializeEPPKcPm"


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


def interleaved(calls: dict, min_seconds: float, chunk: int = 5) -> dict:
    """Seconds per call of each of ``calls`` (name -> function), in the fastest of its chunks; the
    chunks take turns, so every figure saw the same moments of the machine's load."""
    best = dict.fromkeys(calls, float("inf"))
    end = time.perf_counter() + min_seconds
    while True:
        for name, fn in calls.items():
            t0 = time.perf_counter()
            for _ in range(chunk):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / chunk)
        if time.perf_counter() >= end:
            return best


class TimedLibrary:
    """The library with the time spent inside its calls added up: the interpreter lock is released
    there (ctypes), so a frame's lock hold is its show's duration less this."""

    def __init__(self, lib):
        self.lib = lib
        self.inside = 0.0

    def __getattr__(self, name):
        function = getattr(self.lib, name)

        def timed(*args):
            t0 = time.perf_counter()
            try:
                return function(*args)
            finally:
                self.inside += time.perf_counter() - t0
        return timed


def spread(seconds: list[float]) -> dict:
    values = np.array(seconds or [0.0]) * 1000
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99)),
            "max_ms": float(values.max())}


def thread_delay(play, seconds: float) -> dict:
    sleeper = Sleeper()
    sleeper.start()
    try:
        play(seconds)
    finally:
        sleeper.stop.set()
        sleeper.join()
    return spread(sleeper.late)


def frames_for(profile, count: int = 8) -> list[np.ndarray]:
    rng = np.random.default_rng(13)
    return [rng.integers(0, 256, (profile.height, profile.width, 3), np.uint8) for _ in range(count)]


def playing(show, fps: int):
    """A ``play(duration)`` that shows frames through ``show`` at ``fps``, as the player does."""
    def play(duration: float) -> None:
        period, t_end = 1 / fps, time.perf_counter() + duration
        due = time.perf_counter()
        while time.perf_counter() < t_end:
            show()
            due += period
            time.sleep(max(0.0, due - time.perf_counter()))
    return play


def measure_in_process(board: str, seconds: float, paths: tuple[str, ...] = ("rgbmatrix", "binding")) -> dict:
    """Everything measurable in this process (on a Pi, or inside the stand-in)."""
    from edge.panel.piomatter import brightness_table
    from edge.panel.profile import load_profile

    profile = load_profile(board)
    frames = frames_for(profile)
    k = iter(range(10**12))

    def frame() -> np.ndarray:
        return frames[next(k) % len(frames)]

    out: dict = {"board": board, "fps": profile.fps, "period_ms": 1000 / profile.fps, "frame bytes": frames[0].nbytes}
    dest = np.empty_like(frames[0])
    out["bare copy"] = best_per_call(lambda: np.copyto(dest, frame()), seconds)
    table = brightness_table(60)
    out["piomatter table"] = best_per_call(lambda: np.take(table, frame(), out=dest), seconds)
    out["idle thread delay"] = thread_delay(time.sleep, seconds)
    spec = None
    for name in paths:
        measure_path = {"rgbmatrix": _ctypes_path, "binding": _binding_path, "piomatter": _piomatter_path}[name]
        try:
            spec = measure_path(out, profile, frame, seconds, spec)
        except Exception as exc:   # the bench reports what it could not measure, and why
            out[f"{name} unavailable"] = f"{type(exc).__name__}: {exc}"
    return out


def _ctypes_path(out: dict, profile, frame, seconds: float, _spec) -> dict:
    """The ``rgbmatrix`` output as the agent runs it (the C API through ctypes)."""
    from edge.panel import open_panel

    panel = open_panel("rgbmatrix", profile)
    try:
        lib, matrix, canvas = panel._lib, panel._matrix, panel._canvas
        w, h, pixels = panel.width, panel.height, panel._frame.ctypes.data

        dest = np.empty_like(panel._frame)

        def hand_off():
            np.copyto(panel._frame, frame())
            lib.led_canvas_set_pixels(canvas, 0, 0, w, h, pixels)

        calls = {"ctypes floor": lambda: np.copyto(dest, frame()), "ctypes set_pixels": hand_off,
                 "bit-plane conversion": lambda: lib.led_canvas_set_pixels(canvas, 0, 0, w, h, pixels),
                 "one foreign call": lambda: lib.led_matrix_get_brightness(matrix)}
        calls.update(_plane_copy(out, lib, canvas))
        out.update(interleaved(calls, seconds * 2))
        out["rgbmatrix show"] = best_per_call(lambda: panel.show(frame()), seconds, chunk=10)
        timed, holds = TimedLibrary(lib), []
        panel._lib = timed

        def show():
            t0, inside = time.perf_counter(), timed.inside
            panel.show(frame())
            holds.append(time.perf_counter() - t0 - (timed.inside - inside))

        out["rgbmatrix thread delay"] = thread_delay(playing(show, profile.fps), seconds * 2)
        out["rgbmatrix lock hold"] = spread(holds)
        panel._lib = lib
        out["rgbmatrix mode"] = panel.mode
        return panel.spec
    finally:
        panel.close()


def _plane_copy(out: dict, lib, canvas) -> dict:
    """{"bit-plane copy": ``FrameCanvas::Deserialize`` of the canvas's own planes}, a memcpy of them
    inside the library (or nothing, and why, when the library does not export it)."""
    try:
        serialize, deserialize = getattr(lib, SERIALIZE), getattr(lib, DESERIALIZE)
    except AttributeError:
        out["bit-plane copy unavailable"] = "the library does not export FrameCanvas::Serialize/Deserialize"
        return {}
    serialize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
    deserialize.argtypes, deserialize.restype = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t], ctypes.c_bool
    data, size = ctypes.c_char_p(), ctypes.c_size_t()
    serialize(canvas, ctypes.byref(data), ctypes.byref(size))
    planes = ctypes.create_string_buffer(ctypes.string_at(data, size.value), size.value)
    out["bit-plane bytes"] = size.value
    return {"bit-plane copy": lambda: deserialize(canvas, planes, size.value)}


def _binding_path(out: dict, profile, frame, seconds: float, spec: dict | None) -> dict | None:
    """The old hand-off through the Python binding (``SetImage`` of a Pillow image, ``SwapOnVSync``)."""
    import rgbmatrix
    from PIL import Image

    if spec is None:
        from edge.panel.hostcheck import Host, plan_rgbmatrix
        from edge.panel.rgbmatrix import matrix_options

        host = Host.read()
        spec = matrix_options(profile, host.model, plan_rgbmatrix(host, profile))
    options = rgbmatrix.RGBMatrixOptions()
    for name, value in spec.items():
        setattr(options, name, value)
    matrix = rgbmatrix.RGBMatrix(options=options)
    try:
        canvas = matrix.CreateFrameCanvas()
        mine = np.empty_like(frame())
        image = Image.new("RGB", (profile.width, profile.height))

        def set_image():
            np.copyto(mine, frame())
            image.frombytes(mine)
            canvas.SetImage(image, 0, 0)

        def show():
            nonlocal canvas
            set_image()
            canvas = matrix.SwapOnVSync(canvas)

        holds = []

        def timed_show():   # neither call releases the lock: all of the show holds it
            t0 = time.perf_counter()
            show()
            holds.append(time.perf_counter() - t0)

        out.update(interleaved({"binding floor": lambda: np.copyto(mine, frame()), "binding SetImage": set_image},
                               seconds * 2))
        out["binding show"] = best_per_call(show, seconds, chunk=10)
        out["binding thread delay"] = thread_delay(playing(timed_show, profile.fps), seconds * 2)
        out["binding lock hold"] = spread(holds)
    finally:
        matrix.Clear()
        del matrix
    return spec


def _piomatter_path(out: dict, profile, frame, seconds: float, spec) -> dict | None:
    from edge.panel import open_panel

    panel = open_panel("piomatter", profile)
    try:
        out["piomatter show"] = best_per_call(lambda: panel.show(frame()), seconds, chunk=10)
        out["piomatter thread delay"] = thread_delay(playing(lambda: panel.show(frame()), profile.fps), seconds * 2)
    finally:
        panel.close()
    return spec


def measure(board: str, seconds: float, rgbmatrix_site: str | None = None) -> dict:
    """On a Pi: the real board. On a PC: the stand-in Pi when possible, else the copies only."""
    from edge.panel import pi_model, standin

    if pi_model() is not None:
        paths = ("rgbmatrix", "binding", "piomatter") if _importable_site() else ("rgbmatrix", "piomatter")
        return measure_in_process(board, seconds, paths)
    base = measure_in_process(board, seconds, ())
    library = _library_file()
    site = rgbmatrix_site or _importable_site()
    reason = standin.unavailable() or (None if library else
                                       "librgbmatrix.so.1 is not in /usr/local/lib (IHANOI_RGBMATRIX_LIB names it)")
    if reason:
        base["rgbmatrix unavailable"] = f"not a Raspberry Pi, and the stand-in Pi cannot run: {reason}"
    else:
        base.update(_in_stand_in(board, seconds, library, site))
        base["where"] = "stand-in Pi 4 (edge/panel/standin.py): the real library, a sparse file as /dev/gpiomem"
        if not site:
            base["binding unavailable"] = ("the rgbmatrix binding is not installed here (--rgbmatrix-site names a "
                                           "folder with a built one)")
    base["piomatter unavailable"] = "Piomatter drives a Pi 5's /dev/pio0 only"
    return base


def _library_file() -> str | None:
    from edge.panel.ledmatrix_c import LIBRARY_ENV, LIBRARY_NAME

    named = os.environ.get(LIBRARY_ENV)
    candidates = [named] if named else [os.path.join(folder, LIBRARY_NAME) for folder in LIBRARY_DIRS]
    return next((path for path in candidates if os.path.isfile(path)), None)


def _importable_site() -> str | None:
    try:
        import rgbmatrix
    except ImportError:
        return None
    return str(Path(rgbmatrix.__file__).resolve().parents[1])


def _readable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:   # the stand-in runs as nobody
        path.chmod(0o755 if path.is_dir() or ".so" in path.suffixes else 0o644)


def _in_stand_in(board: str, seconds: float, library: str, site: str | None) -> dict:
    from edge.panel import standin
    from edge.panel.ledmatrix_c import LIBRARY_ENV, LIBRARY_NAME

    root = Path(__file__).resolve().parents[2]
    work = Path(tempfile.mkdtemp(prefix="ihanoi-handoff-", dir="/var/tmp"))
    try:
        standin.prepare(work)
        (work / "lib").mkdir()
        shutil.copy(library, work / "lib" / LIBRARY_NAME)
        path = [str(root), sysconfig.get_paths()["purelib"]]
        if site:
            shutil.copytree(site, work / "site")
            path.insert(0, str(work / "site"))
        for folder in (work / "lib", work / "site"):
            if folder.exists():
                _readable(folder)
        python = f"/usr/bin/python3.{sys.version_info.minor}"
        python = sys.executable if not os.path.exists(python) else python
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), **{LIBRARY_ENV: str(work / "lib" / LIBRARY_NAME)})
        result: dict = {}
        floor_taken = False
        # One child per path: each loads its own copy of the library and starts its own refresh thread.
        for name in ("rgbmatrix", "binding") if site else ("rgbmatrix",):
            cmd = standin.argv([python, "-s", "-m", "edge.panel.handoff_bench", "--child", board, str(seconds), name],
                               work)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd="/")
            if proc.returncode != 0:
                result[f"{name} unavailable"] = f"the stand-in run failed ({proc.returncode}): {proc.stderr[-500:]}"
                continue
            child = json.loads(proc.stdout.strip().splitlines()[-1])
            # The floor and the idle delay come from the first child: the same process as the path
            # they are compared with, not this one outside the stand-in.
            own = (name, "ctypes", "bit-plane", "one foreign")
            result.update({key: value for key, value in child.items()
                           if key.startswith(own) or (key in SHARED and not floor_taken)})
            floor_taken = True
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


PER_FRAME = ("bare copy", "piomatter table", "binding SetImage", "ctypes set_pixels", "bit-plane conversion",
             "one foreign call", "bit-plane copy", "binding show", "rgbmatrix show", "piomatter show")
DELAYS = ("idle thread delay", "binding thread delay", "rgbmatrix thread delay", "piomatter thread delay",
          "binding lock hold", "rgbmatrix lock hold")


def floor_of(key: str) -> str:
    """The bare copy measured in the same loop as ``key``'s figure."""
    return "binding floor" if key.startswith("binding") else "ctypes floor"


def report(result: dict, out=print) -> None:
    floor = result["bare copy"]
    period = result["period_ms"]
    out(f"\nFrame hand-off to the LED library, {result['board']} at {result['fps']} fps "
        f"({result.get('where', 'this machine')}):")
    for key in PER_FRAME:
        if key in result:
            same_loop = result.get(floor_of(key), floor)
            out(f"  {key:<22} {result[key] * 1e6:9.1f} µs/frame  ({result[key] / same_loop:6.1f}x the bare copy"
                + (f" of its own loop, {same_loop * 1e6:.1f} µs)" if floor_of(key) in result else ")"))
    if "bit-plane bytes" in result:
        planes = result["bit-plane bytes"]
        out(f"  (a canvas's bit planes: {planes / 1024:.0f} KB, {planes / result['frame bytes']:.1f}x the frame's "
            f"{result['frame bytes'] / 1024:.0f} KB)")
    for key in DELAYS:
        if key in result:
            d = result[key]
            verdict = "" if key.startswith("idle") else \
                ("  within one frame period" if d["max_ms"] <= period else f"  MORE than one frame period ({period:.1f} ms)")
            out(f"  {key:<22} p50 {d['p50_ms']:6.2f} ms  p99 {d['p99_ms']:6.2f} ms  max {d['max_ms']:6.2f} ms{verdict}")
    for key, value in result.items():
        if key.endswith("unavailable"):
            out(f"  {key.replace(' unavailable', '')}: not measured: {value}")
    for key, what in (("binding SetImage", "before, the binding"), ("ctypes set_pixels", "now, the C API")):
        if key in result:
            ratio = result[key] / result.get(floor_of(key), floor)
            out(f"  goal: the hand-off within 5x a bare copy ({what}): {ratio:.1f}x ({'met' if ratio <= 5 else 'not met'})")
    for key, what in (("binding", "before, the binding"), ("rgbmatrix", "now, the C API")):
        if f"{key} lock hold" in result:
            held, late = result[f"{key} lock hold"]["max_ms"], result[f"{key} thread delay"]["max_ms"]
            out(f"  goal: no thread held more than one frame period ({period:.1f} ms) ({what}): the lock held at "
                f"most {held:.2f} ms a frame ({'met' if held <= period else 'not met'}); a 1 ms thread woke at "
                f"worst {late:.1f} ms late")
    if "ctypes set_pixels" in result and "one foreign call" in result:
        floor = result.get("ctypes floor", floor)
        held = floor + 2 * result["one foreign call"]
        out(f"  of the hand-off, the interpreter lock is held for our copy and two calls: about {held * 1e6:.1f} µs "
            f"({held / floor:.1f}x the bare copy); the library's conversion, "
            f"{result['bit-plane conversion'] / floor:.0f}x the copy, runs without it")


def add_arguments(parser) -> None:
    parser.add_argument("--rgbmatrix-site", metavar="DIR",
                        help="a folder holding a built rgbmatrix binding: the old hand-off, measured beside the new one")


def run(board: str = DEFAULT_BOARD, seconds: float = 1.0, rgbmatrix_site: str | None = None, out=print) -> dict:
    result = measure(board, seconds, rgbmatrix_site)
    report(result, out)
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure_in_process(sys.argv[2], float(sys.argv[3]), tuple(sys.argv[4:]))))
    else:
        run(*(sys.argv[1:2] or [DEFAULT_BOARD]))
