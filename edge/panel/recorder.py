"""``recorder``: a headless panel that keeps every frame it is shown (tests, previews, GIF/PNG export).

``keep`` bounds how many frames stay in memory (the oldest go first; ``None`` keeps all);
``clock`` (optional) records when each frame arrived on that clock's monotonic time.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.panel.base import Panel


class RecorderPanel(Panel):
    output = "recorder"

    def __init__(self, profile, keep: int | None = 10_000, clock=None, **_opts):
        super().__init__(profile.width, profile.height, profile.brightness)
        self.frames: deque[np.ndarray] = deque(maxlen=keep)
        self.times: deque[float] = deque(maxlen=keep)
        self.clock = clock
        self.brightness_changes: list[int] = []

    def _present(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())
        if self.clock is not None:
            self.times.append(self.clock.monotonic())

    def _set_brightness(self, percent: int) -> None:
        self.brightness_changes.append(percent)
