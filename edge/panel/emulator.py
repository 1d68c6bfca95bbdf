"""``emulator``: the board on a PC through RGBMatrixEmulator (PyPI), by default in a browser.

RGBMatrixEmulator reads and writes ``emulator_config.json`` in the current folder, even at
import time; this output keeps it in ``<data_dir>/emulator/`` instead and sets the adapter
and the port there. Options: ``adapter`` (``browser``, or ``raw`` which keeps the last 128
frames in memory, no window; also ``pygame``/``tkinter``/``terminal`` if installed),
``port`` (the browser view, default 8888; ``IHANOI_EMULATOR_PORT`` overrides), ``pixel_size``.

The emulator runs one browser server per process (the library's singleton); it is started
on first use and lives until the process ends.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from edge.panel.base import Panel, PanelError

DEFAULT_PORT = 8888
FRESH_PIXEL_SIZE = 6      # a 256-pixel board fits a browser window; the library's default is larger


def _import_emulator(folder: Path):
    if "RGBMatrixEmulator" not in sys.modules:
        cwd = os.getcwd()
        os.chdir(folder)  # its import writes a default config into the current folder
        try:
            import RGBMatrixEmulator  # noqa: F401
        except ImportError:
            raise PanelError("the 'emulator' output needs RGBMatrixEmulator: install the project with its "
                             "emulator extra, e.g. pip install '.[emulator]' in a checkout") from None
        finally:
            os.chdir(cwd)
    from RGBMatrixEmulator.internal.emulator_config import RGBMatrixEmulatorConfig

    return RGBMatrixEmulatorConfig


def write_config(path: Path, defaults: dict, adapter: str, port: int, pixel_size: int | None) -> dict:
    """Keep whatever a user tuned in the file; set what this output decides."""
    try:
        config = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        config = json.loads(json.dumps(defaults))
        config["pixel_size"] = FRESH_PIXEL_SIZE
    if pixel_size:
        config["pixel_size"] = pixel_size
    config.update({"display_adapter": adapter, "allow_adapter_fallback": False})
    config.setdefault("browser", {})["port"] = port
    path.write_text(json.dumps(config, indent=4), "utf-8")
    return config


class EmulatorPanel(Panel):
    output = "emulator"

    def __init__(self, profile, data_dir: Path | str, adapter: str = "browser", port: int | None = None,
                 pixel_size: int | None = None, **_opts):
        super().__init__(profile.width, profile.height, profile.brightness)
        folder = Path(data_dir) / "emulator"
        folder.mkdir(parents=True, exist_ok=True)
        self.port = int(os.environ.get("IHANOI_EMULATOR_PORT") or port or DEFAULT_PORT)
        self.config_path = folder / "emulator_config.json"
        config_cls = _import_emulator(folder)
        config_cls.CONFIG_PATH = str(self.config_path)
        write_config(self.config_path, config_cls.DEFAULT_CONFIG, adapter, self.port, pixel_size)
        from RGBMatrixEmulator import RGBMatrix, RGBMatrixOptions
        from RGBMatrixEmulator.adapters import ADAPTERS

        if adapter not in ADAPTERS:
            raise PanelError(f"unknown emulator adapter {adapter!r}; available: {', '.join(ADAPTERS)}")
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            options = RGBMatrixOptions()
            for field in ("rows", "cols", "chain_length", "parallel", "brightness"):
                setattr(options, field, getattr(profile, field))
            # The library keeps one adapter instance per class; a new board needs its own.
            options.display_adapter.INSTANCE = None
            self._matrix = RGBMatrix(options=options)
            self._canvas = self._matrix.CreateFrameCanvas()
        except SystemExit:
            raise PanelError(f"RGBMatrixEmulator could not load its {adapter!r} adapter (see the log above)") from None
        finally:
            if threading.current_thread() is threading.main_thread():
                for sig, handler in handlers.items():  # the browser server installs its own
                    signal.signal(sig, handler)
        self.adapter = self._canvas.display_adapter
        self._image = Image.new("RGB", (self.width, self.height))

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}/"

    def _present(self, frame: np.ndarray) -> None:
        self._image.frombytes(frame)
        self._canvas.SetImage(self._image, 0, 0)
        self._canvas = self._matrix.SwapOnVSync(self._canvas)

    def _set_brightness(self, percent: int) -> None:
        self._canvas.brightness = percent
        if percent:
            self._present(self._frame)

