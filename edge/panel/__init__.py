"""The LED board: panel profiles (geometry, wiring) and the outputs that show frames.

    panel = open_panel("emulator", profile, data_dir)   # or rgbmatrix | recorder | null
    panel.show(frame); panel.set_brightness(60); panel.snapshot(); panel.close()

Like gpiozero's pin factories, the output is chosen by name (the device config's
``panel.output``) and ``IHANOI_PANEL`` overrides it, so the whole agent runs on a PC.
Each output is one module: ``rgbmatrix``, ``emulator``, ``recorder``, ``null``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from edge.panel.base import Panel, PanelError
from edge.panel.profile import PanelProfile

OUTPUTS = {
    "rgbmatrix": ("edge.panel.rgbmatrix", "RGBMatrixPanel"),
    "emulator": ("edge.panel.emulator", "EmulatorPanel"),
    "recorder": ("edge.panel.recorder", "RecorderPanel"),
    "null": ("edge.panel.null", "NullPanel"),
}
ENV = "IHANOI_PANEL"


def open_panel(output: str, profile: PanelProfile, data_dir: Path | str | None = None,
               brightness: int | None = None, **opts) -> Panel:
    """The panel output ``output`` (or ``$IHANOI_PANEL``) for ``profile``; ``opts`` go to the output."""
    name = os.environ.get(ENV) or output
    if name not in OUTPUTS:
        raise PanelError(f"unknown panel output {name!r}"
                         f"{' (from ' + ENV + ')' if os.environ.get(ENV) else ''}; "
                         f"allowed: {', '.join(OUTPUTS)}")
    module_name, class_name = OUTPUTS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    if name == "emulator":
        opts["data_dir"] = Path(data_dir) if data_dir is not None else Path.cwd()
    panel = cls(profile, **opts)
    if brightness is not None:
        panel.set_brightness(brightness)
    return panel


__all__ = ["ENV", "OUTPUTS", "Panel", "PanelError", "open_panel"]
