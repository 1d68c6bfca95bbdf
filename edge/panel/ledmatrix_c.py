"""hzeller's rpi-rgb-led-matrix through its C API (``include/led-matrix-c.h``), called with ctypes.

Why not the Python binding: its ``SetImage`` and ``SwapOnVSync`` keep the interpreter lock
(``cppinc.pxd`` declares them without ``nogil``), so while the swap waits for the refresh
thread every other thread of the agent (MQTT, PIR, watchdog) waits too; and ``SetImage`` only
takes Pillow images. A ctypes call releases the interpreter lock for as long as the C function
runs, and ``led_canvas_set_pixels`` takes packed RGB (``struct Color`` is 3 bytes), which is a
compiled frame as it is: no Pillow, no copy beyond the panel's own.

The structures below are the header's at the pinned commit (``rgbmatrix_version`` in the
ansible role), field for field and in order; ``tests/test_panel_rgbmatrix_real.py`` checks
them against the header and against the defaults the library writes back into them.

The C API copies an option only when it is non-zero (``OPT_COPY_IF_SET`` in
``lib/led-matrix-c.cc``): zero means "the library's default". Two of our values are zero on
purpose and are spelled differently here: ``drop_privileges`` 0 would leave the library's
default (1: switch to user ``daemon``), so it becomes -1 (never); a ``gpio_slowdown`` of 0
cannot be asked for at all (the library picks 1, or 2 on a Pi 4), which ``options_read_back``
makes visible.

The shared library is ``librgbmatrix.so.1`` (the library's own ``make -C lib``): the ansible
role ``rgbmatrix`` installs it in ``/usr/local/lib`` (``rgbmatrix_lib_dir``) and the dynamic
linker finds it by name; ``IHANOI_RGBMATRIX_LIB`` names another file (tests, benchmarks).
"""

from __future__ import annotations

import ctypes
import os
from ctypes import POINTER, c_bool, c_char_p, c_int, c_uint8, c_void_p

from ihanoi.contract.errors import PanelError

LIBRARY_ENV = "IHANOI_RGBMATRIX_LIB"
LIBRARY_NAME = "librgbmatrix.so.1"


class MatrixOptions(ctypes.Structure):
    """``struct RGBLedMatrixOptions``."""
    _fields_ = [
        ("hardware_mapping", c_char_p),
        ("rows", c_int),
        ("cols", c_int),
        ("chain_length", c_int),
        ("parallel", c_int),
        ("pwm_bits", c_int),
        ("pwm_lsb_nanoseconds", c_int),
        ("pwm_dither_bits", c_int),
        ("brightness", c_int),
        ("scan_mode", c_int),
        ("row_address_type", c_int),
        ("multiplexing", c_int),
        ("disable_hardware_pulsing", c_bool),
        ("show_refresh_rate", c_bool),
        ("inverse_colors", c_bool),
        ("led_rgb_sequence", c_char_p),
        ("pixel_mapper_config", c_char_p),
        ("panel_type", c_char_p),
        ("limit_refresh_rate_hz", c_int),
        ("disable_busy_waiting", c_bool),
    ]


class RuntimeOptions(ctypes.Structure):
    """``struct RGBLedRuntimeOptions``."""
    _fields_ = [
        ("gpio_slowdown", c_int),
        ("rp1_rio", c_int),
        ("daemon", c_int),
        ("drop_privileges", c_int),
        ("do_gpio_init", c_bool),
        ("drop_priv_user", c_char_p),
        ("drop_priv_group", c_char_p),
    ]


class Color(ctypes.Structure):
    """``struct Color``: one packed RGB pixel, 3 bytes, as in a compiled frame."""
    _fields_ = [("r", c_uint8), ("g", c_uint8), ("b", c_uint8)]


# name -> (restype, argtypes): every function of the header the output calls.
FUNCTIONS = {
    "led_matrix_create_from_options_and_rt_options": (c_void_p, [POINTER(MatrixOptions), POINTER(RuntimeOptions)]),
    "led_matrix_create_offscreen_canvas": (c_void_p, [c_void_p]),
    "led_matrix_swap_on_vsync": (c_void_p, [c_void_p, c_void_p]),
    "led_matrix_set_brightness": (None, [c_void_p, c_uint8]),
    "led_matrix_get_brightness": (c_uint8, [c_void_p]),
    "led_matrix_delete": (None, [c_void_p]),
    "led_canvas_get_size": (None, [c_void_p, POINTER(c_int), POINTER(c_int)]),
    "led_canvas_set_pixels": (None, [c_void_p, c_int, c_int, c_int, c_int, c_void_p]),
    "led_canvas_set_pixel": (None, [c_void_p, c_int, c_int, c_uint8, c_uint8, c_uint8]),
    "led_canvas_clear": (None, [c_void_p]),
}

_loaded: dict[str, ctypes.CDLL] = {}


def library_path(path: str | None = None) -> str:
    """The file to load: ``path``, else ``$IHANOI_RGBMATRIX_LIB``, else the name the linker resolves."""
    return path or os.environ.get(LIBRARY_ENV) or LIBRARY_NAME


def load_library(path: str | None = None) -> ctypes.CDLL:
    """The library with every function's types declared; PanelError saying how to get it."""
    where = library_path(path)
    if where in _loaded:
        return _loaded[where]
    try:
        lib = ctypes.CDLL(where)   # CDLL, not PyDLL: each call releases the interpreter lock
    except OSError as exc:
        raise PanelError(
            f"the 'rgbmatrix' output needs hzeller's rpi-rgb-led-matrix shared library ({where}), which cannot be "
            f"loaded ({exc}): on the Pi run the ansible role 'rgbmatrix' (it installs {LIBRARY_NAME} in "
            f"/usr/local/lib), or set {LIBRARY_ENV} to the file; on a PC set panel.output = \"emulator\" "
            f"or IHANOI_PANEL=emulator") from None
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise PanelError(f"{where} has no function {name}: it is not the rpi-rgb-led-matrix the agent is built "
                             f"for (the ansible role's rgbmatrix_version); reinstall it with the role") from None
        function.restype, function.argtypes = restype, argtypes
    _loaded[where] = lib
    return lib


def _text(value) -> bytes | None:
    return value.encode() if value else None


def to_structs(spec: dict) -> tuple[MatrixOptions, RuntimeOptions]:
    """The C structures for ``spec`` (the output's plain options; unknown keys are an error)."""
    options, runtime = MatrixOptions(), RuntimeOptions()   # ctypes zero-fills: "the library's default"
    strings = {"hardware_mapping", "led_rgb_sequence", "pixel_mapper_config", "panel_type"}
    for name, value in spec.items():
        if name == "drop_privileges":
            runtime.drop_privileges = 1 if value else -1   # 0 would mean the default, which drops them
        elif name in strings:
            setattr(options, name, _text(value))
        elif name in dict(MatrixOptions._fields_):
            setattr(options, name, value)
        elif name in dict(RuntimeOptions._fields_):
            setattr(runtime, name, value)
        else:
            raise PanelError(f"option {name!r} is not one of rpi-rgb-led-matrix's C options")
    # daemon and do_gpio_init stay zero: the defaults (run in the foreground, start the
    # refresh thread, set up the GPIOs); -1 for daemon would leave the thread unstarted.
    return options, runtime


def read_back(options: MatrixOptions, runtime: RuntimeOptions) -> dict:
    """Every field of both structures as plain values (what the library wrote back)."""
    out = {}
    for struct in (options, runtime):
        for name, _ in struct._fields_:
            value = getattr(struct, name)
            out[name] = value.decode() if isinstance(value, bytes) else value
    return out


def create(lib: ctypes.CDLL, spec: dict) -> tuple[int | None, dict]:
    """(the matrix or None, the options the library settled on) for ``spec``."""
    options, runtime = to_structs(spec)
    matrix = lib.led_matrix_create_from_options_and_rt_options(ctypes.byref(options), ctypes.byref(runtime))
    return matrix, read_back(options, runtime)


def differences(spec: dict, settled: dict) -> dict:
    """name -> (asked, settled) for the options the library did not take as asked."""
    out = {}
    for name, asked in spec.items():
        got = settled.get(name)
        if name == "drop_privileges":
            asked, got = bool(asked), got > 0
        elif name in ("panel_type", "pixel_mapper_config"):
            asked, got = asked or "", got or ""
        if asked != got:
            out[name] = (asked, got)
    return out
