"""The rgbmatrix output against the real rpi-rgb-led-matrix library (its C API, through ctypes),
built in the test run from the pinned source (tests/rgbmatrix_build.py).

The library only ever starts in child processes run as an unprivileged user (never as root
off a Pi: it would map physical memory through /dev/mem): off a Pi it must fail with the
project's error, not a signal; in the stand-in Pi 4 of edge/panel/standin.py (a private mount
namespace with a sparse file as /dev/gpiomem) it must drive every shipped profile: open, take
every option as asked, show frames, brightness 0-100, close, and leave the agent's data
directory writable. The ctypes structures must be the header's, field for field.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from edge.panel import standin
from edge.panel.ledmatrix_c import LIBRARY_ENV, Color, MatrixOptions, RuntimeOptions
from edge.panel.profile import available_profiles
from tests.rgbmatrix_build import ROOT, readable_copy, shared_library

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="runs the library as another user: needs root"),
              pytest.mark.skipif(shutil.which("setpriv") is None, reason="apt-get install -y util-linux")]

NOBODY = standin.NOBODY
PROFILES = available_profiles()


def _python_for(uid: int) -> str | None:
    """An interpreter of this Python version that ``uid`` can run, and start again as its own
    ``sys.executable`` (the trial run does): this venv's may live in root's home."""
    for candidate in (sys.executable, f"/usr/bin/python3.{sys.version_info.minor}"):
        proc = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", candidate, "-c",
                               "import subprocess, sys; subprocess.run([sys.executable, '-c', ''], check=True); "
                               "print(sys.version_info[:2])"], capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout.strip() == str(tuple(sys.version_info[:2])):
            return candidate
    return None


# The C declarations of the header, read as (type, name) per field: enough C to hold the
# ctypes structures to it (comments dropped, one declaration per line).
C_TYPES = {"const char *": ctypes.c_char_p, "int": ctypes.c_int, "bool": ctypes.c_bool, "uint8_t": ctypes.c_uint8}


def header_struct(header: str, name: str) -> list[tuple[str, type]]:
    text = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    body = re.search(r"struct " + name + r" \{(.*?)\};", text, re.S).group(1)
    fields = []
    for declaration in filter(None, (part.strip() for part in body.split(";"))):
        kind, field = re.fullmatch(r"(const char \*|int|bool|uint8_t)\s*(\w+)", declaration).groups()
        fields.append((field, C_TYPES[kind]))
    return fields


def test_the_ctypes_structures_are_the_headers_field_for_field():
    header = (shared_library() / "led-matrix-c.h").read_text()
    assert header_struct(header, "RGBLedMatrixOptions") == MatrixOptions._fields_
    assert header_struct(header, "RGBLedRuntimeOptions") == RuntimeOptions._fields_
    assert header_struct(header, "Color") == Color._fields_
    assert ctypes.sizeof(Color) == 3        # a compiled frame's pixel, packed


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """(interpreter, environment, folder) for child processes that load the real library as nobody."""
    python = _python_for(NOBODY)
    if python is None:
        pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that user nobody can run")
    folder = Path(tempfile.mkdtemp(prefix="ihanoi-rgbmatrix-", dir="/var/tmp"))
    os.chmod(folder, 0o755)
    lib = readable_copy(shared_library(), folder, "lib") / "librgbmatrix.so.1"
    path = os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IHANOI_PANEL", "PYTHON"))}
    env.update(PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1", HOME="/nonexistent", **{LIBRARY_ENV: str(lib)})
    yield python, env, folder
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(python: str, code: str, env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
           python, "-s", "-c", code, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd="/")


OPEN_OFF_A_PI = """
from edge.panel import open_panel
from edge.panel.profile import load_profile
open_panel("rgbmatrix", load_profile("p4-128x64"))
"""

TRIAL_OFF_A_PI = """
from edge.panel.probe import trial_run
from edge.panel.profile import load_profile
from edge.panel.rgbmatrix import matrix_options
trial_run("rgbmatrix", matrix_options(load_profile("p4-128x64"), "pi4"))
"""

IN_PROCESS_OFF_A_PI = """
from edge.panel.ledmatrix_c import load_library
from edge.panel.profile import load_profile
from edge.panel.rgbmatrix import matrix_options, open_matrix
open_matrix(load_library(), matrix_options(load_profile("p4-128x64"), "pi4"))
"""


def test_off_a_pi_the_output_fails_with_the_projects_error_not_a_signal(library):
    python, env, _ = library
    proc = as_nobody(python, OPEN_OFF_A_PI, env)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert ("PanelError: the rgbmatrix output drives a HUB75 board from a Raspberry Pi's GPIO, and this machine is "
            "not a Raspberry Pi it knows (no /proc/device-tree/model)") in proc.stderr
    assert 'panel.output = "emulator"' in proc.stderr


def test_the_library_returning_no_matrix_is_a_panel_error_in_the_trial_run_and_in_process(library):
    python, env, _ = library
    # What the checks do not know (here: off a Pi, past them): the library returns NULL, which
    # the binding passed on into a segfault; checked here, in the trial run's child ...
    proc = as_nobody(python, TRIAL_OFF_A_PI, env)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert ("PanelError: the rgbmatrix library exited with status 3 while opening the board in a trial run; "
            "it said: ") in proc.stderr
    assert "Must run as root to be able to access /dev/mem" in proc.stderr
    assert "rpi-rgb-led-matrix could not start the board (it returned no matrix" in proc.stderr
    # ... and in the agent's own process, should the library fail there after a trial that passed.
    bare = as_nobody(python, IN_PROCESS_OFF_A_PI, env)
    assert bare.returncode == 1, (bare.returncode, bare.stderr)
    assert "PanelError: rpi-rgb-led-matrix could not start the board (it returned no matrix" in bare.stderr


@pytest.fixture
def stand_in(library):
    reason = standin.unavailable()
    if reason:
        pytest.skip(f"the stand-in Pi cannot run here: {reason}")
    python, env, folder = library
    work = Path(tempfile.mkdtemp(prefix="standin-", dir=folder))
    standin.prepare(work)
    data = work / "data"
    data.mkdir(mode=0o700)
    os.chown(data, NOBODY, NOBODY)
    return python, env, work, data


def in_stand_in(stand_in, code: str, *args: str) -> subprocess.CompletedProcess:
    python, env, work, _ = stand_in
    cmd = standin.argv([python, "-s", "-c", code, *args], work)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd="/")


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Zeroed structures ask for every default, and the library writes the values it uses back into
# them: a field out of place in our structures would show another field's default (130, 100,
# "RGB", "daemon" ...) under its name.
DEFAULTS = """
import ctypes, json
from edge.panel.ledmatrix_c import MatrixOptions, RuntimeOptions, load_library, read_back
lib = load_library()
options, runtime = MatrixOptions(), RuntimeOptions()
options.disable_hardware_pulsing = True     # gpiomem mode: the library exits otherwise
runtime.drop_privileges = -1                # stay nobody
matrix = lib.led_matrix_create_from_options_and_rt_options(ctypes.byref(options), ctypes.byref(runtime))
print(json.dumps({"opened": bool(matrix), "settled": read_back(options, runtime)}))
lib.led_matrix_delete(matrix)
"""


def test_zeroed_options_come_back_as_the_librarys_documented_defaults_each_under_its_own_name(stand_in):
    result = last_json(in_stand_in(stand_in, DEFAULTS))
    assert result["opened"]
    assert result["settled"] == {
        "hardware_mapping": "regular", "rows": 32, "cols": 32, "chain_length": 1, "parallel": 1, "pwm_bits": 11,
        "pwm_lsb_nanoseconds": 130, "pwm_dither_bits": 0, "brightness": 100, "scan_mode": 0, "row_address_type": 0,
        "multiplexing": 0, "disable_hardware_pulsing": True, "show_refresh_rate": False, "inverse_colors": False,
        "led_rgb_sequence": "RGB", "pixel_mapper_config": None, "panel_type": None, "limit_refresh_rate_hz": 0,
        "disable_busy_waiting": False,
        "gpio_slowdown": 2, "rp1_rio": 0, "daemon": 0, "drop_privileges": -1, "do_gpio_init": True,  # 2: a Pi 4
        "drop_priv_user": "daemon", "drop_priv_group": "daemon"}


DRIVE = """
import json, os, sys
import numpy as np
from edge.panel import open_panel
from edge.panel.ledmatrix_c import differences
from edge.panel.profile import load_profile
profile, data = load_profile(sys.argv[1]), sys.argv[2]
panel = open_panel("rgbmatrix", profile, data, brightness=80)
frames = [np.full((profile.height, profile.width, 3), (i * 37) % 256, np.uint8) for i in range(24)]
frames[3][:, : profile.width // 2] = (255, 0, 0)
for frame in frames:
    panel.show(frame)
levels = []
for level in (0, 1, 25, 50, 75, 100):
    panel.set_brightness(level)
    panel.show(frames[3])
    levels.append(panel.library_brightness)
fault, shown, mode = panel.fault, panel.frames_shown, panel.mode
unlike = differences(panel.spec, panel.settled)
panel.close()
panel.show(frames[0])      # after close: no call into the library with its matrix gone, a dark board
with open(os.path.join(data, "after-close"), "w") as f:   # the agent keeps writing its data after start-up
    f.write("still writable")
print(json.dumps({"fault": fault, "shown": shown, "mode": mode, "levels": levels, "uid": os.getuid(),
                  "euid": os.geteuid(), "spec": panel.spec, "unlike": unlike, "after_close": panel.fault}))
"""


@pytest.mark.parametrize("name", PROFILES)
def test_the_real_library_drives_every_shipped_profile_in_a_stand_in_pi_4(stand_in, name):
    _, _, work, data = stand_in
    host_rt = Path("/proc/sys/kernel/sched_rt_runtime_us").read_text()
    result = last_json(in_stand_in(stand_in, DRIVE, name, str(data)))
    assert result["fault"] is None
    assert result["mode"] == "gpiomem"                     # /dev/mem does not exist in the stand-in
    # every option of the profile taken as asked (the library writes back what it uses)
    assert result["unlike"] == {}
    assert set(result["spec"]) >= {"rows", "cols", "hardware_mapping", "pwm_bits", "led_rgb_sequence", "panel_type",
                                   "gpio_slowdown", "drop_privileges", "limit_refresh_rate_hz"}
    assert result["shown"] == 24 + 6
    assert result["levels"] == [1, 1, 25, 50, 75, 100]     # 0 % is a black frame at the library's lowest level
    assert result["uid"] == result["euid"] == NOBODY       # the library did not switch users
    assert "failed while showing a frame (PanelError: the board was closed)" in result["after_close"]
    assert (data / "after-close").read_text() == "still writable"
    assert (data / "after-close").stat().st_uid == NOBODY
    # The library's own write of the real-time budget went into the shadow, not the host's kernel.
    assert standin.sched_rt_written(work) == 990000
    assert Path("/proc/sys/kernel/sched_rt_runtime_us").read_text() == host_rt


PULSED_IN_GPIOMEM = """
from edge.panel.probe import trial_run
from edge.panel.profile import load_profile
from edge.panel.rgbmatrix import matrix_options
spec = matrix_options(load_profile("p4-128x64"), "pi4")
assert spec["disable_hardware_pulsing"] is False
trial_run("rgbmatrix", spec)
"""


def test_hardware_pulsing_in_gpiomem_mode_makes_the_library_exit_and_the_trial_run_says_why(stand_in):
    """What every shipped 'regular' profile did in gpiomem mode before the checks turned pulsing off."""
    proc = in_stand_in(stand_in, PULSED_IN_GPIOMEM)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "PanelError: the rgbmatrix library exited with status 1 while opening the board in a trial run" in proc.stderr
    assert "--led-no-hardware-pulse" in proc.stderr


# What the board shows after ``panel.show(frame)`` (the library's active canvas, its bit planes
# read with FrameCanvas::Serialize, a C++ symbol of the library used by this test only) must be
# byte for byte the bit planes of the same frame set pixel by pixel, in every colour order and
# at a dimmed brightness: the packed frame reaches the library as RGB triplets, row by row.
SAME_BITS = """
import ctypes, json, sys
import numpy as np
from edge.panel import open_panel
from edge.panel.profile import load_profile
profile = load_profile(sys.argv[1]).model_copy(update={"led_rgb_sequence": sys.argv[2]})
panel = open_panel("rgbmatrix", profile, brightness=int(sys.argv[3]))
lib = panel._lib
serialize = lib._ZNK10rgb_matrix11FrameCanvas9SerializeEPPKcPm
serialize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
lib.led_matrix_get_canvas.restype, lib.led_matrix_get_canvas.argtypes = ctypes.c_void_p, [ctypes.c_void_p]

def bits(canvas):
    data, size = ctypes.c_char_p(), ctypes.c_size_t()
    serialize(canvas, ctypes.byref(data), ctypes.byref(size))
    return ctypes.string_at(data, size.value)

rng = np.random.default_rng(7)
frame = rng.integers(0, 256, (profile.height, profile.width, 3), np.uint8)
panel.show(frame)
on_board = bits(lib.led_matrix_get_canvas(panel._matrix))
by_pixel = lib.led_matrix_create_offscreen_canvas(panel._matrix)
for y in range(profile.height):
    for x in range(profile.width):
        r, g, b = (int(v) for v in frame[y, x])
        lib.led_canvas_set_pixel(by_pixel, x, y, r, g, b)
panel.show(np.ascontiguousarray(frame[::-1]))
flipped = bits(lib.led_matrix_get_canvas(panel._matrix))
print(json.dumps({"same": on_board == bits(by_pixel), "differs": flipped != bits(by_pixel), "size": len(on_board)}))
panel.close()
"""


@pytest.mark.parametrize("sequence,brightness", [("RGB", 100), ("BGR", 35)])
def test_a_shown_frame_is_in_the_librarys_bit_planes_exactly_as_set_pixel_by_pixel(stand_in, sequence, brightness):
    result = last_json(in_stand_in(stand_in, SAME_BITS, "p4-128x64", sequence, str(brightness)))
    assert result["size"] > 0
    assert result["same"] and result["differs"]


def test_the_hand_off_bench_measures_the_c_api_path_in_the_stand_in(library, monkeypatch):
    from edge.panel import handoff_bench

    reason = standin.unavailable()
    if reason:
        pytest.skip(f"the stand-in Pi cannot run here: {reason}")
    _, env, _ = library
    monkeypatch.setenv(LIBRARY_ENV, env[LIBRARY_ENV])
    lines: list[str] = []
    result = handoff_bench.run("p4-64x64", 0.05, None, out=lines.append)
    assert "rgbmatrix unavailable" not in result, result.get("rgbmatrix unavailable")
    for key in ("bare copy", "ctypes set_pixels", "bit-plane conversion", "one foreign call", "bit-plane copy",
                "rgbmatrix show"):
        assert result[key] > 0, key
    assert set(result["rgbmatrix lock hold"]) == set(result["rgbmatrix thread delay"]) == {"p50_ms", "p99_ms", "max_ms"}
    # a canvas's planes: rows / 2 scan lines x 64 columns x 11 planes x a 32-bit GPIO word
    assert result["bit-plane bytes"] == 32 * 64 * 11 * 4
    text = "\n".join(lines)
    assert "goal: no thread held more than one frame period (33.3 ms) (now, the C API): the lock held at most" in text
    assert "goal: the hand-off within 5x a bare copy (now, the C API)" in text
    assert "binding: not measured: the rgbmatrix binding is not installed here" in text
