"""``rgbmatrix``: the real HUB75 board through hzeller's rpi-rgb-led-matrix (its C API, ``ledmatrix_c``).

The library's refresh thread owns one CPU core and redraws the panels continuously; we only
hand it finished frames. Double buffering: each frame goes into an off-screen canvas
(``led_canvas_set_pixels``) which ``led_matrix_swap_on_vsync`` swaps in at the next refresh,
so a frame is never shown half-drawn. Costs per frame: one copy into our buffer (``Panel.show``),
then the library's own conversion of every pixel into its bit planes (through its CIE1931
table, ``pwm_bits`` planes), then the wait for the refresh. Both library calls go through
ctypes, which releases the interpreter lock: the agent's other threads run during the
conversion and the wait, the lock is held only for our copy and the two calls' own overhead
(``ihanoi-edge bench`` measures all of it, and the old binding path beside it).

Opening never takes the agent down: ``hostcheck.plan_rgbmatrix`` checks the machine first
(Raspberry Pi model, device node and access for the GPIO mode, the sound module, hardware
pulsing against the mode) and ``probe.trial_run`` opens the board once in a child process,
so a library ``exit()``, ``abort()`` or segfault becomes a ``PanelError``; a NULL matrix
(the library could not start) is a ``PanelError`` in either process. Options:
``gpio_access`` (auto | mem | gpiomem | pio | rio, see ``hostcheck``), ``library`` (the
shared library's file; default ``$IHANOI_RGBMATRIX_LIB`` or ``librgbmatrix.so.1`` where the
ansible role installs it), ``trial`` (False skips the child process; tests only).

Brightness is the library's: it scales each colour through its CIE1931 luminance table as
pixels are set (no hardware dimming), so a change re-sends the frame. The library is not on
PyPI: the Pi's ansible role builds it from source; on a PC use the ``emulator`` output.
"""

from __future__ import annotations

import faulthandler
import logging
import threading

import numpy as np

from edge.panel.base import Panel, PanelError
from edge.panel.hostcheck import Host, Plan, plan_rgbmatrix
from edge.panel.ledmatrix_c import create, differences, load_library
from edge.panel.probe import trial_run

log = logging.getLogger("ihanoi.panel")

# Every profile field has a field of the same name in the library's options.
PROFILE_OPTIONS = ("rows", "cols", "chain_length", "parallel", "hardware_mapping", "pwm_bits",
                   "pwm_lsb_nanoseconds", "pwm_dither_bits", "brightness", "scan_mode", "multiplexing",
                   "row_address_type", "led_rgb_sequence", "panel_type", "disable_hardware_pulsing",
                   "limit_refresh_rate_hz")


def matrix_options(profile, model: str | None, plan: Plan | None = None) -> dict:
    """The library's options for ``profile`` on a ``model`` board, as plain values (pure)."""
    spec = {field: getattr(profile, field) for field in PROFILE_OPTIONS}
    spec["gpio_slowdown"] = profile.slowdown_for(model or "pi4")
    # The agent keeps writing to its data directory after start-up: stay the service's user.
    spec["drop_privileges"] = 0
    if plan is not None:
        spec.update(plan.options)
    return spec


def open_matrix(lib, spec: dict) -> tuple[int, dict]:
    """(the library's matrix for ``spec``, the options it settled on); PanelError when it returns
    NULL (it said why on stderr)."""
    matrix, settled = create(lib, spec)
    if not matrix:
        raise PanelError("rpi-rgb-led-matrix could not start the board (it returned no matrix; its reason is in "
                         "the agent's log just above): check the GPIO access mode and the panel profile")
    for name, (asked, got) in differences(spec, settled).items():
        log.warning("rgbmatrix: option %s = %r was asked for, the library uses %r (the C API reads 0 as "
                    "'the default')", name, asked, got)
    return matrix, settled


def trial(spec: dict) -> None:
    """What the child process of ``probe.trial_run`` does: open, show one black frame, close."""
    lib = load_library()
    matrix, _ = open_matrix(lib, spec)
    canvas = lib.led_matrix_create_offscreen_canvas(matrix)
    lib.led_canvas_clear(canvas)
    lib.led_matrix_swap_on_vsync(matrix, canvas)
    lib.led_matrix_delete(matrix)


class RGBMatrixPanel(Panel):
    output = "rgbmatrix"

    def __init__(self, profile, gpio_access: str = "auto", host: Host | None = None, trial: bool = True,
                 library: str | None = None, **_opts):
        lib = load_library(library)
        host = host or Host.read()
        plan = plan_rgbmatrix(host, profile, gpio_access)
        for warning in plan.warnings:
            log.warning("rgbmatrix: %s", warning)
        super().__init__(profile.width, profile.height, profile.brightness)
        self.mode = plan.mode
        self.spec = matrix_options(profile, host.model, plan)
        if trial:
            trial_run(self.output, self.spec)
        if not faulthandler.is_enabled():   # a crash in the library still leaves a Python traceback in the log
            faulthandler.enable()
        self._lib = lib
        self._matrix, self.settled = open_matrix(lib, self.spec)   # settled: every option the library uses
        self._canvas = lib.led_matrix_create_offscreen_canvas(self._matrix)
        # Our two buffers as the library's ``struct Color`` arrays: (h, w, 3) uint8, C order, never reallocated.
        self._pixels = {id(self._frame): self._frame.ctypes.data, id(self._black): self._black.ctypes.data}
        # One hand-off at a time: a brightness command (another thread) re-sends the frame, and the
        # library's calls run outside the interpreter lock, so nothing else keeps them apart.
        self._handing = threading.Lock()
        log.info("rgbmatrix: %s (%dx%d) in %s mode", profile.name, self.width, self.height, self.mode)

    @property
    def library_brightness(self) -> int:
        """The brightness the library applies (1..100; our 0 % is a black frame at its lowest)."""
        return self._lib.led_matrix_get_brightness(self._matrix) if self._matrix else 0

    def _present(self, frame: np.ndarray) -> None:
        lib, pixels = self._lib, self._pixels[id(frame)]   # only our own buffers reach here (Panel.show)
        with self._handing:
            if not self._matrix:   # a NULL matrix would crash the library: the board was closed
                raise PanelError("the board was closed")
            lib.led_canvas_set_pixels(self._canvas, 0, 0, self.width, self.height, pixels)
            self._canvas = lib.led_matrix_swap_on_vsync(self._matrix, self._canvas)

    def _set_brightness(self, percent: int) -> None:
        # The library's range is 1..100 and applies to every canvas it made; 0 is a black frame.
        with self._handing:
            if self._matrix:
                self._lib.led_matrix_set_brightness(self._matrix, max(1, percent))
        if percent:
            self._present(self._frame)

    def close(self) -> None:
        handing = getattr(self, "_handing", None)
        if handing is None:    # never opened
            return
        with handing:          # not while a frame is being handed over (the player may be another thread)
            matrix, self._matrix, self._canvas = self._matrix, None, None
            if matrix:
                self._lib.led_matrix_delete(matrix)   # stops the refresh thread and leaves the LEDs off

