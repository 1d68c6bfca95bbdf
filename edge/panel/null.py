"""``null``: a panel that shows nothing; the frame is still copied into its buffer (benchmarks, dry runs)."""

from __future__ import annotations

from edge.panel.base import Panel


class NullPanel(Panel):
    output = "null"

    def __init__(self, profile, **_opts):
        super().__init__(profile.width, profile.height, profile.brightness)
