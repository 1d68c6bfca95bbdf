"""``piomatter``: the HUB75 board on a Raspberry Pi 5 through Adafruit's Piomatter (PyPI:
``adafruit-blinka-raspberry-pi5-piomatter``), which drives the panels from RP1's PIO.

Piomatter reads its framebuffer, an (h, w, 3) uint8 NumPy array in ``Colorspace.RGB888Packed``,
which is exactly a compiled frame: ``show`` copies the frame into it (one copy) and calls
``PioMatter.show()``. It has no brightness setting: below 100 % the copy goes through a
256-entry lookup table instead (``np.take``, still one pass). The panel keeps a reference to the
last frame it was given (the compiled cache's read-only view), not a copy, to re-send it when
the brightness changes.

Piomatter ``exit()``s when ``/dev/pio0`` cannot be opened, so ``hostcheck.plan_piomatter``
checks the board, the device node and the profile first (``piomatter_pins.unsupported_fields``:
what it cannot honour is refused with a message) and ``probe.trial_run`` opens it once in a
child process. Refresh-timing fields of the profile (``limit_refresh_rate_hz``, ``gpio_slowdown``)
have no Piomatter equivalent: its PIO program sets its own pace.
"""

from __future__ import annotations

import logging

import numpy as np

from edge.panel.base import Panel, PanelError
from edge.panel.hostcheck import Host, plan_piomatter
from edge.panel.piomatter_pins import MAX_PLANES, address_lines, pinout_for
from edge.panel.probe import trial_run

log = logging.getLogger("ihanoi.panel")


def import_piomatter():
    try:
        import adafruit_blinka_raspberry_pi5_piomatter as piomatter
    except ImportError:
        raise PanelError("the 'piomatter' output needs Adafruit's Piomatter: pip install "
                         "adafruit-blinka-raspberry-pi5-piomatter (the 'pi' extra installs it on a 64-bit Pi OS)") from None
    return piomatter


def matrix_spec(profile) -> dict:
    """Piomatter's settings for ``profile`` as plain values (pure)."""
    return {"pinout": pinout_for(profile), "width": profile.width, "height": profile.height,
            "n_addr_lines": address_lines(profile.rows), "n_planes": min(profile.pwm_bits, MAX_PLANES)}


def construct(spec: dict, framebuffer: np.ndarray):
    pm = import_piomatter()
    geometry = pm.Geometry(width=spec["width"], height=spec["height"], n_addr_lines=spec["n_addr_lines"],
                           n_planes=spec["n_planes"], rotation=pm.Orientation.Normal)
    return pm.PioMatter(colorspace=pm.Colorspace.RGB888Packed, pinout=getattr(pm.Pinout, spec["pinout"]),
                        framebuffer=framebuffer, geometry=geometry)


def trial(spec: dict) -> None:
    """The child process of ``probe.trial_run``: open, show one black frame, close."""
    framebuffer = np.zeros((spec["height"], spec["width"], 3), np.uint8)
    matrix = construct(spec, framebuffer)
    matrix.show()
    del matrix


def brightness_table(percent: int) -> np.ndarray:
    """The 256-entry table that dims one colour channel to ``percent`` (0 is black)."""
    return np.round(np.arange(256) * (percent / 100.0)).astype(np.uint8)


class PiomatterPanel(Panel):
    output = "piomatter"

    def __init__(self, profile, host: Host | None = None, trial: bool = True, **_opts):
        import_piomatter()
        plan_piomatter(host or Host.read(), profile)
        super().__init__(profile.width, profile.height, profile.brightness)
        self.spec = matrix_spec(profile)
        if profile.pwm_bits > MAX_PLANES:
            log.info("piomatter: pwm_bits = %d of profile %s is shown with Piomatter's %d planes",
                     profile.pwm_bits, profile.name, MAX_PLANES)
        if trial:
            trial_run(self.output, self.spec)
        self._fb = np.zeros((self.height, self.width, 3), np.uint8)   # Piomatter reads this buffer
        self._matrix = construct(self.spec, self._fb)
        self._source = self._black
        self._table = None if profile.brightness >= 100 else brightness_table(profile.brightness)
        log.info("piomatter: %s (%dx%d), pinout %s", profile.name, self.width, self.height, self.spec["pinout"])

    def show(self, frame: np.ndarray) -> None:
        if frame.shape != self._shape:
            super().show(frame)   # raises the size error
        if self.fault is None:
            try:
                self._send(frame)
            except Exception as exc:
                self._failed("showing a frame", exc)
            else:
                self._source = frame
                self.frames_shown += 1
                return
        self.frames_dark += 1

    def _send(self, frame: np.ndarray) -> None:
        if self._table is None:
            np.copyto(self._fb, frame)
        else:
            np.take(self._table, frame, out=self._fb)
        self._matrix.show()

    def set_brightness(self, percent: int) -> None:
        if not 0 <= percent <= 100:
            raise PanelError(f"brightness {percent} is not allowed: use 0..100 percent")
        self.brightness = int(percent)
        self._table = None if percent >= 100 else brightness_table(percent)
        if self.fault is None:
            try:
                self._send(self._source)
            except Exception as exc:
                self._failed("setting the brightness", exc)

    def snapshot(self) -> np.ndarray:
        return self._source.copy() if self.brightness and self.fault is None else self._black.copy()

    def close(self) -> None:
        matrix, self._matrix = getattr(self, "_matrix", None), None
        if matrix is not None:
            self._fb[:] = 0
            matrix.show()
