"""The rgbmatrix output against the real rpi-rgb-led-matrix library, built in the test run from
the pinned source (tests/rgbmatrix_build.py).

The library only ever starts in child processes run as an unprivileged user (never as root
off a Pi: it would map physical memory through /dev/mem): off a Pi it must fail with the
project's error, not a signal; in the stand-in Pi 4 of edge/panel/standin.py (a private mount
namespace with a sparse file as /dev/gpiomem) it must drive every shipped profile: open, show
frames, brightness 0-100, close, and leave the agent's data directory writable.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from edge.panel import standin
from edge.panel.profile import available_profiles
from tests.rgbmatrix_build import ROOT, built, readable_copy

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


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """(interpreter, environment) for child processes that import the real binding as nobody."""
    python = _python_for(NOBODY)
    if python is None:
        pytest.skip(f"no Python {sys.version_info.major}.{sys.version_info.minor} that user nobody can run")
    folder = Path(tempfile.mkdtemp(prefix="ihanoi-rgbmatrix-", dir="/var/tmp"))
    os.chmod(folder, 0o755)
    site = readable_copy(built(), folder)
    path = os.pathsep.join([str(site), str(ROOT), sysconfig.get_paths()["purelib"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IHANOI_PANEL", "PYTHON"))}
    env.update(PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1", HOME="/nonexistent")
    yield python, env, folder
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(python: str, code: str, env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
           python, "-s", "-c", code, *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd="/")


READ_BACK = """
import json
from rgbmatrix import RGBMatrixOptions
from edge.panel.profile import available_profiles, load_profile
from edge.panel.rgbmatrix import apply_options, matrix_options
out = {}
for name in available_profiles():
    spec = matrix_options(load_profile(name), "pi4")
    options = apply_options(RGBMatrixOptions(), spec)
    got = {key: getattr(options, key) for key in spec}
    out[name] = {"spec": spec, "got": {k: v.decode() if isinstance(v, bytes) else v for k, v in got.items()}}
print(json.dumps(out))
"""


def test_every_shipped_profile_is_accepted_by_the_real_options_and_read_back(library):
    python, env, _ = library
    proc = as_nobody(python, READ_BACK, env)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert sorted(result) == PROFILES
    for name, both in result.items():
        assert both["got"] == both["spec"], name
        assert set(both["spec"]) >= {"rows", "cols", "hardware_mapping", "pwm_bits", "led_rgb_sequence", "panel_type",
                                     "gpio_slowdown", "drop_privileges", "limit_refresh_rate_hz"}


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

UNGUARDED = """
from edge.panel.profile import load_profile
from edge.panel.rgbmatrix import construct, matrix_options
matrix = construct(matrix_options(load_profile("p4-128x64"), "pi4"))
matrix.CreateFrameCanvas()
"""


def test_off_a_pi_the_output_fails_with_the_projects_error_not_a_signal(library):
    python, env, _ = library
    proc = as_nobody(python, OPEN_OFF_A_PI, env)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert ("PanelError: the rgbmatrix output drives a HUB75 board from a Raspberry Pi's GPIO, and this machine is "
            "not a Raspberry Pi it knows (no /proc/device-tree/model)") in proc.stderr
    assert 'panel.output = "emulator"' in proc.stderr


def test_what_the_checks_do_not_know_the_trial_run_catches_the_library_returning_null(library):
    python, env, _ = library
    # Unguarded, the library's NULL matrix is a segfault in the binding: the reason for the trial run.
    bare = as_nobody(python, UNGUARDED, env)
    assert bare.returncode == -signal.SIGSEGV, (bare.returncode, bare.stderr)
    assert "Must run as root to be able to access /dev/mem" in bare.stderr
    # The same settings through the trial run: a PanelError with the signal and the library's words.
    proc = as_nobody(python, TRIAL_OFF_A_PI, env)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert ("PanelError: the rgbmatrix library was killed by SIGSEGV while opening the board in a trial run; "
            "it said: ") in proc.stderr
    assert "Must run as root to be able to access /dev/mem" in proc.stderr


DRIVE = """
import json, os, sys
import numpy as np
from edge.panel import open_panel
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
    levels.append(panel._matrix.brightness)
fault, shown, mode = panel.fault, panel.frames_shown, panel.mode
panel.close()
with open(os.path.join(data, "after-close"), "w") as f:   # the agent keeps writing its data after start-up
    f.write("still writable")
print(json.dumps({"fault": fault, "shown": shown, "mode": mode, "levels": levels, "uid": os.getuid(),
                  "euid": os.geteuid()}))
"""


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


@pytest.mark.parametrize("name", PROFILES)
def test_the_real_library_drives_every_shipped_profile_in_a_stand_in_pi_4(stand_in, name):
    _, _, work, data = stand_in
    host_rt = Path("/proc/sys/kernel/sched_rt_runtime_us").read_text()
    proc = in_stand_in(stand_in, DRIVE, name, str(data))
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["fault"] is None
    assert result["mode"] == "gpiomem"                     # /dev/mem does not exist in the stand-in
    assert result["shown"] == 24 + 6
    assert result["levels"] == [1, 1, 25, 50, 75, 100]     # 0 % is a black frame at the library's lowest level
    assert result["uid"] == result["euid"] == NOBODY       # the library did not switch users
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


# The binding's SetImage reads Pillow's image struct through the Imaging.h it was compiled with
# (Debian's python3-pil) while the agent runs PyPI's Pillow: a layout mismatch would show
# garbage or crash. The library's own bit planes (FrameCanvas::Serialize, reached through the
# binding's C++ symbols, for this test only) must be the same byte for byte whether a frame
# arrives through the output's SetImage or pixel by pixel through SetPixel.
SAME_BITS = """
import ctypes, json, sys
import numpy as np
from PIL import Image
import rgbmatrix.core
from edge.panel.profile import load_profile
from edge.panel.rgbmatrix import construct, matrix_options
profile = load_profile(sys.argv[1])
spec = matrix_options(profile, "pi4")
spec["disable_hardware_pulsing"] = True
matrix = construct(spec)
lib = ctypes.CDLL(rgbmatrix.core.__file__)
serialize = lib._ZNK10rgb_matrix11FrameCanvas9SerializeEPPKcPm
serialize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
lib.led_canvas_get_size.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]

def pointer(canvas):   # the C++ FrameCanvas behind the binding's object (after its header and vtable)
    address = ctypes.c_void_p.from_address(id(canvas) + 3 * ctypes.sizeof(ctypes.c_void_p)).value
    w, h = ctypes.c_int(), ctypes.c_int()
    lib.led_canvas_get_size(address, ctypes.byref(w), ctypes.byref(h))
    assert (w.value, h.value) == (canvas.width, canvas.height)
    return address

def bits(canvas):
    data, size = ctypes.c_char_p(), ctypes.c_size_t()
    serialize(pointer(canvas), ctypes.byref(data), ctypes.byref(size))
    return ctypes.string_at(data, size.value)

rng = np.random.default_rng(7)
frame = rng.integers(0, 256, (profile.height, profile.width, 3), np.uint8)
by_image, by_pixel, other = (matrix.CreateFrameCanvas() for _ in range(3))
image = Image.new("RGB", (profile.width, profile.height))
image.frombytes(frame)
by_image.SetImage(image, 0, 0)
for y in range(profile.height):
    for x in range(profile.width):
        r, g, b = (int(v) for v in frame[y, x])
        by_pixel.SetPixel(x, y, r, g, b)
image.frombytes(np.ascontiguousarray(frame[::-1]))
other.SetImage(image, 0, 0)
print(json.dumps({"same": bits(by_image) == bits(by_pixel), "differs": bits(other) != bits(by_pixel),
                  "size": len(bits(by_pixel))}))
"""


def test_a_frame_reaches_the_librarys_bit_planes_exactly_through_set_image(stand_in):
    proc = in_stand_in(stand_in, SAME_BITS, "p4-128x64")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["size"] > 0
    assert result["same"] and result["differs"]
