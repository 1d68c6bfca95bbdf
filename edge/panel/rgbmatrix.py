"""``rgbmatrix``: the real HUB75 board through hzeller's rpi-rgb-led-matrix Python bindings.

The library's refresh thread owns one CPU core and redraws the panels continuously; we only
hand it finished frames. Double buffering: each frame goes into an off-screen canvas
(``SetImage``) which ``SwapOnVSync`` swaps in at the next refresh, so a frame is never shown
half-drawn. Costs per frame: one copy into our buffer, one into a Pillow image (``SetImage``
takes Pillow images only) and the library's own copy into its bit planes.

Brightness is the library's (hardware PWM) brightness; it is applied as pixels are set, so
a change re-sends the frame on show. The bindings are not on PyPI: the Pi's ansible role
builds them from source; on a PC use the ``emulator`` output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from edge.panel.base import Panel, PanelError

DEVICE_MODEL = Path("/proc/device-tree/model")


def pi_model(model_file: Path = DEVICE_MODEL) -> str | None:
    """``pi4``, ``pi3``, ``pi-zero-2``... from the device tree; None when not on a Raspberry Pi."""
    try:
        text = model_file.read_text(errors="replace").strip("\0\n ")
    except OSError:
        return None
    for needle, model in (("Zero 2", "pi-zero-2"), ("Zero", "pi-zero"), ("Pi 4", "pi4"), ("Pi 400", "pi4"),
                          ("Compute Module 4", "pi4"), ("Pi 3", "pi3"), ("Pi 2", "pi2"), ("Model B", "pi1"),
                          ("Model A", "pi1")):
        if needle in text:
            return model
    return None


def options_for(profile, options, model: str | None = None, drop_privileges: bool = False):
    """Fill an ``RGBMatrixOptions`` from a panel profile (every profile field has an option)."""
    for field in ("rows", "cols", "chain_length", "parallel", "hardware_mapping", "pwm_bits",
                  "pwm_lsb_nanoseconds", "pwm_dither_bits", "brightness", "scan_mode", "multiplexing",
                  "row_address_type", "led_rgb_sequence", "panel_type", "disable_hardware_pulsing",
                  "limit_refresh_rate_hz"):
        setattr(options, field, getattr(profile, field))
    options.gpio_slowdown = profile.slowdown_for(model or "pi4")
    # The agent keeps writing to its data directory after start-up: stay the service's user.
    options.drop_privileges = drop_privileges
    return options


class RGBMatrixPanel(Panel):
    output = "rgbmatrix"

    def __init__(self, profile, drop_privileges: bool = False, **_opts):
        try:
            from rgbmatrix import RGBMatrix, RGBMatrixOptions
        except ImportError:
            raise PanelError(
                "the 'rgbmatrix' output needs hzeller's rpi-rgb-led-matrix Python bindings, which are not "
                "installed: on the Pi run the ansible role 'rgbmatrix' (or build bindings/python from "
                "https://github.com/hzeller/rpi-rgb-led-matrix); on a PC set panel.output = \"emulator\" "
                "or IHANOI_PANEL=emulator") from None
        super().__init__(profile.width, profile.height, profile.brightness)
        options = options_for(profile, RGBMatrixOptions(), pi_model(), drop_privileges)
        self._matrix = RGBMatrix(options=options)
        self._canvas = self._matrix.CreateFrameCanvas()
        self._image = Image.new("RGB", (self.width, self.height))

    def _present(self, frame: np.ndarray) -> None:
        self._image.frombytes(frame)  # into the existing image: no allocation
        self._canvas.SetImage(self._image, 0, 0)
        self._canvas = self._matrix.SwapOnVSync(self._canvas)

    def _set_brightness(self, percent: int) -> None:
        level = max(1, percent)  # the library's range is 1..100; 0 is handled as a black frame
        self._matrix.brightness = level
        self._canvas.brightness = level
        if percent:
            self._present(self._frame)

    def close(self) -> None:
        self._matrix.Clear()
