"""The one panel interface every output implements, and the errors of the panel layer.

A panel shows whole RGB frames, (height, width, 3) uint8, exactly as compiled. ``show``
copies the frame into a buffer the output owns (no allocation), then hands that buffer to
the output's ``_present``; ``snapshot`` returns a copy of what is on the board now.
Brightness is 0..100 %: outputs dim in hardware where they can; 0 always means dark.
"""

from __future__ import annotations

import numpy as np

from ihanoi.contract.errors import PanelError


class Panel:
    output = "base"

    def __init__(self, width: int, height: int, brightness: int = 100):
        self.width = width
        self.height = height
        self.brightness = brightness
        self._frame = np.zeros((height, width, 3), np.uint8)
        self._black = np.zeros_like(self._frame)
        self._shape = self._frame.shape
        self.frames_shown = 0

    def show(self, frame: np.ndarray) -> None:
        if frame.shape != self._shape:
            raise PanelError(f"frame is {frame.shape[1]}x{frame.shape[0]} but the {self.output} panel is "
                             f"{self.width}x{self.height}: compile the pack for this panel's profile")
        np.copyto(self._frame, frame)
        self._present(self._frame if self.brightness else self._black)
        self.frames_shown += 1

    def _present(self, frame: np.ndarray) -> None:
        """Hand the output its buffer; overridden by each output."""

    def set_brightness(self, percent: int) -> None:
        if not 0 <= percent <= 100:
            raise PanelError(f"brightness {percent} is not allowed: use 0..100 percent")
        was = self.brightness
        self.brightness = int(percent)
        self._set_brightness(self.brightness)
        if not was or not percent:  # 0 % is a dark board whatever the output can dim to
            self._present(self._frame if percent else self._black)

    def _set_brightness(self, percent: int) -> None:
        pass

    def snapshot(self) -> np.ndarray:
        """The frame on the board now (black while the brightness is 0)."""
        return self._frame.copy() if self.brightness else self._black.copy()

    def clear(self) -> None:
        self.show(np.zeros_like(self._frame))

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.width}x{self.height})"
