"""The one panel interface every output implements, and the errors of the panel layer.

A panel shows whole RGB frames, (height, width, 3) uint8, exactly as compiled. ``show``
copies the frame into a buffer the output owns (no allocation), then hands that buffer to
the output's ``_present``; ``snapshot`` returns a copy of what is on the board now.
Brightness is 0..100 %: outputs dim where they can; 0 always means dark.

``fault`` is None while the board can be driven, else the sentence why it cannot: an output
that fails while showing (its library raised) records why and stays dark from then on
instead of raising into the player; ``frames_dark`` counts the frames it did not show. A
wrong frame size is a programming error and still raises ``PanelError``.
"""

from __future__ import annotations

import logging

import numpy as np

from ihanoi.contract.errors import PanelError

log = logging.getLogger("ihanoi.panel")


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
        self.frames_dark = 0
        self.fault: str | None = None

    @property
    def dark(self) -> bool:
        """True when nothing reaches the board (see ``fault``)."""
        return self.fault is not None

    def show(self, frame: np.ndarray) -> None:
        if frame.shape != self._shape:
            raise PanelError(f"frame is {frame.shape[1]}x{frame.shape[0]} but the {self.output} panel is "
                             f"{self.width}x{self.height}: compile the pack for this panel's profile")
        np.copyto(self._frame, frame)
        if self.fault is None:
            try:
                self._present(self._frame if self.brightness else self._black)
            except Exception as exc:  # a library failing mid-show must not end the play or the agent
                self._failed("showing a frame", exc)
            else:
                self.frames_shown += 1
                return
        self.frames_dark += 1

    def _failed(self, doing: str, exc: BaseException) -> None:
        self.fault = (f"the {self.output} output failed while {doing} ({type(exc).__name__}: {exc}); "
                      f"the board stays dark until the agent is restarted")
        log.error("%s", self.fault)

    def _present(self, frame: np.ndarray) -> None:
        """Hand the output its buffer; overridden by each output."""

    def set_brightness(self, percent: int) -> None:
        if not 0 <= percent <= 100:
            raise PanelError(f"brightness {percent} is not allowed: use 0..100 percent")
        was = self.brightness
        self.brightness = int(percent)
        if self.fault is not None:
            return
        try:
            self._set_brightness(self.brightness)
            if not was or not percent:  # 0 % is a dark board whatever the output can dim to
                self._present(self._frame if percent else self._black)
        except Exception as exc:
            self._failed("setting the brightness", exc)

    def _set_brightness(self, percent: int) -> None:
        pass

    def snapshot(self) -> np.ndarray:
        """The frame on the board now (black while the brightness is 0 or the board is dark)."""
        return self._frame.copy() if self.brightness and self.fault is None else self._black.copy()

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
