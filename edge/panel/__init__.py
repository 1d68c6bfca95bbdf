"""The LED board: panel profiles (geometry, wiring) and the outputs that show frames.

    panel = open_panel("emulator", profile, data_dir)   # or rgbmatrix | piomatter | recorder | null
    panel.show(frame); panel.set_brightness(60); panel.snapshot(); panel.close()
    panel = open_panel_or_dark("rgbmatrix", profile, data_dir)   # never raises: panel.fault says why

Like gpiozero's pin factories, the output is chosen by name (the device config's
``panel.output``) and ``IHANOI_PANEL`` overrides it, so the whole agent runs on a PC.
``OUTPUTS`` is the one list of outputs (the device config's allowed values come from it);
``output_name`` is the one place that reads ``IHANOI_PANEL``. Each output is one module.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

from edge.panel.base import Panel, PanelError
from edge.panel.dark import DarkPanel
from edge.panel.pimodel import PI_MODELS, pi_model
from edge.panel.profile import PanelProfile

log = logging.getLogger("ihanoi.panel")

# name -> (module, class, what it drives)
OUTPUTS = {
    "rgbmatrix": ("edge.panel.rgbmatrix", "RGBMatrixPanel", "a HUB75 board on a Pi 1-5 (hzeller's rpi-rgb-led-matrix)"),
    "piomatter": ("edge.panel.piomatter", "PiomatterPanel", "a HUB75 board on a Pi 5 (Adafruit's Piomatter)"),
    "emulator": ("edge.panel.emulator", "EmulatorPanel", "the board in a browser on a PC (RGBMatrixEmulator)"),
    "recorder": ("edge.panel.recorder", "RecorderPanel", "keeps the frames in memory (tests, previews)"),
    "null": ("edge.panel.null", "NullPanel", "shows nothing (benchmarks, dry runs)"),
}
OUTPUT_NAMES = tuple(OUTPUTS)
ENV = "IHANOI_PANEL"


def output_name(configured: str) -> str:
    """The output to open: ``$IHANOI_PANEL`` when set, else the configured one."""
    return os.environ.get(ENV) or configured


def open_panel(output: str, profile: PanelProfile, data_dir: Path | str | None = None,
               brightness: int | None = None, **opts) -> Panel:
    """The panel output ``output`` (or ``$IHANOI_PANEL``) for ``profile``; ``opts`` go to the output.

    Raises ``PanelError`` when the output cannot drive the board, saying what to fix.
    """
    name = output_name(output)
    if name not in OUTPUTS:
        raise PanelError(f"unknown panel output {name!r}"
                         f"{' (from ' + ENV + ')' if os.environ.get(ENV) else ''}; "
                         f"allowed: {', '.join(OUTPUTS)}")
    module_name, class_name, _ = OUTPUTS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    if name == "emulator":
        opts["data_dir"] = Path(data_dir) if data_dir is not None else Path.cwd()
    panel = cls(profile, **opts)
    if brightness is not None:
        panel.set_brightness(brightness)
    return panel


def open_panel_or_dark(output: str, profile: PanelProfile, data_dir: Path | str | None = None,
                       brightness: int | None = None, **opts) -> Panel:
    """``open_panel``, or a dark panel whose ``fault`` is the reason when the board cannot be driven.

    The agent runs with either: a dark board keeps the agent reporting (health, state) while
    nothing is shown, and its plays are not counted as made.
    """
    try:
        return open_panel(output, profile, data_dir, brightness, **opts)
    except PanelError as exc:
        log.error("the board stays dark: %s", exc)
        panel = DarkPanel(profile, fault=str(exc), wanted=output_name(output))
        if brightness is not None:
            panel.set_brightness(brightness)
        return panel


__all__ = ["ENV", "OUTPUTS", "OUTPUT_NAMES", "PI_MODELS", "DarkPanel", "Panel", "PanelError", "open_panel",
           "open_panel_or_dark", "output_name", "pi_model"]
