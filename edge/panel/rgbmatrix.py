"""``rgbmatrix``: the real HUB75 board through hzeller's rpi-rgb-led-matrix Python bindings.

The library's refresh thread owns one CPU core and redraws the panels continuously; we only
hand it finished frames. Double buffering: each frame goes into an off-screen canvas
(``SetImage``) which ``SwapOnVSync`` swaps in at the next refresh, so a frame is never shown
half-drawn. Costs per frame: one copy into our buffer, one into a Pillow image (``SetImage``
takes Pillow images only) and the library's own copy into its bit planes; ``SetImage`` and
``SwapOnVSync`` hold the interpreter lock (``ihanoi-edge bench`` measures both).

Opening never takes the agent down: ``hostcheck.plan_rgbmatrix`` checks the machine first
(Raspberry Pi model, device node and access for the GPIO mode, the sound module, hardware
pulsing against the mode) and ``probe.trial_run`` opens the board once in a child process,
so a library ``exit()``, ``abort()`` or segfault becomes a ``PanelError``. Options:
``gpio_access`` (auto | mem | gpiomem | pio | rio, see ``hostcheck``), ``trial`` (False skips
the child process; tests only).

Brightness is the library's: it scales each colour through its CIE1931 luminance table as
pixels are set (no hardware dimming), so a change re-sends the frame. The bindings are not on
PyPI: the Pi's ansible role builds them from source; on a PC use the ``emulator`` output.
"""

from __future__ import annotations

import faulthandler
import logging

import numpy as np
from PIL import Image

from edge.panel.base import Panel, PanelError
from edge.panel.hostcheck import Host, Plan, plan_rgbmatrix
from edge.panel.probe import trial_run

log = logging.getLogger("ihanoi.panel")

# Every profile field has an RGBMatrixOptions property of the same name.
PROFILE_OPTIONS = ("rows", "cols", "chain_length", "parallel", "hardware_mapping", "pwm_bits",
                   "pwm_lsb_nanoseconds", "pwm_dither_bits", "brightness", "scan_mode", "multiplexing",
                   "row_address_type", "led_rgb_sequence", "panel_type", "disable_hardware_pulsing",
                   "limit_refresh_rate_hz")


def import_binding():
    try:
        import rgbmatrix
    except ImportError:
        raise PanelError(
            "the 'rgbmatrix' output needs hzeller's rpi-rgb-led-matrix Python bindings, which are not "
            "installed: on the Pi run the ansible role 'rgbmatrix' (or build bindings/python from "
            "https://github.com/hzeller/rpi-rgb-led-matrix); on a PC set panel.output = \"emulator\" "
            "or IHANOI_PANEL=emulator") from None
    return rgbmatrix


def matrix_options(profile, model: str | None, plan: Plan | None = None) -> dict:
    """The library's options for ``profile`` on a ``model`` board, as plain values (pure)."""
    spec = {field: getattr(profile, field) for field in PROFILE_OPTIONS}
    spec["gpio_slowdown"] = profile.slowdown_for(model or "pi4")
    # The agent keeps writing to its data directory after start-up: stay the service's user.
    spec["drop_privileges"] = 0
    if plan is not None:
        spec.update(plan.options)
    return spec


def options_for(profile, options, model: str | None = None, drop_privileges: bool = False, **overrides):
    """Fill an ``RGBMatrixOptions`` from a panel profile."""
    spec = matrix_options(profile, model)
    spec.update(overrides, drop_privileges=int(drop_privileges))
    return apply_options(options, spec)


def apply_options(options, spec: dict):
    for name, value in spec.items():
        setattr(options, name, value)
    return options


def construct(spec: dict):
    """The library's matrix for ``spec`` (only after the checks and the trial run said it opens)."""
    binding = import_binding()
    return binding.RGBMatrix(options=apply_options(binding.RGBMatrixOptions(), spec))


def trial(spec: dict) -> None:
    """What the child process of ``probe.trial_run`` does: open, show one black frame, close."""
    matrix = construct(spec)
    canvas = matrix.CreateFrameCanvas()
    canvas.SetImage(Image.new("RGB", (canvas.width, canvas.height)), 0, 0)
    matrix.SwapOnVSync(canvas)
    del canvas, matrix


class RGBMatrixPanel(Panel):
    output = "rgbmatrix"

    def __init__(self, profile, gpio_access: str = "auto", host: Host | None = None, trial: bool = True,
                 **_opts):
        import_binding()
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
        self._matrix = construct(self.spec)
        self._canvas = self._matrix.CreateFrameCanvas()
        self._level = profile.brightness
        self._image = Image.new("RGB", (self.width, self.height))
        log.info("rgbmatrix: %s (%dx%d) in %s mode", profile.name, self.width, self.height, self.mode)

    def _present(self, frame: np.ndarray) -> None:
        canvas = self._canvas
        if canvas.brightness != self._level:   # the canvas swapped back may predate a brightness change
            canvas.brightness = self._level
        self._image.frombytes(frame)  # into the existing image: no allocation
        canvas.SetImage(self._image, 0, 0)
        self._canvas = self._matrix.SwapOnVSync(canvas)

    def _set_brightness(self, percent: int) -> None:
        self._level = max(1, percent)  # the library's range is 1..100; 0 is handled as a black frame
        self._matrix.brightness = self._level
        if percent:
            self._present(self._frame)

    def close(self) -> None:
        matrix, self._matrix = getattr(self, "_matrix", None), None
        self._canvas = None
        if matrix is not None:
            matrix.Clear()
            del matrix   # the library stops its refresh thread and leaves the LEDs off
